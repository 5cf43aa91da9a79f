"""What a task's page shares with every other: intervals in words, seeds summarised, results grouped by cell, the
evaluator and pretrained generators a page names."""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ..base.hashing import canonical_json
from ..base.text import fmt_estimate, inert, table, value_text


def summarize(values: Sequence[dict], digits: int = 3, scale: float = 1.0, note: str = "",
              bounds: tuple[float, float] | None = None) -> str:
    """One cell: its estimate with its interval (one network's evaluation noise). Several seeds: the mean over seeds
    with a t interval over the seeds' values (trained networks as replicates, ``inference.seed_mean``), "(k seeds)",
    clipped to the metric's `bounds` where it has them (a share's [0, 1]). `note` joins the parenthesis ("(k/n)",
    or "(3 seeds; k/n)")."""
    if len(values) == 1:
        return fmt_estimate(values[0], digits, scale) + (f" ({note})" if note else "")
    from .inference import seed_mean

    mean = seed_mean([v["value"] for v in values])
    if bounds is not None:
        mean = {**mean, "low": max(bounds[0], mean["low"]), "high": min(bounds[1], mean["high"])}
    return f"{fmt_estimate(mean, digits, scale)} ({len(values)} seeds{'; ' + note if note else ''})"


def count_text(counts: Sequence[tuple[int, int]], digits: int = 3, scale: float = 100.0) -> str:
    """k of n items (one pair per seed) as a share with its Wilson interval and "(k/n)": the n behind it shows.

    Several seeds: the mean of the seeds' shares with a t interval over seeds, then the pooled k/n. Seeds with
    n = 0 add nothing.
    """
    from ..api.estimates import wilson_interval  # torch: only when a page shows shares

    k_all, n_all = sum(k for k, _ in counts), sum(n for _, n in counts)
    shares = [wilson_interval(k / n, n).to_dict() for k, n in counts if n]
    if not shares:
        return f"- ({k_all}/{n_all})"
    return summarize(shares, digits, scale, f"{k_all}/{n_all}{' pooled' if len(shares) > 1 else ''}", (0.0, 1.0))


def _evaluator_text(found: dict) -> str:
    description = found.get("description")
    if found.get("test_accuracy") is None and not description:
        return "the points themselves"
    parts = []
    if isinstance(description, dict):
        arch, epochs, seed, n_train = (description.get(k) for k in ("arch", "epochs", "seed", "n_train"))
        parts.append(f"a {value_text(arch)} classifier" + (f" trained {value_text(epochs)} epochs" if epochs is not None else "")
                     + (f" of {value_text(n_train)} examples" if n_train is not None else "")
                     + (f" from seed {value_text(seed)}" if seed is not None else ""))
    if found.get("test_accuracy") is not None:
        parts.append(f"test accuracy {fmt_estimate(found['test_accuracy'], 4)}")
    return ", ".join(parts)


def evaluator_lines(results: Iterable[dict]) -> list[str]:
    """One line per evaluator behind `results`: what it is (architecture, training, seed: `artifacts.evaluator`'s
    description where the results hold one) and its test accuracy with the interval; the second, independently
    trained evaluator (`artifacts.evaluator_alt`) as "evaluator B"."""
    out = []
    for slot, name in (("evaluator", "Evaluator A"), ("evaluator_alt", "Evaluator B")):
        found = {r["artifacts"][slot]["key"]: r["artifacts"][slot] for r in results if slot in r.get("artifacts", {})}
        out += [f"{name} {inert(key)}: {_evaluator_text(e)}." for key, e in sorted(found.items())]
    return out


def has_second_evaluator(results: Iterable[dict], metric: str) -> bool:
    """Whether every result holds the second evaluator's score `metric` (e.g. "fid_alt"): then verdicts are read
    under both evaluators."""
    results = list(results)
    return bool(results) and all(metric in r["metrics"] for r in results)


# -- generators that failed to train (`artifacts.generator.check`) -----------------------------------------

def failed_why(result: dict) -> str | None:
    """Why the generator of a result failed to train (`artifacts.generator.check` = {"failed": true, "why": ...}),
    or None: not failed, or a result that predates the check."""
    generator = result.get("artifacts", {}).get("generator")
    check = generator.get("check") if isinstance(generator, dict) else None
    if isinstance(check, dict) and check.get("failed") is True:
        return str(check.get("why") or "failed its training check")
    return None


def failed_lines(results: Iterable[dict]) -> list[str]:
    """The page's paragraph naming every generator that failed to train, with its reason ([] when none)."""
    found: dict[tuple, str] = {}
    for r in results:
        if (why := failed_why(r)) is not None:
            c = r["config"]
            found.setdefault((c["dataset"], generator_label(c), c["prior"], c["seed"]), why)
    if not found:
        return []
    items = [f"{label} on {dataset} ({prior} prior), seed {seed}: {value_text(why)}"
             for (dataset, label, prior, seed), why in sorted(found.items())]
    return ["**Generators that failed to train** (marked ✗ in every table, left out of every ranking and verdict): "
            + "; ".join(items) + ".", ""]


def mean_over_seeds(values: Sequence[dict]) -> float:
    """The mean of the estimates' values: what ranks a cell run under several seeds."""
    return statistics.fmean(v["value"] for v in values)


def group(results: Iterable[dict], key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    """Results grouped by `key`, groups and members in a stable order."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in sorted(results, key=lambda r: (r["config"]["seed"], r["id"])):
        out[key(r)].append(r)
    return dict(sorted(out.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def seedless(value: object) -> object:
    """`value` (a config or part of one) without any "seed" key at any depth: the seed axis wherever it appears
    (a cell's seed, and the training seed of the generator it sets in `settings.gan`)."""
    if isinstance(value, dict):
        return {k: seedless(v) for k, v in value.items() if k != "seed"}
    return [seedless(v) for v in value] if isinstance(value, list) else value


def without_seed(r: dict) -> tuple:
    """Everything that identifies a cell except its seed: cells that differ only in seed aggregate."""
    return (canonical_json(seedless(r["config"])),)


# -- what pages say of a pretrained generator (results are data: read field by field) -----------------------

#: The generator fields a result of a pretrained generator's cell holds.
SPEC_FIELDS: dict[str, Any] = {"config.settings.gan.pretrained": str, "config.settings.gan.source": str,
                               "config.settings.gan.arch": str, "config.settings.gan.latent_dim": int,
                               "config.settings.gan.weights": str, "config.settings.gan.code.generator.distribution": str,
                               "config.settings.gan.code.generator.revision": int}


def is_pretrained(config: dict) -> bool:
    """Whether a cell config's generator is a pretrained one (its spec names it under "pretrained")."""
    gan = config.get("settings", {}).get("gan") if isinstance(config.get("settings"), dict) else None
    return isinstance(gan, dict) and "pretrained" in gan


def generator_label(config: dict) -> str:
    """A cell's generator as a page's family column writes it: the family, or "NAME (pretrained)"."""
    return f"{config['family']} (pretrained)" if is_pretrained(config) else str(config["family"])


def pretrained_lines(results: list[dict]) -> list[str]:
    """The page's paragraph naming each pretrained generator its rows come from, with its source ([] when none)."""
    seen: dict[str, dict] = {}
    for r in results:
        if is_pretrained(r["config"]):
            gan = r["config"]["settings"]["gan"]
            seen.setdefault(canonical_json(gan), gan)
    if not seen:
        return []
    items = [f"{value_text(g['pretrained'])} from {value_text(g['source'])} ({value_text(g['code']['generator']['distribution'])} "
             f"revision {g['code']['generator']['revision']}, "
             f"{value_text(g['arch'])}, d_z = {g['latent_dim']}, weights {value_text(g['weights'])})"
             for g in sorted(seen.values(), key=lambda g: (g["pretrained"], g["weights"]))]
    return ["Pretrained generators (benchmarked as they are, never trained here; their rows say `(pretrained)`): "
            + "; ".join(items) + ".", ""]



# -- the ranking a page opens with ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Column:
    """One metric of a ranking table: the metric's key in a result's `metrics`, its header, its direction, how it
    prints, and whether the table ranks by it (a rank column is put before it)."""

    metric: str
    label: str
    lower_is_better: bool = False
    digits: int = 3
    scale: float = 1.0
    ranked: bool = False
    bounds: tuple[float, float] | None = None


def seeds_text(seeds: Sequence[int]) -> str:
    """"seed 2", "seeds 0 and 2", "seeds 0, 1 and 2"."""
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    return f"seeds {', '.join(map(str, seeds[:-1]))} and {seeds[-1]}"


def units_of(rows: Iterable[dict], label: Callable[[dict], str],
             leave_out: Callable[[dict], str | None] | None = None) -> tuple[dict[str, dict[int, dict]], dict[str, list[str]]]:
    """Per unit (`label` of a result: a family, a sampler), its results by seed, without the generators that failed
    to train (and the results `leave_out` gives a reason for); and per unit the seeds left out, "seeds 0 and 2: why"."""
    units: dict[str, dict[int, dict]] = defaultdict(dict)
    left: dict[str, dict[str, list[int]]] = defaultdict(dict)
    for r in sorted(rows, key=lambda r: (r["config"]["seed"], r["id"])):
        name, seed = label(r), r["config"]["seed"]
        why = failed_why(r)
        why = value_text(why) if why is not None else leave_out(r) if leave_out else None
        if why is not None:
            left[name].setdefault(why, []).append(seed)
        else:
            units[name].setdefault(seed, r)
    texts = {name: [f"{seeds_text(seeds)}: {why}" for why, seeds in reasons.items()] for name, reasons in left.items()}
    return {k: v for k, v in units.items()}, texts


def unit_means(units: dict[str, dict[int, dict]], metric: str) -> dict[str, float]:
    """Per unit holding `metric` on every seed, its mean over seeds: what two evaluators' rank agreement reads."""
    return {u: statistics.fmean(r["metrics"][metric]["value"] for r in by_seed.values())
            for u, by_seed in units.items() if all(metric in r["metrics"] for r in by_seed.values())}


def ranking_table(units: dict[str, dict[int, dict]], columns: Sequence[Column], *, paired: bool,
                  first: str = "family", extra: Callable[[str], list[str]] | None = None,
                  extra_headers: Sequence[str] = ()) -> list[str]:
    """A page's opening table: one row per unit (its seeds' results), each ranked column preceded by the unit's
    range of ranks (`headlines.ranking`: Welch over separately trained units, a t over paired differences when
    `paired`), rows in the order of the first ranked column; cells are `summarize`d over seeds. A column whose
    metric a unit lacks reads "-" there and ranks only the units that have it. `extra(unit)` appends cells."""
    from . import headlines

    spans: dict[str, dict[str, tuple[int, int] | None]] = {}
    order: list[str] = sorted(units)
    ranked_any = False
    for col in [c for c in columns if c.ranked]:
        have = {u: {s: r["metrics"][col.metric] for s, r in by_seed.items()} for u, by_seed in units.items()
                if all(col.metric in r["metrics"] for r in by_seed.values())}
        ranked = headlines.ranking(have, col.lower_is_better, paired=paired) if have else []
        spans[col.metric] = {r.name: r.span for r in ranked}
        ranked_any = ranked_any or any(r.span is not None for r in ranked)
        if col is next(c for c in columns if c.ranked):
            order = [r.name for r in ranked] + sorted(u for u in units if u not in spans[col.metric])
    ranked_cols = [c for c in columns if c.ranked]
    headers, rows = [first], []
    for col in columns:
        if col.ranked and ranked_any:
            headers.append("rank" if len(ranked_cols) == 1 else f"rank ({col.label.rstrip(' ↑↓%')})")
        headers.append(col.label)
    headers += list(extra_headers)
    for unit in order:
        row = [unit]
        for col in columns:
            values = [r["metrics"][col.metric] for r in units[unit].values() if col.metric in r["metrics"]]
            if col.ranked and ranked_any:
                row.append(headlines.rank_text(spans[col.metric].get(unit)))
            row.append(summarize(values, col.digits, col.scale, bounds=col.bounds) if len(values) == len(units[unit]) else "-")
        rows.append(row + (extra(unit) if extra else []))
    return [table(rows, headers), "", headlines.RANKED if ranked_any else headlines.UNRANKED]


#: The primary metrics of a mixture (modes covered, high-quality share), each ranked, and FID beside them unranked.
MIXTURE_COLUMNS = (Column("modes_covered", "modes covered ↑", digits=2, ranked=True, bounds=(0.0, math.inf)),
                   Column("high_quality", "high quality % ↑", scale=100.0, ranked=True, bounds=(0.0, 1.0)))
FID_ON_POINTS = ("FID on 2-D points is not a quality ranking: a structureless N(0, 2I) blob scores an FID near 0 with "
                 "none of the modes, below samples on 7 of 8 modes, because two Gaussians' first two moments are all "
                 "FID compares. Modes covered and the high-quality share rank these generators; FID is shown beside "
                 "them, unranked.")

#: Why one generator's numbers differ between the pages that score it (said on each of them).
SAME_GENERATORS = ("`generation`, `mode-coverage` and `sampling` score the same trained generators, but each draws its "
                   "own samples in its own count (the protocols list them; `sampling`'s `direct` row is the generator "
                   "itself), so one generator's FID, modes and high-quality share differ between the pages by sampling "
                   "noise, and FID also by its upward bias in small samples: compare rows within a page.")


def unit_label(rows: Iterable[dict]) -> Callable[[dict], str]:
    """How a page names a result's generator in its rankings: its family (or pretrained name), with its prior where
    the same family runs under two priors on the page."""
    rows = list(rows)
    priors: dict[str, set] = defaultdict(set)
    for r in rows:
        priors[generator_label(r["config"])].add(r["config"]["prior"])
    return lambda r: generator_label(r["config"]) + (f" ({r['config']['prior']})"
                                                     if len(priors[generator_label(r["config"])]) > 1 else "")


#: What a page's `trained` column holds, in the sentence its details open with.
TRAINED_NOTE = "`trained`: the generator's training check (✓, or ✗ and why; `-` where the result predates the check)."


def trained_text(result: dict) -> str:
    """A result's generator check as a table cell: ✓, ✗ with the reason, or "-" where the result predates it."""
    if (why := failed_why(result)) is not None:
        return f"✗ {value_text(why)}"
    generator = result.get("artifacts", {}).get("generator")
    return "✓" if isinstance(generator, dict) and isinstance(generator.get("check"), dict) else "-"


def left_out_lines(left: dict[str, list[str]]) -> list[str]:
    """The sentence under a ranking naming the networks it leaves out ([] when none)."""
    if not left:
        return []
    return ["", "Left out of the ranking and of every verdict (their generator failed to train): "
            + "; ".join(f"{unit} {why}" for unit, items in sorted(left.items()) for why in items) + "."]
