"""Statistical distances between one-dimensional samples, as differentiable torch functions.

Every distance takes ``a`` of shape ``[..., n]`` and ``b`` of shape ``[..., m]``; each sample
lies on the last dim, the leading dims broadcast, and the result has the broadcast leading shape
(a 0-d tensor for two 1-D samples). They double as latent regulation losses, so they are batched,
O((n + m) log(n + m)) per row, and differentiable w.r.t. both samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

#: Part of the identity of every cell: bump it when a change here changes a number.
REVISION = 1
VARIANCE_FLOOR = 1e-12

AXIOMS = ("non-negativity", "symmetry", "identity", "triangle")


def _broadcast(*samples: Tensor) -> list[Tensor]:
    batch = torch.broadcast_shapes(*(x.shape[:-1] for x in samples))
    return [x.expand(*batch, x.shape[-1]) for x in samples]


def _searchsorted(sorted_sample: Tensor, values: Tensor, right: bool = False) -> Tensor:
    return torch.searchsorted(sorted_sample.contiguous(), values.contiguous(), right=right)


def _cdf_gaps(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """F_a - F_b on each interval between consecutive pooled values, and the interval lengths."""
    # Sorting before broadcasting sorts a shared b once, not once per row of a.
    a_sorted, b_sorted = _broadcast(a.sort(dim=-1).values, b.sort(dim=-1).values)
    pooled = torch.cat([a_sorted, b_sorted], dim=-1).sort(dim=-1).values
    deltas = pooled.diff(dim=-1)
    # Both CDFs are 1 at the last pooled value, which starts no interval.
    cdf_a = _searchsorted(a_sorted, pooled, right=True)[..., :-1].to(pooled.dtype) / a.shape[-1]
    cdf_b = _searchsorted(b_sorted, pooled, right=True)[..., :-1].to(pooled.dtype) / b.shape[-1]
    return cdf_a - cdf_b, deltas


def wasserstein(a: Tensor, b: Tensor) -> Tensor:
    """1-Wasserstein distance ∫|F_a - F_b| dt between the empirical distributions of a and b.

    Equals ``scipy.stats.wasserstein_distance(a, b)``.
    """
    gaps, deltas = _cdf_gaps(a, b)
    return (gaps.abs() * deltas).sum(dim=-1)


def _safe_sqrt(x: Tensor) -> Tensor:
    # sqrt has an infinite derivative at 0; give it a zero gradient there instead of nan.
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, 1.0).sqrt(), 0.0)


def energy(a: Tensor, b: Tensor) -> Tensor:
    """Energy distance (not its square) sqrt(2 ∫(F_a - F_b)² dt) between the empirical distributions.

    Equals ``scipy.stats.energy_distance(a, b)`` and sqrt(2E|X-Y| - E|X-X'| - E|Y-Y'|) with
    V-statistics; its gradient is zero, not nan, where the distance is 0.
    """
    gaps, deltas = _cdf_gaps(a, b)
    return _safe_sqrt(2 * (gaps.square() * deltas).sum(dim=-1))


def lukaszyk_karmowski(a: Tensor, b: Tensor) -> Tensor:
    """Lukaszyk-Karmowski distance E|X - Y|: the mean |a_i - b_j| over all n·m pairs.

    Computed by sorting and prefix sums, never materialising the n×m matrix.
    """
    n, m = a.shape[-1], b.shape[-1]
    b_sorted = b.sort(dim=-1).values
    prefix = torch.cat([torch.zeros_like(b_sorted[..., :1]), b_sorted.cumsum(dim=-1)], dim=-1)
    a, b_sorted, prefix = _broadcast(a, b_sorted, prefix)
    # Pairs with b_j == a_i add 0; counting them on neither side gives them |0|'s zero gradient.
    below = _searchsorted(b_sorted, a)  # #{j: b_j < a_i}
    not_above = _searchsorted(b_sorted, a, right=True)  # #{j: b_j <= a_i}
    sum_below = prefix.gather(-1, below)
    sum_above = prefix[..., -1:] - prefix.gather(-1, not_above)
    per_a = a * below.to(a.dtype) - sum_below + sum_above - a * (m - not_above).to(a.dtype)
    return per_a.sum(dim=-1) / (n * m)


def bhattacharyya_normal(
    mean1: Tensor, var1: Tensor, mean2: Tensor | float, var2: Tensor | float
) -> Tensor:
    """Bhattacharyya distance between N(mean1, var1) and N(mean2, var2), in closed form.

    Written with separate logs so gradients stay finite for tiny variances.
    """
    mean2 = torch.as_tensor(mean2, dtype=mean1.dtype, device=mean1.device)
    var2 = torch.as_tensor(var2, dtype=var1.dtype, device=var1.device)
    var_sum = var1 + var2
    log_ratio = var_sum.log() - math.log(2) - 0.5 * var1.log() - 0.5 * var2.log()
    return (mean1 - mean2).square() / (4 * var_sum) + 0.5 * log_ratio


def fit_normal(x: Tensor) -> tuple[Tensor, Tensor]:
    """The normal fitted to the last axis of x: its mean and population variance, floored at VARIANCE_FLOOR.

    The floor keeps a constant sample (a zero-initialised latent) at a large but finite distance.
    """
    var, mean = torch.var_mean(x, dim=-1, correction=0)
    return mean, var.clamp_min(VARIANCE_FLOOR)


def bhattacharyya(a: Tensor, b: Tensor) -> Tensor:
    """Bhattacharyya distance between the normals fitted to a and to b (`fit_normal`)."""
    return bhattacharyya_normal(*fit_normal(a), *fit_normal(b))


@dataclass(frozen=True)
class Distance:
    """A distance function and the metric axioms (from AXIOMS) it satisfies on empirical distributions."""

    name: str
    fn: Callable[[Tensor, Tensor], Tensor]
    axioms: frozenset[str]


# "identity" is identity of indiscernibles: d(a, b) = 0 iff a and b have the same empirical distribution.
# - wasserstein, energy: the L1 and (scaled) L2 norms of F_a - F_b, which vanish iff the CDFs agree.
# - lukaszyk-karmowski: E|X-Z| <= E|X-Y| + E|Y-Z| holds pointwise, hence in expectation over
#   independent X, Y, Z; but d(a, a) = E|X-X'| > 0 for any non-constant sample.
# - bhattacharyya sees only the fitted mean and variance, so different samples with equal moments are
#   at distance 0; for equal variances it is (mean1-mean2)²/(8 var), a squared distance, so the
#   triangle inequality fails (means 0, 1, 2: 4k > k + k).
DISTANCES: dict[str, Distance] = {
    d.name: d
    for d in (
        Distance("wasserstein", wasserstein, frozenset(AXIOMS)),
        Distance("energy", energy, frozenset(AXIOMS)),
        Distance(
            "lukaszyk-karmowski",
            lukaszyk_karmowski,
            frozenset({"non-negativity", "symmetry", "triangle"}),
        ),
        Distance("bhattacharyya", bhattacharyya, frozenset({"non-negativity", "symmetry"})),
    )
}
