"""Mode coverage on the 2-D Gaussian mixtures, the one piece of code `generation` and `mode-coverage` share.

A sample is high quality within 3 standard deviations of its nearest centre, and a mode is covered when it holds
at least 1/5 of the expected n/K high-quality samples (VEEGAN §5; PacGAN §5: 20 of 2500 on the 25-mode grid).
"""
from __future__ import annotations

from typing import Any

import torch

from .figures import encode_points, payload_problem
from .pages import summarize
from ..api.estimates import items_generator, wilson_interval
from ..engine.scoring import mode_coverage
from ..api.fields import METRIC


#: The metrics that rank generators of a mixture, in order, both higher is better: modes covered, then the share of
#: high-quality samples. FID (and precision and recall) on 2-D points is no quality ranking: a structureless blob over
#: the ring (N(0, 2I)) has a lower FID than samples sitting exactly on 7 of its 8 modes, and a generator that never
#: trained had the second-best FID of the published ring8 page (`tests/kit/test_mixtures.py`).
PRIMARY = ("modes_covered", "high_quality")
#: What a result holds when it scored mode coverage (its `validate` adds these fields).
FIELDS = {"metrics.modes_covered": METRIC, "metrics.high_quality": METRIC, "extra.centers": list, "extra.per_mode": list}
HEADERS = ["modes covered", "high quality % ↑"]
EXPLAINED = ("On the mixtures a sample is high quality within 3 std of its nearest centre (its share has a 95% Wilson "
             "interval), and a mode is covered when it holds at least 1/5 of the expected n/K high-quality samples "
             "(PacGAN §5: 20 of 2500 on the 25-mode grid; its interval is a 95% bootstrap over the samples).")


def score(points: torch.Tensor, data: Any, items: dict) -> tuple[dict, dict]:
    """(metrics, extra) of samples [n, 2] on mixture dataset plugin `data`; `items` names the sample set, which
    seeds the bootstrap (paired across families scored on the same seed and count)."""
    scores = mode_coverage(points, torch.tensor(data.centers), data.std, items_generator({**items, "score": "modes"}))
    share = scores["high_quality"]  # a proportion: its interval is Wilson's, not the bootstrap mode_coverage gives
    metrics = {"modes_covered": scores["coverage"].to_dict(), "high_quality": wilson_interval(share.value, share.n).to_dict()}
    extra = {"centers": [list(p) for p in data.centers], "per_mode": scores["per_mode"]}
    return metrics, extra


def samples_payload(points: torch.Tensor, n: int = 1000) -> dict:
    """The first `n` samples as a result stores them for its scatter plot."""
    return encode_points(points[:n])


def problems(result: dict) -> list[str]:
    """What is wrong with the mode-coverage part of a result, beyond check_fields(FIELDS)."""
    extra = result["extra"]
    out = []
    if bad := payload_problem({"kind": "points", "data": extra["centers"]}):
        out.append(f"extra.centers: {bad}")
    per_mode = extra["per_mode"]
    if not (len(per_mode) == len(extra["centers"])
            and all(isinstance(k, int) and not isinstance(k, bool) and k >= 0 for k in per_mode)):
        out.append("extra.per_mode must hold one non-negative integer count per centre")
    return out


def cells(rows: list[dict]) -> list[str]:
    """The table cells of a family's rows (one per seed): modes covered of K, and the percentage of high-quality samples."""
    m = [r["metrics"] for r in rows]
    k = len(rows[0]["extra"]["centers"])
    return [summarize([x["modes_covered"] for x in m], 2) + f" of {k}", summarize([x["high_quality"] for x in m], 3, 100)]
