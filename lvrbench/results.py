"""Result files: one JSON per cell under <root>/results/<task>/<cell id>.json, and their validation.

Result files may come from pull requests, so they are treated strictly as data: parsed as JSON,
checked field by field, and their id recomputed from their config.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from .files import inside, write_json_atomic
from .hashing import content_hash
from .kinds import NAME

SCHEMA = 1
STATUSES = ("ok", "failed")
PROFILES = ("quick", "full")
#: check_fields kinds for a metric: a {value, low, high, n} estimate, or that or None. A bare number is refused:
#: every number a leaderboard shows carries its uncertainty, results from pull requests included.
METRIC = "estimate"
OPTIONAL_METRIC = "estimate or None"
ESTIMATE_PROBLEM = "is not a {value, low, high, n} estimate of finite numbers with low <= high"
#: How deeply a result document may nest: far beyond what tasks write, far below Python's recursion limit.
MAX_DEPTH = 100
CONFIG_KEYS = ("task", "profile", "dataset", "family", "prior", "method", "hparams", "seed", "settings", "plugins")
LINK_REFUSED = "is a link (links are refused)"
STRAY = "is not a result file: results/ holds only results/<task>/<cell id>.json"
NAME_KEYS = ("task", "dataset", "family", "prior", "method")


def cell_id(config: dict) -> str:
    """A cell's identity: the hash of everything that determines its numbers."""
    return content_hash(config)


def is_number(x: Any) -> bool:
    """A finite int or float (not a bool): what result files may hold as numbers; huge integers are not."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:
        return False


def _check_metric(name: str, value: Any) -> str | None:
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
                if not (value is None and kind == OPTIONAL_METRIC) and _check_metric(path, value):
                    problems.append(f"{path} {ESTIMATE_PROBLEM}")
            elif not isinstance(value, kind) or isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
                problems.append(f"{path} has the wrong type")
    return problems


def _check_config(config: dict) -> list[str]:
    problems = []
    for key in NAME_KEYS:
        if not isinstance(config[key], str) or not NAME.fullmatch(config[key]):
            problems.append(f"config.{key} must be a plugin name (lower-case letters, digits, '.', '_', '-')")
    if config["profile"] not in PROFILES:
        problems.append(f"config.profile must be one of {', '.join(PROFILES)}")
    if not isinstance(config["seed"], int) or isinstance(config["seed"], bool):
        problems.append("config.seed must be an integer")
    hp = config["hparams"]
    if not isinstance(hp, dict) or not all(NAME.fullmatch(k) and is_number(v) for k, v in hp.items()):
        problems.append("config.hparams must map parameter names to finite numbers")
    if not isinstance(config["settings"], dict):
        problems.append("config.settings must be an object")
    plugins = config["plugins"]
    if not isinstance(plugins, dict) or not all(isinstance(v, str) for v in plugins.values()):
        problems.append("config.plugins must map roles to 'distribution version' strings")
    return problems


def too_deep(data: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether `data` nests lists and objects more than `limit` levels deep (checked without recursion)."""
    containers = [data] if isinstance(data, (list, dict)) else []
    for _ in range(limit):
        containers = [v for x in containers for v in (x.values() if isinstance(x, dict) else x)
                      if isinstance(v, (list, dict))]
        if not containers:
            return False
    return True


def parse_result(text: str) -> Any:
    """A result file's text as JSON data; ValueError when it is not JSON or nests too deeply to handle safely."""
    try:
        data = json.loads(text)
    except RecursionError:
        data = None
    else:
        if not too_deep(data):
            return data
    raise ValueError(f"nested more than {MAX_DEPTH} levels deep")


def validate_result(data: Any) -> list[str]:
    """Everything wrong with a parsed result document (empty when it is valid).

    Checks the shape every task shares; what a task's tables read is checked by its `validate`.
    """
    if not isinstance(data, dict):
        return ["not a JSON object"]
    if too_deep(data):
        return [f"nested more than {MAX_DEPTH} levels deep"]
    problems = []
    if data.get("schema") != SCHEMA:
        problems.append(f"schema must be {SCHEMA}")
    config = data.get("config")
    if not isinstance(config, dict) or any(k not in config for k in CONFIG_KEYS):
        return problems + [f"config must be an object with keys {', '.join(CONFIG_KEYS)}"]
    problems += _check_config(config)
    try:
        expected = cell_id(config)
    except (TypeError, ValueError):
        return problems + ["config is not plain JSON data"]
    if data.get("id") != expected:
        problems.append(f"id {data.get('id')!r} does not match its config (expected {expected})")
    status = data.get("status")
    if status not in STATUSES:
        problems.append(f"status must be one of {', '.join(STATUSES)}")
    elif status == "failed":
        if not isinstance(data.get("error"), str) or not data["error"]:
            problems.append("a failed result needs an error message")
    else:
        metrics = data.get("metrics")
        if not isinstance(metrics, dict) or not metrics:
            problems.append("metrics must be a non-empty object")
        else:
            problems += [p for p in (_check_metric(k, v) for k, v in metrics.items()) if p]
        for key in ("extra", "artifacts"):
            if not isinstance(data.get(key), dict):
                problems.append(f"{key} must be an object")
    if not isinstance(data.get("provenance"), dict):
        problems.append("provenance must be an object")
    return problems


def _listing(folder: Path) -> list[Path]:
    """A folder's entries, sorted, without dot-files (a killed writer's temporary file is not a result)."""
    return sorted(p for p in folder.glob("*") if not p.name.startswith("."))


class ResultStore:
    """The results of one leaderboard root; `results/` and its task folders are never read nor written through links."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.dir = self.root / "results"

    def path(self, task: str, cid: str) -> Path:
        """Where the result of cell `cid` of `task` lives."""
        return self.dir / task / f"{cid}.json"

    def status(self, task: str, cid: str) -> str:
        """"done", "failed" or "pending"; an unreadable or invalid file counts as pending (it is recomputed)."""
        path = self.path(task, cid)
        if any(p.is_symlink() for p in (self.dir, path.parent, path)) or not path.is_file():
            return "pending"
        try:
            data = parse_result(path.read_text())
        except (OSError, ValueError):
            return "pending"
        if validate_result(data):
            return "pending"
        return {"ok": "done", "failed": "failed"}.get(data.get("status"), "pending")

    def write(self, result: dict) -> Path:
        """Write `result` atomically in its place; a link on the way is a UsageError, never written through."""
        path = inside(self.root, f"results/{result['config']['task']}/{result['id']}.json")
        write_json_atomic(path, result)
        return path

    def load(self) -> tuple[list[dict], list[str]]:
        """Every valid result, and one line per invalid file or link."""
        if self.dir.is_symlink():
            return [], [f"results: {LINK_REFUSED}"]
        results, problems, paths = [], [], []
        for folder in _listing(self.dir):
            if folder.is_symlink():
                problems.append(f"{folder.relative_to(self.root)}: {LINK_REFUSED}")
            elif folder.is_dir():
                for path in _listing(folder):
                    if path.suffix == ".json":
                        paths.append(path)
                    else:
                        problems.append(f"{path.relative_to(self.root)}: {STRAY}")
            else:
                problems.append(f"{folder.relative_to(self.root)}: {STRAY}")
        for path in paths:
            rel = path.relative_to(self.root)
            if path.is_symlink() or not path.is_file():
                problems.append(f"{rel}: not a regular file (links are refused)")
                continue
            try:
                data = parse_result(path.read_text())
            except (OSError, ValueError) as exc:
                problems.append(f"{rel}: not valid JSON ({exc})")
                continue
            errors = validate_result(data)
            if not errors:
                if path.stem != data["id"] or path.parent.name != data["config"]["task"]:
                    errors = [f"must be stored as results/{data['config']['task']}/{data['id']}.json"]
            if errors:
                problems.append(f"{rel}: {'; '.join(errors)}")
            else:
                results.append(data)
        return results, problems
