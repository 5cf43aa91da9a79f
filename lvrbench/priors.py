"""Latent priors p(z): the distributions generators are trained on and recovery is regularised towards."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    import torch

#: What a regularizer or resampler may declare in `requires`.
REQUIREMENTS = ("normal", "uniform", "iid", "any")


@dataclass(frozen=True)
class Prior:
    """An IID prior over latent vectors; `kind` names the family of its per-element distribution."""

    kind: ClassVar[str] = "any"
    iid: ClassVar[bool] = True

    def sample(self, shape: tuple[int, ...], generator: torch.Generator, device: str | torch.device = "cpu") -> torch.Tensor:
        """Draw IID elements on the CPU from `generator`, then move them: same numbers on every device."""
        raise NotImplementedError

    def satisfies(self, requires: str) -> bool:
        """Whether a method declaring `requires` is defined for this prior."""
        return requires == "any" or requires == self.kind or (requires == "iid" and self.iid)

    def to_config(self) -> dict:
        """The prior as plain JSON data (part of every cell's identity)."""
        raise NotImplementedError


@dataclass(frozen=True)
class NormalPrior(Prior):
    """z_i ~ N(mean, std^2), the Gaussian prior of papers 000 and 001."""

    mean: float = 0.0
    std: float = 1.0
    kind: ClassVar[str] = "normal"

    def sample(self, shape, generator, device="cpu"):
        import torch

        z = torch.randn(shape, generator=generator) * self.std + self.mean
        return z.to(device)

    def to_config(self) -> dict:
        return {"kind": self.kind, "mean": self.mean, "std": self.std}


@dataclass(frozen=True)
class UniformPrior(Prior):
    """z_i ~ U(low, high), the bounded prior of Lipton & Tripathi and paper 000 (U(-1, 1)).

    Paper 000 §2 gives U(-1, 1); the heading before its Tables 9-12 prints U(0, 1²), which we read as a typo.
    """

    low: float = -1.0
    high: float = 1.0
    kind: ClassVar[str] = "uniform"

    def sample(self, shape, generator, device="cpu"):
        import torch

        z = torch.rand(shape, generator=generator) * (self.high - self.low) + self.low
        return z.to(device)

    def to_config(self) -> dict:
        return {"kind": self.kind, "low": self.low, "high": self.high}


#: The priors a task may name; the values are the papers' defaults (N(0, 1) and U(-1, 1)).
PRIORS: dict[str, Prior] = {"normal": NormalPrior(), "uniform": UniformPrior()}
