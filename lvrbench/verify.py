"""`lvrbench verify`: recompute result files' cells from their recorded configs and say whether the numbers reproduce.

Before any compute every file is checked: it is a valid ok result of an installed task, the installed versions are
the ones its config records (config.plugins), the dataset's digest is its config.data, and the keys of the artifacts
it names are the ones its config gives. Then each cell is computed again: on the CPU its metrics must be equal bit
for bit; where either side ran on a GPU, within the task's `gpu_tolerance`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from . import CORE
from .errors import UsageError
from .harness import Cell, Job, execute_job
from .kinds import Task
from .progress import say
from .registry import Registry
from .results import parse_result, validate_result

ESTIMATE_FIELDS = ("value", "low", "high", "n")


@dataclass
class Claim:
    """A result file to verify: its path, its document and its task."""

    path: Path
    result: dict
    task: Task


def installed(text: str) -> str | None:
    """The installed "distribution version" for a recorded one ("lvrbench 0.3.0"), or None when it is not installed."""
    if text == CORE:
        return CORE
    dist = text.rpartition(" ")[0]
    try:
        return f"{dist} {version(dist)}" if dist else None
    except (PackageNotFoundError, ValueError):
        return None


def read_claim(registry: Registry, path: Path, data_dir: str | None, digests: dict) -> Claim:
    """A result file checked for verification (see the module docstring); anything wrong is a one-line UsageError."""
    try:
        data = parse_result(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable result file ({getattr(exc, 'strerror', None) or exc})") from None
    if problems := validate_result(data):
        raise UsageError(f"{path}: not a valid result: {'; '.join(problems)}")
    if data["status"] != "ok":
        raise UsageError(f"{path}: a failed cell ({data['error']}); there are no numbers to reproduce")
    config = data["config"]
    task = registry.get("tasks", config["task"])
    for role, recorded in sorted(config["plugins"].items()):
        here = installed(recorded)
        if here != recorded:
            now = f"{here} is installed here" if here else "it is not installed here"
            raise UsageError(f"{path}: config.plugins.{role} is {recorded!r} but {now}; install that version to verify it")
    if "data" not in config:
        raise UsageError(f"{path}: config.data is missing: the result records no digest of its dataset")
    if config["dataset"] not in digests:
        dataset = registry.get("datasets", config["dataset"])
        digests[config["dataset"]] = registry.call(dataset, "fingerprint", data_dir)
    if digests[config["dataset"]] != config["data"]:
        raise UsageError(f"{path}: config.data is {config['data']!r} but the {config['dataset']} data here has digest "
                         f"{digests[config['dataset']]!r}")
    expected = registry.call(task, "artifact_keys", config)
    for name, artifact in sorted(data["artifacts"].items()):
        if name in expected and artifact.get("key") != expected[name]:
            raise UsageError(f"{path}: artifacts.{name}.key is {artifact.get('key')!r} but its config gives "
                             f"{expected[name]!r}")
    return Claim(path, data, task)


def differences(recorded: dict, recomputed: dict, tolerance: dict | None) -> list[str]:
    """Each metric field that does not reproduce, "metrics.NAME.FIELD: recorded A, recomputed B"; `tolerance`
    None means exactly (bit for bit), else math.isclose with its "rel" and "abs" (counts always exactly)."""
    out = []
    for name in sorted(recorded.keys() | recomputed.keys()):
        if name not in recomputed or name not in recorded:
            out.append(f"metrics.{name}: {'recorded' if name in recorded else 'recomputed'} only")
            continue
        for key in ESTIMATE_FIELDS:
            a, b = recorded[name][key], recomputed[name][key]
            same = a == b if tolerance is None or key == "n" else math.isclose(
                a, b, rel_tol=tolerance["rel"], abs_tol=tolerance["abs"])
            if not same:
                out.append(f"metrics.{name}.{key}: recorded {a!r}, recomputed {b!r}")
    return out


def verify_claims(claims: list[Claim], env) -> int:
    """Recompute each claim's cell; print whether it reproduces. 0 when all do, 1 otherwise."""
    failed = 0
    for claim in claims:
        config = claim.result["config"]
        (result,) = execute_job(Job(claim.task.name, f"verify {claim.path}", [Cell(config)]), env)
        if result["status"] != "ok":
            say(f"lvrbench: {claim.path}: the cell failed when computed again: {result['error']}")
            failed += 1
            continue
        on_cpu = env.device.type == "cpu" and str(claim.result["provenance"].get("device", "")).startswith("cpu")
        tolerance = None if on_cpu else claim.task.gpu_tolerance
        diffs = differences(claim.result["metrics"], result["metrics"], tolerance)
        how = "exactly" if tolerance is None else f"within rel {tolerance['rel']:g}, abs {tolerance['abs']:g}"
        if diffs:
            failed += 1
            for line in diffs:
                say(f"lvrbench: {claim.path}: {line}")
            print(f"{claim.path}: does not reproduce ({len(diffs)} of its metric fields differ; compared {how})")
        else:
            print(f"{claim.path}: reproduces ({len(result['metrics'])} metrics, {how}, on {env.device})")
    return 1 if failed else 0


def verify_command(registry: Registry, paths: tuple[str, ...], device: str, cache_dir: str | None,
                   data_dir: str | None) -> int:
    """`lvrbench verify`: check every file, then recompute; exit 0 reproduced, 1 some numbers differ, 2 bad input."""
    from .data import user_cache_dir
    from .env import RunEnv
    from .runner import check_writable, resolve_device

    torch_device = resolve_device(device)
    digests: dict = {}
    claims = [read_claim(registry, Path(p), data_dir, digests) for p in dict.fromkeys(paths)]
    cache = Path(cache_dir) if cache_dir else user_cache_dir() / "artifacts"
    check_writable(cache, "--cache-dir")
    return verify_claims(claims, RunEnv(registry, torch_device, cache, data_dir))
