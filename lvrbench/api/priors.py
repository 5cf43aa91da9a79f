"""Latent priors p(z): the distribution a trained generator draws its latents from.

A `Prior` is the single source of latents for everything done with a generator: training,
generation, recovery (z_true, init, the regularizers' and resamplers' reference) and samplers.
It samples joint [n, d] vectors, gives log p(z), describes its values (learned ones included)
and declares capabilities (`satisfies`) that a method's `requires` is checked against. The
vocabulary is open: a plugin brings its own prior by subclassing `Prior` (GM-GAN's learned
mixture, `lvrbench_plugins.families`, is one). `PRIORS` holds only the *base* priors a task
may name; a family turns its base prior into its generator's prior (`Family.latent_prior`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import torch

#: Part of the identity of every cell and generator: bump it when a change here changes a draw.
REVISION = 1
#: What a regularizer or resampler may declare in `requires`.
REQUIREMENTS = ("normal", "uniform", "iid", "any")


class Prior:
    """A distribution over latent vectors of `dim` elements; `kind` names it in messages and configs."""

    kind: ClassVar[str] = "any"
    #: Whether the elements are independent and identically distributed (what "iid" methods need).
    iid: ClassVar[bool] = True
    #: Capabilities beyond `kind` and "iid" (e.g. "bounded"), matched against a method's `requires`.
    extra_capabilities: ClassVar[frozenset[str]] = frozenset()
    dim: int | None = None

    @property
    def capabilities(self) -> frozenset[str]:
        """Every name this prior satisfies: its kind, "iid" where its elements are IID, and its extras."""
        return frozenset({self.kind, *(("iid",) if self.iid else ()), *self.extra_capabilities})

    def satisfies(self, requires: str) -> bool:
        """Whether a method declaring `requires` is defined for this prior."""
        return requires == "any" or requires in self.capabilities

    def sample(self, n: int, generator: torch.Generator, device: str | torch.device = "cpu") -> torch.Tensor:
        """n latent vectors [n, dim], drawn on the CPU from `generator` and then moved: same numbers on every device.

        A learned prior's draws are differentiable in its parameters under grad mode (the training loop
        needs that); draw under `torch.no_grad()` where the latents are data.
        """
        raise NotImplementedError

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) of latents [..., dim] -> [...] (differentiable: latent-space samplers need its gradient)."""
        raise NotImplementedError

    def to_config(self) -> dict:
        """The prior's fixed parameters as plain JSON data (part of every generator's identity)."""
        raise NotImplementedError

    def describe(self) -> dict:
        """The prior as recorded in results: its fixed parameters, its dimension and any learned values."""
        return {**self.to_config(), "dim": self.dim}

    def _dim(self) -> int:
        if self.dim is None:
            raise ValueError(f"the {self.kind} prior has no dimension: build it with with_dim(d)")
        return self.dim


class IIDPrior(Prior):
    """A prior whose d elements are IID: it can also draw loose elements of any shape."""

    def sample_elements(self, shape: tuple[int, ...], generator: torch.Generator,
                        device: str | torch.device = "cpu") -> torch.Tensor:
        """IID elements of `shape`, drawn on the CPU from `generator`, then moved (the reference of sample distances)."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator, device: str | torch.device = "cpu") -> torch.Tensor:
        return self.sample_elements((n, self._dim()), generator, device)

    def with_dim(self, dim: int) -> IIDPrior:
        """The same distribution over vectors of `dim` elements."""
        return replace(self, dim=int(dim))


@dataclass(frozen=True)
class NormalPrior(IIDPrior):
    """z_i ~ N(mean, std^2), the Gaussian prior of papers 000 and 001."""

    mean: float = 0.0
    std: float = 1.0
    dim: int | None = None
    kind: ClassVar[str] = "normal"

    def sample_elements(self, shape, generator, device="cpu"):
        import torch

        z = torch.randn(shape, generator=generator) * self.std + self.mean
        return z.to(device)

    def log_prob(self, z):
        u = (z - self.mean) / self.std
        return (-0.5 * u.square() - math.log(self.std) - 0.5 * math.log(2 * math.pi)).sum(-1)

    def to_config(self) -> dict:
        return {"kind": self.kind, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class UniformPrior(IIDPrior):
    """z_i ~ U(low, high), the bounded prior of Lipton & Tripathi and paper 000 (U(-1, 1)).

    Paper 000 §2 gives U(-1, 1); the heading before its Tables 9-12 prints U(0, 1²), which we read as a typo.
    """

    low: float = -1.0
    high: float = 1.0
    dim: int | None = None
    kind: ClassVar[str] = "uniform"
    extra_capabilities: ClassVar[frozenset[str]] = frozenset({"bounded"})

    def sample_elements(self, shape, generator, device="cpu"):
        import torch

        z = torch.rand(shape, generator=generator) * (self.high - self.low) + self.low
        return z.to(device)

    def log_prob(self, z):
        import torch

        inside = ((z >= self.low) & (z <= self.high)).all(-1)
        density = -z.shape[-1] * math.log(self.high - self.low)
        return torch.where(inside, torch.full_like(inside, density, dtype=z.dtype), torch.full_like(inside, -math.inf, dtype=z.dtype))

    def to_config(self) -> dict:
        return {"kind": self.kind, "low": self.low, "high": self.high}


#: The base priors a task may name; the values are the papers' defaults (N(0, 1) and U(-1, 1)).
PRIORS: dict[str, IIDPrior] = {"normal": NormalPrior(), "uniform": UniformPrior()}
