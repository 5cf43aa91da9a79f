"""Tests for lvrbench.api.estimates and lvrbench.engine.scoring against hand-computed and independent reference values."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import scipy.linalg
import torch

from conftest import gen
import lvrbench.api.estimates as E
import lvrbench.engine.scoring as M
from lvrbench.api.estimates import Estimate, bootstrap_mean, paired_mean_difference, paired_proportion_difference, proportion
from lvrbench.engine.scoring import fid, fid_bootstrap, frechet_distance, gaussian_stats, in_manifold, knn_radii, mode_coverage, precision_recall



def random_spd(f: int, rng: np.random.Generator) -> np.ndarray:
    a = rng.standard_normal((f, 2 * f))
    return a @ a.T / (2 * f) + 0.1 * np.eye(f)


# ------------------------------------------------------------------------------------ Fréchet distance


def test_frechet_distance_diagonal_closed_form():
    # Commuting (diagonal) covariances: tr((AB)^1/2) = sum sqrt(a_i b_i), so
    # FD = |mu1 - mu2|^2 + sum (sqrt a_i - sqrt b_i)^2 = (1 + 4) + (1 + 1 + 0.25 + 0)
    a, b = np.array([1.0, 4.0, 0.25, 9.0]), np.array([4.0, 1.0, 1.0, 9.0])
    mu1, mu2 = np.array([0.0, 0.0, 1.0, 2.0]), np.array([1.0, 2.0, 1.0, 2.0])
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(7.25, rel=1e-12)


def test_frechet_distance_singular_diagonal():
    # A zero variance is allowed (PSD, not PD): (sqrt 0 - sqrt 4)^2 + (sqrt 1 - sqrt 1)^2 = 4
    assert frechet_distance(np.zeros(2), np.diag([0.0, 1.0]), np.zeros(2), np.diag([4.0, 1.0])) == pytest.approx(4.0)


def test_frechet_distance_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for _ in range(3):
        f = 20
        mu1, mu2 = rng.standard_normal(f), rng.standard_normal(f)
        c1, c2 = random_spd(f, rng), random_spd(f, rng)
        covmean = scipy.linalg.sqrtm(c1 @ c2).real
        ref = (mu1 - mu2) @ (mu1 - mu2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(covmean)
        assert frechet_distance(mu1, c1, mu2, c2) == pytest.approx(ref, rel=1e-9, abs=1e-10)


def test_frechet_distance_accepts_tensors():
    rng = np.random.default_rng(1)
    mu1, mu2, c1, c2 = rng.standard_normal(5), rng.standard_normal(5), random_spd(5, rng), random_spd(5, rng)
    as_t = [torch.from_numpy(x).float() for x in (mu1, c1, mu2, c2)]
    expected = frechet_distance(*[x.double().numpy() for x in as_t])
    assert frechet_distance(*as_t) == pytest.approx(expected, rel=1e-12)


def test_frechet_distance_zero_for_identical_and_symmetric():
    rng = np.random.default_rng(2)
    mu, c = rng.standard_normal(20), random_spd(20, rng)
    d0 = frechet_distance(mu, c, mu, c)
    assert 0.0 <= d0 < 1e-10
    mu2, c2 = rng.standard_normal(20), random_spd(20, rng)
    assert frechet_distance(mu, c, mu2, c2) == pytest.approx(frechet_distance(mu2, c2, mu, c), rel=1e-10)
    assert frechet_distance(mu, c, mu2, c2) > 1.0


def test_frechet_distance_keeps_real_negative_values():
    # Only tiny rounding negatives are clamped: an invalid (negative) covariance still shows up.
    # 1-D: 0 + 1 + (-4) - 2 * sqrt(max(0, -4)) = -3
    assert frechet_distance(np.zeros(1), np.eye(1), np.zeros(1), -4 * np.eye(1)) == pytest.approx(-3.0)


def test_frechet_distance_shape_mismatch():
    with pytest.raises(ValueError, match=r"^expected mu \[f\] and cov \[f, f\] for both Gaussians, got shapes "
                                         r"\[\(2,\), \(2, 2\), \(3,\), \(3, 3\)\]$"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_gaussian_stats_matches_numpy():
    x = torch.randn(50, 6, generator=gen(0)) * 3 + 1
    mu, cov = gaussian_stats(x)
    xn = x.double().numpy()
    assert mu.dtype == np.float64 and cov.dtype == np.float64 and cov.shape == (6, 6)
    np.testing.assert_allclose(mu, xn.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(xn, rowvar=False), rtol=1e-10)
    # one feature still gives a [1, 1] covariance
    mu1, cov1 = gaussian_stats(x[:, :1])
    assert cov1.shape == (1, 1) and cov1[0, 0] == pytest.approx(np.var(xn[:, 0], ddof=1))


def test_fid_of_two_known_gaussians():
    # N(0, R diag(a) R^T) vs N(mu, R diag(b) R^T): same eigenbasis, so the exact FD is
    # |mu|^2 + sum (sqrt a_i - sqrt b_i)^2 = 1.3125 + 0.6969 = 2.0094.
    a = torch.tensor([1.0, 2.0, 0.5, 1.5], dtype=torch.float64)
    b = torch.tensor([2.0, 1.0, 1.0, 0.5], dtype=torch.float64)
    mu = torch.tensor([1.0, -0.5, 0.25, 0.0], dtype=torch.float64)
    rot, _ = torch.linalg.qr(torch.randn(4, 4, generator=gen(123), dtype=torch.float64))
    exact = float((mu**2).sum() + ((a.sqrt() - b.sqrt()) ** 2).sum())
    assert exact == pytest.approx(2.00938, abs=1e-4)
    g = gen(7)
    n = 20000
    x = torch.randn(n, 4, generator=g, dtype=torch.float64) @ (rot * a.sqrt()).T
    y = mu + torch.randn(n, 4, generator=g, dtype=torch.float64) @ (rot * b.sqrt()).T
    # The estimate's sd is dominated by the mean term, 2 sqrt(mu^T (S1 + S2) mu / n) ~ 0.028 here
    # (0.026 observed over 100 seeds); its bias (~tr(S1 + S2)/n = 5e-4) is negligible. 0.13 ~ 5 sd.
    assert fid(x, y) == pytest.approx(exact, abs=0.13)
    assert fid(x, y + 1.0) > exact + 3.0  # shifting by (1,1,1,1) adds ~4 + cross terms


# ------------------------------------------------------------------------------------------ Estimate


def test_estimate_to_dict_is_json_ready():
    e = Estimate(np.float64(0.5), np.float32(0.25), torch.tensor(0.75).item(), np.int64(10))
    d = e.to_dict()
    assert d == {"value": 0.5, "low": 0.25, "high": 0.75, "n": 10}
    assert type(d["value"]) is float and type(d["low"]) is float and type(d["n"]) is int
    assert json.loads(json.dumps(d)) == d
    with pytest.raises(AttributeError):
        e.value = 1.0  # frozen


# ------------------------------------------------------------------------------------ bootstrap_mean


def test_bootstrap_mean_contains_mean_and_is_deterministic():
    values = torch.randn(500, generator=gen(0)) + 2.0
    e = bootstrap_mean(values, gen(1))
    assert e.value == pytest.approx(float(values.double().mean()), rel=1e-12)
    assert e.n == 500
    assert e.low < e.value < e.high
    assert bootstrap_mean(values, gen(1)) == e
    other = bootstrap_mean(values, gen(2))
    assert (other.low, other.high) != (e.low, e.high)
    assert other.value == e.value


def test_bootstrap_mean_width_shrinks_like_one_over_sqrt_n():
    g = gen(3)
    small = bootstrap_mean(torch.randn(400, generator=g), gen(4), n_boot=2000)
    large = bootstrap_mean(torch.randn(6400, generator=g), gen(5), n_boot=2000)
    ratio = (small.high - small.low) / (large.high - large.low)
    assert ratio == pytest.approx(4.0, rel=0.2)  # sqrt(6400 / 400) = 4


def test_bootstrap_mean_binary_matches_normal_approximation():
    n, p = 1000, 0.3
    values = torch.zeros(n)
    values[: int(p * n)] = 1.0
    e = bootstrap_mean(values, gen(6), n_boot=5000)
    half = 1.96 * math.sqrt(p * (1 - p) / n)  # 0.0284
    assert e.value == pytest.approx(p)
    assert e.low == pytest.approx(p - half, abs=0.15 * half)
    assert e.high == pytest.approx(p + half, abs=0.15 * half)


def test_bootstrap_mean_level_and_chunking(monkeypatch):
    values = torch.rand(300, generator=gen(7))
    wide, narrow = bootstrap_mean(values, gen(8), level=0.99), bootstrap_mean(values, gen(8), level=0.5)
    assert wide.high - wide.low > 2 * (narrow.high - narrow.low)
    # Tiny chunks (1000 // 300 = 3 replicates each, the last one short) draw the same replicates in the
    # same order: the estimate does not depend on memory limits.
    ref = bootstrap_mean(values, gen(9), n_boot=100)
    monkeypatch.setattr(M, "MAX_BLOCK_ELEMENTS", 1000)
    assert bootstrap_mean(values, gen(9), n_boot=100) == ref and ref.low < ref.value < ref.high


@pytest.mark.parametrize("k, n", [(9134, 10000), (0, 50), (50, 50), (3, 7)])
def test_wilson_interval_matches_scipy(k, n):
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    e = E.wilson_interval(k / n, n)
    assert (e.value, e.n) == (k / n, n)
    assert e.low == pytest.approx(ci.low, abs=1e-12) and e.high == pytest.approx(ci.high, abs=1e-12)
    with pytest.raises(ValueError, match="need 0 <= proportion <= 1, n >= 1"):
        E.wilson_interval(1.5, n)


def scipy_wilson(k: int, n: int):
    from scipy.stats import binomtest

    return binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")


@pytest.mark.parametrize("k, n", [(0, 32), (32, 32), (1, 32), (17, 64), (0, 10), (13, 13)])
def test_proportion_of_indicators_is_wilson(k, n):
    e = proportion(torch.tensor([1.0] * k + [0.0] * (n - k)))
    ci = scipy_wilson(k, n)
    assert (e.value, e.n) == (k / n, n)
    assert e.low == pytest.approx(ci.low, abs=1e-12) and e.high == pytest.approx(ci.high, abs=1e-12)
    if (k, n) in ((0, 32), (32, 32)):  # never the bootstrap's [0, 0] or [1, 1]
        assert e.high - e.low == pytest.approx(0.10718, abs=1e-5)
    if k in (0, n):  # the closed bound is exactly 0 (1), never 3e-17 of rounding
        assert (e.low if k == 0 else e.high) == float(k == n)
    assert proportion(torch.tensor([True] * k + [False] * (n - k))) == e


def test_proportion_keeps_its_level_where_the_bootstrap_does_not():
    """Exact coverage at p = 0.03, n = 32: Wilson's 95% interval covers p 93% of the time (the bootstrap's 66%)."""
    from scipy.stats import binom

    n, p = 32, 0.03
    covered = [k for k in range(n + 1) if (e := proportion(torch.tensor([1.0] * k + [0.0] * (n - k)))).low <= p <= e.high]
    assert sum(binom.pmf(k, n, p) for k in covered) == pytest.approx(0.92973, abs=1e-5)
    percentile = [k for k in range(n + 1) if (e := bootstrap_mean(torch.tensor([1.0] * k + [0.0] * (n - k)), gen(k))).low <= p <= e.high]
    assert sum(binom.pmf(k, n, p) for k in percentile) < 0.7


def test_proportion_rejects_what_is_not_zero_or_one():
    with pytest.raises(ValueError, match=r"^indicators must hold only 0s and 1s \(or booleans\)$"):
        proportion(torch.tensor([0.0, 0.5]))
    with pytest.raises(ValueError, match=r"^indicators must be a non-empty 1-D tensor, got torch.Size\(\[0\]\)$"):
        proportion(torch.zeros(0))


def paired(both: int, only_a: int, only_b: int, neither: int) -> tuple[torch.Tensor, torch.Tensor]:
    a = [1] * both + [1] * only_a + [0] * only_b + [0] * neither
    b = [1] * both + [0] * only_a + [1] * only_b + [0] * neither
    return torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64)


@pytest.mark.parametrize("table, low, high", [
    ((1, 1, 7, 12), -0.5069, -0.0256),  # Bentur et al. 2009, Fagerland, Lydersen & Laake (2014): -0.507 to -0.026
    ((59, 6, 16, 80), -0.1186, -0.0046),  # Cavo et al. 2012, the same paper: -0.119 to -0.005
])
def test_paired_proportion_difference_matches_published_newcombe_intervals(table, low, high):
    e = paired_proportion_difference(*paired(*table))
    n = sum(table)
    assert e.value == pytest.approx((table[1] - table[2]) / n) and e.n == n
    assert (e.low, e.high) == (pytest.approx(low, abs=1e-4), pytest.approx(high, abs=1e-4))
    # the same from scipy's Wilson intervals of the two margins and Newcombe's formula written out
    a, b, c, d = table
    w1, w2 = scipy_wilson(a + b, n), scipy_wilson(a + c, n)
    p1, p2 = (a + b) / n, (a + c) / n
    cross = a * d - b * c
    phi = (cross - n / 2 if cross > n / 2 else min(cross, 0)) / math.sqrt((a + b) * (c + d) * (a + c) * (b + d))
    ref_low = p1 - p2 - math.sqrt((p1 - w1.low) ** 2 + (w2.high - p2) ** 2 - 2 * phi * (p1 - w1.low) * (w2.high - p2))
    assert e.low == pytest.approx(ref_low, abs=1e-12)
    swapped = paired_proportion_difference(*reversed(paired(*table)))
    assert (swapped.value, swapped.low, swapped.high) == pytest.approx((-e.value, -e.high, -e.low), abs=1e-12)


def test_paired_proportion_difference_of_methods_that_never_disagree_is_not_zero_width():
    # 0 discordant of 64 rules out a large difference, not every difference: the bootstrap would say [0, 0]
    e = paired_proportion_difference(*paired(30, 0, 0, 34))
    assert e.value == 0.0 and e.low == pytest.approx(-e.high) and 0.02 < e.high < 0.04
    with pytest.raises(ValueError, match=r"^a and b must hold outcomes of the same items, got 3 and 2$"):
        paired_proportion_difference(torch.ones(3), torch.ones(2))


def test_paired_proportion_difference_covers_at_its_level():
    """2000 simulated paired samples (n = 64, accuracies 0.80 and 0.75, correlated): coverage near 95%."""
    g = gen(11)
    hits = 0
    for _ in range(2000):
        u = torch.rand(64, generator=g)
        a, b = (u < 0.80).double(), (u < 0.75).double()  # b is right only where a is
        flip = torch.rand(64, generator=g) < 0.1
        b = torch.where(flip, 1 - b, b)  # so E[b] = 0.75 * 0.9 + 0.25 * 0.1 = 0.70
        e = paired_proportion_difference(a, b)
        hits += e.low <= 0.10 <= e.high
    assert 0.93 <= hits / 2000 <= 0.975


def test_paired_mean_difference_shares_draws():
    a = torch.rand(50, generator=gen(1))
    b = a + 0.25
    e = paired_mean_difference(a, b, gen(2))
    # every resample draws the same items for both, so a constant difference has a zero-width interval
    assert e.value == pytest.approx(-0.25) and e.low == pytest.approx(-0.25) and e.high == pytest.approx(-0.25)
    assert paired_mean_difference(a, b, gen(2)) == e
    with pytest.raises(ValueError, match=r"^a and b must be tensors of the same items, got torch.Size\(\[50\]\) and "
                                         r"torch.Size\(\[3\]\)$"):
        paired_mean_difference(a, b[:3], gen(2))


def test_items_generator_draws_by_the_items_described():
    values = torch.rand(40, generator=gen(0))
    same = [bootstrap_mean(values, E.items_generator({"seed": 0, "n": 40})) for _ in range(2)]
    assert same[0] == same[1]
    assert bootstrap_mean(values, E.items_generator({"seed": 1, "n": 40})) != same[0]


def test_bootstrap_mean_rejects_bad_input():
    with pytest.raises(ValueError, match=r"^values must be a non-empty 1-D tensor, got torch.Size\(\[0\]\)$"):
        bootstrap_mean(torch.zeros(0), gen(0))
    with pytest.raises(ValueError, match=r"^values must be a non-empty 1-D tensor, got torch.Size\(\[3, 2\]\)$"):
        bootstrap_mean(torch.zeros(3, 2), gen(0))
    with pytest.raises(ValueError, match=r"^level must be in \(0, 1\), got 1.5$"):
        bootstrap_mean(torch.zeros(3), gen(0), level=1.5)


# ------------------------------------------------------------------------------------- fid_bootstrap


def _two_feature_sets(n_real: int, n_fake: int, f: int = 16, seed: int = 0):
    g = gen(seed)
    real = torch.randn(n_real, f, generator=g)
    fake = 1.2 * torch.randn(n_fake, f, generator=g) + 0.3
    return real, fake


def test_fid_bootstrap_point_value_and_determinism():
    real, fake = _two_feature_sets(1000, 800)
    e = fid_bootstrap(real, fake, gen(1), n_boot=100)
    assert e.value == pytest.approx(fid(real, fake), rel=1e-10)
    assert e.n == 800
    assert e.low < e.high
    assert fid_bootstrap(real, fake, gen(1), n_boot=100) == e
    assert fid_bootstrap(real, fake, gen(2), n_boot=100) != e


def test_fid_bootstrap_replicates_match_direct_fid():
    # The weighted/centred fast path must equal FD(real stats, stats of the resampled fakes).
    real, fake = _two_feature_sets(300, 200, f=8)
    real, fake = real.double() + 50.0, fake.double() + 50.0  # a large mean must not cancel precision
    mu_r, cov_r = gaussian_stats(real)
    idx = torch.randint(200, (5, 200), generator=gen(3))
    got = M._fid_replicates(
        torch.from_numpy(mu_r), torch.from_numpy(cov_r), M._sqrt_psd(torch.from_numpy(cov_r)), fake, idx
    )
    for b in range(5):
        expected = frechet_distance(mu_r, cov_r, *gaussian_stats(fake[idx[b]]))
        assert float(got[b]) == pytest.approx(expected, rel=1e-8)


def test_fid_bootstrap_interval_narrows_with_more_samples():
    real, _ = _two_feature_sets(4000, 10)
    _, fake_small = _two_feature_sets(10, 500, seed=1)
    _, fake_large = _two_feature_sets(10, 4000, seed=2)
    small = fid_bootstrap(real, fake_small, gen(4), n_boot=100)
    large = fid_bootstrap(real, fake_large, gen(4), n_boot=100)
    # sampling sd scales ~ 1/sqrt(n): expected width ratio ~ sqrt(8) = 2.8
    assert (large.high - large.low) < 0.6 * (small.high - small.low)


# -------------------------------------------------------------------------------- precision / recall


def col(*xs: float) -> torch.Tensor:
    return torch.tensor(xs, dtype=torch.float64)[:, None]


def test_knn_radii_by_hand():
    # Points 0,1,2,3 with k = 3: the other points of 0 are at 1,2,3 -> 3; of 1 at 1,1,2 -> 2;
    # of 2 at 2,1,1 -> 2; of 3 at 3,2,1 -> 3.
    assert knn_radii(col(0, 1, 2, 3), k=3).tolist() == [3.0, 2.0, 2.0, 3.0]
    # k = 1 is the nearest other point; a duplicate is another point, at distance 0.
    assert knn_radii(col(0, 1, 1, 5), k=1).tolist() == [1.0, 0.0, 0.0, 4.0]
    # 2-D: unit square corners, k = 2 -> the two adjacent corners at distance 1
    square = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    assert knn_radii(square, k=2).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert knn_radii(square, k=3).tolist() == pytest.approx([math.sqrt(2)] * 4)


def test_knn_radii_needs_k_plus_one_points():
    with pytest.raises(ValueError, match="k \\+ 1"):
        knn_radii(col(0, 1, 2), k=3)
    with pytest.raises(ValueError, match=r"^k must be >= 1, got 0$"):
        knn_radii(col(0, 1, 2), k=0)


def test_in_manifold_by_hand_inclusive_boundary():
    ref, radii = col(0, 10), torch.tensor([1.0, 0.5])
    # 1.0 is exactly on the first ball's boundary (<= counts); 10.6 is 0.1 outside the second.
    queries = col(-1, 1.0, 1.5, 9.5, 10.6)
    assert in_manifold(ref, radii, queries).tolist() == [True, True, False, True, False]
    assert in_manifold(ref, radii, col(0)[:0]).shape == (0,)


def test_precision_recall_by_hand_k3():
    # Real 0,1,2,3 have k = 3 radii 3,2,2,3. Fakes 0.5 and 2.5 lie in real balls; fake 10 is 7 from
    # the nearest real (3, radius 3) and 11 is 8 away -> precision = 2/4.
    # Fake radii (3rd nearest other fake): 0.5 -> {2, 9.5, 10.5} -> 10.5; 2.5 -> {2, 7.5, 8.5} -> 8.5;
    # 10 -> {1, 7.5, 9.5} -> 9.5; 11 -> {1, 8.5, 10.5} -> 10.5. Every real is within 10.5 of fake 0.5
    # -> recall = 1 (the far-off fakes inflate the fake manifold, a known k-NN effect).
    real, fake = col(0, 1, 2, 3), col(0.5, 2.5, 10, 11)
    assert knn_radii(fake, k=3).tolist() == [10.5, 8.5, 9.5, 10.5]
    p, r = precision_recall(real, fake, k=3)
    assert p.value == 0.5 and p.n == 4
    assert r.value == 1.0 and r.n == 4
    # shares of per-sample indicators: Wilson intervals, so 4 of 4 is not [1, 1] but scipy's [0.510, 1]
    for e, k in ((p, 2), (r, 4)):
        ci = scipy_wilson(k, 4)
        assert e.low == pytest.approx(ci.low, abs=1e-12) and e.high == pytest.approx(ci.high, abs=1e-12)
    assert r.low == pytest.approx(0.5101, abs=1e-4)


def test_precision_recall_by_hand_k1():
    # Real 0,1,2,3 (k = 1 radii all 1); fake 0.5, 1.0, 10, 10.5 (k = 1 radii all 0.5).
    # Precision: 0.5 and 1.0 are within 1 of a real point, 10 and 10.5 are not -> 2/4.
    # Recall: real 0 is 0.5 from fake 0.5 (boundary, counts), real 1 is on fake 1.0, real 2 is 1.0 from
    # fake 1.0 (> 0.5) and real 3 is 7 from fake 10 -> 2/4.
    real, fake = col(0, 1, 2, 3), col(0.5, 1.0, 10, 10.5)
    p, r = precision_recall(real, fake, k=1)
    assert p.value == 0.5 and r.value == 0.5
    assert p.to_dict()["n"] == 4


def test_precision_recall_identical_and_disjoint_sets():
    x = torch.randn(200, 3, generator=gen(1))
    p, r = precision_recall(x, x.clone())
    assert p.value == 1.0 and r.value == 1.0
    p, r = precision_recall(x, x + 100.0)
    assert p.value == 0.0 and r.value == 0.0


def test_knn_and_precision_recall_chunking_is_exact(monkeypatch):
    g = gen(5)
    real, fake = torch.randn(300, 5, generator=g), 1.3 * torch.randn(257, 5, generator=g) + 0.2
    full = knn_radii(real, k=3)
    assert torch.equal(knn_radii(real, k=3, chunk_size=7), full)
    assert torch.equal(knn_radii(real, k=3, chunk_size=1), full)
    inside = in_manifold(real, full, fake)
    assert torch.equal(in_manifold(real, full, fake, chunk_size=13), inside)
    assert 0 < int(inside.sum()) < len(fake)  # a non-trivial membership pattern
    expected = precision_recall(real, fake)
    assert precision_recall(real, fake, chunk_size=11) == expected
    # the default chunk size comes from MAX_BLOCK_ELEMENTS
    monkeypatch.setattr(M, "MAX_BLOCK_ELEMENTS", 600)
    assert torch.equal(knn_radii(real, k=3), full)
    assert precision_recall(real, fake) == expected


def test_knn_radii_against_brute_force():
    x = torch.randn(60, 4, generator=gen(8), dtype=torch.float64)
    d = np.linalg.norm(x.numpy()[:, None] - x.numpy()[None], axis=-1)
    np.fill_diagonal(d, np.inf)
    np.testing.assert_allclose(knn_radii(x, k=3).numpy(), np.sort(d, axis=1)[:, 2], rtol=1e-12)


# ------------------------------------------------------------------------------------- mode coverage


def ring(k: int = 8, radius: float = 2.0) -> torch.Tensor:
    angles = torch.arange(k, dtype=torch.float64) * (2 * math.pi / k)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=1)


def test_mode_coverage_by_hand():
    centers, std = ring(), 0.02
    pts = [centers[m].repeat(10, 1) for m in range(7)]  # 10 points exactly on each of modes 0..6
    pts.append(centers[7][None])  # a single point on mode 7
    pts.append(centers[0] + torch.tensor([[2.5 * std, 0.0]], dtype=torch.float64))  # inside 3 std of mode 0
    pts.append(centers[1] + torch.tensor([[0.0, 3.5 * std]], dtype=torch.float64))  # outside 3 std of mode 1
    pts.append(torch.tensor([[0.0, 0.0], [10.0, 10.0], [-7.0, 3.0]], dtype=torch.float64))  # far outliers
    points = torch.cat(pts)
    # n = 70 + 1 + 1 + 1 + 3 = 76; high quality = 70 + 1 (mode 7) + 1 (2.5 std) = 72.
    # A mode needs >= 0.2 * 76 / 8 = 1.9 high-quality points: modes 0..6 have >= 10, mode 7 has 1.
    out = mode_coverage(points, centers, std, gen(0), n_boot=200)
    assert out["n_modes"] == 8
    assert out["per_mode"] == [11, 10, 10, 10, 10, 10, 10, 1]
    assert out["modes_covered"] == 7
    # resampling the 76 points practically never uncovers a mode holding 10 of them, but mode 7's single
    # point is drawn twice (enough to cover it) with probability P(Bin(76, 1/76) >= 2) = 0.26 > 2.5%
    assert out["coverage"] == Estimate(7.0, 7.0, 8.0, 76)
    hq = out["high_quality"]
    assert isinstance(hq, Estimate) and hq.n == 76
    assert hq.value == pytest.approx(72 / 76)
    ci = scipy_wilson(72, 76)  # a share of samples: Wilson's interval, not a bootstrap
    assert (hq.low, hq.high) == (pytest.approx(ci.low, abs=1e-12), pytest.approx(ci.high, abs=1e-12))


def test_mode_coverage_pacgan_threshold_is_inclusive():
    # PacGAN: 2500 samples, 25 modes -> a mode with fewer than 20 high-quality samples is lost.
    centers = torch.stack(torch.meshgrid(torch.arange(5.0), torch.arange(5.0), indexing="ij"), -1).reshape(25, 2)
    counts = [20, 19] + [107] * 23  # 20 + 19 + 2461 = 2500
    points = torch.cat([centers[m].repeat(c, 1) for m, c in enumerate(counts)])
    out = mode_coverage(points, centers, 0.05, gen(0), n_boot=100)
    assert out["per_mode"] == counts
    assert out["modes_covered"] == 24
    assert out["high_quality"].value == 1.0
    # modes 0 and 1 sit at the threshold, so resamples cover 23 to 25 modes
    cov = out["coverage"]
    assert cov.value == 24.0 and 23.0 <= cov.low < cov.value < cov.high <= 25.0


def test_mode_coverage_rejects_bad_input():
    with pytest.raises(ValueError, match=r"^points have dim 2 but centers have dim 3$"):
        mode_coverage(torch.zeros(4, 2), torch.zeros(3, 3), 0.1, gen(0))
    with pytest.raises(ValueError, match=r"^std must be > 0, got 0.0$"):
        mode_coverage(torch.zeros(4, 2), torch.zeros(3, 2), 0.0, gen(0))
