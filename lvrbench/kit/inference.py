"""Intervals and tests for citable verdicts: seeds as replicates, paired items, multiplicity, cross-fitting.

The rules, stated once (every function below follows them):

- **Estimates** are plain dicts ``{"value", "low", "high", "n"}`` of finite floats (``low <= high``) and an int,
  what result files store. A difference is always ``a - b`` (the first argument minus the second).
- **The unit of replication is the trained network** (a "seed"). A between-network statement needs seed-level
  estimates, whose ``n`` counts seeds; ``replicated(est)`` says whether ``n >= 2``. With one seed no between-network
  interval exists: ``seed_mean`` returns ``low == high == value`` with ``n = 1``, and the hierarchical functions
  return the *within-network* (items-only) interval with ``n = 1``, fit for display as "evaluation noise of one
  network" and never for a verdict.
- **Seeds are aggregated by a t interval over per-seed estimates** (default ``over_seeds="t"``): the per-seed
  estimates are independent replicates of everything that varies (training and evaluation noise alike), so their
  sample variance estimates the variance of their mean without a model of the two levels. With 3 seeds this is the
  only sound choice found: a hierarchical percentile bootstrap (resample seeds, then items) covers at most
  1 - 2 * 2**-3 = 75% when networks differ, since its replicates never leave the range of the 3 seeds' values (the
  simulated coverage is 0.75 at 3 seeds, 0.83 at 5, 0.92 at 20), and over-covers (0.99) when they do not, since
  item noise is counted twice. It is kept as ``over_seeds="bootstrap"`` for many seeds and for the one-seed case.
  With equal weights the t interval is the Hartung-Knapp-Sidik-Jonkman random-effects interval.
- **Randomness** comes only from the ``seed`` argument: an int (a fresh ``numpy.random.default_rng(seed)``, so the
  same int gives the same bytes) or a ``numpy.random.Generator`` (whose state advances). Never global RNG. Draws
  are made in fixed-size chunks, so results do not depend on the machine.
- **Bootstrap intervals** are percentile intervals; a bootstrap p-value is two-sided and inverts them:
  ``p = min(1, 2 * min((#{r <= 0} + 1) / (B + 1), (#{r >= 0} + 1) / (B + 1)))``, so ``p < 1 - level`` exactly
  when the percentile interval excludes 0 (up to the +1 correction).
  A bootstrap p-value can be no smaller than 2 / (B + 1): Holm's first step over k comparisons at family-wise alpha
  needs ``n_boot >= 2k / alpha`` (400 for 10 comparisons at 5%). A percentile interval need not contain the point
  estimate (a biased statistic such as FID); it is reported as drawn.
- **p-values** are two-sided; ``None`` where no test exists (one seed, no baseline). Levels are two-sided
  confidence levels in (0, 1); ``alpha`` is a family-wise error rate.
"""

from __future__ import annotations

import math
from typing import Callable, Literal, Sequence

import numpy as np
from scipy import special, stats

Estimate = dict
Seed = int | np.random.Generator
#: Bootstrap replicates drawn per chunk (a constant, so draws never depend on memory or machine).
_CHUNK = 128


# --------------------------------------------------------------------------------------------- helpers


def _estimate(value: float, low: float, high: float, n: int) -> Estimate:
    value, low, high = float(value), float(low), float(high)
    if not all(math.isfinite(v) for v in (value, low, high)) or low > high:
        raise ValueError(f"an estimate needs finite numbers with low <= high, got {value}, [{low}, {high}]")
    return {"value": value, "low": low, "high": high, "n": int(n)}


def _rng(seed: Seed) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed).__name__}")


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def _values(x: object, name: str, min_n: int = 1) -> np.ndarray:
    v = np.asarray(x, dtype=np.float64)
    if v.ndim != 1 or v.size < min_n or not np.isfinite(v).all():
        raise ValueError(f"{name} must be a 1-D array of at least {min_n} finite numbers, got shape {v.shape}")
    return v


def _per_seed(x: Sequence[object], name: str) -> list[np.ndarray]:
    if len(x) == 0:
        raise ValueError(f"{name} needs at least one seed")
    return [_values(v, f"{name}[{s}]") for s, v in enumerate(x)]


def _percentile(reps: np.ndarray, level: float) -> tuple[float, float]:
    low, high = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2])
    return float(low), float(high)


def _boot_p(reps: np.ndarray) -> float:
    b = reps.size
    below, above = (np.count_nonzero(reps <= 0) + 1) / (b + 1), (np.count_nonzero(reps >= 0) + 1) / (b + 1)
    return float(min(1.0, 2 * min(below, above)))


def _resample_means(v: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """m bootstrap means of v (items drawn with replacement), in chunks of _CHUNK replicates."""
    out = np.empty(m)
    for start in range(0, m, _CHUNK):
        stop = min(m, start + _CHUNK)
        out[start:stop] = v[rng.integers(0, v.size, (stop - start, v.size))].mean(axis=1)
    return out


def _t_summary(values: np.ndarray, level: float, within: np.ndarray | None = None) -> tuple[Estimate, float]:
    """Mean of >= 2 values with its Student-t interval (n - 1 df) and the one-sample t-test's p against 0; where the
    values are all equal and their within-network variances are known, se = sqrt(mean(within) / n) instead."""
    n, mean = values.size, float(values.mean())
    se = float(values.std(ddof=1)) / math.sqrt(n)
    if se == 0.0 and within is not None:
        se = math.sqrt(float(np.mean(within)) / n)
    if se == 0.0:
        return _estimate(mean, mean, mean, n), (1.0 if mean == 0.0 else 0.0)
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * se
    return _estimate(mean, mean - half, mean + half, n), float(2 * stats.t.sf(abs(mean) / se, n - 1))


def _seed_stage(points: list[float], replicate: Callable[[int, int], np.ndarray], rng: np.random.Generator,
                over_seeds: str, n_boot: int, level: float, test: bool,
                within: list[float] | None = None) -> tuple[Estimate, float | None]:
    """Combine per-seed point estimates over seeds: t over seeds, or the hierarchical percentile bootstrap.

    replicate(s, m) returns m within-seed bootstrap replicates of seed s's estimate (items resampled); within: the
    per-seed squared standard errors where known (see ``seed_difference``)."""
    if over_seeds not in ("t", "bootstrap"):
        raise ValueError(f"over_seeds must be 't' or 'bootstrap', got {over_seeds!r}")
    _check_level(level)
    n_seeds, value = len(points), float(np.mean(points))
    if n_seeds >= 2 and over_seeds == "t":
        est, p = _t_summary(np.asarray(points, dtype=np.float64), level,
                            None if within is None else np.asarray(within, dtype=np.float64))
        return est, (p if test else None)
    if n_boot < 10:
        raise ValueError(f"n_boot must be at least 10, got {n_boot}")
    if n_seeds == 1:
        reps = replicate(0, n_boot)
    else:
        picks = rng.integers(0, n_seeds, (n_boot, n_seeds))
        slots = np.empty((n_boot, n_seeds))
        for s in range(n_seeds):
            chosen = picks == s
            slots[chosen] = replicate(s, int(chosen.sum()))
        reps = slots.mean(axis=1)
    low, high = _percentile(reps, level)
    return _estimate(value, low, high, n_seeds), (_boot_p(reps) if test else None)


# ----------------------------------------------------------------------------------- seed-level estimates


def replicated(est: Estimate) -> bool:
    """Whether a seed-level estimate rests on at least 2 trained networks, so its interval covers the variance
    between networks; with ``n = 1`` it covers at most one network's evaluation noise and supports no verdict."""
    return int(est["n"]) >= 2


def seed_mean(values: Sequence[float], level: float = 0.95) -> Estimate:
    """The mean over seeds of one per-seed number (a family's FID, a method's accuracy) with a Student-t interval
    on n - 1 degrees of freedom (n = seeds). One seed: ``low == high == value``, ``n = 1`` (see ``replicated``).

    Why t: seeds are few (3) and their per-seed numbers are averages over many items, close to normal, where t is
    exact; a bootstrap over 3 seeds cannot leave the range of the 3 values (coverage at most 75%)."""
    _check_level(level)
    v = _values(values, "values")
    if v.size == 1:
        return _estimate(v[0], v[0], v[0], 1)
    return _t_summary(v, level)[0]


def seed_difference(differences: Sequence[float], level: float = 0.95,
                    within: Sequence[float] | None = None) -> tuple[Estimate, float | None]:
    """Per-seed paired differences (a's statistic minus b's on the same network, one per seed) → their mean with a
    t interval and the one-sample t-test's two-sided p-value (``scipy.stats.ttest_1samp``). One seed: n = 1,
    zero width, p None.

    The sound aggregate of any within-network comparison over few seeds (a mean difference, a cross-fitted
    difference, an FID difference): each seed's difference carries its own evaluation noise, so the spread of the
    seeds' differences holds both levels of variance. ``within``: each seed's squared standard error (its
    evaluation noise), used only when the differences are all equal: with discrete outcomes two methods that
    differ on a few items give e.g. +0.002 on every seed (1.8% of null cases at 0.5% discordant items over 3 seeds
    of 500), and a zero spread would claim certainty; the within-network variance stands in for it then. Without
    ``within``, equal nonzero differences give zero width and p = 0 (equal zeros: p = 1)."""
    _check_level(level)
    v = _values(differences, "differences")
    if v.size == 1:
        return _estimate(v[0], v[0], v[0], 1), None
    w = None if within is None else _values(within, "within")
    if w is not None and (w.size != v.size or (w < 0).any()):
        raise ValueError("within needs one non-negative squared standard error per seed")
    return _t_summary(v, level, w)


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[Estimate, float | None]:
    """mean(a) - mean(b) of two independent samples (two families' per-seed numbers; two samplers' independent
    per-item values) with Welch's t interval (Welch-Satterthwaite df) and its two-sided p-value, as
    ``scipy.stats.ttest_ind(a, b, equal_var=False)``.

    ``n`` is the smaller sample's size (what limits replication); with fewer than 2 values in either sample there is
    no variance to use: ``n = 1``, zero width, p None. Both samples constant: the difference is exact (zero width,
    p = 0, or 1 when the means are equal)."""
    _check_level(level)
    x, y = _values(a, "a"), _values(b, "b")
    diff, n = float(x.mean() - y.mean()), min(x.size, y.size)
    if n < 2:
        return _estimate(diff, diff, diff, 1), None
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = math.sqrt(va + vb)
    if se == 0.0:
        return _estimate(diff, diff, diff, n), (1.0 if diff == 0.0 else 0.0)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    half = float(stats.t.ppf((1 + level) / 2, df)) * se
    return _estimate(diff, diff - half, diff + half, n), float(2 * stats.t.sf(abs(diff) / se, df))


def hierarchical_difference(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], seed: Seed, *,
                            paired: bool = True, over_seeds: Literal["t", "bootstrap"] = "t", n_boot: int = 2000,
                            level: float = 0.95) -> tuple[Estimate, float | None]:
    """Two methods' per-item values on each network (a[s], b[s] for seed s) → the mean over seeds of the per-seed
    difference of means, with an interval and a two-sided p-value that treat networks as replicates.

    paired=True: a[s] and b[s] are the same items (per-item differences); paired=False: independent samples on the
    same network (a sampler's against ``direct``'s), resampled independently. ``over_seeds="t"`` (the default,
    sound at 3 seeds): t over the per-seed differences (``seed_difference``, ``within`` the per-seed squared
    standard errors of the difference). ``over_seeds="bootstrap"``: resample
    seeds with replacement, then items within each resampled seed, B = n_boot replicates of the mean over seeds of
    the per-seed difference; percentile interval (it under-covers at few seeds: see the module docstring). One
    seed, either way: the within-network items bootstrap, ``n = 1``. Vectorised; deterministic for an int seed."""
    xs, ys = _per_seed(a, "a"), _per_seed(b, "b")
    if len(xs) != len(ys):
        raise ValueError(f"a and b need the same seeds, got {len(xs)} and {len(ys)}")
    if paired and any(x.size != y.size for x, y in zip(xs, ys)):
        raise ValueError("paired values need the same items in a[s] and b[s]")
    rng = _rng(seed)
    diffs = [x - y for x, y in zip(xs, ys)] if paired else None
    points = [float(d.mean()) for d in diffs] if paired else [float(x.mean() - y.mean()) for x, y in zip(xs, ys)]

    def replicate(s: int, m: int) -> np.ndarray:
        if paired:
            return _resample_means(diffs[s], m, rng)
        return _resample_means(xs[s], m, rng) - _resample_means(ys[s], m, rng)

    def noise(v: np.ndarray) -> float:
        return float(v.var(ddof=1)) / v.size if v.size > 1 else 0.0

    within = [noise(d) for d in diffs] if paired else [noise(x) + noise(y) for x, y in zip(xs, ys)]
    return _seed_stage(points, replicate, rng, over_seeds, n_boot, level, test=True, within=within)


# ------------------------------------------------------------------------------- unpaired two-sample


def wilson(successes: int, n: int, level: float = 0.95) -> Estimate:
    """successes / n with Wilson's score interval (Wilson 1927): keeps its level near 0 and 1, where the Wald and
    percentile-bootstrap intervals collapse."""
    _check_level(level)
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    p, z = successes / n, float(stats.norm.ppf((1 + level) / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return _estimate(p, low, high, n)


def newcombe_difference(x1: int, n1: int, x2: int, n2: int, level: float = 0.95) -> Estimate:
    """x1/n1 - x2/n2 for two *independent* proportions with Newcombe's hybrid score interval (method 10 of
    Newcombe, Stat. Med. 17:873, 1998): square-and-add of the two Wilson intervals, no continuity correction.
    56/70 - 48/80 gives [0.0524, 0.3339], 9/10 - 3/10 gives [0.1705, 0.8090] (the paper's examples).

    For a sampler whose samples are independent of ``direct``'s (DRS, MH-GAN); ``n`` is min(n1, n2)."""
    w1, w2 = wilson(x1, n1, level), wilson(x2, n2, level)
    p1, p2 = w1["value"], w2["value"]
    low = p1 - p2 - math.sqrt((p1 - w1["low"]) ** 2 + (w2["high"] - p2) ** 2)
    high = p1 - p2 + math.sqrt((w1["high"] - p1) ** 2 + (p2 - w2["low"]) ** 2)
    return _estimate(p1 - p2, max(-1.0, low), min(1.0, high), min(n1, n2))


def bootstrap_difference(statistic_a: Callable[[np.ndarray], np.ndarray], n_a: int,
                         statistic_b: Callable[[np.ndarray], np.ndarray], n_b: int, seed: Seed, *,
                         n_boot: int = 1000, level: float = 0.95) -> tuple[Estimate, float]:
    """statistic_a - statistic_b of two independent samples (sizes n_a, n_b), with an independent-bootstrap
    percentile interval and the bootstrap p-value (the module's rule).

    Each statistic is called with a 2-D int array of item indices, one row per replicate, and returns one value per
    row (vectorise inside, e.g. FID of ``fake[idx[r]]`` against fixed real statistics); the point estimate is the
    call on the single row ``arange(n)``. Rows come in chunks of at most 128; a's indices are drawn before b's in
    each chunk. ``n`` is min(n_a, n_b). A biased statistic (FID grows as a resample repeats items) is biased in
    every replicate alike, which the difference of two such statistics on equal n mostly cancels."""
    _check_level(level)
    if min(n_a, n_b) < 2 or n_boot < 10:
        raise ValueError(f"need n_a, n_b >= 2 and n_boot >= 10, got {n_a}, {n_b}, {n_boot}")
    rng = _rng(seed)

    def call(stat: Callable[[np.ndarray], np.ndarray], idx: np.ndarray) -> np.ndarray:
        out = np.asarray(stat(idx), dtype=np.float64).reshape(-1)
        if out.size != idx.shape[0] or not np.isfinite(out).all():
            raise ValueError(f"a statistic must return one finite value per index row, got shape {out.shape}")
        return out

    value = float(call(statistic_a, np.arange(n_a)[None])[0] - call(statistic_b, np.arange(n_b)[None])[0])
    reps = np.empty(n_boot)
    for start in range(0, n_boot, _CHUNK):
        m = min(n_boot, start + _CHUNK) - start
        ia, ib = rng.integers(0, n_a, (m, n_a)), rng.integers(0, n_b, (m, n_b))
        reps[start:start + m] = call(statistic_a, ia) - call(statistic_b, ib)
    low, high = _percentile(reps, level)
    return _estimate(value, low, high, min(n_a, n_b)), _boot_p(reps)


# ------------------------------------------------------------------------------------------ multiplicity


def holm(pvalues: Sequence[float | None], alpha: float = 0.05) -> tuple[list[float | None], list[bool]]:
    """Holm-Bonferroni adjusted p-values and rejections at family-wise level alpha.

    Sorted ascending, the i-th smallest of k p-values (i from 1) is adjusted to max over j <= i of
    min(1, (k - j + 1) p_(j)); a hypothesis is rejected when its adjusted p <= alpha. ``None`` (no test possible)
    stays None, is never rejected and does not count in k. [0.01, 0.04, 0.03, 0.005] → [0.03, 0.06, 0.06, 0.02]."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    tested = [i for i, p in enumerate(pvalues) if p is not None]
    for i in tested:
        if not 0.0 <= pvalues[i] <= 1.0:
            raise ValueError(f"p-values must lie in [0, 1], got {pvalues[i]}")
    adjusted: list[float | None] = [None] * len(pvalues)
    k, running = len(tested), 0.0
    for rank, i in enumerate(sorted(tested, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (k - rank) * float(pvalues[i])))
        adjusted[i] = running
    return adjusted, [p is not None and p <= alpha for p in adjusted]


def simultaneous_level(k: int, alpha: float = 0.05) -> float:
    """The per-comparison confidence level 1 - alpha / k whose k intervals hold together with probability at least
    1 - alpha (Bonferroni): the intervals a claim of k comparisons displays and checks the paper's effect against."""
    if k < 1 or not 0.0 < alpha < 1.0:
        raise ValueError(f"need k >= 1 and 0 < alpha < 1, got {k}, {alpha}")
    return 1.0 - alpha / k


def directional_decisions(values: Sequence[float], pvalues: Sequence[float | None],
                          alpha: float = 0.05) -> list[str]:
    """Per comparison of a claim, "agrees" (Holm rejects and the value is > 0), "disagrees" (Holm rejects and it is
    < 0), "undecided" (Holm does not reject) or "not applicable" (p None). ``values`` are oriented so that > 0 is
    the claim's direction.

    Directional decisions from two-sided Holm: controls the family-wise rate of wrong-sign claims for independent
    comparisons (Shaffer 1980); for dependent ones (a chain's pairs share a member) it is the standard practice."""
    if len(values) != len(pvalues):
        raise ValueError(f"need one p-value per value, got {len(values)} and {len(pvalues)}")
    _, reject = holm(pvalues, alpha)
    words = []
    for v, p, r in zip(values, pvalues, reject):
        if p is None:
            words.append("not applicable")
        elif r and v != 0:
            words.append("agrees" if v > 0 else "disagrees")
        else:
            words.append("undecided")
    return words


# ------------------------------------------------------------------------------------- cross-fitting


def _crossfit_scores(y: np.ndarray, sets: list[np.ndarray], weights: np.ndarray, n_splits: int,
                     rng: np.random.Generator, lower_is_better: bool) -> np.ndarray:
    """Cross-fitted scores [len(sets), B] of y [cells, n] under item weights [B, n] (bootstrap counts, or ones).

    Per replicate, n_splits fresh random half-splits of the *original* items (a resampled item's copies stay in
    one half, so no item helps choose the cell that scores it); per split and set, the best cell on each half
    scores the other half; the score is the weighted mean of those outcomes, averaged over splits."""
    n_cells, n = y.shape
    out = np.empty((len(sets), weights.shape[0]))
    per_chunk = max(1, 2**21 // (2 * n_splits * n))
    for start in range(0, weights.shape[0], per_chunk):
        w = weights[start:start + per_chunk]
        m = w.shape[0]
        keys = rng.random((m, n_splits, n))
        first = np.zeros((m, n_splits, n), dtype=bool)
        np.put_along_axis(first, np.argpartition(keys, n // 2, axis=-1)[..., : n // 2], True, axis=-1)
        halves = np.stack([first, ~first], axis=1) * w[:, None, None, :]  # [m, 2, K, n]
        sums = (y @ halves.reshape(-1, n).T).reshape(n_cells, m, 2, n_splits)
        total = w.sum(axis=1)[:, None]
        for k, rows in enumerate(sets):
            s = sums[rows]
            pick = np.argmin(s, axis=0) if lower_is_better else np.argmax(s, axis=0)  # [m, 2, K]: first of ties
            other = np.take_along_axis(s[:, :, ::-1], pick[None], axis=0)[0]  # the chosen cells on the other half
            out[k, start:start + m] = (other.sum(axis=1) / total).mean(axis=1)
    return out


def _crossfit_sets(n_cells: int, candidates: Sequence[int], baseline: Sequence[int] | None) -> list[np.ndarray]:
    sets = [np.asarray(candidates, dtype=int)] + ([np.asarray(baseline, dtype=int)] if baseline is not None else [])
    if any(r.ndim != 1 or r.size == 0 or r.min() < 0 or r.max() >= n_cells for r in sets):
        raise ValueError("candidates and baseline must be non-empty lists of row indices")
    return sets


def crossfit_point(outcomes: np.ndarray, candidates: Sequence[int], seed: Seed, *, baseline: Sequence[int] | None = None,
                   n_splits: int = 20, lower_is_better: bool = False) -> float:
    """One network's cross-fitted score of a method's best cell (minus the baseline's, chosen the same way on the same
    splits): ``crossfit``'s per-seed point, without an interval. outcomes: [cells, items] of that network.

    What a page needs for every pair of methods it ranks: with several seeds the interval comes from the spread of
    these points over seeds (``seed_difference``), so no per-seed bootstrap is drawn. The same ``seed`` gives the
    same splits, so (a, b) with baseline b and (b, a) with baseline a give exactly opposite numbers."""
    y = np.asarray(outcomes, dtype=np.float64)
    if y.ndim != 2 or y.shape[1] < 2 or not np.isfinite(y).all():
        raise ValueError("outcomes must be a finite [cells, items] matrix with at least 2 items")
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    sets = _crossfit_sets(y.shape[0], candidates, baseline)
    sign = np.array([1.0] if baseline is None else [1.0, -1.0])
    return float((sign @ _crossfit_scores(y, sets, np.ones((1, y.shape[1])), n_splits, _rng(seed), lower_is_better))[0])


def crossfit(outcomes: Sequence[np.ndarray], candidates: Sequence[int], seed: Seed, *,
             baseline: Sequence[int] | None = None, n_splits: int = 20, n_boot: int = 200,
             over_seeds: Literal["t", "bootstrap"] = "t", level: float = 0.95,
             lower_is_better: bool = False) -> tuple[Estimate, float | None]:
    """A method's best cell, chosen and scored on disjoint items, repeated over random splits: its score, or its
    score minus a baseline's, with an interval from replicating the whole select-then-score procedure.

    outcomes[s]: per-item outcomes [cells, items] of seed s's network (0/1 correctness, per-latent errors); the
    rows are the same cells on every seed. candidates: the rows the method may choose (its own weights > 0: weight
    0 is ``none``'s cell). Per seed and split, the items are halved at random; the best candidate on each half
    (highest mean, lowest when lower_is_better; the first of ties) is scored on the other half; each item's outcome
    so comes from a cell chosen without it, and the seed's score is the mean over items, averaged over n_splits
    splits. With ``baseline`` (rows of the cells to beat, e.g. ``none``'s learning rates) the baseline is chosen
    the same way on the same splits and the estimate is the method's score minus the baseline's, with a p-value.

    Over seeds: the mean of the per-seed scores; ``over_seeds="t"`` (default) a t interval over them (each seed's
    score is an independent replicate of the whole procedure); ``"bootstrap"`` (or one seed) resamples seeds, then
    items within each, and re-runs the selection with fresh splits on every replicate (percentile interval).
    Without a baseline p is None. Selecting and scoring on the same items instead is biased upward (the best of m
    equal cells looks better than each)."""
    ys = [np.asarray(o, dtype=np.float64) for o in outcomes]
    if not ys or any(y.ndim != 2 or y.shape[0] != ys[0].shape[0] or y.shape[1] < 2 or not np.isfinite(y).all()
                     for y in ys):
        raise ValueError("outcomes must be finite [cells, items] matrices (items >= 2) with the same cells per seed")
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    sets = _crossfit_sets(ys[0].shape[0], candidates, baseline)
    rng = _rng(seed)
    sign = np.array([1.0] if baseline is None else [1.0, -1.0])

    def score(s: int, weights: np.ndarray) -> np.ndarray:
        return sign @ _crossfit_scores(ys[s], sets, weights, n_splits, rng, lower_is_better)

    points = [crossfit_point(y, candidates, rng, baseline=baseline, n_splits=n_splits, lower_is_better=lower_is_better)
              for y in ys]

    def replicate(s: int, m: int) -> np.ndarray:
        n = ys[s].shape[1]
        counts = np.zeros((m, n))
        for start in range(0, m, _CHUNK):
            stop = min(m, start + _CHUNK)
            draws = rng.integers(0, n, (stop - start, n)) + n * np.arange(stop - start)[:, None]
            counts[start:stop] = np.bincount(draws.ravel(), minlength=(stop - start) * n).reshape(stop - start, n)
        return score(s, counts)

    return _seed_stage(points, replicate, rng, over_seeds, n_boot, level, test=baseline is not None)


# ------------------------------------------------------------------------------------------ rank agreement


def _tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of the rows of x and y [B, n] (NaN where a row is constant): sign products over pairs."""
    sx = np.sign(x[:, :, None] - x[:, None, :])
    sy = np.sign(y[:, :, None] - y[:, None, :])
    num = (sx * sy).sum(axis=(1, 2))
    den = np.sqrt((sx * sx).sum(axis=(1, 2)) * (sy * sy).sum(axis=(1, 2)))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def kendall_tau(x: Sequence[float], y: Sequence[float], seed: Seed, *, n_boot: int = 2000,
                level: float = 0.95) -> tuple[Estimate, float]:
    """Kendall's tau-b between two evaluators' scores of the same units (the families' FIDs by evaluator A and by
    B), as ``scipy.stats.kendalltau`` computes it (ties counted as tau-b does), with a percentile bootstrap interval
    over units and scipy's two-sided p-value (exact for small n without ties).

    Replicates whose resampled units are all tied in x or y (tau undefined) are left out. With 2 units the
    bootstrap cannot vary, so the interval is [-1, 1]: two units say nothing about agreement. Fewer than 2 units
    or a constant x or y: ValueError (tau is undefined). Simulated coverage of the 95% interval at bivariate-normal
    data: 0.94-0.98 from 8 units up; at 5 units it falls to 0.69 when true tau is 0.8, so read intervals over
    fewer than 8 units as rough."""
    _check_level(level)
    u, v = _values(x, "x", 2), _values(y, "y", 2)
    if u.size != v.size:
        raise ValueError(f"x and y must score the same units, got {u.size} and {v.size}")
    value = float(_tau_b(u[None], v[None])[0])
    if not math.isfinite(value):
        raise ValueError("Kendall's tau is undefined when x or y is constant")
    p = float(stats.kendalltau(u, v).pvalue)
    p = 1.0 if not math.isfinite(p) else p
    if u.size < 3:
        return _estimate(value, -1.0, 1.0, u.size), p
    rng = _rng(seed)
    reps = np.empty(n_boot)
    per_chunk = max(1, 2**20 // (u.size * u.size))
    for start in range(0, n_boot, per_chunk):
        stop = min(n_boot, start + per_chunk)
        idx = rng.integers(0, u.size, (stop - start, u.size))
        reps[start:stop] = _tau_b(u[idx], v[idx])
    low, high = _percentile(reps[np.isfinite(reps)], level)
    return _estimate(value, max(-1.0, low), min(1.0, high), u.size), p


# ------------------------------------------------------------------------------------------- calibration


def _probabilities(scores: Sequence[float], logits: bool) -> np.ndarray:
    s = _values(scores, "scores")
    if logits:
        return special.expit(s)
    if (s < 0).any() or (s > 1).any():
        raise ValueError("probabilities must lie in [0, 1] (pass logits=True for logits)")
    return s


def _labels(labels: Sequence[int], n: int) -> np.ndarray:
    y = np.asarray(labels)
    if y.shape != (n,) or not np.isin(y, (0, 1)).all():
        raise ValueError(f"labels must be {n} values, each 0 or 1")
    return y.astype(np.float64)


def log_losses(scores: Sequence[float], labels: Sequence[int], *, logits: bool = True) -> np.ndarray:
    """Per-item log-loss (nats) of predicted P(label = 1): exact from logits (softplus), from probabilities clipped
    to [1e-12, 1 - 1e-12] so a confident mistake costs 27.6 nats, not infinity."""
    if logits:
        s = _values(scores, "scores")
        y = _labels(labels, s.size)
        return np.logaddexp(0.0, np.where(y == 1, -s, s))
    p = np.clip(_probabilities(scores, False), 1e-12, 1 - 1e-12)
    y = _labels(labels, p.size)
    return -(y * np.log(p) + (1 - y) * np.log1p(-p))


def reliability(probabilities: Sequence[float], labels: Sequence[int], bins: int = 10) -> list[dict]:
    """Reliability-diagram data: per equal-width bin of predicted P(label = 1) over [0, 1] (the last bin closed),
    {"low", "high", "count", "mean_predicted", "observed"}; the two means are None in an empty bin.

    Binned on the probability of label 1, not on the predicted class's confidence: a density ratio is read at every
    value of P(real), so its calibration is needed across the whole range."""
    p = _probabilities(probabilities, False)
    y = _labels(labels, p.size)
    if bins < 1:
        raise ValueError(f"bins must be at least 1, got {bins}")
    which = np.minimum((p * bins).astype(int), bins - 1)
    out = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        out.append({"low": b / bins, "high": (b + 1) / bins, "count": count,
                    "mean_predicted": float(p[inside].mean()) if count else None,
                    "observed": float(y[inside].mean()) if count else None})
    return out


def expected_calibration_error(probabilities: Sequence[float], labels: Sequence[int], bins: int = 10) -> float:
    """ECE: the count-weighted mean over ``reliability``'s bins (10 equal-width bins of P(label = 1) by default) of
    |mean predicted - observed frequency|. 0 is perfectly calibrated; it is biased upward when bins hold few items
    (the observed frequency's own noise), so compare it between classifiers at equal n."""
    rows = reliability(probabilities, labels, bins)
    n = sum(r["count"] for r in rows)
    return float(sum(r["count"] * abs(r["mean_predicted"] - r["observed"]) for r in rows if r["count"]) / n)


def binary_entropy(rate: float) -> float:
    """H(rate) in nats: the log-loss of the best constant prediction when a share ``rate`` of labels is 1
    (ln 2 at 0.5)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"rate must lie in [0, 1], got {rate}")
    return float(-sum(q * math.log(q) for q in (rate, 1.0 - rate) if q > 0))


def auc(scores: Sequence[float], labels: Sequence[int], level: float = 0.95) -> Estimate:
    """The area under the ROC curve of scores (logits or probabilities: only their order counts) for 0/1 labels,
    P(score of a 1 > score of a 0) + P(tie) / 2, with DeLong's interval (DeLong, DeLong & Clarke-Pearson 1988:
    the variance from each item's placement among the other class, midranks for ties), clipped to [0, 1].

    The test of whether a ratio carries information at all, whatever its calibration: a shift or scale of the
    logits changes accuracy and log-loss but not the AUC (0.5: no information)."""
    _check_level(level)
    s = _values(scores, "scores")
    y = _labels(labels, s.size)
    pos, neg = y == 1, y == 0
    n1, n0 = int(pos.sum()), int(neg.sum())
    if n1 == 0 or n0 == 0:
        raise ValueError("the AUC needs both labels among the items")
    ranks = stats.rankdata(s)
    placement_pos = (ranks[pos] - stats.rankdata(s[pos])) / n0  # share of 0s below each 1 (ties count half)
    placement_neg = 1.0 - (ranks[neg] - stats.rankdata(s[neg])) / n1  # share of 1s above each 0
    value = float(placement_pos.mean())
    var = (placement_pos.var(ddof=1) / n1 if n1 > 1 else 0.0) + (placement_neg.var(ddof=1) / n0 if n0 > 1 else 0.0)
    half = float(stats.norm.ppf((1 + level) / 2)) * math.sqrt(var)
    return _estimate(value, max(0.0, value - half), min(1.0, value + half), s.size)


def at_chance(accuracy: Estimate, log_loss: Estimate, auc: Estimate | None = None, base_rate: float = 0.5) -> bool:
    """Whether a classifier (a density ratio's discriminator) shows no evidence, on held-out data, of carrying
    information about the label: its accuracy interval reaches the chance accuracy max(base_rate, 1 - base_rate),
    AND its log-loss interval reaches the chance log-loss H(base_rate) (ln 2 for balanced labels), AND (when given)
    its AUC interval reaches 0.5. Any one clearing chance is evidence of information, so the ratio is not at chance.

    Why not "accuracy covers 0.5 OR log-loss reaches ln 2": that calls informative ratios "at chance" whenever they
    are miscalibrated. A ratio that ranks real above fake but whose probabilities never cross 0.5 (a shifted logit)
    has chance accuracy and a log-loss above ln 2, yet its AUC shows the information, and a DRS-style sampler, which
    reads the ratio relative to its maximum, is unaffected by the shift; an overconfident ratio has good accuracy
    and a log-loss above ln 2. Miscalibration is shown by the ECE and the reliability diagram, not called chance.
    The chance references use the held-out base rate, since 0.5 is chance only for balanced labels. Three one-sided
    2.5% looks: a ratio truly at chance is called informative at most 7.5% of the time."""
    return (accuracy["low"] <= max(base_rate, 1.0 - base_rate) and log_loss["high"] >= binary_entropy(base_rate)
            and (auc is None or auc["low"] <= 0.5))


def calibration(scores: Sequence[float], labels: Sequence[int], seed: Seed, *, logits: bool = True,
                bins: int = 10, n_boot: int = 1000, level: float = 0.95) -> dict:
    """The quality of a density-ratio classifier on held-out data it was not fitted on. scores: logits (or
    probabilities with logits=False) of P(label = 1); labels 0/1 (both present).

    Returns {"accuracy": Wilson estimate (predicting 1 where P >= 0.5), "log_loss": mean per-item log-loss with a
    percentile bootstrap interval over items, "auc": ``auc``, "ece": ``expected_calibration_error``, "reliability":
    its bins, "base_rate": share of label 1, "chance_accuracy", "chance_log_loss", "at_chance": ``at_chance``}."""
    _check_level(level)
    p = _probabilities(scores, logits)
    y = _labels(labels, p.size)
    losses = log_losses(scores, labels, logits=logits)
    accuracy = wilson(int(((p >= 0.5) == (y == 1)).sum()), p.size, level)
    low, high = _percentile(_resample_means(losses, n_boot, _rng(seed)), level)
    log_loss = _estimate(losses.mean(), low, high, p.size)
    ranked = auc(scores, labels, level)
    base = float(y.mean())
    return {"accuracy": accuracy, "log_loss": log_loss, "auc": ranked, "ece": expected_calibration_error(p, y, bins),
            "reliability": reliability(p, y, bins), "base_rate": base, "chance_accuracy": max(base, 1.0 - base),
            "chance_log_loss": binary_entropy(base), "at_chance": at_chance(accuracy, log_loss, ranked, base)}


# -------------------------------------------------------------------------------------- power / sample size


def _check_power(effect: float, sd: float, alpha: float, power: float) -> None:
    if not (math.isfinite(effect) and math.isfinite(sd) and sd >= 0 and 0 < alpha < 1 and 0 < power < 1):
        raise ValueError(f"need finite effect, sd >= 0, 0 < alpha < 1, 0 < power < 1; got {effect}, {sd}, {alpha}, "
                         f"{power}")


def items_needed(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8) -> int | None:
    """Items a two-sided paired test at level alpha needs to detect a mean paired difference ``effect`` with the
    given power, when per-item paired differences have standard deviation ``sd``: the normal approximation
    n = ceil(((z_{1 - alpha/2} + z_{power}) * sd / |effect|)^2), at least 2. None when effect is 0 (no n suffices).

    Pass alpha / k for a claim of k comparisons (Holm's first step, the worst case). The normal approximation is
    accurate at the hundreds of items a benchmark scores; the t-test needs 1-2 items more below ~30. This is the
    answer within one network: where networks differ, more items cannot shrink the between-seed part of a
    seed-level interval, and ``seeds_needed`` with the SD of the per-seed differences is the question to ask."""
    _check_power(effect, sd, alpha, power)
    if effect == 0:
        return None
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return max(2, math.ceil((z * sd / abs(effect)) ** 2))


def t_power(effect: float, sd: float, n: int, alpha: float = 0.05, *, paired: bool = False) -> float:
    """Exact power of a two-sided t-test (noncentral t): one-sample on n per-seed paired differences
    (df = n - 1, noncentrality effect / (sd / sqrt(n))), or two-sample with n seeds per family (df = 2n - 2,
    noncentrality effect / (sd * sqrt(2 / n)), which Welch's test approaches at equal n and SD)."""
    _check_power(effect, sd, alpha, 0.5)
    df = n - 1 if paired else 2 * n - 2
    if df < 1:
        return 0.0
    if sd == 0:
        return 1.0 if effect != 0 else alpha
    ncp = abs(effect) / (sd / math.sqrt(n) if paired else sd * math.sqrt(2 / n))
    crit = stats.t.ppf(1 - alpha / 2, df)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def seeds_needed(effect: float, sd: float, alpha: float = 0.05, power: float = 0.8, *,
                 paired: bool = False) -> int | None:
    """The fewest seeds (per family when two-sample) at which a two-sided t-test at level alpha detects ``effect``
    with the given power, ``sd`` being the between-seed standard deviation (of each family's per-seed numbers, or
    of the per-seed paired differences when paired): ``t_power`` evaluated upward from the normal approximation,
    which never needs more (at least 2). None when effect is 0."""
    _check_power(effect, sd, alpha, power)
    if effect == 0:
        return None
    if sd == 0:
        return 2
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = max(2, math.ceil((z * sd / abs(effect)) ** 2 * (1 if paired else 2)) - 1)
    while t_power(effect, sd, n, alpha, paired=paired) < power:
        n += 1
    return n
