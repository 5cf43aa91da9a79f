"""Sample-quality scores (FID, improved precision/recall, mode coverage) with bootstrap intervals.

All randomness comes from a caller-supplied ``torch.Generator``; all linear algebra runs in float64
torch (on the inputs' device, one BLAS/thread pool); numpy only appears at the API edges.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ..api.estimates import Estimate, check_boot, percentile_interval, proportion, resamples

#: Part of the identity of every cell: bump it when a change here changes a number.
#: 2: under the thread policy (one thread), MKL's eigvalsh in the FID gives other bits than at 2 threads.
REVISION = 2

# Upper bound on the number of entries of one block of pairwise distances (2**23 float64 = 64 MiB);
# the default row-chunk size is MAX_BLOCK_ELEMENTS // n_columns.
MAX_BLOCK_ELEMENTS = 2**23

# Pairwise distances are computed entry by entry (not via |x|^2 + |y|^2 - 2xy), so they are exact
# enough for `<=` ties, self-distances are exactly 0, and results do not depend on the chunk size.
_CDIST_MODE = "donot_use_mm_for_euclid_dist"


# --------------------------------------------------------------------------------------------- helpers


def _as_t64(x: np.ndarray | Tensor, device: torch.device | None = None) -> Tensor:
    if isinstance(x, Tensor):
        return x.detach().to(device=device if device is not None else x.device, dtype=torch.float64)
    return torch.as_tensor(np.asarray(x, dtype=np.float64), device=device)


def _as_features(x: Tensor, name: str, min_rows: int = 1) -> Tensor:
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise ValueError(f"{name} must be a 2-D tensor [n, f], got {getattr(x, 'shape', type(x))}")
    if x.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {x.shape[0]}")
    return x.detach().to(torch.float64)


def _sqrt_psd(cov: Tensor) -> Tensor:
    """Symmetric square root of a PSD matrix (negative rounding eigenvalues clipped to 0)."""
    w, v = torch.linalg.eigh((cov + cov.T) / 2)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def _stats(x: Tensor) -> tuple[Tensor, Tensor]:
    return x.mean(dim=0), torch.atleast_2d(torch.cov(x.T, correction=1))


def _clamp_rounding(d: float, scale: float) -> float:
    """Clamp d to 0 if it is a negative rounding error relative to `scale`; keep real negatives."""
    return 0.0 if -1e-9 * max(scale, 1.0) <= d < 0.0 else d


def _row_chunk(n_cols: int, chunk_size: int | None) -> int:
    if chunk_size is not None:
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return chunk_size
    return max(1, MAX_BLOCK_ELEMENTS // max(n_cols, 1))


# ------------------------------------------------------------------------------------------------- FID


def gaussian_stats(features: Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean [f] and covariance [f, f] (ddof=1) of features [n, f], as float64 numpy arrays."""
    mu, cov = _stats(_as_features(features, "features", min_rows=2))
    return mu.cpu().numpy(), cov.cpu().numpy()


def frechet_distance(
    mu1: np.ndarray | Tensor, cov1: np.ndarray | Tensor, mu2: np.ndarray | Tensor, cov2: np.ndarray | Tensor
) -> float:
    """Fréchet distance ||mu1-mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^1/2) between two Gaussians.

    Accepts numpy arrays or tensors. The trace term uses eigvalsh of the symmetric S1^1/2 S2 S1^1/2
    (no non-symmetric sqrtm).
    """
    dev = next((a.device for a in (mu1, cov1, mu2, cov2) if isinstance(a, Tensor)), torch.device("cpu"))
    mu1, cov1, mu2, cov2 = (_as_t64(a, dev) for a in (mu1, cov1, mu2, cov2))
    f = mu1.shape[0]
    if mu1.shape != (f,) or mu2.shape != (f,) or cov1.shape != (f, f) or cov2.shape != (f, f):
        shapes = [tuple(a.shape) for a in (mu1, cov1, mu2, cov2)]
        raise ValueError(f"expected mu [f] and cov [f, f] for both Gaussians, got shapes {shapes}")
    s1 = _sqrt_psd(cov1)
    m = s1 @ cov2 @ s1
    tr_sqrt = float(torch.linalg.eigvalsh((m + m.T) / 2).clamp_min(0).sqrt().sum())
    mean_term = float((mu1 - mu2).square().sum())
    tr1, tr2 = float(torch.trace(cov1)), float(torch.trace(cov2))
    return _clamp_rounding(mean_term + tr1 + tr2 - 2.0 * tr_sqrt, mean_term + abs(tr1) + abs(tr2))


def fid(real_features: Tensor, fake_features: Tensor) -> float:
    """FID: Fréchet distance between Gaussians fitted to real [n, f] and fake [m, f] features."""
    real = _as_features(real_features, "real_features", min_rows=2)
    fake = _as_features(fake_features, "fake_features", min_rows=2).to(real.device)
    return frechet_distance(*_stats(real), *_stats(fake))


def _fid_replicates(mu_r: Tensor, cov_r: Tensor, sqrt_r: Tensor, fake: Tensor, idx: Tensor) -> Tensor:
    """FID of fixed real stats (mu_r, cov_r, sqrt_r = cov_r^1/2) vs fake[idx[b]] for each row b of idx [B, m]."""
    b, m = idx.shape
    # Work with resampling weights instead of gathered copies, on features centred once (so the
    # E[x x^T] - mean mean^T form below does not cancel). cov(fake_b @ S) = S cov_b S gives the trace
    # term's symmetric matrix directly.
    center = fake.mean(dim=0)
    xc = fake - center
    yc = xc @ sqrt_r
    w = torch.zeros(b, fake.shape[0], dtype=fake.dtype, device=fake.device)
    w.scatter_add_(1, idx, torch.full(idx.shape, 1.0 / m, dtype=fake.dtype, device=fake.device))
    mean_b = w @ xc
    tr_fake = (w @ xc.square().sum(dim=1) - mean_b.square().sum(dim=1)) * (m / (m - 1))
    y_mean = w @ yc
    sym = torch.stack([(yc.T * wb) @ yc for wb in w]) - y_mean[:, :, None] * y_mean[:, None, :]
    sym = (sym + sym.transpose(1, 2)) * (m / (2 * (m - 1)))
    tr_sqrt = torch.linalg.eigvalsh(sym).clamp_min(0).sqrt().sum(dim=1)
    mean_term = (mean_b + center - mu_r).square().sum(dim=1)
    tr_real = torch.trace(cov_r)
    d = mean_term + tr_real + tr_fake - 2.0 * tr_sqrt
    tiny = (d < 0) & (d >= -1e-9 * (mean_term + tr_real.abs() + tr_fake).clamp_min(1.0))
    return torch.where(tiny, torch.zeros_like(d), d)


def fid_bootstrap(
    real_features: Tensor,
    fake_features: Tensor,
    generator: torch.Generator,
    n_boot: int = 200,
    level: float = 0.95,
) -> Estimate:
    """FID with a 95% interval value ± z·se, se the bootstrap standard error over resampled fakes.

    Shows FID's sampling uncertainty from the finite fake set (real stats held fixed). Resampling
    with replacement adds FID's upward small-sample bias a second time, so a percentile interval
    would sit entirely above the value; the standard-error interval stays centred on it.
    n in the result is the number of fakes.
    """
    check_boot(n_boot, level)
    fake = _as_features(fake_features, "fake_features", min_rows=2)
    real = _as_features(real_features, "real_features", min_rows=2).to(fake.device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dims differ: real {real.shape[1]}, fake {fake.shape[1]}")
    mu_r, cov_r = _stats(real)
    value = frechet_distance(mu_r, cov_r, *_stats(fake))
    sqrt_r = _sqrt_psd(cov_r)
    dev, (m, f) = fake.device, fake.shape
    per_chunk = max(1, MAX_BLOCK_ELEMENTS // (m + f * f))  # w is [B, m], the trace-term matrices [B, f, f]
    reps = []
    for idx in resamples(generator, m, n_boot, per_chunk, dev):
        reps.append(_fid_replicates(mu_r, cov_r, sqrt_r, fake, idx))
    se = float(np.std(torch.cat(reps).cpu().numpy(), ddof=1)) if n_boot > 1 else 0.0
    half = se * float(NormalDist().inv_cdf(0.5 + level / 2))
    return Estimate(value, max(value - half, 0.0), value + half, m)


def fid_difference_bootstrap(
    real_features: Tensor,
    fake_a: Tensor,
    fake_b: Tensor,
    generator: torch.Generator,
    n_boot: int = 200,
    level: float = 0.95,
) -> Estimate:
    """FID(a) - FID(b) of two equal-sized fake sets against the same real stats, with a 95% interval value ± z·se,
    se the standard error over paired resamples: each draws the same positions of a and b, so samples that share
    a starting latent (a latent-space sampler and `direct` on one seed) are paired, and what they share cancels."""
    check_boot(n_boot, level)
    a = _as_features(fake_a, "fake_a", min_rows=2)
    b = _as_features(fake_b, "fake_b", min_rows=2).to(a.device)
    real = _as_features(real_features, "real_features", min_rows=2).to(a.device)
    if a.shape != b.shape or real.shape[1] != a.shape[1]:
        raise ValueError(f"need two fake sets of one shape and real features of their width, got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}, {tuple(real.shape)}")
    mu_r, cov_r = _stats(real)
    value = frechet_distance(mu_r, cov_r, *_stats(a)) - frechet_distance(mu_r, cov_r, *_stats(b))
    sqrt_r = _sqrt_psd(cov_r)
    (m, f), reps = a.shape, []
    for idx in resamples(generator, m, n_boot, max(1, MAX_BLOCK_ELEMENTS // (m + f * f)), a.device):
        reps.append(_fid_replicates(mu_r, cov_r, sqrt_r, a, idx) - _fid_replicates(mu_r, cov_r, sqrt_r, b, idx))
    se = float(np.std(torch.cat(reps).cpu().numpy(), ddof=1)) if n_boot > 1 else 0.0
    half = se * float(NormalDist().inv_cdf(0.5 + level / 2))
    return Estimate(value, value - half, value + half, m)


def fid_resampled(real_features: Tensor, fake_features: Tensor) -> Callable[[np.ndarray], np.ndarray]:
    """FID of resampled fakes against the fixed real statistics, as a function of item indices: given an int array
    [B, m] it returns the FID of fake_features[idx[r]] for each row r (float64 [B]). The statistic a bootstrap of
    two independent fake sets resamples (`lvrbench.kit.inference.bootstrap_difference`); the same arithmetic as
    `fid_bootstrap`'s replicates."""
    fake = _as_features(fake_features, "fake_features", min_rows=2)
    real = _as_features(real_features, "real_features", min_rows=2).to(fake.device)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature dims differ: real {real.shape[1]}, fake {fake.shape[1]}")
    mu_r, cov_r = _stats(real)
    sqrt_r = _sqrt_psd(cov_r)

    def statistic(idx: np.ndarray) -> np.ndarray:
        rows = torch.as_tensor(np.asarray(idx), dtype=torch.long, device=fake.device)
        return _fid_replicates(mu_r, cov_r, sqrt_r, fake, rows).cpu().numpy()

    return statistic


# --------------------------------------------------------------------------------- precision / recall


def knn_radii(features: Tensor, k: int = 3, *, chunk_size: int | None = None) -> Tensor:
    """Distance [n] from each point to its k-th nearest other point: the k-NN manifold's ball radii.

    Raises ValueError if n < k + 1. chunk_size = rows per distance block (default from MAX_BLOCK_ELEMENTS).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    x = _as_features(features, "features")
    n = x.shape[0]
    if n < k + 1:
        raise ValueError(f"knn_radii needs at least k + 1 = {k + 1} points to find k other neighbours, got {n}")
    rows = _row_chunk(n, chunk_size)
    radii = []
    for start in range(0, n, rows):
        d = torch.cdist(x[start : start + rows], x, compute_mode=_CDIST_MODE)
        own = torch.arange(d.shape[0], device=d.device)
        d[own, own + start] = float("inf")  # exclude the point itself (but not its duplicates)
        radii.append(d.topk(k, dim=1, largest=False).values[:, -1])
    return torch.cat(radii)


def in_manifold(reference: Tensor, radii: Tensor, queries: Tensor, *, chunk_size: int | None = None) -> Tensor:
    """Bool [q]: whether each query lies within (<=) the radius ball of at least one reference point."""
    ref = _as_features(reference, "reference")
    q = _as_features(queries, "queries", min_rows=0).to(ref.device)
    r = radii.detach().to(device=ref.device, dtype=torch.float64)
    if r.shape != (ref.shape[0],) or q.shape[1] != ref.shape[1]:
        shapes = f"reference {tuple(ref.shape)}, radii {tuple(r.shape)}, queries {tuple(q.shape)}"
        raise ValueError(f"shape mismatch: {shapes}")
    rows = _row_chunk(ref.shape[0], chunk_size)
    inside = [
        (torch.cdist(q[s : s + rows], ref, compute_mode=_CDIST_MODE) <= r).any(dim=1)
        for s in range(0, q.shape[0], rows)
    ]
    return torch.cat(inside) if inside else torch.zeros(0, dtype=torch.bool, device=ref.device)


def precision_recall(
    real: Tensor,
    fake: Tensor,
    k: int = 3,
    level: float = 0.95,
    *,
    chunk_size: int | None = None,
) -> tuple[Estimate, Estimate]:
    """Improved precision (fakes inside the real k-NN manifold) and recall (reals inside the fake one).

    Kynkäänniemi et al. 2019. Each is a share of per-sample indicators (the manifolds held fixed), so
    its interval is Wilson's (`proportion`), which draws nothing.
    """
    fake_in_real, real_in_fake = precision_recall_outcomes(real, fake, k, chunk_size=chunk_size)
    return proportion(fake_in_real, level), proportion(real_in_fake, level)


def precision_recall_outcomes(real: Tensor, fake: Tensor, k: int = 3, *, real_radii: Tensor | None = None,
                              chunk_size: int | None = None) -> tuple[Tensor, Tensor]:
    """The per-sample indicators behind `precision_recall`: (each fake inside the real k-NN manifold, each real inside
    the fake one), for paired comparisons of two fake sets. `real_radii` (`knn_radii(real, k)`) may be passed in
    when many fake sets are scored against the same reals."""
    if real_radii is None:
        real_radii = knn_radii(real, k, chunk_size=chunk_size)
    fake_in_real = in_manifold(real, real_radii, fake, chunk_size=chunk_size)
    real_in_fake = in_manifold(fake, knn_radii(fake, k, chunk_size=chunk_size), real, chunk_size=chunk_size)
    return fake_in_real, real_in_fake


# ------------------------------------------------------------------------------------- mode coverage


def mode_labels(points: Tensor, centers: Tensor, std: float) -> tuple[Tensor, Tensor]:
    """(labels [n], high_quality [n]): each point's nearest centre, or K (= not high quality) beyond 3 std of it;
    and whether it is high quality (within 3 std of its nearest centre)."""
    p = _as_features(points, "points")
    c = _as_features(centers, "centers").to(p.device)
    if p.shape[1] != c.shape[1]:
        raise ValueError(f"points have dim {p.shape[1]} but centers have dim {c.shape[1]}")
    if not std > 0:
        raise ValueError(f"std must be > 0, got {std}")
    n, n_modes = p.shape[0], c.shape[0]
    rows = _row_chunk(n_modes, None)
    nearest_d, nearest = [], []
    for s in range(0, n, rows):
        d, i = torch.cdist(p[s : s + rows], c, compute_mode=_CDIST_MODE).min(dim=1)
        nearest_d.append(d)
        nearest.append(i)
    dist, assign = torch.cat(nearest_d), torch.cat(nearest)
    high_quality = dist <= 3.0 * std
    return torch.where(high_quality, assign, torch.full_like(assign, n_modes)), high_quality


def covered_modes(labels: Tensor, n_modes: int) -> Tensor:
    """Modes covered by each row of resampled labels [B, n] (float64 [B]): K + 1 = "not high quality" is no mode."""
    counts = torch.zeros(labels.shape[0], n_modes + 1, dtype=torch.long, device=labels.device)
    counts.scatter_add_(1, labels, torch.ones_like(labels))
    return (5 * n_modes * counts[:, :n_modes] >= labels.shape[1]).sum(1).to(torch.float64)


def paired_modes_difference(labels_a: Tensor, labels_b: Tensor, n_modes: int, generator: torch.Generator,
                            n_boot: int = 1000, level: float = 0.95) -> Estimate:
    """Modes covered by a minus by b (`mode_labels` of two equal-sized sample sets), with a percentile bootstrap
    interval over paired resamples (the same positions of both)."""
    check_boot(n_boot, level)
    if labels_a.shape != labels_b.shape or labels_a.dim() != 1 or not labels_a.numel():
        raise ValueError(f"need two equal non-empty label vectors, got {tuple(labels_a.shape)} and {tuple(labels_b.shape)}")
    n = labels_a.numel()
    b = labels_b.to(labels_a.device)
    value = float(covered_modes(labels_a[None], n_modes)[0] - covered_modes(b[None], n_modes)[0])
    reps = [covered_modes(labels_a[idx], n_modes) - covered_modes(b[idx], n_modes)
            for idx in resamples(generator, n, n_boot, max(1, MAX_BLOCK_ELEMENTS // n), labels_a.device)]
    low, high = percentile_interval(torch.cat(reps).cpu().numpy(), level)
    return Estimate(value, min(low, value), max(high, value), n)


def mode_coverage(
    points: Tensor,
    centers: Tensor,
    std: float,
    generator: torch.Generator,
    n_boot: int = 1000,
    level: float = 0.95,
) -> dict:
    """Synthetic-mixture scores (VEEGAN / PacGAN): modes covered and fraction of high-quality samples.

    A point is high quality if within 3*std of its nearest center; a mode is covered if it gets at least
    0.2 * n / K high-quality points. Returns {"modes_covered", "n_modes", "high_quality", "per_mode",
    "coverage"}, where "coverage" is modes_covered with a bootstrap interval over the points (a count of
    modes, not a share of samples) and "high_quality" the share of high-quality samples with its Wilson
    interval (`proportion`).
    """
    labels, high_quality = mode_labels(points, centers, std)
    n, n_modes = labels.numel(), len(centers)
    per_mode = torch.bincount(labels[high_quality], minlength=n_modes).cpu().tolist()
    # count >= 0.2 * n / K, written in integers to avoid float ties (e.g. exactly 20 of 2500 for K=25)
    covered = sum(1 for count in per_mode if 5 * n_modes * count >= n)
    check_boot(n_boot, level)
    per_chunk = max(1, MAX_BLOCK_ELEMENTS // max(n, 1))
    replicates = [covered_modes(labels[idx], n_modes) for idx in resamples(generator, n, n_boot, per_chunk, labels.device)]
    low, high = percentile_interval(torch.cat(replicates).cpu().numpy(), level)
    return {
        "coverage": Estimate(float(covered), low, high, n),
        "modes_covered": covered,
        "n_modes": n_modes,
        "high_quality": proportion(high_quality, level),
        "per_mode": [int(count) for count in per_mode],
    }
