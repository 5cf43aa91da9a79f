"""Verdicts on a paper's headline claims, tested as posed: every comparison a claim implies, corrected together.

A **claim** is a list of comparisons (``comparison``), each "ours minus theirs" (an estimate dict of the module
``inference``, with its interval at the simultaneous level ``simultaneous_level(k)`` for a claim of k comparisons),
a two-sided p-value, the direction that favours the claim (``lower_is_better``) and optionally the paper's reported
difference on the same scale. ``verdict`` reads one word from them, in this precedence:

1. **"not applicable"**: some comparison cannot be tested (one seed, a ratio at chance, a generator that failed to
   train, a task below its baselines): its reason is given. A claim is tested whole or not at all.
2. **"disagrees"**: Holm's procedure at family-wise alpha (5%) over the claim's k p-values rejects at least one
   comparison, with the sign against the claim.
3. **"the paper's effect is excluded"**: no comparison disagrees, and at least one comparison's simultaneous
   interval (level 1 - alpha/k, Bonferroni: the k intervals hold together with probability >= 1 - alpha) excludes
   the paper's reported difference, on either side. The direction ("agrees" or "undecided") is kept beside it.
4. **"agrees"**: Holm rejects every comparison, each with the claim's sign.
5. **"undecided"**: anything else.

Holm decides directions (more powerful than the Bonferroni intervals displayed, so an "agrees" may show an interval
touching 0); the paper's effect is checked against the simultaneous intervals, which carry the family-wise
guarantee. A chain "A << B < C" tests every pair it implies (``chain_pairs``): A < B, A < C and B < C, since
adjacent pairs agreeing does not make the outer pair agree; "<<" is tested as "<" (no margin is stated). The same
claim under two evaluators reads "evaluator-dependent" when their verdicts differ (``combine_evaluators``).
An undecided comparison says what would decide it: the items or seeds that give 80% power at Holm's worst-case
level alpha/k for the observed effect (and, beside it, for the paper's effect where one is given).
"""

from __future__ import annotations

import re
from typing import Literal, Sequence

from .inference import (Estimate, directional_decisions, holm, items_needed, replicated, seeds_needed,
                         simultaneous_level)

AGREES, DISAGREES, UNDECIDED, EXCLUDED = "agrees", "disagrees", "undecided", "the paper's effect is excluded"
NOT_APPLICABLE, EVALUATOR_DEPENDENT = "not applicable", "evaluator-dependent"
#: Every verdict word, for pages that list or colour them.
VERDICTS = (AGREES, DISAGREES, UNDECIDED, EXCLUDED, NOT_APPLICABLE, EVALUATOR_DEPENDENT)


def comparison(name: str, estimate: Estimate, p: float | None, *, level: float, lower_is_better: bool = False,
               paper: float | None = None, sd: float | None = None, unit: Literal["seeds", "items"] = "seeds",
               paired: bool = True, reason: str | None = None) -> dict:
    """One comparison of a claim: ``estimate`` of ours minus theirs with its interval at confidence ``level`` (the
    claim's simultaneous level), its two-sided ``p``, whether the claim says lower is better, the paper's reported
    difference ``paper`` (ours minus theirs, same scale), and for "what would decide it" the SD of the unit's
    differences ``sd`` with its ``unit``: "items" (per-item paired differences on one network) or "seeds"
    (between-seed SD; ``paired`` for per-seed paired differences, else two families' seeds).

    ``reason`` makes it not applicable; a seed-level estimate of one seed, or a missing p, is made so here."""
    if unit not in ("seeds", "items"):
        raise ValueError(f"unit must be 'seeds' or 'items', got {unit!r}")
    if reason is None and unit == "seeds" and not replicated(estimate):
        reason = "one seed: an interval over networks needs at least 2"
    if reason is None and p is None:
        reason = "no test"
    return {"name": name, "estimate": dict(estimate), "p": p, "level": level, "lower_is_better": lower_is_better,
            "paper": paper, "sd": sd, "unit": unit, "paired": paired, "reason": reason}


def chain_pairs(order: str | Sequence[str]) -> list[tuple[str, str]]:
    """Every pair an ordering implies, as (lower, higher): "A << B < C" (or ["A", "B", "C"]) gives
    [("A", "B"), ("A", "C"), ("B", "C")]. Each pair (a, b) becomes a comparison "a < b" whose estimate is a's value
    minus b's with ``lower_is_better=True``."""
    names = [s.strip() for s in re.split(r"<+", order)] if isinstance(order, str) else [str(s) for s in order]
    if len(names) < 2 or any(not s for s in names) or len(set(names)) != len(names):
        raise ValueError(f"an ordering needs at least 2 distinct names, got {order!r}")
    return [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]


def not_applicable(reason: str) -> dict:
    """A claim's verdict when it cannot be tested at all (e.g. the best method does not beat the trivial baselines,
    or the profile keeps one seed), in ``verdict``'s shape."""
    return {"verdict": NOT_APPLICABLE, "direction": None, "reason": reason, "alpha": None, "comparisons": [],
            "evidence": f"not applicable: {reason}"}


def verdict(comparisons: Sequence[dict], alpha: float = 0.05) -> dict:
    """A claim's verdict from its comparisons (see the module docstring for the rules and their precedence).

    Returns {"verdict", "direction" (the Holm reading before the paper's effect: agrees / disagrees / undecided),
    "reason" (why not applicable, else None), "alpha", "comparisons" (each input with "decision", "adjusted_p",
    "excluded" (None without a paper value, else "above" / "below" when the interval excludes it, or False),
    "needed" (items or seeds at which a test at Holm's worst-case level detects the observed effect with 80% power:
    what would decide an undecided comparison; None otherwise or when the effect is 0), "needed_paper" (the same for
    the paper's effect, where one is given)),
    "evidence" (``evidence``'s text)}. Intervals below the simultaneous level raise ValueError."""
    k = len(comparisons)
    if k == 0:
        raise ValueError("a claim needs at least one comparison")
    need = simultaneous_level(k, alpha)
    for c in comparisons:
        if c["level"] < need - 1e-12:
            raise ValueError(f"{c['name']}: its interval is at {c['level']}, below the simultaneous level {need} of a "
                             f"claim of {k} comparisons")
    pvalues = [None if c["reason"] else c["p"] for c in comparisons]
    values = [-c["estimate"]["value"] if c["lower_is_better"] else c["estimate"]["value"] for c in comparisons]
    adjusted, _ = holm(pvalues, alpha)
    decisions = directional_decisions(values, pvalues, alpha)
    rows = []
    for c, adj, decision in zip(comparisons, adjusted, decisions):
        est, paper = c["estimate"], c["paper"]
        excluded = None if paper is None else "above" if paper > est["high"] else "below" if paper < est["low"] else False
        needed = needed_paper = None
        if decision == UNDECIDED and c["sd"] is not None:
            def size(effect: float) -> int | None:
                return (items_needed(effect, c["sd"], alpha / k) if c["unit"] == "items"
                        else seeds_needed(effect, c["sd"], alpha / k, paired=c["paired"]))
            needed = size(est["value"])
            needed_paper = None if paper is None else size(paper)
        rows.append({**c, "decision": decision, "adjusted_p": adj, "excluded": excluded, "needed": needed,
                     "needed_paper": needed_paper})
    applicable = [r for r in rows if r["decision"] != NOT_APPLICABLE]
    direction = (DISAGREES if any(r["decision"] == DISAGREES for r in applicable) else
                 AGREES if applicable and all(r["decision"] == AGREES for r in applicable) else UNDECIDED)
    reasons = [f"{r['name']}: {r['reason']}" for r in rows if r["decision"] == NOT_APPLICABLE]
    if reasons:
        word = NOT_APPLICABLE
    elif direction == DISAGREES:
        word = DISAGREES
    elif any(r["excluded"] for r in rows):
        word = EXCLUDED
    else:
        word = direction
    out = {"verdict": word, "direction": direction, "reason": "; ".join(reasons) or None, "alpha": alpha,
           "comparisons": rows}
    out["evidence"] = evidence(out)
    return out


def combine_evaluators(first: dict, second: dict) -> dict:
    """The verdict of one claim scored by two independently trained evaluators: their common word when they agree,
    "not applicable" when either is, else "evaluator-dependent" (the claim flips with the feature network)."""
    words = (first["verdict"], second["verdict"])
    if NOT_APPLICABLE in words:
        reason = "; ".join(v["reason"] for v in (first, second) if v["verdict"] == NOT_APPLICABLE)
        word = NOT_APPLICABLE
    else:
        reason, word = None, words[0] if words[0] == words[1] else EVALUATOR_DEPENDENT
    text = f"{word}: evaluator A reads {words[0]} ({first['evidence']}); evaluator B reads {words[1]} " \
           f"({second['evidence']})"
    return {"verdict": word, "reason": reason, "evaluators": [first, second], "evidence": text}


def _num(x: float) -> str:
    return f"{x:+,.0f}" if abs(x) >= 1000 else f"{x:+.3g}" if x else "0"


def _p(p: float) -> str:
    return "< 0.0001" if p < 1e-4 else f"{p:.2g}"


def describe(row: dict, k: int, alpha: float) -> str:
    """One comparison's evidence: the estimate with its simultaneous interval, the Holm-adjusted p and decision, the
    paper's effect against the interval, and what would decide it."""
    if row["decision"] == NOT_APPLICABLE:
        return f"{row['name']}: not applicable ({row['reason']})"
    est = row["estimate"]
    lower = ", lower is better" if row["lower_is_better"] else ""
    text = (f"{row['name']}: {_num(est['value'])} [{_num(est['low'])}, {_num(est['high'])}] "
            f"({row['level']:.1%} simultaneous, n = {est['n']} {row['unit']}{lower}), Holm p = "
            f"{_p(row['adjusted_p'])}: {row['decision']}")
    if row["paper"] is not None:
        text += (f"; the paper's {_num(row['paper'])} is excluded ({row['excluded']} the interval)" if row["excluded"]
                 else f"; the paper's {_num(row['paper'])} lies inside the interval")
    if row["decision"] == UNDECIDED and row["sd"] is not None:
        unit = f"{row['unit']}{' per family' if row['unit'] == 'seeds' and not row['paired'] else ''}"
        n = row["needed"]
        text += ("; no sample size decides an observed effect of 0" if n is None else
                 f"; {n} {unit} would detect the observed effect with 80% power at level {alpha / k:.3g}")
        if row["paper"] is not None and row["needed_paper"] is not None:
            text += f" ({row['needed_paper']} the paper's)"
    return text


def evidence(result: dict) -> str:
    """A verdict's evidence text: the counts after Holm, then each comparison (``describe``), "; "-joined."""
    rows, alpha = result["comparisons"], result["alpha"]
    if not rows:
        return f"not applicable: {result['reason']}"
    count = {w: sum(r["decision"] == w for r in rows) for w in (AGREES, DISAGREES, UNDECIDED)}
    head = (f"{result['verdict']}: of {len(rows)} comparisons {count[AGREES]} agree, {count[DISAGREES]} disagree, "
            f"{count[UNDECIDED]} undecided after Holm at family-wise {alpha:.0%}")
    if result["verdict"] == EXCLUDED:
        head += f" (direction: {result['direction']})"
    return head + "; " + "; ".join(describe(r, len(rows), alpha) for r in rows)
