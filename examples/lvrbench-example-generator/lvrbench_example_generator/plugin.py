"""Two pretrained generators registered through the `lvrbench` entry-point group: one with its discriminator, one without.

Both are the G that `train.py` trained (lvrbench's loop, vanilla GAN losses, seed 0) on Fashion-MNIST. `tiny-fmnist`
reads the weights file and keeps D, read by the vanilla family's losses (so its D logit is a log density ratio);
`tiny-fmnist-g` gives only G's weights, through a function, as a generator published without its D would.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lvrbench.api import DataInfo, Pretrained, hookimpl

from .networks import HIDDEN, LATENT_DIM, build_networks

WEIGHTS = Path(__file__).with_name("tiny_fmnist.pt")


class TinyFashionMNIST(Pretrained):
    """A tiny fully connected GAN on Fashion-MNIST (d_z = 8), with its discriminator."""

    name = "tiny-fmnist"
    source = "lvrbench_example_generator/train.py: lvrbench's training loop, vanilla GAN losses, 10 epochs, seed 0"
    dataset = "fashion-mnist"
    prior = "normal"
    latent_dim = LATENT_DIM
    family = "vanilla"
    arch = f"mlp {LATENT_DIM}-{HIDDEN}-784"
    networks = {"G": "generator", "D": "discriminator (one logit)"}

    def build(self, data: DataInfo) -> nn.ModuleDict:
        return build_networks(data.shape)

    def weights(self) -> Path:
        return WEIGHTS


class TinyFashionMNISTGenerator(TinyFashionMNIST):
    """The same tiny Fashion-MNIST generator without a discriminator: only G's weights."""

    name = "tiny-fmnist-g"
    family = None
    networks = {"G": "generator"}

    def build(self, data: DataInfo) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_networks(data.shape)["G"]})

    def weights(self) -> dict[str, torch.Tensor]:
        state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
        return {k: v for k, v in state.items() if k.startswith("G.")}


@hookimpl
def lvrbench_generators():
    return [TinyFashionMNIST(), TinyFashionMNISTGenerator()]
