"""The papers' headline claims put to our results, tested as posed, beside the papers' numbers and both protocols; and
the ranking every page opens with.

The rules (the statistics are `inference`'s, the verdict words and their precedence `verdicts`'):

- **A trained network is the replicate.** Things trained separately (two families' generators) are compared by
  Welch's t over their per-seed numbers (``between``); things compared on one network (two methods on the same
  images, a sampler against `direct` on the same G) by a t interval over the per-seed paired differences
  (``within``). A seed's own evaluation interval is shown, labelled as such, and never decides anything.
- **A claim is tested whole** (``judge``): its k comparisons' intervals at the simultaneous level 1 - alpha/k,
  Holm over their p-values; a chain tests every pair it implies. A comparison that involves a generator that failed
  to train, or a density ratio at chance, is left out of the claim before it is judged, with its reason on the line;
  with nothing left the claim is not applicable. With one seed everywhere no verdict exists, and the line says why.
- **Two evaluators**: a claim is judged under each; a verdict that flips reads "evaluator-dependent".
- **The paper's effect** is put beside ours only where our metric is on the paper's scale (paper 000's classifier
  accuracy, paper 001's latent error, paper 003's L1 on the same ring). FID, precision and recall depend on the
  feature network, and the papers' are not ours (neither paper 002 nor 004 names theirs), so there only the
  direction is compared.
- **Ranks** (``ranking``): every pair of a page's units tested as above, Holm over all pairs; a unit's rank is the
  range of places the significant pairs leave it ("2-4": three places the data cannot tell apart).
"""
from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Callable, Sequence

from ..base.text import Markdown, fmt_estimate, inert, number_text, table
from . import verdicts
from .inference import (Estimate, holm, kendall_tau, seed_difference, seed_mean, simultaneous_level,
                        welch_difference)

ALPHA = 0.05
#: z of a two-sided 95% interval: a seed's evaluation interval as a standard error.
Z95 = 1.959963984540054
ONE_SEED = ("one training seed: a verdict compares trained networks, and one network per arm says nothing about the "
            "next one trained (the standard profile trains 3 per dataset)")


def one_network(estimate: dict | None = None, value: float | None = None) -> str:
    """How a comparison reads where no interval over networks exists: one network's estimate with its evaluation
    interval, or its point value alone."""
    if estimate is not None:
        return f"{fmt_estimate(estimate)} (one network's evaluation interval)"
    return f"{value:+.3g} (one network; no interval)"

#: The papers' protocols, as short as a table cell holds them (what differs from ours is what a reader needs).
PAPER_PROTOCOLS = {
    "paper 000": "MNIST; LSGAN, d_z 256, 200 epochs; 1000 test images; one network; best cells chosen on the images "
                 "they score",
    "paper 001": "Yelp food photos; DCGAN (soft labels), d_z 100, 20 epochs; 100 latents, 20 000 steps; one network",
    "paper 002": "MNIST; 150 epochs (SAN: batch 64); FID's feature network not stated; one network per family",
    "paper 003": "the 8-Gaussian ring; 5 post-hoc encoders; one network per family",
    "paper 004": "MNIST; 100-300 epochs; FID's feature network not stated; one network per family",
}


@dataclass(frozen=True)
class Reference:
    """One paper's values of one metric for several families (lvrbench's family names).

    ``scale``: whether our metric is on the paper's scale, so that its differences are put beside ours."""

    paper: str
    where: str
    dataset: str
    metric: str
    lower_is_better: bool
    values: dict[str, float]
    scale: bool = False
    #: Whether the ordering is a headline of the paper (the README's *Results* table lists those), not a table's.
    headline: bool = False


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
    Reference("paper 003", "Table 1", "ring8", "post_hoc", True, {"vanilla": 0.1261, "bigan": 1.4310, "logan-b": 0.0474},
              scale=True, headline=True),
    Reference("paper 003", "Table 1", "ring8", "ad_hoc", True, {"bigan": 2.5036, "logan-b": 0.0271}, scale=True),
)


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


# -- comparisons ----------------------------------------------------------------------------------------------------

def evaluation_variance(e: dict) -> float:
    """A seed's evaluation noise as a squared standard error, read from its 95% interval."""
    return ((e["high"] - e["low"]) / (2 * Z95)) ** 2


def between(name: str, a: Sequence[float], b: Sequence[float], level: float, *, lower_is_better: bool,
            paper: float | None = None, display: str = "") -> dict:
    """Separately trained a and b (their per-seed numbers): mean(a) - mean(b) with Welch's interval at ``level``,
    a comparison for ``verdicts``; ``display`` is what a page shows where no seed-level interval exists."""
    est, p = welch_difference(a, b, level)
    sd = math.sqrt((statistics.variance(a) + statistics.variance(b)) / 2) if min(len(a), len(b)) >= 2 else None
    row = verdicts.comparison(name, est, p, level=level, lower_is_better=lower_is_better, paper=paper, sd=sd,
                              unit="seeds", paired=False)
    return {**row, "display": display}


def within(name: str, differences: Sequence[float], level: float, *, lower_is_better: bool,
           paper: float | None = None, noise: Sequence[float] | None = None, display: str = "") -> dict:
    """A comparison made on each network (per-seed paired differences, ours minus theirs): their mean with a t
    interval over seeds at ``level``; ``noise``: each seed's squared evaluation standard error (used only when the
    differences are all equal, see ``inference.seed_difference``)."""
    est, p = seed_difference(differences, level, noise)
    sd = statistics.stdev(differences) if len(differences) >= 2 else None
    row = verdicts.comparison(name, est, p, level=level, lower_is_better=lower_is_better, paper=paper, sd=sd,
                              unit="seeds", paired=True)
    return {**row, "display": display}


#: A comparison waiting for its claim's simultaneous level.
Builder = Callable[[float], dict]


def judge(builders: Sequence[Builder], alpha: float = ALPHA) -> dict:
    """A claim's verdict: every comparison at the simultaneous level of k = len(builders), Holm over them
    (``verdicts.verdict``); "not applicable" with ``ONE_SEED`` when no comparison has two seeds an arm. Where some
    do, a comparison with one network left in an arm (its others failed to train) is left out of the claim, named
    under "dropped" (its interval level stays that of k, which only widens the others')."""
    if not builders:
        raise ValueError("a claim needs at least one comparison")
    level = simultaneous_level(len(builders), alpha)
    rows = [b(level) for b in builders]
    single = [r for r in rows if r["reason"] and r["reason"].startswith("one seed")]
    if len(single) == len(rows):
        return {**verdicts.not_applicable(ONE_SEED), "shown": rows}
    kept = [r for r in rows if r not in single]
    return {**verdicts.verdict(kept, alpha), "shown": rows,
            "dropped": [f"{r['name']}: one network in an arm, and an interval over networks needs 2" for r in single]}


def judge_by_evaluators(build: Callable[[str], list[Builder]], metrics: Sequence[str], alpha: float = ALPHA) -> dict:
    """A claim judged under the first evaluator's metric and, where the results hold it, the second's
    (``metrics`` = (metric, its second evaluator's name) or just (metric,)); a flip reads "evaluator-dependent"."""
    first = judge(build(metrics[0]), alpha)
    if len(metrics) < 2:
        return first
    second = judge(build(metrics[1]), alpha)
    combined = verdicts.combine_evaluators(first, second)
    if combined["verdict"] == verdicts.NOT_APPLICABLE and first["verdict"] == second["verdict"]:
        combined["evidence"] = first["evidence"]  # one reason (one seed) said once
    return {**combined, "shown": first.get("shown", [])}


def chain(values: dict[str, float], lower_is_better: bool) -> list[tuple[str, str]]:
    """Every (better, worse) pair an ordering of the paper's values implies (``verdicts.chain_pairs`` on the
    order they give); equal values order nothing."""
    names = sorted(values, key=lambda k: (values[k] if lower_is_better else -values[k], k))
    return [(a, b) for a, b in verdicts.chain_pairs(names) if values[a] != values[b]] if len(names) >= 2 else []


# -- headlines ------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Headline:
    """One claim of a paper put to one protocol's results: the claim as posed, the paper's numbers and protocol,
    ours, and the verdict (``judge``'s or ``verdicts.not_applicable``'s)."""

    page: str
    paper: str
    where: str
    claim: str
    theirs: str
    ours_protocol: str
    result: dict
    left_out: tuple[str, ...] = field(default=())
    #: A headline of the paper (the README's *Results* table lists these), or an ordering of one of its tables.
    headline: bool = True

    @property
    def verdict(self) -> str:
        return self.result["verdict"]

    @property
    def protocols(self) -> str:
        """The paper's protocol, then ours."""
        return f"{PAPER_PROTOCOLS.get(self.paper, self.paper)}. Ours: {self.ours_protocol}"

    def ours(self) -> str:
        """Our estimate with its interval at the simultaneous level: the comparison that decides the verdict (one
        that disagrees, or excludes the paper's effect), else the claim's weakest (the largest Holm p); without a
        verdict, the first comparison's one-network display."""
        first = self.result.get("evaluators", [self.result])[0]
        rows = [r for r in first.get("comparisons", []) if r.get("adjusted_p") is not None]
        if rows:
            deciding = ([r for r in rows if r["decision"] == verdicts.DISAGREES] if first["verdict"] == verdicts.DISAGREES
                        else [r for r in rows if r["excluded"]] if first["verdict"] == verdicts.EXCLUDED else [])
            r = min(deciding, key=lambda r: r["adjusted_p"]) if deciding else max(rows, key=lambda r: r["adjusted_p"])
            return f"{r['name']}: {fmt_estimate(r['estimate'])} ({r['level']:.1%} simultaneous, {r['estimate']['n']} seeds)"
        shown = [r for r in self.result.get("shown", []) if r.get("display")]
        return f"{shown[0]['name']}: {shown[0]['display']}" if shown else "-"

    def line(self) -> str:
        """The markdown line with the verdict's whole evidence."""
        evidence = self.result["evidence"].removeprefix(self.verdict).lstrip(": ")
        out = f"- {self.paper}, {self.where}: {self.claim}: **{self.verdict}**: {evidence}."
        if self.left_out:
            out += " Left out: " + "; ".join(self.left_out) + "."
        return out


def headline(page: str, paper: str, where: str, claim: str, theirs: str, ours_protocol: str,
             builders: Sequence[Builder] | Callable[[str], list[Builder]], metrics: Sequence[str] = (),
             left_out: Sequence[str] = (), unusable: str | None = None, is_headline: bool = True) -> Headline:
    """A claim judged (``judge``, or ``judge_by_evaluators`` when ``builders`` is a function of the metric), or not
    applicable with ``unusable`` (e.g. the task does not beat its trivial baselines) or with nothing left to test."""
    if unusable:
        result = verdicts.not_applicable(unusable)
    elif callable(builders):
        built = builders(metrics[0])
        result = judge_by_evaluators(builders, metrics) if built else verdicts.not_applicable("nothing left to compare")
    elif builders:
        result = judge(builders)
    else:
        result = verdicts.not_applicable("nothing left to compare")
    dropped = result.get("dropped") or result.get("evaluators", [{}])[0].get("dropped") or []
    return Headline(page, paper, where, claim, theirs, ours_protocol, result, (*left_out, *dropped), is_headline)


def between_claim(page: str, paper: str, where: str, claim: str, theirs: str, ours_protocol: str,
                  units: dict[str, dict[int, dict]], pairs: Sequence[tuple[str, str]], metrics: Sequence[str],
                  lower_is_better: bool, left: dict[str, list[str]] | None = None,
                  paper_values: dict[str, float] | None = None, unusable: str | None = None,
                  is_headline: bool = True) -> Headline:
    """A claim over separately trained units (families' generators): each (better, worse) pair compared by Welch's
    t over their seeds' `metrics[0]` (and, where every result holds it, the second evaluator's `metrics[1]`).

    `units`: per unit its results by seed, without the networks that failed to train (`kit.pages.units_of`);
    `left`: per unit the seeds left out and why, named on the line; pairs with a unit that has no result left
    are not tested. `paper_values` (the paper's numbers on our metric's scale) give the paper's effect."""
    left = left or {}
    names = {n for pair in pairs for n in pair}
    kept = [(a, b) for a, b in pairs if a in units and b in units]
    metrics = [m for m in metrics if all(m in r["metrics"] for n in names if n in units for r in units[n].values())]

    def build(metric: str) -> list[Builder]:
        def one(a: str, b: str) -> Builder:
            va = [units[a][s]["metrics"][metric]["value"] for s in sorted(units[a])]
            vb = [units[b][s]["metrics"][metric]["value"] for s in sorted(units[b])]
            effect = (paper_values[a] - paper_values[b] if paper_values and a in paper_values and b in paper_values
                      else None)
            shown = one_network(value=statistics.fmean(va) - statistics.fmean(vb))
            return lambda level: between(f"{a} − {b}", va, vb, level, lower_is_better=lower_is_better, paper=effect,
                                         display=shown)
        return [one(a, b) for a, b in kept]

    out = [f"{n} {why}" for n in sorted(names & set(left)) for why in left[n]]
    return headline(page, paper, where, claim, theirs, ours_protocol, build if metrics else [], metrics or ("",),
                    out, unusable, is_headline)


def ordering_claims(page: str, refs: Sequence[Reference], where: str, ours_protocol: str,
                    units: dict[str, dict[int, dict]], labels: dict[str, str],
                    left: dict[str, list[str]] | None = None) -> list[Headline]:
    """Each reference's ordering of the families we ran as one chain claim (every pair it implies, corrected
    together), judged by ``between_claim`` on the reference's metric (and its second evaluator's)."""
    out = []
    for ref in refs:
        present = {k: v for k, v in ref.values.items() if k in units or k in (left or {})}
        pairs = chain(present, ref.lower_is_better)
        if not pairs:
            continue
        order = sorted(present, key=lambda k: (present[k] if ref.lower_is_better else -present[k], k))
        sign = " < " if ref.lower_is_better else " > "
        claim = f"orders {sign.join(order)} on {labels.get(ref.metric, ref.metric)} ({ref.where})"
        theirs = paper_text({k: present[k] for k in order}, f"{ref.where}, {ref.dataset}")
        out.append(between_claim(page, ref.paper, where, claim, theirs, ours_protocol, units, pairs,
                                 (ref.metric, f"{ref.metric}_alt"), ref.lower_is_better, left,
                                 ref.values if ref.scale else None, is_headline=ref.headline))
    return out


EXPLAINED = (
    "Each claim is tested as the paper states it, every comparison it makes at once: intervals at the simultaneous "
    "level 1 − 5%/k for a claim of k comparisons, Holm's procedure at family-wise 5% over their p-values, and a chain "
    "(A < B < C) tested on every pair it implies. A trained network is the replicate: separately trained generators "
    "are compared by Welch's t over their seeds' numbers, comparisons on one network (methods on the same images, a "
    "sampler against `direct` on the same generator) by a t interval over the seeds' paired differences. Verdicts: "
    "*agrees* (Holm decides every comparison the claim's way), *disagrees* (it decides one the other way), *the "
    "paper's effect is excluded* (our interval excludes the paper's reported difference; only where our metric is on "
    "its scale: not FID, precision or recall, whose feature network differs), *undecided* (with the seeds or items "
    "that would decide it at 80% power), *evaluator-dependent* (the two evaluators disagree), *not applicable* (why "
    "is given: one seed, a generator that failed to train, a ratio at chance, a task below its trivial baselines).")


def section(heads: Sequence[Headline], note: str = "") -> list[str]:
    """The page's "papers beside ours" section: a table (paper, claim, the paper's numbers, ours, the verdict, both
    protocols), then each claim's evidence; empty without claims."""
    if not heads:
        return []
    # the claim, the paper's numbers and the verdict are the task's own text; "ours" and our protocol come from results
    rows = [[Markdown(f"{h.paper}, {h.where}"), Markdown(h.claim), Markdown(h.theirs), h.ours(),
             Markdown(f"**{inert(h.verdict)}**"), h.protocols] for h in heads]
    return ["## The papers beside ours" + note, "", EXPLAINED, "",
            table(rows, ["paper", "claim", "the paper's numbers", "ours", "verdict", "protocols: the paper's, then ours"]),
            "", "Evidence, claim by claim:", "", *[h.line() for h in heads], ""]


def paper_text(values: dict[str, float], where: str) -> str:
    """The paper's numbers of the names a claim compares, best first as the paper orders them."""
    return ", ".join(f"{k} {number_text(v)}" for k, v in values.items()) + f" ({where})"


# -- rankings -------------------------------------------------------------------------------------------------------

def rank_ranges(names: Sequence[str], tests: dict[tuple[str, str], tuple[float, float | None]],
                lower_is_better: bool, alpha: float = ALPHA) -> dict[str, tuple[int, int]] | None:
    """Each name's range of ranks: tests[(a, b)] = (a's value minus b's, two-sided p) for every pair; Holm over all
    pairs at family-wise ``alpha``; a name ranks no better than 1 + the names significantly better and no worse than
    n - the names significantly worse. None when no pair has a test (one seed)."""
    pairs = list(tests)
    if not pairs or all(tests[k][1] is None for k in pairs):
        return None
    _, reject = holm([tests[k][1] for k in pairs], alpha)
    better = {n: 0 for n in names}
    worse = {n: 0 for n in names}
    for (a, b), rejected in zip(pairs, reject):
        diff = tests[(a, b)][0]
        if not rejected or diff == 0:
            continue
        winner, loser = (a, b) if (diff < 0) == lower_is_better else (b, a)
        better[loser] += 1
        worse[winner] += 1
    n = len(names)
    return {k: (1 + better[k], n - worse[k]) for k in names}


def rank_text(span: tuple[int, int] | None) -> str:
    """"3", or "2-4" where the data leave three places; "-" without a ranking."""
    if span is None:
        return "-"
    return str(span[0]) if span[0] == span[1] else f"{span[0]}-{span[1]}"


@dataclass(frozen=True)
class Ranked:
    """One unit of a ranking: its estimate (the mean over seeds with a t interval; with one seed, that network's
    own evaluation interval) and its range of ranks (None without a ranking)."""

    name: str
    estimate: Estimate
    span: tuple[int, int] | None


def ranking(values: dict[str, dict[int, dict]], lower_is_better: bool, *, paired: bool,
            alpha: float = ALPHA) -> list[Ranked]:
    """Units (per seed, their primary estimate) in order, best mean first, with their ranges of ranks.

    paired=False (separately trained units, e.g. families): Welch over each pair's seeds. paired=True (units on
    the same networks, e.g. samplers of one generator): t over the per-seed differences on the seeds both hold."""
    points = {k: {s: e["value"] for s, e in v.items()} for k, v in values.items()}
    tests: dict[tuple[str, str], tuple[float, float | None]] = {}
    names = sorted(values)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if paired:
                shared = sorted(set(points[a]) & set(points[b]))
                if not shared:
                    continue
                est, p = seed_difference([points[a][s] - points[b][s] for s in shared])
            else:
                est, p = welch_difference(list(points[a].values()), list(points[b].values()))
            tests[(a, b)] = (est["value"], p)
    spans = rank_ranges(names, tests, lower_is_better, alpha)
    out = [Ranked(k, over_seeds(values[k]), None if spans is None else spans[k]) for k in names]
    return sorted(out, key=lambda r: (r.estimate["value"] if lower_is_better else -r.estimate["value"], r.name))


def over_seeds(per_seed: dict[int, dict]) -> Estimate:
    """A unit's estimate from its seeds' estimates: the mean over seeds with a t interval (``seed_mean``), or the one
    seed's own estimate (its evaluation interval, ``n`` its items)."""
    if len(per_seed) == 1:
        return dict(next(iter(per_seed.values())))
    return seed_mean([per_seed[s]["value"] for s in sorted(per_seed)])


RANKED = ("Ranks: every pair of rows tested (Welch's t over separately trained generators' seeds; a t interval over "
          "the seeds' paired differences for rows on the same networks), Holm over all pairs at family-wise 5%; a "
          "row's rank is the range of places those tests leave it (\"2-4\": three places the data cannot tell "
          "apart). `mean [low, high] (k seeds)` is the mean over training seeds with a t interval: trained networks "
          "are the replicates.")
UNRANKED = ("No ranks: one training seed per row, and a rank compares trained networks (the standard profile trains 3 "
            "per dataset); rows are in the order of their point values, each with one network's evaluation interval.")


def agreement(first: dict[str, float], second: dict[str, float], what: str, seed: object) -> str | None:
    """A sentence on the rank agreement of two evaluators over the same units: Kendall's tau-b with its bootstrap
    interval (``inference.kendall_tau``); None with fewer than 3 shared units or a constant score."""
    names = sorted(set(first) & set(second))
    a, b = [first[k] for k in names], [second[k] for k in names]
    if len(names) < 3 or len(set(a)) < 2 or len(set(b)) < 2:
        return None
    from ..base.hashing import derive_seed

    tau, p = kendall_tau(a, b, derive_seed("kendall", what, seed, names))
    rough = "; with fewer than 8 units read the interval as rough" if len(names) < 8 else ""
    return (f"Rank agreement of the two evaluators over the {len(names)} {what}: Kendall's τ = "
            f"{fmt_estimate(tau)} (a 95% bootstrap interval over the units, p = {p:.2g}{rough}).")
