"""What a task's page shares with every other: intervals in words, seeds summarised, results grouped by cell, the
evaluator and pretrained generators a page names."""
from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any, Callable, Iterable, Sequence

from ..base.hashing import canonical_json
from ..base.text import fmt_estimate, fmt_number, value_text


def summarize(values: Sequence[dict], digits: int = 3, scale: float = 1.0, note: str = "") -> str:
    """One cell: its estimate with interval. Several seeds: mean ± standard deviation over seeds. `note` joins the
    parenthesis ("(k/n)", or "(2 seeds; k/n)")."""
    if len(values) == 1:
        return fmt_estimate(values[0], digits, scale) + (f" ({note})" if note else "")
    points = [v["value"] for v in values]
    return (f"{fmt_number(statistics.fmean(points), digits, scale)} ± "
            f"{fmt_number(statistics.stdev(points), digits, scale)} ({len(points)} seeds{'; ' + note if note else ''})")


def count_text(counts: Sequence[tuple[int, int]], digits: int = 3, scale: float = 100.0) -> str:
    """k of n items (one pair per seed) as a share with its Wilson interval and "(k/n)": the n behind it shows.

    Several seeds: the mean ± sd of the seeds' shares, then the pooled k/n. Seeds with n = 0 add nothing.
    """
    from ..api.estimates import wilson_interval  # torch: only when a page shows shares

    k_all, n_all = sum(k for k, _ in counts), sum(n for _, n in counts)
    shares = [wilson_interval(k / n, n).to_dict() for k, n in counts if n]
    if not shares:
        return f"- ({k_all}/{n_all})"
    return summarize(shares, digits, scale, f"{k_all}/{n_all}{' pooled' if len(shares) > 1 else ''}")


def evaluator_lines(results: Iterable[dict]) -> list[str]:
    """One line per evaluator behind `results`: its key and its classifier's test accuracy with the interval."""
    found = {r["artifacts"]["evaluator"]["key"]: r["artifacts"]["evaluator"]["test_accuracy"] for r in results}
    return [f"Evaluator `{key}`: " + ("the points themselves" if acc is None else f"classifier test accuracy {fmt_estimate(acc, 4)}")
            for key, acc in sorted(found.items())]


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

