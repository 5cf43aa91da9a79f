"""The fields of a result a task's `validate` checks: every metric an estimate, every other field its type.

Result files may come from pull requests, so a task checks every field its page reads before it reads it.
"""
from __future__ import annotations

import math
from typing import Any


#: check_fields kinds for a metric: a {value, low, high, n} estimate, or that or None. A bare number is refused:
#: every number a leaderboard shows carries its uncertainty, results from pull requests included.
METRIC = "estimate"
OPTIONAL_METRIC = "estimate or None"
ESTIMATE_PROBLEM = "is not a {value, low, high, n} estimate of finite numbers with low <= high"


def is_number(x: Any) -> bool:
    """A finite int or float (not a bool): what result files may hold as numbers; huge integers are not."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def metric_problem(name: str, value: Any) -> str | None:
    """Why `value` is not a {value, low, high, n} estimate of finite numbers with low <= high (None: it is one)."""
    if isinstance(value, dict) and set(value) == {"value", "low", "high", "n"}:
        n = value["n"]
        if (all(is_number(value[k]) for k in ("value", "low", "high")) and value["low"] <= value["high"]
                and isinstance(n, int) and not isinstance(n, bool) and n >= 0):
            return None
    return f"metric {name!r} {ESTIMATE_PROBLEM}"


def check_fields(data: dict, spec: dict[str | tuple[str, ...], type | tuple[type, ...] | str]) -> list[str]:
    """Problems with fields of a result document, named "metrics.accuracy" or ("metrics", "under_0.1").

    A kind is a type, a tuple of types, METRIC or OPTIONAL_METRIC; bools are no numbers unless bool is named.
    """
    problems = []
    for key, kind in spec.items():
        parts = key.split(".") if isinstance(key, str) else key
        path = ".".join(parts)
        value: Any = data
        for part in parts:
            if not isinstance(value, dict) or part not in value:
                problems.append(f"{path} is missing")
                break
            value = value[part]
        else:
            if kind in (METRIC, OPTIONAL_METRIC):
                if not (value is None and kind == OPTIONAL_METRIC) and metric_problem(path, value):
                    problems.append(f"{path} {ESTIMATE_PROBLEM}")
            elif not isinstance(value, kind) or isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
                problems.append(f"{path} has the wrong type")
    return problems
