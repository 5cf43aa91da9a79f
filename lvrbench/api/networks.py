"""The shared network architectures: every family trains the same G and D, so comparisons are fair.

`arch` names the architecture: "mlp" (fully connected, fast on a CPU; the quick profile) or
"dcgan" (a DCGAN-style generator: a linear layer to 7x7 maps, two transposed convolutions to
28x28 with batch norm and ReLU, tanh output; and a strided-convolution discriminator with leaky
ReLU, after Radford et al.; the full profile). Point datasets always use "mlp". A change here that
changes the weights training produces bumps `REVISION` (part of every generator's identity).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..base.errors import UsageError
from .datainfo import DataInfo

#: Part of the identity of every cell and generator: bump it when a change here changes the networks training makes.
REVISION = 1
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


def _feature_layers(data: DataInfo, arch: str, batch_norm: bool) -> tuple[list[nn.Module], int]:
    """The discriminator's body h(x) as a list of layers, and its output width."""
    _check(data, arch)
    size = math.prod(data.shape)
    if data.modality == "points":
        return [nn.Linear(size, 128), nn.LeakyReLU(0.2), nn.Linear(128, 128), nn.LeakyReLU(0.2)], 128
    if arch == "mlp":
        return [nn.Flatten(), nn.Linear(size, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2)], 256
    c, h, w = data.shape
    norm = [nn.BatchNorm2d(128)] if batch_norm else []
    return [nn.Conv2d(c, 64, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(64, 128, 4, 2, 1), *norm, nn.LeakyReLU(0.2),
            nn.Flatten()], 128 * (h // 4) * (w // 4)


def build_discriminator(data: DataInfo, arch: str, out_features: int = 1, batch_norm: bool = True) -> nn.Module:
    """D: [B, *data.shape] -> [B, out_features] raw scores (each family applies its own link).

    `batch_norm=False` is the critic variant for per-sample gradient penalties (only "dcgan" has batch norm).
    """
    layers, width = _feature_layers(data, arch, batch_norm)
    return nn.Sequential(*layers, nn.Linear(width, out_features))


def build_encoder(data: DataInfo, latent_dim: int, arch: str) -> nn.Module:
    """E: [B, *data.shape] -> [B, latent_dim], the discriminator's body without batch norm and a linear output.

    No batch norm, so that an encoding never depends on the other samples of its batch.
    """
    layers, width = _feature_layers(data, arch, batch_norm=False)
    return nn.Sequential(*layers, nn.Linear(width, latent_dim))


class JointDiscriminator(nn.Module):
    """D(x, z): x's features h(x) and z's features, concatenated, then a hidden layer and a raw score [B, 1] (BiGAN)."""

    def __init__(self, data: DataInfo, latent_dim: int, arch: str):
        super().__init__()
        layers, width = _feature_layers(data, arch, batch_norm=True)
        self.x_features = nn.Sequential(*layers)
        hidden = min(width, 512)  # the "dcgan" body is 6272 wide: z's branch and the head need not be
        self.z_features = nn.Sequential(nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2),
                                        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))
        # A hidden layer after the concatenation: a linear head on [h(x), g(z)] could not score how x and z go together.
        self.head = nn.Sequential(nn.Linear(width + hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.head(torch.cat([self.x_features(x), self.z_features(z)], dim=1))


class SANDiscriminator(nn.Module):
    """f(x) = s <ω, h(x)> with ω = w / ||w||, s = ||w||, a bias-free last layer normalised in every forward pass (SAN).

    After sony/san simple-san `SanDiscriminator`: `forward` is the undetached f (what G sees);
    `split` gives the two training heads, `fun` = <ω.detach(), s h(x)> (gradient to h and s)
    and `dir` = <ω, (s h(x)).detach()> (gradient to the direction ω only).
    """

    def __init__(self, data: DataInfo, arch: str):
        super().__init__()
        layers, width = _feature_layers(data, arch, batch_norm=True)
        self.body = nn.Sequential(*layers)
        self.weight = nn.Parameter(torch.empty(width))

    def init_parameters_from(self, generator: torch.Generator) -> None:
        """w ~ N(0, I), as the reference initialises its last layer (the body is initialised as usual)."""
        self.weight.copy_(torch.randn(self.weight.shape, generator=generator))

    def _parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scale = self.weight.norm()
        return self.body(x) * scale, self.weight / scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, direction = self._parts(x)
        return (h @ direction).unsqueeze(1)

    def split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(fun, dir), each [B]: the hinge head and the direction (Wasserstein) head of SAN's discriminator loss."""
        h, direction = self._parts(x)
        return h @ direction.detach(), h.detach() @ direction


@torch.no_grad()
def init_parameters(module: nn.Module, generator: torch.Generator) -> None:
    """PyTorch's default initialisation, drawn from `generator` instead of the global RNG.

    A module with parameters of a type not covered here must define
    `init_parameters_from(generator)`; anything else is refused rather than initialised unseeded.
    """
    for m in module.modules():
        if not list(m.parameters(recurse=False)):
            continue
        if hasattr(m, "init_parameters_from"):  # only its own parameters: its submodules are visited too
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
