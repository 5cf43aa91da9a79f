"""On the Gaussian mixtures the primary metrics rank quality, FID does not: a structureless blob against perfect samples
on 7 of the ring's 8 modes, scored by the real scoring code (the `Scorer` every task that scores samples uses)."""
from __future__ import annotations

import math

import torch

from conftest import gen
from lvrbench.kit import mixtures
from lvrbench.kit.scoring import Scorer
from lvrbench.run.env import RunEnv


def test_a_blob_beats_seven_perfect_modes_on_fid_and_on_no_primary_metric(registry, tmp_path):
    ring = registry.get("datasets", "ring8")
    n = 2500
    config = {"dataset": "ring8", "seed": 0, "settings": {"n_samples": n, "n_real": n, "n_boot_fid": 20, "k": 3,
                                                           "evaluator": None, "evaluator_alt": None}}
    scorer = Scorer(config, RunEnv(registry, torch.device("cpu"), tmp_path))
    blob = torch.randn(n, 2, generator=gen(1)) * 2 ** 0.5  # N(0, 2I): no structure at all
    mode = torch.arange(n) % 7  # the ring's own law on its first 7 modes, none on the 8th
    seven = torch.tensor(ring.centers, dtype=torch.float32)[mode] + ring.std * torch.randn(n, 2, generator=gen(2))
    a, b = scorer.score(blob).metrics, scorer.score(seven).metrics
    assert a["fid"]["value"] < b["fid"]["value"]  # FID prefers the blob: it matches the ring's mean and covariance
    assert a["fid"]["value"] < 0.01 < 0.05 < b["fid"]["value"]
    assert mixtures.PRIMARY == ("modes_covered", "high_quality")
    for metric in mixtures.PRIMARY:  # both higher is better; the blob is worse on each
        assert a[metric]["value"] < b[metric]["value"], metric
    assert (a["modes_covered"]["value"], b["modes_covered"]["value"]) == (0.0, 7.0)
    # a 2-D normal lies within 3 std of its centre with probability 1 - exp(-9 / 2) = 0.9889
    assert abs(b["high_quality"]["value"] - (1 - math.exp(-4.5))) < 0.005 and a["high_quality"]["value"] < 0.01
