"""The shared network architectures: every family trains the same G and D, so comparisons are fair.

`arch` names the architecture: "mlp" (fully connected, fast on a CPU; the quick profile) or
"dcgan" (transposed-convolution generator and strided-convolution discriminator after Radford et
al., as paper 001 §4.1.2 describes; the full profile). Point datasets always use "mlp".
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
    """PyTorch's default initialisation, drawn from `generator` instead of the global RNG."""
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5), generator=generator)
            if m.bias is not None:
                fan_in, _ = nn.init._calculate_fan_in_and_fan_out(m.weight)
                bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                nn.init.uniform_(m.bias, -bound, bound, generator=generator)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.reset_parameters()
            m.reset_running_stats()
