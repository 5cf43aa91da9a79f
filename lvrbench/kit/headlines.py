"""The papers' reference numbers, and whether our intervals order the same pairs of families the same way.

Our evaluators are not Inception (and quick runs are not the papers' protocols), so absolute values differ; what
can be compared is the order. For every pair of families a paper orders on a metric, our 95% intervals *agree*
(disjoint, in the paper's order), *disagree* (disjoint, the other order) or leave it *undecided* (they overlap).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from ..base.text import fmt_estimate, fmt_number, number_text, table

AGREE, DISAGREE, UNDECIDED = "agree", "disagree", "undecided"
EXPLAINED = ("For every pair of families a paper orders on a metric, our 95% intervals *agree* (disjoint, in the "
             "paper's order), *disagree* (disjoint, the other order) or leave it *undecided* (they overlap); a family "
             "run under several seeds is compared by the hull of its seeds' intervals.")


@dataclass(frozen=True)
class Reference:
    """One paper's values of one metric for several families (lvrbench's family names)."""

    paper: str
    where: str
    dataset: str
    metric: str
    lower_is_better: bool
    values: dict[str, float]


GENERATION = (
    # paper 002 Figs. 4 and 6 (WGAN and hinge after 150 epochs) and Fig. 10 (SAN, λ=1, batch 64: FID only)
    Reference("paper 002", "Figs. 4, 6, 10", "mnist", "fid", True, {"vanilla": 44.12, "wgan": 89.84, "hinge": 22.08, "san": 19.04}),
    Reference("paper 002", "Figs. 4, 6", "mnist", "precision", False, {"vanilla": 0.56, "wgan": 0.19, "hinge": 0.40}),
    Reference("paper 002", "Figs. 4, 6", "mnist", "recall", False, {"vanilla": 0.18, "wgan": 0.00, "hinge": 0.20}),
    # paper 004 Table 1. Its "W-GAN" is the gradient-penalty critic: §3.3 replaces clipping by the penalty and Fig. 4
    # shows the W-GAN-GP training it reports, so the row is compared with lvrbench's wgan-gp.
    Reference("paper 004", "Table 1", "mnist", "fid", True, {"vanilla": 63.99, "wgan-gp": 40.78, "gm-gan": 18.56}),
    Reference("paper 004", "Table 1", "mnist", "precision", False, {"vanilla": 0.39, "wgan-gp": 0.34, "gm-gan": 0.53}),
    Reference("paper 004", "Table 1", "mnist", "recall", False, {"vanilla": 0.21, "wgan-gp": 0.29, "gm-gan": 0.22}),
)

RECONSTRUCTION = (
    # paper 003 Table 1 (8-Gaussian ring, L1): its "GAN" is the BCE GAN, lvrbench's vanilla. The GAN's ad hoc
    # encoder receives no gradient (paper 003 §4.1), so its ad hoc error is not a method's and is left out.
    Reference("paper 003", "Table 1", "ring8", "post_hoc", True, {"vanilla": 0.1261, "bigan": 1.4310, "logan-b": 0.0474}),
    Reference("paper 003", "Table 1", "ring8", "ad_hoc", True, {"bigan": 2.5036, "logan-b": 0.0271}),
)


def interval(estimates: list[dict]) -> tuple[float, float]:
    """The interval a family's cells span: one cell's 95% interval, or the hull of its seeds' intervals."""
    return min(e["low"] for e in estimates), max(e["high"] for e in estimates)


def verdict(better: tuple[float, float], worse: tuple[float, float], lower_is_better: bool) -> str:
    """Whether our intervals of the family a paper ranks first (`better`) and of the other agree with it."""
    if not lower_is_better:  # on "higher is better" the order of the intervals flips
        better, worse = (-better[1], -better[0]), (-worse[1], -worse[0])
    if better[1] < worse[0]:
        return AGREE
    if worse[1] < better[0]:
        return DISAGREE
    return UNDECIDED


def pairs(ref: Reference) -> list[tuple[str, str]]:
    """Every (better, worse) pair of families the paper orders (ties order nothing)."""
    out = []
    for a, b in itertools.combinations(sorted(ref.values), 2):
        va, vb = ref.values[a], ref.values[b]
        if va != vb:
            first = a if (va < vb) == ref.lower_is_better else b
            out.append((first, b if first == a else a))
    return out


def compare(refs: tuple[Reference, ...], ours: dict[str, dict[str, list[dict]]], labels: dict[str, str]) -> list[str]:
    """Markdown: each reference pair beside our intervals and the verdict, then the counts per paper and metric.

    `ours` maps metric -> family -> that family's estimates on one dataset (one per seed); `labels` names metrics.
    """
    rows, counts = [], {}
    for ref in refs:
        if ref.metric not in ours:
            continue
        tally = counts.setdefault((ref.paper, ref.metric), {AGREE: 0, DISAGREE: 0, UNDECIDED: 0, "not run": 0})
        for better, worse in pairs(ref):
            sign = "<" if ref.lower_is_better else ">"
            paper_text = f"{better} {number_text(ref.values[better])} {sign} {worse} {number_text(ref.values[worse])}"
            have = ours[ref.metric]
            if better not in have or worse not in have:
                missing = better if better not in have else worse
                rows.append([ref.paper, labels[ref.metric], paper_text, f"{missing}: no result", "not run"])
                tally["not run"] += 1
                continue
            said = verdict(interval(have[better]), interval(have[worse]), ref.lower_is_better)
            ours_text = f"{better} {_text(have[better])} vs {worse} {_text(have[worse])}"
            rows.append([ref.paper, labels[ref.metric], paper_text, ours_text, said])
            tally[said] += 1
    if not rows:
        return []
    summary = [f"{paper} {labels[metric]}: " + ", ".join(f"{n} {k}" for k, n in tally.items() if n)
               for (paper, metric), tally in counts.items() if any(tally.values())]
    return [table(rows, ["paper", "metric", "the paper's order", "ours (95% intervals)", "verdict"]), "",
            "Verdicts: " + "; ".join(summary) + ".", ""]


def _text(estimates: list[dict]) -> str:
    if len(estimates) == 1:
        return fmt_estimate(estimates[0])
    low, high = interval(estimates)
    return f"[{fmt_number(low)}, {fmt_number(high)}] ({len(estimates)} seeds' hull)"


def references_on(refs: tuple[Reference, ...]) -> str:
    """The datasets the references were measured on, for the sentence that says which of ours they sit beside."""
    return ", ".join(sorted({r.dataset for r in refs}))


# -- post-hoc samplers: whether a sampler improves on direct sampling as the paper found ---------------------------

@dataclass(frozen=True)
class Improvement:
    """A paper's value of a metric for a family sampled directly (`baseline`) and by a post-hoc sampler (`value`)."""

    paper: str
    where: str
    dataset: str
    family: str
    sampler: str
    metric: str
    lower_is_better: bool
    baseline: float
    value: float
    #: The paper greys the row out: "the theoretical validity is unclear or the implementation may not be correct".
    uncertain: bool = False


SAMPLING = (
    # paper 004 Table 1; its "W-GAN" is the gradient-penalty critic (see GENERATION above)
    Improvement("paper 004", "Table 1", "mnist", "vanilla", "drs", "fid", True, 63.99, 38.49),
    Improvement("paper 004", "Table 1", "mnist", "wgan-gp", "drs", "fid", True, 40.78, 38.02, uncertain=True),
    Improvement("paper 004", "Table 1", "mnist", "wgan-gp", "dg-flow", "fid", True, 40.78, 40.02, uncertain=True),
)
IMPROVEMENT_EXPLAINED = ("For each sampler a paper reports beside its family's direct sampling, our 95% interval of the "
                         "paired difference with `direct` *agrees* (it excludes 0 on the paper's side), *disagrees* (it "
                         "excludes 0 on the other side) or leaves it *undecided* (it holds 0); several seeds are compared "
                         "by the hull of their intervals.")


def improvement_lines(refs: tuple[Improvement, ...], ours: dict[tuple[str, str], dict[str, list[dict]]],
                      labels: dict[str, str]) -> list[str]:
    """Markdown: each reference beside our paired differences with direct and the verdict. `ours` maps (family,
    sampler) to metric -> that pair's difference estimates (one per seed and hyper-parameter cell)."""
    rows = []
    for ref in refs:
        paper_text = f"{ref.family}: {number_text(ref.baseline)} → {number_text(ref.value)} with {ref.sampler}"
        have = ours.get((ref.family, ref.sampler), {}).get(ref.metric, [])
        if not have:
            rows.append([ref.paper, labels[ref.metric], paper_text, "no result", "not run", "yes" if ref.uncertain else ""])
            continue
        improved = ref.value < ref.baseline if ref.lower_is_better else ref.value > ref.baseline
        said = paired_verdict(have, ref.lower_is_better)  # whether our sampler - direct says the sampler is better
        if not improved and said != UNDECIDED:
            said = DISAGREE if said == AGREE else AGREE
        rows.append([ref.paper, labels[ref.metric], paper_text, f"Δ vs direct {_text(have)}", said,
                     "yes (greyed out in the paper)" if ref.uncertain else ""])
    return [table(rows, ["paper", "metric", "the paper's values", "ours", "verdict", "uncertain"]), ""] if rows else []


# -- headlines: a paper's main claim as a computed statement beside our numbers ------------------------------------

#: How a headline's verdict reads on a page.
VERDICT_WORDS = {AGREE: "agrees", DISAGREE: "disagrees", UNDECIDED: "undecided at this sample size"}
HEADLINES_EXPLAINED = ("Each line is a paper's headline claim put to these results: it *agrees* when every comparison "
                       "the claim makes goes its way with 95% confidence, *disagrees* when at least one goes the other "
                       "way with 95% confidence, and is *undecided at this sample size* otherwise. Comparisons on the "
                       "same items use the paired difference's interval (it must exclude 0); comparisons between "
                       "separately trained generators use interval separation; several seeds are compared by the hull "
                       "of their intervals. The papers' own protocols, networks and data differ from these (see the "
                       "protocol line), so a verdict is about the claim's direction, not its numbers.")


def paired_verdict(differences: list[dict], lower_is_better: bool) -> str:
    """Whether paired differences (ours minus theirs, one estimate per seed) say ours is better: AGREE when their
    hull excludes 0 on the better side, DISAGREE when it excludes 0 on the other, UNDECIDED when it holds 0."""
    low, high = interval(differences)
    if (high < 0) if lower_is_better else (low > 0):
        return AGREE
    if (low > 0) if lower_is_better else (high < 0):
        return DISAGREE
    return UNDECIDED


def all_of(verdicts: list[str]) -> str:
    """A claim made of several comparisons: it disagrees if one does, agrees if all do, else is undecided."""
    if DISAGREE in verdicts:
        return DISAGREE
    return AGREE if verdicts and all(v == AGREE for v in verdicts) else UNDECIDED


@dataclass(frozen=True)
class Comparison:
    """One comparison a headline makes: its verdict and its evidence in words (the numbers and intervals)."""

    verdict: str
    evidence: str


def paired(ours: str, theirs: str, differences: list[dict], lower_is_better: bool, label: str) -> Comparison:
    """`ours` better than `theirs` by their paired differences (ours minus theirs, one per seed) of metric `label`."""
    return Comparison(paired_verdict(differences, lower_is_better), f"Δ {label} {ours} − {theirs} {_text(differences)}")


def separated(better: str, worse: str, ours: dict[str, list[dict]], lower_is_better: bool, label: str) -> Comparison:
    """`better` better than `worse` by interval separation of their estimates `ours[name]` (one per seed)."""
    said = verdict(interval(ours[better]), interval(ours[worse]), lower_is_better)
    return Comparison(said, f"{label} {better} {_text(ours[better])} vs {worse} {_text(ours[worse])}")


def headline(paper: str, claim: str, comparisons: list[Comparison]) -> str:
    """One markdown line: the paper's claim, our verdict on it, and the evidence of every comparison it makes."""
    if not comparisons:
        return f"- {paper}: {claim}: **not run** (no results for the methods it compares)."
    said = VERDICT_WORDS[all_of([c.verdict for c in comparisons])]
    return f"- {paper}: {claim}: **{said}**. Ours: " + "; ".join(f"{c.evidence} ({c.verdict})" for c in comparisons) + "."


def headline_section(lines: list[str], where: str = "") -> list[str]:
    """A page's headline section (a title, how verdicts are made, one line per claim); empty without claims."""
    if not lines:
        return []
    return [f"## The papers' headlines beside ours{where}", "", HEADLINES_EXPLAINED, "", *lines, ""]
