"""lvrbench.kit.verdicts on crafted claims: each verdict word, its precedence, and cases the old rules got wrong."""
from __future__ import annotations

import json

import numpy as np
import pytest

from lvrbench.kit import inference as inf
from lvrbench.kit import verdicts as vd


def est(value: float, low: float, high: float, n: int = 3) -> dict:
    return {"value": value, "low": low, "high": high, "n": n}


def claim(rows: list[tuple], **kw) -> list[dict]:
    """Comparisons (name, estimate, p) at the claim's simultaneous level."""
    level = inf.simultaneous_level(len(rows))
    return [vd.comparison(name, e, p, level=level, **kw) for name, e, p in rows]


def test_two_nominal_disagreements_of_ten_read_undecided_after_holm():
    """'The trick discriminator is the worst': 2 of 10 comparisons nominally go the other way (McNemar p = 0.023,
    0.034), 8 are undecided. The old rule (any one comparison disagreeing) said "disagrees"; neither survives Holm."""
    ps = [0.023, 0.034, 0.41, 0.62, 0.18, 0.77, 0.29, 0.95, 0.51, 0.12]
    values = [-0.047, -0.041, 0.01, -0.004, 0.02, 0.0, 0.015, -0.001, 0.006, 0.025]
    rows = [(f"trick < method {i}", est(v, v - 0.07, v + 0.07), p) for i, (v, p) in enumerate(zip(values, ps))]
    old_rule = "disagrees" if any(p < 0.05 and v < 0 for v, p in zip(values, ps)) else "undecided"
    result = vd.verdict(claim(rows))
    assert old_rule == "disagrees" and result["verdict"] == "undecided" and result["direction"] == "undecided"
    assert [round(r["adjusted_p"], 3) for r in result["comparisons"][:2]] == [0.23, 0.306]
    assert "0 agree, 0 disagree, 10 undecided after Holm at family-wise 5%" in result["evidence"]


def test_agrees_needs_every_comparison_past_holm():
    rows = [("a", est(0.05, 0.02, 0.08), 0.001), ("b", est(0.04, 0.01, 0.07), 0.002), ("c", est(0.03, 0.0, 0.06), 0.04)]
    assert vd.verdict(claim(rows))["verdict"] == "agrees"  # Holm's last step tests 0.04 at 0.05
    rows[2] = ("c", est(0.03, -0.01, 0.07), 0.06)
    result = vd.verdict(claim(rows))
    assert result["verdict"] == "undecided" and [r["decision"] for r in result["comparisons"]] == \
        ["agrees", "agrees", "undecided"]


def test_disagrees_when_one_survives_holm_with_the_other_sign():
    rows = [("a", est(-0.05, -0.08, -0.02), 0.001), ("b", est(0.04, -0.01, 0.09), 0.3), ("c", est(0.03, -0.02, 0.08), 0.4)]
    assert vd.verdict(claim(rows))["verdict"] == "disagrees"
    # lower is better: the same numbers are errors, so a negative difference is the claim's direction
    lower = vd.verdict(claim(rows, lower_is_better=True))
    assert lower["comparisons"][0]["decision"] == "agrees" and lower["verdict"] == "undecided"


def test_a_chain_tests_its_outer_pair():
    """'LOGAN-B << GAN < BiGAN' on reconstruction error: the adjacent pairs agree, the implied LOGAN-B < BiGAN is
    significantly the other way (as the ordering table on the same page read). Adjacent-only said "agrees"."""
    pairs = vd.chain_pairs("LOGAN-B << GAN < BiGAN")
    assert pairs == [("LOGAN-B", "GAN"), ("LOGAN-B", "BiGAN"), ("GAN", "BiGAN")]
    assert vd.chain_pairs(["A", "B", "C", "D"])[-1] == ("C", "D") and len(vd.chain_pairs("A<B<C<D")) == 6
    data = {("LOGAN-B", "GAN"): (est(-0.21, -0.30, -0.12), 0.0004), ("LOGAN-B", "BiGAN"): (est(0.09, 0.03, 0.15), 0.004),
            ("GAN", "BiGAN"): (est(-0.08, -0.14, -0.02), 0.006)}
    rows = [(f"{a} < {b}", *data[(a, b)]) for a, b in pairs]
    adjacent = vd.verdict(claim([rows[0], rows[2]], lower_is_better=True))
    assert adjacent["verdict"] == "agrees"
    assert vd.verdict(claim(rows, lower_is_better=True))["verdict"] == "disagrees"
    rows[1] = ("LOGAN-B < BiGAN", est(-0.05, -0.13, 0.03), 0.11)  # outer pair merely undecided: still no "agrees"
    assert vd.verdict(claim(rows, lower_is_better=True))["verdict"] == "undecided"
    with pytest.raises(ValueError):
        vd.chain_pairs("A < A")


def test_the_papers_effect_is_excluded():
    """Bhattacharyya's gain over `none`: +0.137 in paper 000, +0.016 [-0.006, 0.038] here."""
    row = [("bhattacharyya - none", est(0.016, -0.006, 0.038), 0.16)]
    result = vd.verdict(claim(row, paper=0.137))
    assert result["verdict"] == "the paper's effect is excluded" and result["direction"] == "undecided"
    assert result["comparisons"][0]["excluded"] == "above"
    assert "the paper's +0.137 is excluded (above the interval)" in result["evidence"]
    assert vd.verdict(claim(row, paper=0.03))["verdict"] == "undecided"
    agreeing = [("bhattacharyya - none", est(0.05, 0.03, 0.07), 0.0001)]
    result = vd.verdict(claim(agreeing, paper=0.137))
    assert result["verdict"] == "the paper's effect is excluded" and result["direction"] == "agrees"
    assert vd.verdict(claim(agreeing, paper=0.06))["verdict"] == "agrees"
    # precedence: disagreeing beats exclusion
    against = [("a", est(-0.05, -0.07, -0.03), 0.0001), ("b", est(0.01, -0.02, 0.04), 0.5)]
    assert vd.verdict(claim(against, paper=0.137))["verdict"] == "disagrees"


def test_intervals_must_be_simultaneous():
    rows = [(n, est(0.1, 0.0, 0.2), 0.05) for n in "abc"]
    with pytest.raises(ValueError, match="simultaneous"):
        vd.verdict([vd.comparison(n, e, p, level=0.95) for n, e, p in rows])


def test_not_applicable_comes_first_with_its_reason():
    rows = [("a", est(-0.05, -0.08, -0.02), 0.001), ("b", est(0.04, 0.04, 0.04, n=1), 0.01)]
    result = vd.verdict(claim(rows))
    assert result["verdict"] == "not applicable" and "one seed" in result["reason"]
    assert result["direction"] == "disagrees"  # what the testable part read, kept for the page
    level = inf.simultaneous_level(2)
    ratio = vd.comparison("drs - direct", est(-40.8, -52.0, -30.0), 0.001, level=level, reason="ratio at chance")
    result = vd.verdict([ratio, vd.comparison("mh - direct", est(-3.0, -6.0, 0.5), 0.08, level=level)])
    assert result["verdict"] == "not applicable" and result["reason"] == "drs - direct: ratio at chance"
    within = vd.comparison("one network", est(0.04, 0.01, 0.07, n=1), 0.01, level=0.95, unit="items")
    assert vd.verdict([within])["verdict"] == "agrees"  # items of one network: the caller chose that scope
    whole = vd.not_applicable("the best method does not beat z = prior mean")
    assert whole["verdict"] == "not applicable" and whole["evidence"].endswith("prior mean")


def test_evaluator_dependent():
    agrees = vd.verdict(claim([("a", est(0.05, 0.02, 0.08), 0.001)]))
    undecided = vd.verdict(claim([("a", est(0.02, -0.01, 0.05), 0.2)]))
    flip = vd.combine_evaluators(agrees, undecided)
    assert flip["verdict"] == "evaluator-dependent" and "evaluator B reads undecided" in flip["evidence"]
    assert vd.combine_evaluators(agrees, agrees)["verdict"] == "agrees"
    assert vd.combine_evaluators(vd.not_applicable("one seed"), agrees)["verdict"] == "not applicable"
    assert set(vd.VERDICTS) >= {flip["verdict"], agrees["verdict"], undecided["verdict"]}


def test_what_would_decide_an_undecided_comparison():
    k = 4
    rows = [(f"c{i}", est(0.016, -0.006, 0.038), 0.16) for i in range(k)]
    items = vd.verdict(claim(rows, sd=0.12, unit="items", paper=0.03))
    needed, paper = inf.items_needed(0.016, 0.12, alpha=0.05 / k), inf.items_needed(0.03, 0.12, alpha=0.05 / k)
    assert all(r["needed"] == needed and r["needed_paper"] == paper for r in items["comparisons"])
    assert (f"{needed} items would detect the observed effect with 80% power at level 0.0125 ({paper} the paper's)"
            in items["evidence"])
    seeds = vd.verdict(claim(rows, sd=0.02, paired=False))
    assert seeds["comparisons"][0]["needed"] == inf.seeds_needed(0.016, 0.02, 0.05 / k)
    assert "seeds per family would detect the observed effect" in seeds["evidence"]
    zero = vd.verdict(claim([("z", est(0.0, -0.01, 0.01), 1.0)], sd=0.1))
    assert zero["comparisons"][0]["needed"] is None and "no sample size decides an observed effect of 0" in zero["evidence"]


def test_a_claim_from_per_item_data_end_to_end_is_deterministic():
    """Three regularizers against `none` on the same 500 images of 3 networks: two help, one does not."""
    def run(seed: int) -> dict:
        rng = np.random.default_rng(seed)
        level = inf.simultaneous_level(3)
        base = [(rng.random(500) < 0.6).astype(float) for _ in range(3)]
        rows = []
        for name, gain in (("bhattacharyya", 0.15), ("energy", 0.12), ("wasserstein", 0.0)):
            ours = [np.where(rng.random(500) < 0.6 + gain, 1.0, 0.0) for _ in range(3)]
            e, p = inf.hierarchical_difference(ours, base, rng, level=level)
            diffs = [np.mean(o - b) for o, b in zip(ours, base)]
            rows.append(vd.comparison(f"{name} - none", e, p, level=level, sd=float(np.std(diffs, ddof=1))))
        return vd.verdict(rows)

    result = run(0)
    assert [r["decision"] for r in result["comparisons"]] == ["agrees", "agrees", "undecided"]
    assert result["verdict"] == "undecided" and result["comparisons"][2]["needed"] is not None
    assert json.dumps(run(0)) == json.dumps(result)
