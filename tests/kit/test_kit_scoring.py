"""What the task kit's scoring adds for issue 20, against hand-computed answers: a density ratio scored on held-out
data, paired and two-sample differences of sample sets, and the validation of the fields they fill."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import integrate, stats
from torch import nn

from conftest import est, gen
from lvrbench.api.contracts import TrainedGAN
from lvrbench.api.priors import PRIORS
from lvrbench.engine.sampling import EXACT, DensityRatio
from lvrbench.engine.specs import NoFamily
from lvrbench.kit import inference
from lvrbench.kit.scoring import (Scorer, evaluator_problems, fid_resampled, ratio_problems, ratio_quality,
                                  share_difference)
from lvrbench.run.env import RunEnv

N = 4000


def identity_gan() -> TrainedGAN:
    """G(z) = z in one dimension, z ~ N(0, 1): its samples' law is known."""
    return TrainedGAN(NoFamily("identity", {"G": "generator"}), nn.ModuleDict({"G": nn.Identity()}),
                      PRIORS["normal"].with_dim(1), 1, "identity", {})


def quality(logit) -> dict:
    real = torch.randn(N, 1, generator=gen(3)) + 1.0  # p_data = N(1, 1) against p_G = N(0, 1)
    ratio = DensityRatio(EXACT, lambda x, z: logit(x.flatten()))
    return ratio_quality(ratio, identity_gan(), real, gen(4), torch.device("cpu"), seed=5)


def test_the_exact_log_ratio_of_two_normals_scores_as_computed_by_hand():
    q = quality(lambda x: x - 0.5)  # log N(x; 1, 1) / N(x; 0, 1)
    # AUC = P(X_real > X_fake) = Φ(1 / √2); the Bayes rule x > 1/2 is right with probability Φ(1/2) in each class;
    # log-loss = E softplus(-Y), Y = X - 1/2 ~ N(1/2, 1) (the same for the fakes, by symmetry)
    truth = {"auc": stats.norm.cdf(1 / math.sqrt(2)), "accuracy": stats.norm.cdf(0.5),
             "log_loss": integrate.quad(lambda y: np.logaddexp(0, -y) * stats.norm.pdf(y, 0.5), -12, 12)[0]}
    for name, value in truth.items():
        assert q[name]["low"] <= value <= q[name]["high"], (name, q[name], value)
        assert q[name]["n"] == 2 * N
    assert q["ece"] < 0.03 and not q["at_chance"]  # the true posterior is calibrated
    assert (q["n_real"], q["n_fake"]) == (N, N) and sum(b["count"] for b in q["reliability"]) == 2 * N
    assert ratio_problems(q) == []


def test_a_constant_ratio_is_at_chance_and_a_shifted_one_is_not():
    flat = quality(lambda x: torch.zeros_like(x))
    assert flat["accuracy"]["value"] == 0.5 and flat["log_loss"]["value"] == pytest.approx(math.log(2), abs=1e-15)
    assert flat["auc"]["value"] == 0.5 and flat["at_chance"] and flat["ece"] == 0.0
    assert [(b["count"], b["mean_predicted"], b["observed"]) for b in flat["reliability"]] == [(2 * N, 0.5, 0.5)]
    # the right ranking read with an offset: accuracy and log-loss at or below chance, the AUC shows the information
    shifted = quality(lambda x: x - 0.5 + 3.0)
    assert shifted["auc"] == quality(lambda x: x - 0.5)["auc"] and not shifted["at_chance"]
    assert shifted["log_loss"]["value"] > math.log(2) and shifted["ece"] > 0.3


def scorer(registry, tmp_path) -> Scorer:
    config = {"dataset": "ring8", "seed": 0, "settings": {"n_samples": 600, "n_real": 600, "n_boot_fid": 50, "k": 3,
                                                           "evaluator": None, "evaluator_alt": None}}
    return Scorer(config, RunEnv(registry, torch.device("cpu"), tmp_path))


def ring_draws(registry, seed: int, n: int = 600, spread: float = 1.0) -> torch.Tensor:
    ring = registry.get("datasets", "ring8")
    mode = torch.randint(8, (n,), generator=gen(seed))
    return torch.tensor(ring.centers, dtype=torch.float32)[mode] + spread * ring.std * torch.randn(n, 2, generator=gen(seed + 1))


def test_independent_sets_get_two_sample_intervals_and_refinements_paired_ones(registry, tmp_path):
    s = scorer(registry, tmp_path)
    a, b = s.score(ring_draws(registry, 10, spread=4.0)), s.score(ring_draws(registry, 20))
    n, k = 600, 8
    two = s.differences(a, b, paired=False)
    assert two["precision"] == inference.newcombe_difference(int(a.in_real.sum()), n, int(b.in_real.sum()), n)
    assert two["recall"] == inference.newcombe_difference(int(a.in_fake.sum()), n, int(b.in_fake.sum()), n)
    assert two["high_quality"] == inference.newcombe_difference(int((a.labels < k).sum()), n, int((b.labels < k).sum()), n)
    items = {**s.items, "paired with": "direct", "score": "fid"}
    from lvrbench.base.hashing import derive_seed

    fid, _ = inference.bootstrap_difference(fid_resampled(s.f_real, a.features), n, fid_resampled(s.f_real, b.features), n,
                                            derive_seed(items, "two-sample"), n_boot=50)
    assert two["fid"] == fid
    assert fid["value"] == pytest.approx(a.metrics["fid"]["value"] - b.metrics["fid"]["value"], abs=1e-12)
    assert two["modes_covered"]["value"] == a.metrics["modes_covered"]["value"] - b.metrics["modes_covered"]["value"]
    paired = s.differences(a, b, paired=True)
    assert paired["precision"] == share_difference(a.in_real, b.in_real, True)
    assert paired["fid"]["value"] == pytest.approx(fid["value"], abs=1e-12)
    # a set against itself: paired, nothing differs (a zero-width interval); as two samples, the noise of both shows
    same = s.differences(a, a, paired=True)
    assert same["fid"] == {"value": 0.0, "low": 0.0, "high": 0.0, "n": n} and same["precision"]["value"] == 0.0
    apart = s.differences(a, a, paired=False)
    assert apart["fid"]["low"] < 0 < apart["fid"]["high"] and apart["precision"]["low"] < 0 < apart["precision"]["high"]


def test_fid_resampled_is_fid_of_the_resampled_fakes():
    real, fake = torch.randn(300, 3, generator=gen(1)), torch.randn(200, 3, generator=gen(2)) * 1.5
    idx = np.random.default_rng(0).integers(0, 200, (4, 200))
    from lvrbench.kit.scoring import fid

    assert fid_resampled(real, fake)(idx) == pytest.approx([fid(real, fake[torch.from_numpy(i)]) for i in idx], rel=1e-9)
    assert fid_resampled(real, fake)(np.arange(200)[None])[0] == pytest.approx(fid(real, fake), rel=1e-12)


def evaluated(**metrics) -> dict:
    description = {"arch": "cnn-2x-128", "epochs": 1, "seed": 0}
    return {"metrics": {"fid": est(1.0), **metrics},
            "artifacts": {"evaluator": {"key": "a", "test_accuracy": est(0.9), "description": description},
                          "evaluator_alt": {"key": "b", "test_accuracy": est(0.8),
                                            "description": {**description, "arch": "mlp-512-128", "seed": 1}}}}


def test_crafted_evaluator_fields_are_problems():
    assert evaluator_problems(evaluated(fid_alt=est(2.0)), ("fid",)) == []
    assert evaluator_problems(evaluated(), ("fid",)) == ["metrics.fid_alt is missing"]
    bad = evaluated(fid_alt=est(2.0))
    bad["artifacts"]["evaluator_alt"]["description"]["seed"] = "one"
    assert evaluator_problems(bad, ("fid",)) == ["artifacts.evaluator_alt.description.seed has the wrong type"]
    orphan = {"metrics": {"fid": est(1.0), "fid_alt": est(2.0)}, "artifacts": {"evaluator": {"key": "a"}}}
    assert evaluator_problems(orphan, ("fid",))[0] == "artifacts.evaluator_alt.key is missing"
    assert evaluator_problems({"metrics": {"fid": est(1.0)}, "artifacts": {"evaluator": {"key": "a"}}}, ("fid",)) == []


def test_crafted_held_out_ratio_scores_are_problems():
    q = quality(lambda x: x - 0.5)
    assert ratio_problems({**q, "at_chance": "no"}) == ["extra.ratio.heldout.at_chance has the wrong type"]
    assert ratio_problems({**q, "ece": 1.5}) == ["extra.ratio.heldout.ece must lie in [0, 1]"]
    assert ratio_problems({k: v for k, v in q.items() if k != "auc"}) == ["extra.ratio.heldout.auc is missing"]
    short = {**q, "reliability": q["reliability"][1:]}
    assert ratio_problems(short) == ["extra.ratio.heldout.reliability must hold non-empty bins {low, high, count, "
                                     "mean_predicted, observed} (numbers in [0, 1]) whose counts add up to n_real + n_fake"]
    assert ratio_problems("high") == ["extra.ratio.heldout must be an object"]
