"""What a worker of a run does, whichever executor started it (a local process, a Ray task): put itself under the
thread policy, load the plugins the driver has, say how it computes, and run the steps of the run's graph.

A worker never writes a result: it hands each job's result documents back to the driver, which alone writes them
(so a kill, a resume and `--force` keep their guarantees whatever the executor). It writes artifacts to the cache,
each under a claim (`lvrbench.engine.artifacts`).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..api.contracts import KINDS, CellOutcome
from ..base import threads
from ..base.errors import PluginError, UsageError, one_line
from ..base.guard import guarded
from ..base.provenance import code_state, provenance
from .harness import Step, execute_job, to_result


@dataclass(frozen=True)
class Setup:
    """What a worker needs to compute as the driver would: the device, the cache and data directories, the run's id
    (a failed artifact build is shared within the run) and the `--checkpoint` files the driver registered."""

    device: str
    cache_dir: str
    data_dir: str | None
    run_id: str
    checkpoints: tuple[str, ...] = ()


@dataclass
class Finished:
    """A step done: a job's result documents (one per cell), or an artifact step's error (None: built or cached)."""

    step: Step
    results: list[dict] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0


def signature(registry: Any) -> dict:
    """What must be the same in the driver and every worker for their numbers to be the driver's: the lvrbench and
    torch versions, each registered plugin's distribution, version and revision, and the thread policy."""
    import torch

    from .. import __version__

    now = threads.current()
    plugins = sorted(f"{kind} {e.name}: {e.distribution} {e.version} revision {getattr(e.obj, 'revision', None)}"
                     for kind in KINDS for e in registry.entries(kind))
    return {"lvrbench": __version__, "torch": torch.__version__, "plugins": plugins,
            "threads": {"threads": now["threads"], "wait_policy": now["wait_policy"]}}


def mismatch(driver: dict, worker: dict, where: str) -> str | None:
    """One line naming the first thing a worker has other than the driver (None: the same), with both values."""
    for key in ("lvrbench", "torch", "threads"):
        if driver.get(key) != worker.get(key):
            return f"{where} runs {key} {worker.get(key)}, the driver {driver.get(key)}: install the same on every node"
    ours, theirs = set(driver.get("plugins", ())), set(worker.get("plugins", ()))
    if ours != theirs:
        mine = sorted(ours - theirs)
        other = sorted(theirs - ours)
        return (f"{where} has other plugins than the driver (the driver: {mine[0] if mine else 'nothing more'}; the "
                f"worker: {other[0] if other else 'nothing more'}): install the same on every node")
    return None


class Worker:
    """One worker's state: its registry (the driver's `--checkpoint` generators registered again) and one `RunEnv`,
    so datasets, generators and evaluators load once per worker."""

    def __init__(self, setup: Setup):
        threads.apply(threads.THREADS_PER_JOB)
        code_state()  # the code this worker computes with is the tree as it starts
        import torch

        from .env import RunEnv
        from .pretrained import register_checkpoint
        from .registry import load_registry

        registry = load_registry()
        for path in setup.checkpoints:
            register_checkpoint(registry, path)
        self.env = RunEnv(registry, torch.device(setup.device), Path(setup.cache_dir), setup.data_dir, setup.run_id)
        self.signature = signature(registry)

    def run(self, step: Step) -> Finished:
        """Compute a step: a job's results (every failure inside is a failed cell), or build an artifact."""
        return run_step(step, self.env)


def run_step(step: Step, env: Any) -> Finished:
    """A step computed with `env`: a job through `execute_job`; an artifact trained and cached (`RunEnv.prepare`),
    any failure of its build reported as the step's error (the jobs that need it then fail with it)."""
    started = time.perf_counter()
    if step.job is not None:
        return Finished(step, execute_job(step.job, env), None, time.perf_counter() - started)
    built = guarded(env.prepare, step.artifact)
    return Finished(step, [], None if built.ok else one_line(built.error, 300), time.perf_counter() - started)


def lost(step: Step, why: str, device: Any) -> Finished:
    """A step whose worker was lost (its process or node died): a job's cells fail with `why`, so that the run goes
    on and the same command computes them again."""
    if step.job is None:
        return Finished(step, [], why)
    prov = provenance(device, 0.0)
    return Finished(step, [to_result(cell, CellOutcome(error=why), prov) for cell in step.job.cells], None)


#: Failures a worker's set-up reports to the driver by class, so the driver raises the same (exit codes 2 and 3).
ERRORS = {"usage": UsageError, "plugin": PluginError}


def error_kind(exc: BaseException) -> str:
    """How a worker's set-up failure travels to the driver: "usage", "plugin" or "internal"."""
    return next((kind for kind, cls in ERRORS.items() if isinstance(exc, cls)), "internal")
