"""`lvrbench verify`: recompute result files' cells from their recorded configs and say whether the numbers reproduce.

Before any compute every file is checked: it is a regular file of bounded size holding a valid ok result of an
installed task, the installed code has the revisions its config records (config.code), and its config is the cell the
installed planner produces for it, field for field (the dataset's digest, every setting: no config can make `verify`
train beyond what its profile trains), with the artifact keys that config gives. Then each cell is computed again,
under the thread policy: its metrics, extra and artifacts (what the pages read) must be equal, bit for bit where both
ran on the same CPU code path (device, torch, threads and kernels, from provenance); where either side ran on a GPU,
or on another CPU code path, numbers within the task's `gpu_tolerance`, and the output says which differs ("other CPU
code path: compared within tolerance").
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..api.contracts import Cell, Job, Task
from ..base.errors import UsageError
from ..base.progress import say
from ..base.files import read_limited
from ..run.harness import execute_job, stale
from ..run.pretrained import load_pretrained
from ..run.registry import BUILTIN_DISTRIBUTION, Registry
from ..run.replan import unplanned
from ..run.store import parse_result, validate_result


@dataclass
class Claim:
    """A result file to verify: its path, its document and its task."""

    path: Path
    result: dict
    task: Task


def read_claim(registry: Registry, path: Path, data_dir: str | None, digests: dict) -> Claim:
    """A result file checked for verification (see the module docstring; `read_claims` then re-plans them all);
    anything wrong is a one-line UsageError. `digests` memoises what is read once per run: each dataset's digest, and
    ("weights", name) a generator's."""
    try:
        data = parse_result(read_limited(path).decode())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a readable result file ({getattr(exc, 'strerror', None) or exc})") from None
    if problems := validate_result(data):
        raise UsageError(f"{path}: not a valid result: {'; '.join(problems)}")
    if data["status"] != "ok":
        raise UsageError(f"{path}: a failed cell ({data['error']}); there are no numbers to reproduce")
    config = data["config"]
    task = registry.get("tasks", config["task"])
    if why := stale(config, registry):
        if (config["code"].get("generator", {}).get("distribution") == BUILTIN_DISTRIBUTION
                and config["family"] not in registry.names("generators")):  # a --checkpoint's generator: not a package
            raise UsageError(f"{path}: {why}: its generator came from --checkpoint; give the same weights with "
                             "--checkpoint PATH to verify it")
        raise UsageError(f"{path}: {why}; install the code that computed it to verify it")
    if "data" not in config:
        raise UsageError(f"{path}: config.data is missing: the result records no digest of its dataset")
    if config["dataset"] not in digests:
        dataset = registry.get("datasets", config["dataset"])
        digests[config["dataset"]] = registry.call(dataset, "fingerprint", data_dir)
    if digests[config["dataset"]] != config["data"]:
        raise UsageError(f"{path}: config.data is {config['data']!r} but the {config['dataset']} data here has digest "
                         f"{digests[config['dataset']]!r}")
    gan = config["settings"].get("gan") if isinstance(config.get("settings"), dict) else None
    if isinstance(gan, dict) and "pretrained" in gan:  # a pretrained generator is its weights: the ones it ran with
        name, key = gan["pretrained"], ("weights", gan["pretrained"])
        if key not in digests:
            digests[key] = load_pretrained(registry, registry.get("generators", name))[1]
        if digests[key] != gan.get("weights"):
            raise UsageError(f"{path}: config.settings.gan.weights is {gan.get('weights')!r} but generator {name}'s "
                             f"weights here have digest {digests[key]!r}: give the weights it was computed with")
    return Claim(path, data, task)


def read_claims(registry: Registry, paths: list[Path], data_dir: str | None) -> list[Claim]:
    """Every file read as a claim, then re-planned: a result whose config is not the cell the installed planner produces
    (or whose artifact keys are not its config's) is refused before any compute, so no config makes `verify` train
    or compute beyond what its profile plans."""
    digests: dict = {}
    claims = [read_claim(registry, path, data_dir, digests) for path in paths]
    for claim, why in zip(claims, unplanned(registry, [c.result for c in claims], data_dir)):
        if why:
            raise UsageError(f"{claim.path}: {why}; nothing was computed")
    return claims


def differences(recorded: object, recomputed: object, tolerance: dict | None, path: str = "",
                skip: tuple[str, ...] = ()) -> list[str]:
    """Each place where `recomputed` is not `recorded`, "PATH: recorded A, recomputed B", walking objects and lists.

    `tolerance` None means exactly (bit for bit); else numbers may differ as math.isclose allows with its "rel"
    and "abs". Anything that is not a number (a key, a string, a length) must be equal either way. The dotted
    paths in `skip` (a task's `timings`) are not compared, though both sides must have them.
    """
    if path in skip and recorded is not None and recomputed is not None:
        return []
    if isinstance(recorded, dict) and isinstance(recomputed, dict):
        out = []
        for key in sorted(recorded.keys() | recomputed.keys(), key=str):
            where = f"{path}.{key}" if path else str(key)
            if key not in recomputed or key not in recorded:
                out.append(f"{where}: {'recorded' if key in recorded else 'recomputed'} only")
            else:
                out += differences(recorded[key], recomputed[key], tolerance, where, skip)
        return out
    if isinstance(recorded, list) and isinstance(recomputed, list):
        if len(recorded) != len(recomputed):
            return [f"{path}: {len(recorded)} items recorded, {len(recomputed)} recomputed"]
        return [line for i, (a, b) in enumerate(zip(recorded, recomputed))
                for line in differences(a, b, tolerance, f"{path}[{i}]", skip)]
    numbers = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in (recorded, recomputed))
    if numbers and tolerance is not None:
        same = math.isclose(recorded, recomputed, rel_tol=tolerance["rel"], abs_tol=tolerance["abs"])
    else:
        same = type(recorded) is type(recomputed) and recorded == recomputed
    return [] if same else [f"{path}: recorded {recorded!r}, recomputed {recomputed!r}"]


#: The parts of a result whose numbers must reproduce: what the pages read.
COMPARED = ("metrics", "extra", "artifacts")
#: Differences listed per file; the rest are counted.
SHOWN = 10


def code_path(prov: dict) -> dict:
    """What decides a result's bits besides its config, from its provenance: the device, torch's version, the threads
    it computed with and the CPU code path (`lvrbench.base.threads.cpu_code_path`)."""
    device = str(prov.get("device", ""))
    used = prov.get("threads") if isinstance(prov.get("threads"), dict) else {}
    path = prov.get("cpu_code_path") if isinstance(prov.get("cpu_code_path"), dict) else {}
    return {"device": "cpu" if device.startswith("cpu") else device, "torch": prov.get("torch"),
            "threads": used.get("threads"), **path}


#: How `other_code_path` begins where both sides ran on CPUs that differ.
OTHER_CPU = "other CPU code path"


def other_code_path(recorded: dict, recomputed: dict) -> str | None:
    """None when both provenances name the same CPU code path, where the bits must be equal; else what differs, in
    words ("a GPU", or "other CPU code path: FIELD A recorded, B here"), where numbers are compared within the task's
    tolerance. Between CPU code paths a difference beyond it is rounding that training amplified, not a failure to
    reproduce: that takes the recorded code path."""
    then, now = code_path(recorded), code_path(recomputed)
    if then["device"] != "cpu" or now["device"] != "cpu":
        return "a GPU"
    if then == now:
        return None
    field = next(k for k in sorted(then.keys() | now.keys()) if then.get(k) != now.get(k))
    return f"{OTHER_CPU}: {field} {then.get(field)} recorded, {now.get(field)} here"


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
        other = other_code_path(claim.result["provenance"], result["provenance"])
        tolerance = None if other is None else claim.task.gpu_tolerance
        diffs = differences({k: claim.result[k] for k in COMPARED}, {k: result[k] for k in COMPARED}, tolerance,
                            skip=claim.task.timings)
        how = "exactly" if tolerance is None else f"within rel {tolerance['rel']:g}, abs {tolerance['abs']:g} ({other})"
        if claim.task.timings:
            how += f"; timings not compared: {', '.join(claim.task.timings)}"
        if diffs:
            failed += 1
            for line in diffs[:SHOWN]:
                say(f"lvrbench: {claim.path}: {line}")
            if len(diffs) > SHOWN:
                say(f"lvrbench: {claim.path}: ... and {len(diffs) - SHOWN} more differences")
            numbers = f"{len(diffs)} {'number differs' if len(diffs) == 1 else 'numbers differ'}"
            if other is not None and other.startswith(OTHER_CPU):  # rounding that training amplifies, not a failure
                print(f"{claim.path}: differs on {other} ({numbers} beyond rel {tolerance['rel']:g}, abs "
                      f"{tolerance['abs']:g}): verify it where the recorded code path is to compare bit for bit")
            else:
                print(f"{claim.path}: does not reproduce ({numbers}; compared {how})")
        else:
            print(f"{claim.path}: reproduces ({len(result['metrics'])} metrics and every number in extra and artifacts, "
                  f"{how}, on {env.device})")
    return 1 if failed else 0


def verify_command(registry: Registry, paths: tuple[str, ...], device: str, cache_dir: str | None,
                   data_dir: str | None, checkpoints: tuple[str, ...] = ()) -> int:
    """`lvrbench verify`: check every file, then recompute; exit 0 reproduced, 1 some numbers differ, 2 bad input.
    `checkpoints` are the --checkpoint files whose generators results name (registered as `run` registers them)."""
    import secrets

    from ..base import threads
    from ..base.files import user_cache_dir
    from ..run.env import RunEnv
    from ..run.pretrained import register_checkpoint
    from .runner import check_cache, resolve_device

    torch_device = resolve_device(device)
    for given in dict.fromkeys(checkpoints):
        register_checkpoint(registry, given)
    claims = read_claims(registry, [Path(p) for p in dict.fromkeys(paths)], data_dir)
    cache = Path(cache_dir) if cache_dir else user_cache_dir() / "artifacts"
    check_cache(cache)
    with threads.policy():  # the policy every run computes under: one thread
        return verify_claims(claims, RunEnv(registry, torch_device, cache, data_dir, secrets.token_hex(8)))
