"""The harness: a grid of cells, computed in jobs through an executor, recorded one JSON per cell.

A cell is the unit of caching, resumption, failure and distribution: task x dataset x family x
prior x method x hyper-parameters x seed, under one profile. A job is a group of cells a task
computes together (e.g. one method's whole hyper-parameter grid as one batched recovery); a cell's
numbers never depend on which other cells share its job, so any subset can be (re)computed.
"""
from __future__ import annotations

import platform
import subprocess
import time
import traceback
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from . import CORE, __version__
from .errors import PluginError, UsageError, one_line
from .hashing import canonical_json
from .leaderboard import number_text
from .results import MAX_DEPTH, SCHEMA, ResultStore, cell_id, is_number, too_deep, validate_result

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Cell:
    """One point of the grid; `config` holds everything that determines its numbers."""

    config: dict

    @cached_property
    def id(self) -> str:
        """The cell's identity: the hash of its config."""
        return cell_id(self.config)

    @property
    def task(self) -> str:
        """The name of the task the cell belongs to."""
        return self.config["task"]

    def label(self) -> str:
        """The cell in words, as a dry run lists it (hyper-parameters written as tables write them)."""
        c = self.config
        hp = " ".join(f"{k}={number_text(v)}" for k, v in sorted(c["hparams"].items()))
        return f"{c['task']} {c['dataset']} {c['family']} {c['prior']} {c['method']} {hp} seed={c['seed']}".replace("  ", " ")


@dataclass
class Job:
    """Cells a task computes together; `label` names the group in progress lines."""

    task: str
    label: str
    cells: list[Cell]


@dataclass
class CellOutcome:
    """What a task computed for one cell: metrics ({value, low, high, n} estimates: Estimate.to_dict()), or an error."""

    metrics: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    artifacts: dict = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class PlanRequest:
    """What the user asked for; empty filters mean the task's defaults for the profile."""

    registry: Any
    profile: str = "quick"
    datasets: tuple[str, ...] = ()
    families: tuple[str, ...] = ()
    methods: tuple[str, ...] = ()
    priors: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    overrides: dict = field(default_factory=dict)
    data_dir: str | None = None
    #: Pretrained generators named with --generator (or --checkpoint); the tasks' `family` axis holds them too.
    generators: tuple[str, ...] = ()
    #: Whether --seed chose `seeds`; if not, a task may plan its profile's own seeds per dataset (`planned_seeds`).
    seeds_given: bool = True
    _fingerprints: dict = field(default_factory=dict, repr=False)
    _digests: dict = field(default_factory=dict, repr=False)

    def fingerprint(self, dataset: str) -> str:
        """The digest of a dataset's contents (read once per request): cells and networks on other data differ."""
        if dataset not in self._fingerprints:
            data = self.registry.get("datasets", dataset)
            self._fingerprints[dataset] = self.registry.call(data, "fingerprint", self.data_dir)
        return self._fingerprints[dataset]

    def weights_digest(self, generator: str) -> str:
        """The digest of a pretrained generator's weights, loaded and checked against its networks once per request
        (bad weights are a one-line UsageError, before any work)."""
        if generator not in self._digests:
            from .pretrained import load_pretrained

            self._digests[generator] = load_pretrained(self.registry, self.registry.get("generators", generator))[1]
        return self._digests[generator]

    def versions(self, **plugins) -> dict:
        """The `plugins` part of a cell config: the core's and each named plugin's distribution version."""
        out = {"core": CORE}
        for role, obj in plugins.items():
            if obj is not None:
                out[role] = self.registry.provenance(obj)
        return out


def make_config(request: PlanRequest, task, *, dataset: str, family: str, prior: str, method: str,
                hparams: dict, seed: int, settings: dict, plugins: dict) -> dict:
    """A cell config in the one shape every task uses.

    Numeric hyper-parameters become floats and -0.0 becomes 0.0, so that 1, 1.0 and --set x=1 (and 0 and -0)
    are one cell, not two with the same numbers.
    """
    hparams = {k: float(v) + 0.0 if isinstance(v, (int, float)) and not isinstance(v, bool) else v
               for k, v in sorted(hparams.items())}
    return {
        "task": task.name, "profile": request.profile, "dataset": dataset, "family": family, "prior": prior,
        "method": method, "hparams": hparams, "seed": seed, "settings": settings,
        "plugins": request.versions(task=task, **plugins), "data": request.fingerprint(dataset),
    }


def _git(here: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


#: What `git_dirty` leaves out: the leaderboards are data that runs write, not the code that computed them.
NOT_CODE = ("leaderboards",)


def git_state(here: Path = Path(__file__).resolve().parent) -> dict:
    """The commit lvrbench runs from and whether its code has uncommitted changes (None outside its repo).

    Changes under the leaderboards (pages a run rebuilds, results it writes) are data and leave the tree clean.
    """
    if _git(here, "ls-files", "--error-unmatch", Path(__file__).name) is None:  # an install, or another repo
        return {"git_commit": None, "git_dirty": None}
    status = _git(here, "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                  *(f":(top,exclude){path}" for path in NOT_CODE))
    return {"git_commit": _git(here, "rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status)}


def device_name(device: torch.device) -> str:
    """The device in words for provenance: the GPU's name, or the CPU's with its thread count."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(device, wall_time: float, job_time: float | None = None) -> dict:
    """Where and how a result or artifact was computed: versions, commit, device, wall times, date."""
    import torch

    return {
        "lvrbench": __version__, **git_state(), "torch": torch.__version__,
        "python": platform.python_version(), "device": device_name(device),
        "wall_time_s": round(wall_time, 3), **({} if job_time is None else {"job_wall_time_s": round(job_time, 3)}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _non_finite(obj: Any, path: str = "") -> str | None:
    if isinstance(obj, bool):
        return None
    if isinstance(obj, (int, float)):
        return None if is_number(obj) else path or "value"  # an int too large for a float is no finite number
    if isinstance(obj, dict):
        for k, v in obj.items():
            bad = _non_finite(v, f"{path}.{k}" if path else str(k))
            if bad:
                return bad
    if isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            bad = _non_finite(v, f"{path}[{i}]")
            if bad:
                return bad
    return None


def to_result(cell: Cell, outcome: CellOutcome, prov: dict, task=None) -> dict:
    """The result document of a cell; a non-finite number or an invalid document makes it a failure.

    With `task`, the document must also pass the task's own `validate` (what its tables read).
    """
    if not isinstance(outcome, CellOutcome):
        outcome = CellOutcome(error=f"the task returned {type(outcome).__name__}, not a CellOutcome")
    error = outcome.error
    if error is None:
        document = {"metrics": outcome.metrics, "extra": outcome.extra, "artifacts": outcome.artifacts}
        if too_deep(document):  # before walking it: a deep enough document would exhaust the stack
            error = f"invalid result: nested more than {MAX_DEPTH} levels deep"
        elif bad := _non_finite(document):
            error = f"non-finite value in {bad}"
        elif not outcome.metrics:
            error = "the task returned no metrics"
    result = {"schema": SCHEMA, "id": cell.id, "status": "failed" if error else "ok", "config": cell.config,
              "provenance": prov}
    if error:
        result["error"] = str(error)
        return result
    result.update(metrics=outcome.metrics, extra=outcome.extra, artifacts=outcome.artifacts)
    try:
        canonical_json(result)
        problems = validate_result(result) or (task.validate(result) if task is not None else [])
    except (TypeError, ValueError) as exc:
        problems = [f"not JSON data ({one_line(exc)})"]
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # a task's own validate failing (sys.exit too) must not lose the rest of the run
        problems = [f"the task's validate failed ({one_line(exc)})"]
        prov = with_traceback(prov)
    if problems:
        result = {k: result[k] for k in ("schema", "id", "config")} | {"provenance": prov}
        result.update(status="failed", error=f"invalid result: {'; '.join(problems)}")
    return result


#: How much of a failure's stack a result keeps: its innermost frames, where the error was raised.
TRACEBACK_LIMIT = 20000


def with_traceback(prov: dict) -> dict:
    """`prov` plus the stack of the exception being handled: a failed cell's result carries it for bug reports."""
    return {**prov, "traceback": traceback.format_exc()[-TRACEBACK_LIMIT:]}


def execute_job(job: Job, env) -> list[dict]:
    """The pure function an executor runs: a job's cell configs in, one result document per cell out.

    Anything a task raises fails every cell of the job with its reason; the run goes on.
    """
    start = time.perf_counter()
    task, stack = None, None
    try:
        task = env.registry.get("tasks", job.task)
        outcomes = task.run(job, env)
        if len(outcomes) != len(job.cells):
            raise RuntimeError(f"task {job.task} returned {len(outcomes)} outcomes for {len(job.cells)} cells")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit too: a plugin must not end the run
        outcomes = [CellOutcome(error=one_line(exc)) for _ in job.cells]
        stack = with_traceback({})
    elapsed = time.perf_counter() - start
    prov = provenance(env.device, elapsed / max(len(job.cells), 1), elapsed) | (stack or {})
    return [to_result(c, o, prov, task) for c, o in zip(job.cells, outcomes)]


@dataclass
class Plan:
    """Every job of a run, with the status of each cell."""

    jobs: list[Job]
    status: dict[str, str]

    @property
    def cells(self) -> list[Cell]:
        """Every cell of every job, in plan order."""
        return [c for j in self.jobs for c in j.cells]

    def pending_jobs(self, force: bool) -> list[Job]:
        """Jobs restricted to the cells that still need computing (all of them with `force`)."""
        out = []
        for job in self.jobs:
            cells = [c for c in job.cells if force or self.status[c.id] != "done"]
            if cells:
                out.append(Job(job.task, job.label, cells))
        return out


def make_plan(tasks: Iterable, request: PlanRequest, store: ResultStore, explicit: bool = False) -> Plan:
    """Expand each task's grid for `request`, refusing duplicates and bad input before any work.

    With `explicit` (the user named the tasks), a task that plans no cell is an error too.
    """
    jobs, seen = [], {}
    for task in tasks:
        if request.profile not in task.profiles:
            raise UsageError(f"task {task.name} has no profile {request.profile!r} (it has: {', '.join(task.profiles)})")
        planned = request.registry.call(task, "plan", request)
        if explicit and not planned:
            raise UsageError(f"task {task.name} has no cell for these options (a dataset, family, prior or method it "
                             "cannot use?); see `lvrbench list`")
        for job in planned:
            for cell in job.cells:
                if cell.id in seen:
                    raise PluginError(f"task {task.name} ({request.registry.provenance(task)}) planned cell {cell.id} twice")
                canonical_json(cell.config)  # refuses anything that is not plain JSON data
                seen[cell.id] = store.status(cell.task, cell.id)
            jobs.append(job)
    for option, key, wanted in (("--dataset", "dataset", request.datasets), ("--family", "family", request.families),
                                ("--generator", "family", request.generators),
                                ("--prior", "prior", request.priors), ("--method", "method", request.methods)):
        used = {cell.config[key] for job in jobs for cell in job.cells}
        unused = [name for name in wanted if name not in used]
        if unused:  # asked for, but no selected task can use it: say so rather than drop it silently
            raise UsageError(f"{option} {unused[0]}: none of the selected tasks has a cell for it "
                             f"(their {key} choices here: {', '.join(sorted(used)) or 'none'})")
    return Plan(jobs, seen)
