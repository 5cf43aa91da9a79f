"""What the kit's page helpers print, and the figures their sentences quote, against hand-computed values."""
from __future__ import annotations

import math

import torch

from lvrbench.kit import inference
from lvrbench.kit.pages import (FID_ON_POINTS, Column, count_text, ranking_table, seeds_text, summarize, trained_text,
                                unit_label, units_of)


def est(value: float, low: float | None = None, high: float | None = None, n: int = 100) -> dict:
    return {"value": value, "low": value if low is None else low, "high": value if high is None else high, "n": n}


def test_fid_on_points_ranks_a_blob_above_seven_of_eight_modes():
    """The sentence every mixture page prints: a structureless N(0, 2I) blob gets a lower FID than samples on 7 of
    the ring's 8 modes, while it covers none of them (the real scoring code, on the ring's own points)."""
    from lvrbench.engine.scoring import fid, mode_coverage
    from lvrbench_plugins.datasets import Ring8

    g = torch.Generator().manual_seed(0)
    centers = torch.tensor(Ring8.centers, dtype=torch.float32)
    real = centers[torch.randint(8, (5000,), generator=g)] + Ring8.std * torch.randn(5000, 2, generator=g)
    blob = math.sqrt(2.0) * torch.randn(5000, 2, generator=g)
    seven = centers[torch.randint(7, (5000,), generator=g)] + Ring8.std * torch.randn(5000, 2, generator=g)
    assert fid(real.double(), blob.double()) < 0.01 < fid(real.double(), seven.double())
    covered = {name: mode_coverage(x, centers, Ring8.std, torch.Generator().manual_seed(1), n_boot=10)
               for name, x in (("blob", blob), ("seven", seven))}
    assert covered["blob"]["coverage"].value == 0 and covered["seven"]["coverage"].value == 7
    # within 3 std of a mode: 1 - exp(-4.5) = 98.9% of a 2-D Gaussian's samples
    assert covered["blob"]["high_quality"].value < 0.01 < 0.98 < covered["seven"]["high_quality"].value
    assert "below samples on 7 of 8 modes" in FID_ON_POINTS


def test_several_seeds_read_as_a_t_interval_over_networks_clipped_to_a_shares_range():
    values = [est(0.8, 0.75, 0.85), est(0.9, 0.86, 0.94), est(1.0, 0.98, 1.0)]
    mean = inference.seed_mean([0.8, 0.9, 1.0])
    assert mean["high"] > 1 and summarize(values) == f"0.900 [{mean['low']:#.3g}, {mean['high']:#.3g}] (3 seeds)"
    assert summarize(values, bounds=(0.0, 1.0)) == f"0.900 [{mean['low']:#.3g}, 1.00] (3 seeds)"  # 1.15 is no share
    assert summarize(values[:1]) == "0.800 [0.750, 0.850]"  # one network: its evaluation interval, as it is
    assert count_text([(1, 32), (31, 32)]).endswith("(2 seeds; 32/64 pooled)") and "[0.00, 100]" in count_text([(1, 32), (31, 32)])


def row(name: str, seed: int, value: float, failed: str | None = None, prior: str = "normal") -> dict:
    check = {"failed": failed is not None, "why": failed or ""}
    return {"id": f"{name}{seed}{prior}", "config": {"family": name, "prior": prior, "seed": seed, "settings": {}},
            "metrics": {"fid": est(value, value - 1, value + 1)}, "artifacts": {"generator": {"key": "k", "check": check}}}


def test_a_ranking_table_leaves_failed_networks_out_and_ranks_the_rest():
    rows = [row("a", s, 10.0 + s) for s in range(3)] + [row("b", s, 30.0 + s) for s in range(3)]
    rows += [row("c", s, 0.5, failed="collapsed output") for s in range(3)]
    units, left = units_of(rows, unit_label(rows))
    assert sorted(units) == ["a", "b"] and left == {"c": ["seeds 0, 1 and 2: collapsed output"]}
    lines = ranking_table(units, [Column("fid", "FID ↓", True, ranked=True)], paired=False)
    assert [c.strip() for c in lines[0].splitlines()[0].split("|")[1:4]] == ["family", "rank", "FID ↓"]
    assert [line.split("|")[2].strip() for line in lines[0].splitlines()[2:]] == ["1", "2"]
    assert lines[-1].startswith("Ranks: every pair of rows tested")
    one = ranking_table({"a": {0: rows[0]}, "b": {0: rows[3]}}, [Column("fid", "FID ↓", True, ranked=True)], paired=False)
    assert "rank" not in one[0].splitlines()[0] and one[-1].startswith("No ranks: one training seed per row")
    assert trained_text(rows[-1]) == "✗ collapsed output" and trained_text(rows[0]) == "✓"
    assert trained_text({"artifacts": {"generator": {"key": "k"}}}) == "-"  # a result that predates the check


def test_a_family_under_two_priors_is_named_with_its_prior():
    rows = [row("lsgan", 0, 1.0), row("lsgan", 0, 2.0, prior="uniform"), row("vanilla", 0, 3.0)]
    label = unit_label(rows)
    assert [label(r) for r in rows] == ["lsgan (normal)", "lsgan (uniform)", "vanilla"]
    assert seeds_text([2]) == "seed 2" and seeds_text([0, 2]) == "seeds 0 and 2" and seeds_text([0, 1, 2]) == "seeds 0, 1 and 2"
