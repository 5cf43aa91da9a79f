"""The harness: a grid of cells, computed in jobs through an executor, recorded one JSON per cell.

A cell is the unit of caching, resumption, failure and distribution: task x dataset x family x
prior x method x hyper-parameters x seed, under one profile. A job is a group of cells a task
computes together (e.g. one method's whole hyper-parameter grid as one batched recovery); a cell's
numbers never depend on which other cells share its job, so any subset can be (re)computed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..api import distances, estimates, networks, priors
from ..api.contracts import Artifact, Cell, CellOutcome, Job, Plugin, Task
from ..base.errors import PluginError, UsageError, one_line
from ..base.guard import guarded
from ..base.hashing import canonical_json
from ..base.provenance import provenance
from ..engine import evaluator, recovery, sampling, scoring, training
from .store import MAX_DEPTH, SCHEMA, ResultStore, is_number, too_deep, validate_result

#: The core's numeric modules: each declares a REVISION, and every cell's `code.core` holds them all, so a change
#: that alters a number anywhere in the core re-keys the cells (a release that changes none keeps them).
CORE_MODULES = {"distances": distances, "estimates": estimates, "evaluator": evaluator, "networks": networks,
                "priors": priors, "recovery": recovery, "sampling": sampling, "scoring": scoring, "training": training}


def core_revisions() -> dict[str, int]:
    """What every cell's `code.core` records: each numeric module's revision."""
    return {name: module.REVISION for name, module in CORE_MODULES.items()}


#: Each role a cell's `code` may name, with the kinds whose plugin fills it and the config field that names it.
ROLES = {"task": (("tasks",), "task"), "dataset": (("datasets",), "dataset"), "family": (("families",), "family"),
         "generator": (("generators",), "family"), "method": (("regularizers", "resamplers", "samplers"), "method")}


#: How `stale` ends when a plugin the cell names is not installed at all (rather than installed at another revision).
NOT_INSTALLED = "is not installed"


def stale(config: dict, registry: Any) -> str | None:
    """Why a result's cell was computed by other code than the installed (None: by this code): another core
    revision, a plugin of another revision or distribution, or one that is not installed. Tables show only cells of
    the installed code, so that no page mixes numbers two revisions computed."""
    code = config.get("code") if isinstance(config.get("code"), dict) else {}
    if code.get("core") != core_revisions():
        return "computed by another revision of lvrbench's core"
    for role, recorded in sorted(code.items()):
        if role == "core":
            continue
        kinds, field = ROLES.get(role, ((), ""))
        name = config.get(field)
        found = [registry.get(kind, name) for kind in kinds if name in registry.names(kind)]
        if not found:
            return f"its {role} {name} {NOT_INSTALLED}"
        if registry.identity(found[0]) != recorded:
            return f"computed by {role} {name} revision {recorded.get('revision')} of {recorded.get('distribution')}"
    return None


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

    def code(self, **plugins: Plugin | None) -> dict:
        """The `code` part of a cell config: the core's numeric revisions and each named plugin's identity (its
        distribution and revision; None leaves a role out)."""
        return {"core": core_revisions(),
                **{role: self.registry.identity(obj) for role, obj in plugins.items() if obj is not None}}


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


def to_result(cell: Cell, outcome: CellOutcome, prov: dict, task: Task | None = None) -> dict:
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
    except (TypeError, ValueError) as exc:
        problems = [f"not JSON data ({one_line(exc)})"]
    else:
        problems = validate_result(result)
        if not problems and task is not None:  # a task's own validate failing (sys.exit too) must not end the run
            checked = guarded(task.validate, result)
            problems = checked.value if checked.ok else [f"the task's validate failed ({one_line(checked.error)})"]
            if not checked.ok:
                prov = {**prov, "traceback": checked.traceback}
    if problems:
        result = {k: result[k] for k in ("schema", "id", "config")} | {"provenance": prov}
        result.update(status="failed", error=f"invalid result: {'; '.join(problems)}")
    return result


def execute_job(job: Job, env: Any) -> list[dict]:
    """The pure function an executor runs: a job's cell configs in, one result document per cell out.

    Anything a task raises fails every cell of the job with its reason; the run goes on.
    """
    start = time.perf_counter()
    task = env.registry.get("tasks", job.task)
    ran = guarded(task.run, job, env)
    stack = {}
    if ran.ok and len(ran.value) != len(job.cells):
        ran = guarded(_refuse, f"task {job.task} returned {len(ran.value)} outcomes for {len(job.cells)} cells")
    if ran.ok:
        outcomes = ran.value
    else:
        outcomes = [CellOutcome(error=one_line(ran.error)) for _ in job.cells]
        stack = {"traceback": ran.traceback}
    elapsed = time.perf_counter() - start
    versions = env.registry.versions(_plugins_of(job, env.registry))
    prov = provenance(env.device, elapsed / max(len(job.cells), 1), elapsed, versions) | stack
    return [to_result(c, o, prov, task) for c, o in zip(job.cells, outcomes)]


def _refuse(message: str) -> None:
    raise RuntimeError(message)


def _plugins_of(job: Job, registry: Any) -> list[Plugin]:
    """The registered plugins a job's cells name (task, dataset, family or generator, method), for provenance."""
    found = {}
    for cell in job.cells:
        c = cell.config
        for kind, name in (("tasks", c["task"]), ("datasets", c["dataset"]), ("families", c["family"]),
                           ("generators", c["family"]), ("samplers", c["method"]), ("regularizers", c["method"]),
                           ("resamplers", c["method"])):
            if name in registry.names(kind):
                found[(kind, name)] = registry.get(kind, name)
    return list(found.values())


def _no_cell(task: Task, request: PlanRequest) -> str:
    """Why a task the user named plans nothing: the datasets it was asked for (with --dataset, or as the datasets
    named generators model) are none it runs on, and which tasks do run on them; else the usual suspects."""
    reg = request.registry
    asked = [(name, "which --dataset names") for name in request.datasets] or [
        (reg.get("generators", name).dataset, f"which generator {name} models") for name in request.generators]
    if asked and not any(reg.call(task, "accepts", reg.get("datasets", d)) for d, _ in asked):
        data, which = reg.get("datasets", asked[0][0]), asked[0][1]
        others = [t for t in reg.names("tasks") if reg.call(reg.get("tasks", t), "accepts", data)]
        return (f"task {task.name} does not run on {data.name} ({data.modality}), {which}; the tasks that do: "
                f"{', '.join(others) or 'none'}")
    return (f"task {task.name} has no cell for these options (a dataset, family, prior or method it cannot use?); "
            "see `lvrbench list`")


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
            raise UsageError(_no_cell(task, request))
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


@dataclass(frozen=True)
class Step:
    """One node of a run's graph: build an `artifact`, or compute a `job`. `needs` names the artifacts the job uses
    ("<kind>/<key>"); those the graph builds are steps of that name, done before the job starts."""

    name: str
    job: Job | None = None
    artifact: Artifact | None = None
    needs: tuple[str, ...] = ()

    def label(self) -> str:
        """The step in words, for progress lines."""
        return self.job.label if self.job is not None else f"build {self.artifact.label()}"


def artifact_name(artifact: Artifact) -> str:
    """An artifact's name in a run's graph, "<kind>/<key>": also where it lies in the cache."""
    return f"{artifact.kind}/{artifact.key}"


def graph(jobs: list[Job], registry: Any, ready: Any) -> list[Step]:
    """A run's jobs as a graph: each artifact they need that is not `ready(artifact)` yet (a cold cache entry) is one
    step, built once before every job that needs it. Artifact steps come first, in the order the jobs first need
    them, then the jobs in plan order: an executor that runs the list in order (one worker) respects every edge, and
    one with many workers starts the artifacts first because every job waits for some."""
    builds: dict[str, Step] = {}
    computed = []
    for i, job in enumerate(jobs):
        task = registry.get("tasks", job.task)
        declared = registry.call(task, "artifacts", job)
        if not isinstance(declared, (list, tuple)) or not all(isinstance(a, Artifact) for a in declared):
            raise PluginError(f"task {task.name} ({registry.provenance(task)}) returned {type(declared).__name__} from "
                              "artifacts, not a list of lvrbench.api.Artifact")
        for artifact in declared:
            name = artifact_name(artifact)
            if name not in builds and not ready(artifact):
                builds[name] = Step(name, artifact=artifact)
        computed.append(Step(f"job {i}", job=job, needs=tuple(dict.fromkeys(artifact_name(a) for a in declared))))
    return [*builds.values(), *computed]
