"""The papers' headlines as computed verdicts, on crafted results whose verdicts are known: each verdict word, the
cases the old rules (interval separation, the hull of the seeds' intervals, adjacent chain pairs, any-one-disagrees,
weight 0 as a best cell) got wrong, rankings, and what would decide an undecided claim."""
from __future__ import annotations

import numpy as np
import pytest

from lvrbench.kit import headlines, inference


def est(value: float, low: float | None = None, high: float | None = None, n: int = 500) -> dict:
    return {"value": value, "low": value if low is None else low, "high": value if high is None else high, "n": n}


def result(family: str, seed: int, dataset: str = "fashion-mnist", failed: str | None = None, **metrics: float) -> dict:
    """A per-family result as `generation` writes it, with per-seed metrics (evaluation intervals ±1% of the value)."""
    out = {"id": f"{family}-{seed}", "config": {"dataset": dataset, "family": family, "prior": "normal", "seed": seed,
                                               "method": "direct", "hparams": {}, "settings": {}},
           "metrics": {k: est(v, 0.99 * v, 1.01 * v) for k, v in metrics.items()}, "extra": {}, "artifacts": {}}
    if failed is not None:
        out["artifacts"]["generator"] = {"key": "g", "check": {"failed": True, "why": failed}}
    return out


def units(rows: list[dict]):
    from lvrbench.kit.pages import unit_label, units_of

    return units_of(rows, unit_label(rows))


# ------------------------------------------------------------------------ between networks: seeds, not items


def test_one_seed_each_is_no_verdict_where_interval_separation_said_agrees():
    """hinge 20.0 [19.8, 20.2] vs vanilla 40.0 [39.6, 40.4]: the old rule called disjoint evaluation intervals of two
    single networks a decided order. They say nothing about the next network trained: not applicable, and why."""
    u, left = units([result("hinge", 0, fid=20.0), result("vanilla", 0, fid=40.0)])
    h = headlines.between_claim("generation", "paper 002", "fashion-mnist", "hinge beats vanilla", "-", "ours", u,
                                [("hinge", "vanilla")], ("fid",), True, left)
    assert h.verdict == "not applicable" and h.result["reason"] == headlines.ONE_SEED
    assert h.ours() == "hinge − vanilla: -20 (one network; no interval)"
    assert h.line().startswith("- paper 002, fashion-mnist: hinge beats vanilla: **not applicable**: one training seed")


def test_a_family_no_longer_disagrees_with_itself():
    """The same family's seeds 0-2 against its seeds 3-5, each network's FID interval tight and disjoint from the
    others': interval separation read every disjoint pair as an order (on the published mixtures 32 of 54 pairs of
    seeds of the same family); Welch over the seeds sees one family."""
    fids = [48.0, 60.0, 52.0, 58.0, 50.0, 55.0]
    rows = [result("a" if s < 3 else "b", s, fid=f) for s, f in enumerate(fids)]
    separated = sum(max(x, y) * 0.99 > min(x, y) * 1.01 for i, x in enumerate(fids) for y in fids[i + 1:])
    assert separated == 15  # every pair of these networks' intervals is disjoint
    u, left = units(rows)
    h = headlines.between_claim("generation", "p", "d", "a < b", "-", "ours", u, [("a", "b")], ("fid",), True, left)
    assert h.verdict == "undecided"
    (row,) = h.result["comparisons"]
    e, p = inference.welch_difference([48.0, 60.0, 52.0], [58.0, 50.0, 55.0], 0.95)
    assert row["estimate"] == e and row["p"] == p and row["unit"] == "seeds" and not row["paired"]
    assert row["needed"] == inference.seeds_needed(e["value"], row["sd"], 0.05)  # what would decide it
    assert f"{row['needed']} seeds per family would detect the observed effect with 80% power" in h.line()


def test_welch_over_seeds_decides_what_the_seeds_agree_on():
    rows = [result("hinge", s, fid=f) for s, f in enumerate([20.0, 22.0, 21.0])]
    rows += [result("vanilla", s, fid=f) for s, f in enumerate([40.0, 43.0, 41.0])]
    u, left = units(rows)
    h = headlines.between_claim("generation", "p", "d", "hinge < vanilla", "-", "ours", u, [("hinge", "vanilla")],
                                ("fid",), True, left)
    assert h.verdict == "agrees"
    assert h.ours().startswith("hinge − vanilla: -20.3 [") and h.ours().endswith("(95.0% simultaneous, 3 seeds)")


def test_a_failed_generator_is_left_out_with_its_reason():
    rows = [result("hinge", s, fid=20.0 + s) for s in range(3)]
    rows += [result("wgan", s, fid=5.0, failed="its critic's loss sat at 0 for the last 10 epochs") for s in range(3)]
    rows += [result("vanilla", s, fid=40.0 + s, failed="non-finite samples" if s == 2 else None) for s in range(3)]
    u, left = units(rows)
    assert set(u) == {"hinge", "vanilla"} and sorted(u["vanilla"]) == [0, 1]
    h = headlines.between_claim("generation", "p", "d", "hinge beats vanilla and wgan", "-", "ours", u,
                                [("hinge", "vanilla"), ("hinge", "wgan")], ("fid",), True, left)
    assert len(h.result["comparisons"]) == 1 and h.result["comparisons"][0]["name"] == "hinge − vanilla"
    assert h.left_out == ("vanilla seed 2: non-finite samples",
                          "wgan seeds 0, 1 and 2: its critic's loss sat at 0 for the last 10 epochs")
    assert "Left out: vanilla seed 2: non-finite samples; wgan seeds 0, 1 and 2:" in h.line()
    # vanilla keeps one network if seeds 1 and 2 failed too: a comparison needs two an arm, so it leaves the claim
    rows[-2] = result("vanilla", 1, fid=41.0, failed="non-finite samples")
    u1, left1 = units(rows)
    h1 = headlines.between_claim("generation", "p", "d", "hinge beats vanilla and gm", "-", "ours",
                                 {**u1, "gm": {s: result("gm", s, fid=60.0 + s) for s in range(3)}},
                                 [("hinge", "vanilla"), ("hinge", "gm")], ("fid",), True, left1)
    assert [r["name"] for r in h1.result["comparisons"]] == ["hinge − gm"] and h1.verdict == "agrees"
    assert h1.left_out[-1] == "hinge − vanilla: one network in an arm, and an interval over networks needs 2"
    nothing = headlines.between_claim("generation", "p", "d", "wgan is best", "-", "ours", u, [("wgan", "hinge")],
                                      ("fid",), True, left)
    assert nothing.verdict == "not applicable" and "nothing left to compare" in nothing.line()


# --------------------------------------------------------------------------------------------- claims as posed


def test_a_chain_tests_every_pair_it_implies_on_results():
    """Paper 003's LOGAN-B < GAN < BiGAN is one claim of three comparisons, the outer LOGAN-B < BiGAN included (the
    published page's headline compared the adjacent pairs only while its ordering table, on the same page, read
    LOGAN-B vs BiGAN the other way), corrected together."""
    errors = {"logan-b": [0.10, 0.11, 0.09], "vanilla": [0.30, 0.31, 0.29], "bigan": [0.05, 0.06, 0.04]}
    rows = [result(f, s, dataset="ring8", post_hoc=v) for f, values in errors.items() for s, v in enumerate(values)]
    u, left = units(rows)
    ref = headlines.RECONSTRUCTION[0]
    (h,) = headlines.ordering_claims("reconstruction", (ref,), "ring8", "ours", u, {"post_hoc": "post hoc L1"}, left)
    assert h.claim == "orders logan-b < vanilla < bigan on post hoc L1 (Table 1)"
    decisions = {r["name"]: r["decision"] for r in h.result["comparisons"]}
    assert decisions == {"logan-b − vanilla": "agrees", "logan-b − bigan": "disagrees", "vanilla − bigan": "disagrees"}
    assert h.verdict == "disagrees" and all(r["level"] == pytest.approx(1 - 0.05 / 3) for r in h.result["comparisons"])


def test_the_papers_effect_is_excluded_where_our_metric_is_on_its_scale():
    """Reconstruction L1 on the ring is paper 003's scale: its effects (0.0474 - 0.1261 ...) are put to our
    intervals. FID is not (the feature networks differ): generation's references carry no effect."""
    errors = {"logan-b": [0.100, 0.102, 0.098], "vanilla": [0.110, 0.112, 0.108], "bigan": [0.120, 0.122, 0.118]}
    rows = [result(f, s, dataset="ring8", post_hoc=v) for f, values in errors.items() for s, v in enumerate(values)]
    u, left = units(rows)
    (h,) = headlines.ordering_claims("reconstruction", headlines.RECONSTRUCTION[:1], "ring8", "ours", u, {}, left)
    assert h.result["direction"] == "agrees" and h.verdict == "the paper's effect is excluded"
    outer = next(r for r in h.result["comparisons"] if r["name"] == "logan-b − bigan")
    assert outer["paper"] == pytest.approx(0.0474 - 1.4310) and outer["excluded"] == "below"
    assert not any(ref.scale for ref in headlines.GENERATION)


def test_evaluator_dependent_when_the_second_evaluator_flips_the_verdict():
    rows = [result("hinge", s, fid=20.0 + s, fid_alt=50.0 + 9 * s) for s in range(3)]
    rows += [result("vanilla", s, fid=40.0 + s, fid_alt=55.0 - 3 * s) for s in range(3)]
    u, left = units(rows)
    h = headlines.between_claim("generation", "p", "d", "hinge < vanilla", "-", "ours", u, [("hinge", "vanilla")],
                                ("fid", "fid_alt"), True, left)
    assert h.verdict == "evaluator-dependent"
    assert [e["verdict"] for e in h.result["evaluators"]] == ["agrees", "undecided"]
    assert "evaluator A reads agrees" in h.line() and "evaluator B reads undecided" in h.line()
    without = [{**r, "metrics": {"fid": r["metrics"]["fid"]}} for r in rows]  # results before the second evaluator
    u, left = units(without)
    assert headlines.between_claim("generation", "p", "d", "c", "-", "o", u, [("hinge", "vanilla")], ("fid", "fid_alt"),
                                   True, left).verdict == "agrees"


def test_headline_ours_is_the_weakest_comparison():
    result_ = headlines.judge([
        lambda level: headlines.within("a − none", [0.10, 0.12, 0.11], level, lower_is_better=False),
        lambda level: headlines.within("b − none", [0.01, 0.04, -0.02], level, lower_is_better=False)])
    h = headlines.Headline("recovery-real", "paper 000", "where", "claim", "theirs", "ours", result_)
    assert h.verdict == "undecided" and h.ours().startswith("b − none: 0.0100 [")
    assert h.protocols.startswith(headlines.PAPER_PROTOCOLS["paper 000"]) and h.protocols.endswith(". Ours: ours")
    section = "\n".join(headlines.section([h]))
    cells = [c.strip() for c in section.split("\n")[6].strip("|").split("|")]
    assert cells[:3] == ["paper 000, where", "claim", "theirs"] and cells[3].startswith("b − none: 0.0100 [")
    assert cells[4] == "**undecided**"


# ------------------------------------------------------------------------------------------------- rankings


def test_ranks_are_the_places_holm_leaves():
    """a is clearly best; b and c cannot be told apart; one seed ranks nothing."""
    values = {"a": [10.0, 11.0, 10.5], "b": [20.0, 22.0, 21.0], "c": [21.0, 20.0, 22.5]}
    ranked = headlines.ranking({k: {s: est(v) for s, v in enumerate(vs)} for k, vs in values.items()}, True, paired=False)
    assert [(r.name, headlines.rank_text(r.span)) for r in ranked] == [("a", "1"), ("b", "2-3"), ("c", "2-3")]
    assert ranked[0].estimate == inference.seed_mean(values["a"])
    one = headlines.ranking({k: {0: est(vs[0], vs[0] - 1, vs[0] + 1)} for k, vs in values.items()}, True, paired=False)
    assert all(r.span is None for r in one) and one[0].estimate == est(10.0, 9.0, 11.0)  # its evaluation interval


def test_paired_ranks_use_the_seeds_differences():
    """b beats a by 0.01 on every network while the networks differ by 0.2: paired by seed it is decided, as
    separately trained units it is not."""
    a = {s: est(v) for s, v in enumerate([0.5, 0.7, 0.9])}
    b = {s: est(v + 0.01 + 0.001 * s) for s, v in enumerate([0.5, 0.7, 0.9])}
    paired = {r.name: r.span for r in headlines.ranking({"a": a, "b": b}, False, paired=True)}
    unpaired = {r.name: r.span for r in headlines.ranking({"a": a, "b": b}, False, paired=False)}
    assert paired == {"b": (1, 1), "a": (2, 2)} and unpaired == {"b": (1, 2), "a": (1, 2)}


def test_rank_agreement_of_two_evaluators():
    first = {f: float(i) for i, f in enumerate("abcdefgh")}
    line = headlines.agreement(first, {f: v * 2 for f, v in first.items()}, "families' FIDs", "d")
    assert line.startswith("Rank agreement of the two evaluators over the 8 families' FIDs: Kendall's τ = 1.00 [1.00, 1.00]")
    assert headlines.agreement({"a": 1.0, "b": 2.0}, {"a": 1.0, "b": 2.0}, "x", "d") is None  # 2 units say nothing


# ---------------------------------------------------------------------------------- the recovery pages' claims


def recovery(method: str, hparams: dict, seed: int, correct: list[int], task: str = "recovery-real",
             prior: str = "normal") -> dict:
    key = "correct" if task == "recovery-real" else "errors"
    return {"id": f"{method}-{hparams}-{seed}", "metrics": {},
            "config": {"task": task, "dataset": "fashion-mnist", "family": "lsgan", "prior": prior, "method": method,
                       "hparams": hparams, "seed": seed, "settings": {"n": len(correct)}},
            "extra": {key: list(correct)}, "artifacts": {}}


def outcomes(rng: np.random.Generator, p: float, n: int = 500) -> list[int]:
    return [int(x) for x in rng.random(n) < p]


def test_paper_000_every_verdict_on_crafted_networks():
    """Three networks of 500 images: Bhattacharyya +0.05 over `none` (the paper's +0.137 excluded), energy +0.15
    (agrees), the trick discriminator far below (its weight-0 cell, `none`'s, is never its best)."""
    from lvrbench_plugins import recovery_real

    rng = np.random.default_rng(0)
    rows = []
    for seed in range(3):
        base = 0.6 + 0.05 * seed
        for method, gain in (("none", 0.0), ("bhattacharyya", 0.05), ("energy", 0.15), ("trick-discriminator", -0.4)):
            for lr in (0.01, 0.1):
                grid = [{"lr": lr}] if method == "none" else [{"lr": lr, "weight": w} for w in (0.0, 1.0)]
                for hp in grid:
                    p = base if hp.get("weight") == 0 or method == "none" else base + gain
                    rows.append(recovery(method, hp, seed, outcomes(rng, p)))
    (study,) = recovery_real.studies(rows)
    # the trick discriminator's weight-0 cells (`none`'s, 0.4 better) are never its best
    assert all(h["weight"] == 1.0 for h in study["bests"]["correct"].best("trick-discriminator").values())
    heads = {h.claim.split(" (")[0]: h for h in recovery_real.paper_000_headlines(study)}
    assert set(heads) == {"bhattacharyya gives the best accuracy", "every statistical distance beats `none`",
                          "trick-discriminator is the worst method"}
    best = heads["bhattacharyya gives the best accuracy"]
    assert best.verdict == "disagrees"  # energy beats it on every network
    distances = heads["every statistical distance beats `none`"]
    rows_ = {r["name"]: r for r in distances.result["comparisons"]}
    assert rows_["energy − none"]["decision"] == "agrees"
    assert rows_["bhattacharyya − none"]["paper"] == pytest.approx(0.137)
    assert distances.verdict in ("the paper's effect is excluded", "undecided", "agrees")
    # ours is far larger than the paper's +0.014 over `none`: every comparison agrees, and the paper's effect is out
    worst = heads["trick-discriminator is the worst method"]
    assert worst.result["direction"] == "agrees" and worst.verdict == "the paper's effect is excluded"


def test_paper_000_with_one_seed_issues_no_verdict():
    from lvrbench_plugins import recovery_real

    rng = np.random.default_rng(1)
    rows = [recovery(m, {"lr": 0.1} if m == "none" else {"lr": 0.1, "weight": 1.0}, 0, outcomes(rng, p))
            for m, p in (("none", 0.5), ("bhattacharyya", 0.9))]
    (study,) = recovery_real.studies(rows)
    heads = recovery_real.paper_000_headlines(study)
    assert [h.verdict for h in heads] == ["not applicable", "not applicable"]
    assert all(h.result["reason"] == headlines.ONE_SEED for h in heads)
    assert all(h.ours().startswith("bhattacharyya − none: 0.364 [") for h in heads)
    assert all(h.ours().endswith("(one network's evaluation interval)") for h in heads)


def synthetic_rows(errors: dict[str, list[float]], seeds: int, baselines: dict[str, float] | None) -> list[dict]:
    rng = np.random.default_rng(2)
    rows = []
    for seed in range(seeds):
        base = None if baselines is None else {k: np.abs(rng.normal(v, 0.05, 100)).tolist() for k, v in baselines.items()}
        for method, (mean,) in ((m, (e,)) for m, e in errors.items()):
            hp = {"lr": 0.05} if method in ("none", "logistic-cutoff", "hard-cutoff") else {"lr": 0.05, "weight": 1.0}
            r = recovery(method, hp, seed, np.abs(rng.normal(mean, 0.05, 100)).tolist(), task="recovery-synthetic")
            if base is not None:
                r["extra"]["baselines"] = {k: {"errors": v} for k, v in base.items()}
            rows.append(r)
    return rows


def test_paper_001_no_verdict_where_the_best_method_does_not_beat_both_baselines():
    """d_z = 256's regime: ẑ = 0 without descent (1.00) beats every method (1.50-1.70)."""
    from lvrbench_plugins import recovery_synthetic

    errors = {"none": 1.70, "logistic-cutoff": 1.50, "hard-cutoff": 1.55}
    (study,) = recovery_synthetic.studies(synthetic_rows(errors, 3, {"prior_mean": 1.00, "init": 2.00}))
    assert study["unusable"].startswith("the best method, logistic-cutoff (mean error 1.50), does not beat ẑ = prior mean")
    heads = recovery_synthetic.paper_001_headlines(study)
    assert [h.verdict for h in heads] == ["not applicable", "not applicable"]
    assert "does not beat ẑ = prior mean" in heads[0].line()
    (good,) = recovery_synthetic.studies(synthetic_rows({"none": 0.30, "logistic-cutoff": 0.10, "hard-cutoff": 0.20}, 3,
                                                        {"prior_mean": 1.00, "init": 2.00}))
    assert good["unusable"] is None
    heads = recovery_synthetic.paper_001_headlines(good)
    assert heads[0].verdict in ("agrees", "the paper's effect is excluded") and heads[0].result["direction"] == "agrees"
    (old,) = recovery_synthetic.studies(synthetic_rows({"none": 0.30, "logistic-cutoff": 0.10}, 3, None))
    assert old["unusable"].startswith("these results record no trivial baselines")
