"""Re-planning results: the cell the installed planner produces for a result's task, profile, dataset, generator,
prior, method, hyper-parameters and seed.

A result from a pull request is data: it is what the planner would produce for its cell, or it is nothing. `replan`
groups results by everything but their hyper-parameters, plans each group once (its rows as `--set` overrides) and
hands back, per result, the planned config it must equal (None where the planner has no such cell, with why).
`leaderboard check` refuses a result whose config is not the planned one, naming the first field that differs, and
`verify` does the same before any compute, so a config can never make it train beyond what the profile trains.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from ..base.errors import PluginError, UsageError, one_line
from ..base.hashing import canonical_json
from .harness import PlanRequest


@dataclass(frozen=True)
class Planned:
    """What the planner gives for a result: the planned config (None when there is none) and, if none, why."""

    config: dict | None
    why: str = ""


def _key(config: dict) -> tuple:
    return tuple(canonical_json(config.get(k)) for k in ("task", "profile", "dataset", "family", "prior", "method", "seed"))


def _request(registry: Any, config: dict, rows: list[dict], shared: dict, data_dir: str | None) -> PlanRequest:
    """The request that plans exactly this group's cells: every axis named, the rows' values as overrides."""
    family = config["family"]
    pretrained = family in registry.names("generators")
    overrides: dict[str, tuple] = {}
    for row in rows:
        for name, value in row.items():
            overrides[name] = tuple(dict.fromkeys([*overrides.get(name, ()), value]))
    return PlanRequest(registry, config["profile"], datasets=(config["dataset"],),
                       families=() if pretrained else (family,), generators=(family,) if pretrained else (),
                       methods=(config["method"],), priors=(config["prior"],), seeds=(config["seed"],),
                       overrides=overrides, data_dir=data_dir, seeds_given=True, _fingerprints=shared)


def replan(registry: Any, configs: Iterable[dict], data_dir: str | None = None,
           match: Any = None) -> list[Planned]:
    """Per config, the config the installed planner produces for its cell.

    `match(planned, given)` decides which planned config stands for a given one (default: the same hyper-parameters;
    the caller compares the rest); a task that cannot be planned for a config says why, in one line."""
    configs = list(configs)
    groups: dict[tuple, list[int]] = {}
    for i, config in enumerate(configs):
        groups.setdefault(_key(config), []).append(i)
    shared: dict = {}
    out: list[Planned | None] = [None] * len(configs)
    same = match or (lambda planned, given: canonical_json(planned["hparams"]) == canonical_json(given["hparams"]))
    pending = list(groups.values())
    while pending:
        members = pending.pop()
        first = configs[members[0]]
        try:
            task = registry.get("tasks", first["task"])
            request = _request(registry, first, [configs[i]["hparams"] for i in members], shared, data_dir)
            planned = [c.config for job in registry.call(task, "plan", request) for c in job.cells]
        except (UsageError, PluginError) as exc:
            if len(members) > 1:  # one member's values may be what the planner refuses: never blame the others
                pending += [[i] for i in members]
                continue
            out[members[0]] = Planned(None, f"the planner refuses its cell ({one_line(exc, 200)})")
            continue
        for i in members:
            found = [p for p in planned if same(p, configs[i])]
            out[i] = Planned(found[0]) if found else Planned(None, "the planner has no cell with its hyper-parameters")
    return out


def _same_numbers(planned: dict, given: dict) -> bool:
    """Whether two configs' hyper-parameters are the same numbers (1 and 1.0, 0.0 and -0.0 alike: which of them the
    result wrote is for `first_difference` to name)."""
    return planned["hparams"].keys() == given["hparams"].keys() and all(
        planned["hparams"][k] == given["hparams"][k] for k in planned["hparams"])


def unplanned(registry: Any, results: list[dict], data_dir: str | None = None) -> list[str | None]:
    """Per result (a valid document of the installed code), why it is not what the installed planner produces for its
    cell, in one line, or None: its config is the planned one, field for field (the first that differs is named with
    both values), and each artifact it names records the key that config gives.

    What `leaderboard check` and `verify` refuse before anything reads the result's numbers: a config can never make
    a page show, or `verify` compute, anything the profile does not plan."""
    planned = replan(registry, [r["config"] for r in results], data_dir, _same_numbers)
    out: list[str | None] = []
    for result, found in zip(results, planned):
        config = result["config"]
        if found.config is None:
            out.append(f"not a cell the installed planner produces: {found.why}")
        elif difference := first_difference(config, found.config):
            out.append(f"not the cell the installed planner produces: {difference}")
        else:
            expected = registry.call(registry.get("tasks", config["task"]), "artifact_keys", config)
            named = result.get("artifacts") if isinstance(result.get("artifacts"), dict) else {}
            wrong = [(k, a.get("key") if isinstance(a, dict) else None) for k, a in sorted(named.items())
                     if k in expected and (not isinstance(a, dict) or a.get("key") != expected[k])]
            out.append(f"artifacts.{wrong[0][0]}.key is {_short(wrong[0][1])} but its config gives {_short(expected[wrong[0][0]])}"
                       if wrong else None)
    return out


def first_difference(given: Any, planned: Any, path: str = "") -> str | None:
    """The first place (a dotted path, sorted keys) where `given` is not `planned`, with both values, or None."""
    if isinstance(given, dict) and isinstance(planned, dict):
        for key in sorted(given.keys() | planned.keys(), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in planned:
                return f"{where} is not in the planned config"
            if key not in given:
                return f"{where} is missing (planned {_short(planned[key])})"
            if (found := first_difference(given[key], planned[key], where)) is not None:
                return found
        return None
    if canonical_json(given) != canonical_json(planned) or type(given) is not type(planned):
        return f"{path} is {_short(given)}, the planner gives {_short(planned)}"
    return None


def _short(value: Any) -> str:
    text = canonical_json(value)
    return text if len(text) <= 60 else text[:57] + "..."
