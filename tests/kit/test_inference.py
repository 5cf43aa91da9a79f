"""lvrbench.kit.inference against scipy and published values, and its intervals' coverage by seeded simulation."""
from __future__ import annotations

import json
import math
import time

import numpy as np
import pytest
from scipy import stats

from lvrbench.kit import inference as inf


def close(est: dict, low: float, high: float, tol: float = 1e-9) -> bool:
    return abs(est["low"] - low) <= tol and abs(est["high"] - high) <= tol


# ------------------------------------------------------------------------------------------- seed level


def test_seed_mean_is_scipys_t_interval_and_one_seed_is_marked():
    values = [0.612, 0.581, 0.664]
    est = inf.seed_mean(values)
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert est["n"] == 3 and close(est, low, high) and inf.replicated(est)
    one = inf.seed_mean([0.612])
    assert one == {"value": 0.612, "low": 0.612, "high": 0.612, "n": 1} and not inf.replicated(one)


def test_seed_difference_is_ttest_1samp():
    diffs = [0.031, 0.012, 0.054, 0.020]
    est, p = inf.seed_difference(diffs, level=0.9)
    ref = stats.ttest_1samp(diffs, 0.0)
    assert p == pytest.approx(ref.pvalue, rel=1e-12)
    assert close(est, *ref.confidence_interval(0.9))
    assert inf.seed_difference([0.031]) == ({"value": 0.031, "low": 0.031, "high": 0.031, "n": 1}, None)


def test_welch_is_scipys_unequal_variance_ttest():
    a, b = [21.3, 24.9, 19.8], [30.2, 27.5, 35.1, 29.9]
    est, p = inf.welch_difference(a, b)
    ref = stats.ttest_ind(a, b, equal_var=False)
    assert p == pytest.approx(ref.pvalue, rel=1e-12) and close(est, *ref.confidence_interval())
    assert est["value"] == pytest.approx(np.mean(a) - np.mean(b)) and est["n"] == 3
    est1, p1 = inf.welch_difference([21.3], b)
    assert est1["n"] == 1 and est1["low"] == est1["high"] == est1["value"] and p1 is None
    assert inf.welch_difference([1.0, 1.0], [1.0, 1.0])[1] == 1.0


# --------------------------------------------------------------------------------- hierarchical paired


def _seeds(rng, n_seeds, n_items, between, within, delta=0.0):
    """Two methods on the same items of n_seeds networks; the paired difference's mean varies between networks."""
    a, b = [], []
    for effect in delta + rng.normal(0.0, between, n_seeds):
        base = rng.normal(0.0, 1.0, n_items)
        a.append(base + effect + rng.normal(0.0, within, n_items))
        b.append(base)
    return a, b


def test_hierarchical_is_deterministic_fast_and_vectorised():
    a, b = _seeds(np.random.default_rng(0), 3, 500, 0.1, 1.0, 0.05)
    start = time.perf_counter()
    first = inf.hierarchical_difference(a, b, 7, over_seeds="bootstrap", n_boot=2000)
    elapsed = time.perf_counter() - start
    assert elapsed < 0.5, f"500 items x 3 seeds x 2000 replicates took {elapsed:.2f} s"
    again = inf.hierarchical_difference(a, b, 7, over_seeds="bootstrap", n_boot=2000)
    assert json.dumps(first) == json.dumps(again)
    assert inf.hierarchical_difference(a, b, 8, over_seeds="bootstrap")[0] != first[0]
    est, p = first
    assert est["n"] == 3 and est["low"] < est["value"] < est["high"] and 0 < p <= 1
    # the point estimate is the mean over seeds of the per-seed mean difference, whatever the interval
    assert est["value"] == pytest.approx(np.mean([np.mean(x - y) for x, y in zip(a, b)]))
    # a generator passed in advances: two calls on it differ
    gen = np.random.default_rng(7)
    assert inf.hierarchical_difference(a, b, gen, over_seeds="bootstrap")[0] == est
    assert inf.hierarchical_difference(a, b, gen, over_seeds="bootstrap")[0] != est


def test_hierarchical_t_is_seed_difference_of_per_seed_means_and_one_seed_is_within_network():
    a, b = _seeds(np.random.default_rng(1), 3, 200, 0.3, 1.0)
    est, p = inf.hierarchical_difference(a, b, 0)
    assert (est, p) == inf.seed_difference([np.mean(x - y) for x, y in zip(a, b)])
    one, p1 = inf.hierarchical_difference(a[:1], b[:1], 0)
    assert one["n"] == 1 and not inf.replicated(one) and one["low"] < one["value"] < one["high"] and p1 is not None
    # unpaired: the same seeds, items resampled independently; the point is the difference of means per seed
    un, _ = inf.hierarchical_difference(a, [y[:150] for y in b], 0, paired=False, over_seeds="bootstrap", n_boot=500)
    assert un["value"] == pytest.approx(np.mean([x.mean() - y[:150].mean() for x, y in zip(a, b)]))
    with pytest.raises(ValueError):
        inf.hierarchical_difference(a, [y[:150] for y in b], 0)


def test_equal_per_seed_differences_do_not_claim_certainty():
    """Two methods that differ on one of 500 images of each of 3 networks: +0.002 on every seed, zero spread."""
    rng = np.random.default_rng(15)
    b = [(rng.random(500) < 0.8).astype(float) for _ in range(3)]
    a = [y.copy() for y in b]
    for y in a:
        y[np.flatnonzero(y == 0)[0]] = 1.0
    est, p = inf.hierarchical_difference(a, b, 0)
    assert est["value"] == pytest.approx(0.002) and p > 0.05 and est["low"] < 0 < est["high"]
    within = [np.var(x - y, ddof=1) / 500 for x, y in zip(a, b)]
    again, p_again = inf.seed_difference([0.002] * 3, within=within)
    assert again == pytest.approx(est) and p_again == pytest.approx(p)
    bare = inf.seed_difference([0.002] * 3)  # no within-network noise given: the documented exact reading
    assert bare == ({"value": 0.002, "low": 0.002, "high": 0.002, "n": 3}, 0.0)


def _coverage(rng, n_seeds, n_items, between, within, reps, n_boot):
    hit = {"t": 0, "bootstrap": 0, "pooled items": 0}
    for _ in range(reps):
        a, b = _seeds(rng, n_seeds, n_items, between, within)
        for mode in ("t", "bootstrap"):
            est, _ = inf.hierarchical_difference(a, b, rng, over_seeds=mode, n_boot=n_boot)
            hit[mode] += est["low"] <= 0.0 <= est["high"]
        pooled = np.concatenate([x - y for x, y in zip(a, b)])  # every item as if independent: networks ignored
        est, _ = inf.welch_difference(pooled, np.zeros(2))  # zero-variance second sample: a one-sample t interval
        hit["pooled items"] += est["low"] <= 0.0 <= est["high"]
    return {k: v / reps for k, v in hit.items()}


def test_coverage_when_networks_differ_t_over_seeds_holds_and_pooling_items_does_not():
    """True difference 0; each network's effect is N(0, 0.3^2), items' noise N(0, 1): 3 seeds of 100 items."""
    cover = _coverage(np.random.default_rng(2), 3, 100, 0.3, 1.0, reps=300, n_boot=400)
    assert 0.91 <= cover["t"] <= 0.985, cover
    assert cover["pooled items"] < 0.6, cover  # the naive interval counts 300 items as 300 replicates
    assert cover["bootstrap"] < 0.88, cover  # resampling 3 seeds: at most 75% + what item noise adds


def test_hierarchical_bootstrap_needs_many_seeds():
    cover = _coverage(np.random.default_rng(3), 20, 20, 0.5, 1.0, reps=200, n_boot=400)
    assert cover["bootstrap"] >= 0.88 and cover["t"] >= 0.9, cover
    assert cover["pooled items"] < 0.75, cover


# -------------------------------------------------------------------------------- unpaired two-sample


@pytest.mark.parametrize("x1,n1,x2,n2,low,high", [
    (56, 70, 48, 80, 0.0524, 0.3339), (9, 10, 3, 10, 0.1705, 0.8090), (6, 7, 2, 7, 0.0582, 0.8062),
    (5, 56, 0, 29, -0.0381, 0.1926), (0, 10, 0, 20, -0.1611, 0.2775), (0, 10, 0, 10, -0.2775, 0.2775),
    (10, 10, 0, 20, 0.6791, 1.0), (10, 10, 0, 10, 0.6075, 1.0)])
def test_newcombe_method_10_reproduces_the_papers_examples(x1, n1, x2, n2, low, high):
    est = inf.newcombe_difference(x1, n1, x2, n2)
    assert round(est["low"], 4) == low and round(est["high"], 4) == high
    assert est["value"] == pytest.approx(x1 / n1 - x2 / n2) and est["n"] == min(n1, n2)


@pytest.mark.parametrize("x,n,low,high", [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605),
                                          (0, 20, 0.0, 0.1611), (1, 29, 0.0061, 0.1718), (29, 29, 0.8830, 1.0)])
def test_wilson_reproduces_newcombes_single_proportion_examples(x, n, low, high):
    est = inf.wilson(x, n)
    assert round(est["low"], 4) == low and round(est["high"], 4) == high


def test_bootstrap_difference_of_means_approaches_welch_and_is_deterministic():
    rng = np.random.default_rng(4)
    a, b = rng.normal(0.3, 1.0, 400), rng.normal(0.0, 2.0, 600)

    def mean_of(values):
        return lambda idx: values[idx].mean(axis=1)

    est, p = inf.bootstrap_difference(mean_of(a), a.size, mean_of(b), b.size, 5, n_boot=4000)
    welch, p_welch = inf.welch_difference(a, b)
    assert est["value"] == pytest.approx(welch["value"])
    assert est["low"] == pytest.approx(welch["low"], abs=0.03) and est["high"] == pytest.approx(welch["high"], abs=0.03)
    assert p == pytest.approx(p_welch, abs=0.01)
    assert inf.bootstrap_difference(mean_of(a), a.size, mean_of(b), b.size, 5, n_boot=4000) == (est, p)
    # a non-mean statistic (a spread, as FID is a distance): same machinery
    spread = inf.bootstrap_difference(lambda i: a[i].std(axis=1), a.size, lambda i: b[i].std(axis=1), b.size, 5)[0]
    assert spread["low"] < -1.0 < spread["high"] < -0.5


# ----------------------------------------------------------------------------------------- multiplicity


def test_holm_hand_computed():
    adjusted, reject = inf.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02]) and reject == [True, False, False, True]
    # untestable comparisons do not count in k
    adjusted, reject = inf.holm([0.01, None, 0.04])
    assert adjusted == pytest.approx([0.02, None, 0.04]) and reject == [True, False, True]
    assert inf.holm([0.4, 0.9])[0] == pytest.approx([0.8, 0.9])  # monotone: never below an earlier step


def test_simultaneous_level_and_directional_decisions():
    assert inf.simultaneous_level(10) == pytest.approx(0.995) and inf.simultaneous_level(1) == 0.95
    words = inf.directional_decisions([0.2, -0.1, 0.3, 0.1], [0.001, 0.004, 0.2, None])
    assert words == ["agrees", "disagrees", "undecided", "not applicable"]


# ---------------------------------------------------------------------------------------- cross-fitting


def test_crossfit_is_not_inflated_by_selection_while_same_items_selection_is():
    """12 cells of equal true accuracy 0.8 on 64 items, 200 independent networks: choosing the best cell and
    scoring it on the same items reads about 0.8 + 0.08; cross-fitting reads 0.8."""
    rng = np.random.default_rng(5)
    nets = [(rng.random((12, 64)) < 0.8).astype(float) for _ in range(200)]
    est, p = inf.crossfit(nets, list(range(12)), 0, n_splits=10)
    assert p is None and est["n"] == 200
    assert est["low"] <= 0.8 <= est["high"] and abs(est["value"] - 0.8) < 0.01, est
    naive = np.mean([y.mean(axis=1).max() for y in nets])
    assert naive > 0.86, naive


def test_crossfit_bootstrap_of_the_procedure_covers_one_networks_truth():
    rng = np.random.default_rng(6)
    hits = 0
    for _ in range(100):
        y = (rng.random((8, 100)) < 0.7).astype(float)
        est, _ = inf.crossfit([y], list(range(8)), rng, n_splits=5, n_boot=200)
        assert est["n"] == 1
        hits += est["low"] <= 0.7 <= est["high"]
    assert hits >= 88, hits


def test_crossfit_paired_against_a_baseline():
    rng = np.random.default_rng(7)
    nets = []
    for _ in range(3):
        y = (rng.random((6, 300)) < 0.6).astype(float)
        y[5] = (rng.random(300) < 0.75).astype(float)  # one clearly better cell of the method
        nets.append(y)
    est, p = inf.crossfit(nets, [3, 4, 5], 1, baseline=[0, 1, 2])
    assert est["value"] > 0.08 and p is not None and est["n"] == 3
    same, p_same = inf.crossfit(nets, [0, 1, 2], 1, baseline=[0, 1, 2], over_seeds="bootstrap")
    assert same == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 3} and p_same == 1.0
    # lower is better: per-latent errors, the method's low-error cell is found
    errors = [np.abs(rng.normal(1.0, 0.3, (4, 200))) for _ in range(3)]
    for e in errors:
        e[2] *= 0.5
    low, _ = inf.crossfit(errors, [1, 2, 3], 2, baseline=[0], lower_is_better=True)
    assert low["high"] < 0


def test_crossfit_speed_and_determinism_at_full_size():
    rng = np.random.default_rng(8)
    nets = [(rng.random((56, 500)) < 0.8).astype(float) for _ in range(3)]
    start = time.perf_counter()
    first = inf.crossfit(nets, list(range(8, 56)), 3, baseline=list(range(8)), n_splits=20, n_boot=200,
                         over_seeds="bootstrap")
    elapsed = time.perf_counter() - start
    assert elapsed < 3.0, f"56 cells x 500 items x 3 seeds x 20 splits x 200 replicates took {elapsed:.2f} s"
    assert json.dumps(first) == json.dumps(inf.crossfit(nets, list(range(8, 56)), 3, baseline=list(range(8)),
                                                         n_splits=20, n_boot=200, over_seeds="bootstrap"))


# --------------------------------------------------------------------------------------- rank agreement


def test_kendall_tau_b_is_scipys_with_ties_and_has_an_interval():
    fid_a = [12.1, 15.3, 15.3, 9.8, 30.2, 22.0, 18.4, 11.0]
    fid_b = [10.5, 14.0, 16.2, 10.5, 25.1, 26.3, 17.9, 12.2]
    est, p = inf.kendall_tau(fid_a, fid_b, 0)
    ref = stats.kendalltau(fid_a, fid_b)
    assert est["value"] == pytest.approx(ref.statistic, abs=1e-12) and p == pytest.approx(ref.pvalue)
    assert -1 <= est["low"] < est["value"] < est["high"] <= 1 and est["n"] == 8
    assert inf.kendall_tau(fid_a, fid_b, 0) == (est, p)
    rng = np.random.default_rng(9)
    for _ in range(20):  # the vectorised tau-b is scipy's on heavily tied data
        x, y = rng.integers(0, 4, 12), rng.integers(0, 3, 12)
        if len(set(x)) > 1 and len(set(y)) > 1:
            assert inf.kendall_tau(x, y, 0, n_boot=10)[0]["value"] == pytest.approx(stats.kendalltau(x, y).statistic)


def test_kendall_tau_small_n():
    two = inf.kendall_tau([1.0, 2.0], [3.0, 5.0], 0)[0]
    assert two["value"] == 1.0 and (two["low"], two["high"]) == (-1.0, 1.0)
    with pytest.raises(ValueError):
        inf.kendall_tau([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], 0)
    with pytest.raises(ValueError):
        inf.kendall_tau([1.0], [2.0], 0)


# ------------------------------------------------------------------------------------------ calibration


def test_calibrated_informative_classifier():
    rng = np.random.default_rng(10)
    logits = rng.normal(0.0, 2.0, 20000)
    labels = (rng.random(20000) < 1 / (1 + np.exp(-logits))).astype(int)
    report = inf.calibration(logits, labels, 0)
    assert report["ece"] < 0.02 and not report["at_chance"]
    assert report["accuracy"]["low"] > 0.7 and report["log_loss"]["high"] < math.log(2) - 0.1
    assert sum(b["count"] for b in report["reliability"]) == 20000
    for b in report["reliability"]:
        assert b["low"] <= b["mean_predicted"] <= b["high"] and abs(b["observed"] - b["mean_predicted"]) < 0.05
    assert inf.calibration(logits, labels, 0) == report
    probs = 1 / (1 + np.exp(-logits))
    assert inf.log_losses(probs, labels, logits=False) == pytest.approx(inf.log_losses(logits, labels), rel=1e-9)


def test_constant_ratio_is_at_chance_with_log_loss_ln2():
    labels = np.array([0, 1] * 500)
    report = inf.calibration(np.zeros(1000), labels, 0)
    assert report["auc"] == {"value": 0.5, "low": 0.5, "high": 0.5, "n": 1000}
    assert report["at_chance"] and report["log_loss"]["value"] == pytest.approx(math.log(2))
    assert report["accuracy"]["value"] == 0.5 and report["ece"] == pytest.approx(0.0)
    # unbalanced held-out labels: a constant at the base rate is chance too, though its accuracy (0.7) beats 0.5
    labels = np.array([1] * 700 + [0] * 300)
    report = inf.calibration(np.full(1000, math.log(0.7 / 0.3)), labels, 0)
    assert report["accuracy"]["low"] > 0.5 and report["at_chance"]
    assert report["chance_log_loss"] == pytest.approx(inf.binary_entropy(0.7))


def test_at_chance_needs_every_metric_at_chance():
    rng = np.random.default_rng(11)
    truth = rng.normal(0.0, 1.5, 5000)
    labels = (rng.random(5000) < 1 / (1 + np.exp(-truth))).astype(int)
    over = inf.calibration(8 * truth, labels, 0)  # ranks well, overconfident: log-loss above ln 2
    assert over["log_loss"]["low"] > math.log(2) and over["accuracy"]["low"] > 0.6 and not over["at_chance"]
    assert over["ece"] > 0.1
    shy = inf.calibration(0.3 * truth - 3.0, labels, 0)  # ranks well, never crosses 0.5: accuracy = share of 0s
    assert shy["accuracy"]["value"] == pytest.approx(1 - labels.mean()) and shy["log_loss"]["low"] > math.log(2)
    assert shy["auc"]["low"] > 0.7 and not shy["at_chance"]  # the old "accuracy OR log-loss" rule said chance
    assert shy["auc"] == over["auc"]  # order is all the AUC reads
    noise = inf.calibration(rng.normal(0.0, 1.0, 5000), labels, 0)  # a ratio that knows nothing
    assert noise["at_chance"] and noise["auc"]["low"] <= 0.5 <= noise["auc"]["high"]


def test_auc_is_mann_whitney_and_delong_matches_a_bootstrap():
    rng = np.random.default_rng(14)
    labels = (rng.random(3000) < 0.4).astype(int)
    scores = np.round(rng.normal(0.5 * labels, 1.0), 1)  # rounded: many ties
    est = inf.auc(scores, labels)
    u = stats.mannwhitneyu(scores[labels == 1], scores[labels == 0]).statistic
    assert est["value"] == pytest.approx(u / (labels.sum() * (labels == 0).sum()))
    reps = []
    for _ in range(300):
        i = rng.integers(0, 3000, 3000)
        reps.append(inf.auc(scores[i], labels[i])["value"])
    assert (est["high"] - est["low"]) / (2 * 1.959964) == pytest.approx(np.std(reps), rel=0.15)


def test_expected_calibration_error_by_hand():
    probs = [0.05, 0.15, 0.15, 0.95, 1.0]
    labels = [0, 1, 0, 1, 1]
    # bins: [0, .1): 0.05 vs 0; [.1, .2): 0.15 vs 0.5; [.9, 1]: 0.975 vs 1
    expected = (1 * 0.05 + 2 * 0.35 + 2 * 0.025) / 5
    assert inf.expected_calibration_error(probs, labels) == pytest.approx(expected)
    rows = inf.reliability(probs, labels)
    assert [r["count"] for r in rows] == [1, 2, 0, 0, 0, 0, 0, 0, 0, 2] and rows[2]["observed"] is None


# ------------------------------------------------------------------------------------- power / sample size


def test_items_needed_closed_form_and_simulation():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert inf.items_needed(0.016, 0.1) == math.ceil((z * 0.1 / 0.016) ** 2) == 307
    assert inf.items_needed(-0.016, 0.1) == 307 and inf.items_needed(0.0, 0.1) is None
    assert inf.items_needed(0.016, 0.1, alpha=0.005) > 307  # Holm's worst case over 10 comparisons
    n = inf.items_needed(0.2, 1.0)
    rng = np.random.default_rng(12)
    diffs = rng.normal(0.2, 1.0, (4000, n))
    power = np.mean(stats.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05)
    assert 0.78 <= power <= 0.84, (n, power)


@pytest.mark.parametrize("d,two_sample,paired", [(0.5, 64, 34), (0.8, 26, 15), (1.0, 17, 10)])
def test_seeds_needed_reproduces_cohens_table(d, two_sample, paired):
    assert inf.seeds_needed(d, 1.0) == two_sample and inf.seeds_needed(d, 1.0, paired=True) == paired
    assert inf.t_power(d, 1.0, two_sample) >= 0.8 > inf.t_power(d, 1.0, two_sample - 1)


def test_seeds_needed_by_simulation():
    n = inf.seeds_needed(2.0, 1.0)  # a between-seed SD half the effect
    assert n == 6 and inf.seeds_needed(0.0, 1.0) is None
    rng = np.random.default_rng(13)
    a, b = rng.normal(2.0, 1.0, (4000, n)), rng.normal(0.0, 1.0, (4000, n))
    power = np.mean(stats.ttest_ind(a, b, axis=1, equal_var=False).pvalue < 0.05)
    assert abs(power - inf.t_power(2.0, 1.0, n)) < 0.04, power  # Welch's power is the pooled t's at equal SD
