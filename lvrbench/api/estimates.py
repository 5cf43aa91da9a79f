"""Estimates with their intervals: every number a leaderboard shows carries its uncertainty.

A result stores an estimate as `{"value", "low", "high", "n"}` (`Estimate.to_dict`). Shares of 0/1 outcomes get
Wilson's score interval, means a percentile bootstrap over the evaluated items, paired differences of two methods on
the same items Newcombe's paired interval (shares) or a paired bootstrap (means). Every random draw comes from a
`torch.Generator` passed in; `items_generator` seeds one by what decides the items, so estimates on the same items
resample alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from ..base.hashing import derive_seed

#: Part of the identity of every cell: bump it when a change here changes a number.
REVISION = 1
#: Upper bound on the entries of one block of bootstrap draws (2**23 int64 = 64 MiB).
MAX_BLOCK_ELEMENTS = 2**23


@dataclass(frozen=True)
class Estimate:
    """A point estimate with a confidence interval [low, high] computed from n evaluated items."""

    value: float
    low: float
    high: float
    n: int

    def to_dict(self) -> dict:
        """JSON-ready dict with plain Python floats/ints."""
        return {"value": float(self.value), "low": float(self.low), "high": float(self.high), "n": int(self.n)}


def check_boot(n_boot: int, level: float) -> None:
    """Refuse a bootstrap of fewer than one replicate or a level outside (0, 1)."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")


def percentile_interval(replicates: np.ndarray, level: float) -> tuple[float, float]:
    """The central `level` interval of bootstrap replicates."""
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(replicates, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _randint(generator: torch.Generator, high: int, size: tuple[int, ...], device: torch.device) -> Tensor:
    # Draw on the generator's own device (required by torch), then move to where the data lives.
    return torch.randint(high, size, generator=generator, device=generator.device).to(device)


def resamples(generator: torch.Generator, n: int, n_boot: int, per_chunk: int, device: torch.device) -> Iterator[Tensor]:
    """n_boot bootstrap index vectors over n items, in chunks of at most per_chunk rows."""
    for start in range(0, n_boot, per_chunk):
        yield _randint(generator, n, (min(per_chunk, n_boot - start), n), device)



def items_generator(items: object) -> torch.Generator:
    """A CPU generator for bootstraps, seeded by a JSON description of the evaluated items, never by a cell's id.

    Describe what decides the items (a recovery cell's config without its method and grid row, say):
    then every estimate on the same items draws the same resamples, so identical data get identical
    intervals and two cells' bootstraps are paired.
    """
    return torch.Generator().manual_seed(derive_seed(items, "bootstrap"))


def bootstrap_mean(values: Tensor, generator: torch.Generator, n_boot: int = 1000, level: float = 0.95) -> Estimate:
    """Mean of per-item values [n] with a percentile bootstrap interval (items resampled with replacement)."""
    check_boot(n_boot, level)
    if not isinstance(values, Tensor) or values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"values must be a non-empty 1-D tensor, got {getattr(values, 'shape', type(values))}")
    v = values.detach().to(torch.float64)
    n = v.numel()
    per_chunk = max(1, MAX_BLOCK_ELEMENTS // n)
    means = []
    for idx in resamples(generator, n, n_boot, per_chunk, v.device):
        means.append(v[idx].mean(dim=1))
    low, high = percentile_interval(torch.cat(means).cpu().numpy(), level)
    return Estimate(float(v.mean()), low, high, n)


def wilson_interval(proportion: float, n: int, level: float = 0.95) -> Estimate:
    """A proportion measured on n items with its Wilson score interval (for the evaluators' test accuracy,
    whose per-image outcomes are not kept: the closed form needs only the proportion and n)."""
    if n < 1 or not 0.0 <= proportion <= 1.0 or not 0.0 < level < 1.0:
        raise ValueError(f"need 0 <= proportion <= 1, n >= 1 and 0 < level < 1, got {proportion}, {n}, {level}")
    z = NormalDist().inv_cdf(0.5 + level / 2)
    centre = (proportion + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n))
    # at 0 of n (n of n) the bound is exactly 0 (1); rounding of centre - half would print 1e-19
    low = 0.0 if proportion == 0.0 else max(0.0, centre - half)
    high = 1.0 if proportion == 1.0 else min(1.0, centre + half)
    return Estimate(proportion, low, high, n)


def _indicators(values: Tensor, name: str = "indicators") -> Tensor:
    """values [n] as a float64 CPU tensor of 0s and 1s; ValueError otherwise."""
    if not isinstance(values, Tensor) or values.dim() != 1 or values.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 1-D tensor, got {getattr(values, 'shape', type(values))}")
    v = values.detach().to(device="cpu", dtype=torch.float64)
    if not bool(((v == 0) | (v == 1)).all()):
        raise ValueError(f"{name} must hold only 0s and 1s (or booleans)")
    return v


def proportion(indicators: Tensor, level: float = 0.95) -> Estimate:
    """The share of 1s among per-item 0/1 outcomes [n] with its Wilson score interval.

    For every 0/1 average (accuracy, share under a threshold, wins, precision): a percentile bootstrap
    of such an average collapses to [0, 0] at 0 of n and covers far less than its nominal level near 0
    or 1 (0.66 for a nominal 95% at p = 0.03, n = 32); Wilson's interval keeps its level there.
    """
    v = _indicators(indicators)
    return wilson_interval(int(v.sum()) / v.numel(), v.numel(), level)


def paired_proportion_difference(a: Tensor, b: Tensor, level: float = 0.95) -> Estimate:
    """mean(a) - mean(b) for 0/1 outcomes of two methods on the same n items, with Newcombe's paired interval.

    Newcombe's square-and-add interval for paired data (Stat. Med. 17:2635, 1998; as Altman et al.,
    *Statistics with Confidence*, and Fagerland et al. give it): the two marginal Wilson intervals
    combined with the correlation of the pairs, its numerator continuity-corrected. Chosen over a
    paired bootstrap because the bootstrap collapses to [0, 0] when the methods never disagree on the
    n items, while Newcombe's interval still says how large a difference n items cannot rule out.
    """
    x, y = _indicators(a, "a"), _indicators(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"a and b must hold outcomes of the same items, got {x.numel()} and {y.numel()}")
    n = x.numel()
    both, only_a = int((x * y).sum()), int((x * (1 - y)).sum())
    only_b, neither = int(((1 - x) * y).sum()), int(((1 - x) * (1 - y)).sum())
    p1, p2 = (both + only_a) / n, (both + only_b) / n
    w1, w2 = wilson_interval(p1, n, level), wilson_interval(p2, n, level)
    margins = (both + only_a) * (only_b + neither) * (both + only_b) * (only_a + neither)
    cross = both * neither - only_a * only_b
    corrected = cross - n / 2 if cross > n / 2 else (0.0 if cross >= 0 else cross)
    phi = corrected / math.sqrt(margins) if margins else 0.0
    d1_low, d1_high, d2_low, d2_high = p1 - w1.low, w1.high - p1, p2 - w2.low, w2.high - p2
    low = p1 - p2 - math.sqrt(max(0.0, d1_low**2 + d2_high**2 - 2 * phi * d1_low * d2_high))
    high = p1 - p2 + math.sqrt(max(0.0, d2_low**2 + d1_high**2 - 2 * phi * d2_low * d1_high))
    return Estimate(p1 - p2, max(-1.0, low), min(1.0, high), n)


def paired_mean_difference(a: Tensor, b: Tensor, generator: torch.Generator, n_boot: int = 1000,
                           level: float = 0.95) -> Estimate:
    """mean(a) - mean(b) of per-item values of two methods on the same n items, with a paired bootstrap interval.

    Each resample draws the same items for both (the bootstrap of the per-item differences), so
    what the two share cancels; seed `generator` by the item set so every pair on it shares draws.
    """
    if not isinstance(a, Tensor) or not isinstance(b, Tensor) or a.shape != b.shape:
        raise ValueError(f"a and b must be tensors of the same items, got {getattr(a, 'shape', type(a))} and "
                         f"{getattr(b, 'shape', type(b))}")
    return bootstrap_mean(a.detach().to(torch.float64) - b.detach().to(torch.float64).to(a.device), generator, n_boot, level)
