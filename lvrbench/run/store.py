"""Result files: one JSON per cell under <root>/results/<task>/<cell id>.json, and their validation.

Result files may come from pull requests, so they are treated strictly as data: parsed as JSON,
checked field by field, and their id recomputed from their config.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

from ..api.fields import is_number, metric_problem
from ..base.files import inside, path_text, read_limited, write_json_atomic
from ..base.identity import cell_id

SCHEMA = 1
#: How deeply a result document may nest: far beyond what tasks write, far below Python's recursion limit.
MAX_DEPTH = 100
LINK_REFUSED = "is a link (links are refused)"
STRAY = "is not a result file: results/ holds only results/<task>/<cell id>.json"


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


#: The result schema, written down: `lvrbench/result.schema.json` (JSON Schema 2020-12), shipped with the package.
SCHEMA_PATH = Path(__file__).with_name("result.schema.json")
_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str), "boolean": lambda v: isinstance(v, bool), "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool), "number": is_number,
}


@functools.cache
def config_keys() -> tuple[str, ...]:
    """The keys every cell config holds (the schema's `config.required`)."""
    return tuple(result_schema()["properties"]["config"]["required"])


def result_schema() -> dict:
    """The result schema as a dict (read once)."""
    return json.loads(SCHEMA_PATH.read_text())


def schema_problems(schema: dict, value: Any, path: str = "", reporter: tuple[str, str] | None = None,
                    root: dict | None = None) -> list[tuple[str, str]]:
    """Where `value` breaks `schema`: (path, "<path> must be <description>") pairs, in the schema's order.

    Reads the subset of JSON Schema the result schema uses ($ref into $defs, type, const, enum, pattern (anchored
    with ^...$, matched whole), minimum, minLength, minProperties, required, properties, additionalProperties,
    propertyNames, items, if/then/else). A failure is reported once, at the nearest node with a `description`;
    numbers must be finite and integers are ints (stricter than the standard, which takes 1.0 and NaN).
    """
    root = schema if root is None else root
    schema = _resolve(root, schema)
    if "description" in schema:
        reporter = (path, f"{path or 'document'} must be {schema['description']}")

    def fail(child: str | None = None) -> list[tuple[str, str]]:
        where = child or path
        return [reporter] if reporter else [(where, f"{where or 'document'} has the wrong type")]

    types = schema.get("type")
    if types is not None and not any(_TYPES[t](value) for t in ([types] if isinstance(types, str) else types)):
        return fail()
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        return fail()
    if "enum" in schema and value not in schema["enum"]:
        return fail()
    if isinstance(value, str):
        pattern = schema.get("pattern")
        if pattern and not (re.fullmatch(pattern[1:-1], value) if pattern[:1] == "^" and pattern[-1:] == "$"
                            else re.search(pattern, value)):
            return fail()
        if len(value) < schema.get("minLength", 0):
            return fail()
    if "minimum" in schema and is_number(value) and value < schema["minimum"]:
        return fail()
    problems: list[tuple[str, str]] = []
    if isinstance(value, dict):
        if len(value) < schema.get("minProperties", 0):
            return fail()
        props, required = schema.get("properties", {}), schema.get("required", [])
        missing = [k for k in required if k not in value]
        if missing and reporter:
            return [reporter]
        for key in props:
            if key in value:
                problems += schema_problems(props[key], value[key], f"{path}.{key}" if path else key, reporter, root)
        for key in missing:
            child, sub = f"{path}.{key}" if path else key, _resolve(root, props.get(key, {}))
            problems.append((child, f"{child} must be {sub['description']}" if "description" in sub else f"{child} is missing"))
        extra = schema.get("additionalProperties", True)
        for key in (k for k in value if k not in props):
            child = f"{path}.{key}" if path else key
            if extra is False:
                problems += fail(child)
            elif isinstance(extra, dict):
                problems += schema_problems(extra, value[key], child, reporter, root)
            if "propertyNames" in schema and schema_problems(schema["propertyNames"], key, child, None, root):
                problems += fail(child)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += schema_problems(schema["items"], item, f"{path}[{i}]", reporter, root)
    if "if" in schema:
        branch = schema.get("else" if schema_problems(schema["if"], value, path, None, root) else "then")
        if branch:  # the branch's required keys are described where the properties declare them
            problems += schema_problems({"properties": {k: v for k, v in schema.get("properties", {}).items()
                                                        if k in branch.get("required", ())}, **branch},
                                        value, path, reporter, root)
    return list(dict.fromkeys(problems))


def _resolve(root: dict, schema: dict) -> dict:
    """`schema` with its $ref (into the root's $defs) followed, the referring node's own keywords kept."""
    while "$ref" in schema:
        schema = root["$defs"][schema["$ref"].removeprefix("#/$defs/")] | {k: v for k, v in schema.items() if k != "$ref"}
    return schema


def validate_result(data: Any) -> list[str]:
    """Everything wrong with a parsed result document (empty when it is valid): the result schema
    (`result.schema.json`), then what a schema cannot say (the id is the config's hash, an estimate's low <= high).

    Checks the shape every task shares; what a task's tables read is checked by its `validate`.
    """
    if not isinstance(data, dict):
        return ["not a JSON object"]
    if too_deep(data):
        return [f"nested more than {MAX_DEPTH} levels deep"]
    schema = result_schema()
    found = schema_problems(schema, data)
    # a metric's problem keeps the words every task's check_fields uses for an estimate
    problems = [metric_problem(path.removeprefix("metrics."), None) if path.startswith("metrics.") else message
                for path, message in found]
    failing = {path.split(".")[0].split("[")[0] for path, _ in found}
    if "config" not in failing and "id" not in failing:
        try:
            expected = cell_id(data["config"])
        except (TypeError, ValueError):
            expected = None
            problems.append("config is not plain JSON data")
        if expected is not None and data["id"] != expected:
            problems.insert(0, f"id {data['id']!r} does not match its config (expected {expected})")
    if isinstance(data.get("metrics"), dict) and "metrics" not in failing:  # low <= high: what a schema cannot say
        problems += [p for p in (metric_problem(k, v) for k, v in data["metrics"].items()) if p]
    return problems


def _listing(folder: Path) -> list[Path]:
    """A folder's entries, sorted, without dot-files (a killed writer's temporary file is not a result: `run` resumes
    beside it; `leaderboard check` reports every dot-file)."""
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
            data = parse_result(read_limited(path).decode())
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
                problems.append(f"{path_text(folder.relative_to(self.root))}: {LINK_REFUSED}")
            elif folder.is_dir():
                for path in _listing(folder):
                    if path.suffix == ".json":
                        paths.append(path)
                    else:
                        problems.append(f"{path_text(path.relative_to(self.root))}: {STRAY}")
            else:
                problems.append(f"{path_text(folder.relative_to(self.root))}: {STRAY}")
        for path in paths:
            rel = path_text(path.relative_to(self.root))
            if path.is_symlink() or not path.is_file():
                problems.append(f"{rel}: not a regular file (links are refused)")
                continue
            try:
                data = parse_result(read_limited(path).decode())
            except OSError as exc:
                problems.append(f"{rel}: cannot be read ({exc.strerror or exc})")
                continue
            except ValueError as exc:
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
