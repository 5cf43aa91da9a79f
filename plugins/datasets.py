"""Datasets: MNIST and Fashion-MNIST from their IDX files, and two 2-D Gaussian mixtures."""
from __future__ import annotations

import math
from pathlib import Path
from typing import ClassVar

import torch

from lvrbench.api import Dataset, derive_seed, hookimpl
from lvrbench.kit import IdxImageDataset, download_with_torchvision


class FashionMNIST(IdxImageDataset):
    """Zalando's Fashion-MNIST: 28x28 grey images of 10 kinds of clothing (60k train, 10k test)."""

    name = "fashion-mnist"
    source = "Xiao, Rasul & Vollgraf 2017"
    install_hint = "install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist)"

    def download(self, dest: Path) -> None:
        from torchvision.datasets import FashionMNIST as TV

        download_with_torchvision(TV, dest)


class MNIST(IdxImageDataset):
    """LeCun et al.'s MNIST: 28x28 grey images of handwritten digits (60k train, 10k test)."""

    name = "mnist"
    source = "LeCun, Cortes & Burges; the dataset of papers 000, 002, 003 and 004"

    def download(self, dest: Path) -> None:
        from torchvision.datasets import MNIST as TV

        download_with_torchvision(TV, dest)


class GaussianMixture(Dataset):
    """Equal-weight isotropic Gaussians in 2-D; labels are the mode each point came from."""

    modality = "points"
    shape = (2,)
    sizes: ClassVar[dict[str, int]] = {"train": 20000, "test": 10000}
    #: Mode centres and their common standard deviation (read by mode-coverage scores).
    centers: ClassVar[tuple[tuple[float, float], ...]] = ()
    std: ClassVar[float] = 0.0

    @property
    def num_classes(self) -> int:
        return len(self.centers)

    def load(self, split, data_dir):
        if split not in self.sizes:
            raise ValueError(f"{self.name} has no split {split!r}")
        generator = torch.Generator().manual_seed(derive_seed(self.name, split))
        n = self.sizes[split]
        labels = torch.randint(len(self.centers), (n,), generator=generator)
        x = torch.tensor(self.centers, dtype=torch.float32)[labels] + self.std * torch.randn(n, 2, generator=generator)
        return x, labels


class Ring8(GaussianMixture):
    """Eight Gaussians on a circle of radius 2, std 0.02 (the ring of Metz et al. and paper 003)."""

    name = "ring8"
    source = "Metz et al. 2017 (unrolled GANs); paper 003 §4.1"
    centers = tuple((round(2 * math.cos(2 * math.pi * k / 8), 12), round(2 * math.sin(2 * math.pi * k / 8), 12)) for k in range(8))
    std = 0.02


class Grid25(GaussianMixture):
    """Twenty-five Gaussians on a 5x5 grid with spacing 2, std 0.05 (the grid of VEEGAN and PacGAN)."""

    name = "grid25"
    source = "Srivastava et al. 2017 (VEEGAN); Lin et al. 2018 (PacGAN); paper 004 Fig. 9"
    centers = tuple((float(i), float(j)) for i in range(-4, 5, 2) for j in range(-4, 5, 2))
    std = 0.05


@hookimpl
def lvrbench_datasets():
    return [FashionMNIST(), MNIST(), Ring8(), Grid25()]
