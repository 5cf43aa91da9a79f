"""GM-GAN (dynamic): a learned Gaussian-mixture latent prior trained by the generator's loss (paper 004 §4).

Ben-Yosef & Weinshall 2018: p(z) = Σ_k (1/K) N(μ_k, diag(σ_k²)), drawn as k ~ Cat(1/K),
ε ~ N(0, I), z = μ_k + σ_k ε. The "dynamic" variant trains μ and σ by back-propagating the
generator's loss through that reparameterisation (the discriminator's loss sees G(z) detached,
so it never moves them). σ is a standard deviation, parameterised by its log so it stays
positive. The mixture is the generator's prior: every task draws from it and recovery checks
methods against it, so a GM-GAN is never recovered against N(0, I).
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor, nn

from lvrbench import hookimpl
from lvrbench.kinds import DataInfo
from lvrbench.priors import Prior

from .families import Vanilla


class GaussianMixture(nn.Module, Prior):
    """A Gaussian mixture over latents with equal weights and learned means and diagonal standard deviations."""

    kind: ClassVar[str] = "gaussian-mixture"
    iid: ClassVar[bool] = False

    def __init__(self, dim: int, components: int, spread: float, std: float):
        super().__init__()
        self.dim, self.components, self.spread, self.init_std = int(dim), int(components), float(spread), float(std)
        self.means = nn.Parameter(torch.zeros(self.components, self.dim))
        self.log_std = nn.Parameter(torch.full((self.components, self.dim), math.log(self.init_std)))

    def init_parameters_from(self, generator: torch.Generator) -> None:
        """μ_k ~ U[-c, c]^d and σ_k = the initial std (GM-GAN's static initialisation, which training then moves)."""
        with torch.no_grad():
            self.means.copy_((torch.rand(self.means.shape, generator=generator) * 2 - 1) * self.spread)
            self.log_std.fill_(math.log(self.init_std))

    def sample(self, n: int, generator: torch.Generator, device: str | torch.device = "cpu") -> Tensor:
        """z = μ_k + σ_k ε with k ~ Cat(1/K), ε ~ N(0, I) drawn on the CPU; differentiable in μ and σ."""
        k = torch.randint(self.components, (n,), generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        at = self.means.device
        k, eps = k.to(at), eps.to(at, self.means.dtype)
        return (self.means[k] + self.log_std[k].exp() * eps).to(device)

    def log_prob(self, z: Tensor) -> Tensor:
        u = (z.unsqueeze(-2) - self.means) / self.log_std.exp()  # [..., K, d]
        per_component = (-0.5 * u.square() - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(per_component, dim=-1) - math.log(self.components)

    def to_config(self) -> dict:
        return {"kind": self.kind, "components": self.components, "init_spread": self.spread, "init_std": self.init_std}

    def describe(self) -> dict:
        """The mixture's learned values: equal weights, the means and the standard deviations ([K][d] lists)."""
        return {**super().describe(), "weights": [1 / self.components] * self.components,
                "means": self.means.detach().cpu().tolist(), "stds": self.log_std.detach().exp().cpu().tolist()}


class GMGAN(Vanilla):
    """Dynamic GM-GAN: the vanilla GAN losses with a learned Gaussian-mixture latent prior (K = 10)."""

    name = "gm-gan"
    source = "Ben-Yosef & Weinshall 2018 (arXiv 1808.10356); paper 004 §4"
    priors = ("normal",)  # the base prior is the mixture's noise ε ~ N(0, I)
    #: K = 10 (paper 004 §4, for the 10 classes of MNIST; used on every dataset), and μ ~ U[-0.1, 0.1],
    #: σ = 0.15 at the start: the defaults cited for GM-GAN in methods.md §5 ([paper-mem]).
    components, spread, init_std = 10, 0.1, 0.15
    networks = {"G": "generator", "D": "discriminator",
                "prior": f"gaussian mixture: K={components}, means U[-{spread}, {spread}], std {init_std}, log-std parameters"}

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        nets = super().build(data, latent_dim, arch)
        nets["prior"] = GaussianMixture(latent_dim, self.components, self.spread, self.init_std)
        return nets

    def latent_prior(self, base: Prior, nets: nn.ModuleDict | None = None) -> Prior:
        if nets is None:
            return GaussianMixture(base.dim, self.components, self.spread, self.init_std)
        return nets["prior"]


@hookimpl
def lvrbench_families():
    return [GMGAN()]
