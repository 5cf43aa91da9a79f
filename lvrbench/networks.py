"""The shared network architectures: every family trains the same G and D, so comparisons are fair.

`arch` names the architecture: "mlp" (fully connected, fast on a CPU; the quick profile) or
"dcgan" (a DCGAN-style generator: a linear layer to 7x7 maps, two transposed convolutions to
28x28 with batch norm and ReLU, tanh output; and a strided-convolution discriminator with leaky
ReLU, after Radford et al.; the full profile). Point datasets always use "mlp". A change here that
changes the weights training produces bumps `training.REVISION` (the generators' cache identity).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from .errors import UsageError
from .kinds import DataInfo

ARCHS = ("mlp", "dcgan")


def _check(data: DataInfo, arch: str) -> None:
    if arch not in ARCHS:
        raise UsageError(f"unknown architecture {arch!r} (known: {', '.join(ARCHS)})")
    if arch == "dcgan" and (data.modality != "image" or data.shape[1] % 4 or data.shape[2] % 4):
        raise UsageError(f"architecture 'dcgan' needs images whose sides are multiples of 4, not {data.name} {data.shape}")


def build_generator(data: DataInfo, latent_dim: int, arch: str) -> nn.Module:
    """G: [B, latent_dim] -> [B, *data.shape], tanh output for images."""
    _check(data, arch)
    size = math.prod(data.shape)
    if data.modality == "points":
        return nn.Sequential(nn.Linear(latent_dim, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, size))
    if arch == "mlp":
        return nn.Sequential(
            nn.Linear(latent_dim, 256), nn.BatchNorm1d(256), nn.ReLU(),
            nn.Linear(256, 512), nn.BatchNorm1d(512), nn.ReLU(),
            nn.Linear(512, size), nn.Tanh(), nn.Unflatten(1, data.shape),
        )
    c, h, w = data.shape
    return nn.Sequential(
        nn.Linear(latent_dim, 128 * (h // 4) * (w // 4)), nn.Unflatten(1, (128, h // 4, w // 4)),
        nn.BatchNorm2d(128), nn.ReLU(),
        nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(),
        nn.ConvTranspose2d(64, c, 4, 2, 1), nn.Tanh(),
    )


def build_discriminator(data: DataInfo, arch: str, out_features: int = 1) -> nn.Module:
    """D: [B, *data.shape] -> [B, out_features] raw scores (each family applies its own link)."""
    _check(data, arch)
    size = math.prod(data.shape)
    if data.modality == "points":
        return nn.Sequential(nn.Linear(size, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2), nn.Linear(128, out_features))
    if arch == "mlp":
        return nn.Sequential(
            nn.Flatten(), nn.Linear(size, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, out_features),
        )
    c, h, w = data.shape
    return nn.Sequential(
        nn.Conv2d(c, 64, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(128 * (h // 4) * (w // 4), out_features),
    )


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisation, drawn from `generator` instead of the global RNG.

    A module with parameters of a type not covered here must define
    `init_parameters_from(generator)`; anything else is refused rather than initialised unseeded.
    """
    for m in module.modules():
        if not list(m.parameters(recurse=False)):
            continue
        if hasattr(m, "init_parameters_from"):
            m.init_parameters_from(generator)
        elif isinstance(m, (nn.Linear, nn.modules.conv._ConvNd)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, generator=generator)
        elif isinstance(m, (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm)):
            m.reset_parameters()  # constants (ones and zeros): nothing random
        else:
            raise TypeError(f"cannot initialise {type(m).__name__} from a seeded generator: give it an "
                            "init_parameters_from(generator) method")
