"""The example's own small networks: a generator and a discriminator for 28x28 grey images (not lvrbench's)."""
from __future__ import annotations

from torch import nn

LATENT_DIM = 8
HIDDEN = 64


def build_networks(shape: tuple[int, ...] = (1, 28, 28)) -> nn.ModuleDict:
    """G: [B, 8] -> [B, 1, 28, 28] in [-1, 1] through one hidden layer of 64; D: the mirror image, one logit per sample."""
    size = 1
    for n in shape:
        size *= n
    return nn.ModuleDict({
        "G": nn.Sequential(nn.Linear(LATENT_DIM, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, size), nn.Tanh(),
                           nn.Unflatten(1, tuple(shape))),
        "D": nn.Sequential(nn.Flatten(), nn.Linear(size, HIDDEN), nn.LeakyReLU(0.2), nn.Linear(HIDDEN, 1)),
    })
