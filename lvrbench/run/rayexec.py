"""The Ray executor: a run's graph as Ray core tasks, on a cluster or on a Ray started on this machine.

- Each step is a task with one CPU (and a share of a GPU on CUDA, `GPU_SHARE`), started once what it needs is done;
  at most `--jobs` are in flight (default: the cluster's CPUs).
- Workers start with the thread policy's variables (`runtime_env` env_vars, so OpenMP reads them when torch loads)
  and apply it; each checks its lvrbench, torch and plugin versions and thread policy against the driver's before it
  computes, and a difference stops the run with one line naming both.
- Artifacts travel two ways: through the cache when --cache-dir is on a file system the nodes share (each built once
  under a claim), and through Ray's object store otherwise: a build step returns the entry's files, the driver ships
  those of artifacts its own cache holds, and a job's worker installs each into its node's cache after checking the
  weights' sha256 against the metadata and the metadata's config against the key.
- `max_retries=MAX_RETRIES`: a task whose worker process or node died runs again elsewhere (a job's numbers depend on
  its configs alone, and the driver writes results only when a task returns); `retry_exceptions=False`: nothing a job
  raises escapes it (a failing cell is a result), so an exception is a bug that would only repeat. A step still lost
  after its retries fails its cells with the reason; the same command computes them again.
- The driver alone writes results, so a kill, a resume and `--force` keep their guarantees.
"""
from __future__ import annotations

import os
import socket
from typing import Any, Iterator

from ..base import threads
from ..base.errors import UsageError, one_line
from .harness import Step
from .workers import ERRORS, Finished, Setup, Worker, error_kind, lost, mismatch, signature

#: How many times a task whose worker or node died is run again (Ray's default is 3): enough to ride out a node
#: lost mid-run, few enough that a job that kills every worker it runs on (out of memory) fails soon.
MAX_RETRIES = 2
#: The share of a GPU each task asks for on CUDA: four jobs share a GPU, whose kernels one job leaves idle.
GPU_SHARE = 0.25
#: Worker state per Ray worker process: its registry and RunEnv load once, for every task it runs.
_WORKERS: dict[Setup, Worker] = {}


def require_ray() -> None:
    """Refuse, in one line, `--executor ray` where Ray is not installed."""
    try:
        import ray  # noqa: F401
    except ImportError:
        raise UsageError("--executor ray needs Ray, which is not installed here: pip install 'lvrbench[ray]'") from None


def _step(setup: Setup, expected: dict, step: Step, *payloads: dict | None) -> tuple[tuple, dict | None]:
    """A Ray task: set this worker up once, check it computes as the driver does, install the artifacts shipped to
    it, run the step; returns (("done", Finished) or ("error", kind, message), the built artifact's files or None)."""
    from ..base.progress import BARS
    from ..engine.artifacts import ArtifactCache

    BARS["on"] = False
    worker = _WORKERS.get(setup)
    if worker is None:
        try:
            worker = _WORKERS[setup] = Worker(setup)
        except Exception as exc:  # sent to the driver, which stops the run with it
            return ("error", error_kind(exc), one_line(exc) if error_kind(exc) == "internal" else str(exc)), None
    why = mismatch(expected, worker.signature, f"the Ray worker on {socket.gethostname()}")
    if why:
        return ("error", "usage", why), None
    cache = ArtifactCache(setup.cache_dir, setup.run_id)
    for payload in payloads:
        if payload is not None:
            cache.install(payload)
    finished = worker.run(step)
    shipped = None
    if step.artifact is not None and finished.error is None:
        shipped = cache.export(step.artifact.kind, step.artifact.key)
    return ("done", finished), shipped


class RayExecutor:
    """Runs a run's graph as Ray tasks (see the module docstring); connects in the constructor, so that an address
    that cannot be reached is one line before any work."""

    def __init__(self, setup: Setup, registry: Any, device: Any, address: str | None, jobs: int | None):
        require_ray()
        import ray

        self.setup, self.device = setup, device
        with threads.policy():  # what a worker computes under, whatever this process's own state
            self.expected = signature(registry)
        address = address or os.environ.get("RAY_ADDRESS")
        local = {} if address else {"address": "local", "include_dashboard": False}  # never another's cluster found here
        try:
            context = ray.init(**({"address": address} if address else local), log_to_driver=False, logging_level="ERROR",
                               runtime_env={"env_vars": threads.environment()})
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--executor ray: cannot connect to the Ray cluster at {address} ({one_line(exc, 200)})") from None
        self.address = address or f"{context.address_info.get('gcs_address')} (started here)"
        self.in_flight = jobs or max(int(ray.cluster_resources().get("CPU", 1)), 1)
        gpus = GPU_SHARE if getattr(device, "type", "cpu") == "cuda" else 0
        self.remote = ray.remote(_step).options(num_cpus=1, num_gpus=gpus, num_returns=2, max_retries=MAX_RETRIES,
                                                retry_exceptions=False)
        self._cache_payloads: dict[str, Any] = {}

    def _payload(self, name: str, built: dict[str, Any]) -> Any:
        """What ships artifact `name` to a job: the object its build step returned, else (once) the driver's own cache
        entry put in the object store, else None (the job's worker builds it under a claim)."""
        import ray

        from ..engine.artifacts import ArtifactCache

        if name in built:
            return built[name]
        if name not in self._cache_payloads:
            kind, key = name.split("/", 1)
            found = ArtifactCache(self.setup.cache_dir).export(kind, key)
            self._cache_payloads[name] = None if found is None else ray.put(found)
        return self._cache_payloads[name]

    def run(self, steps: list[Step]) -> Iterator[Finished]:
        """The steps as Ray tasks, each submitted once what it needs is done; yields each as it finishes."""
        import ray

        from .executors import Schedule

        schedule = Schedule(steps)
        built: dict[str, Any] = {}
        running: dict[Any, tuple[Step, Any]] = {}
        try:
            while schedule or running:
                while len(running) < self.in_flight and (step := schedule.next()) is not None:
                    payloads = [self._payload(name, built) for name in step.needs]
                    outcome, shipped = self.remote.remote(self.setup, self.expected, step, *payloads)
                    running[outcome] = (step, shipped)
                ready, _ = ray.wait(list(running), num_returns=1)
                step, shipped = running.pop(ready[0])
                finished = self._outcome(step, ready[0])
                if step.artifact is not None and finished.error is None:
                    built[step.name] = shipped
                schedule.finish(step)
                yield finished
        finally:
            for ref in running:
                ray.cancel(ref, force=True)
            ray.shutdown()

    def _outcome(self, step: Step, ref: Any) -> Finished:
        """What a finished task gave: its step's outcome; a setup failure or a worker unlike the driver stops the run
        (one line, exit 2 or 3); a task lost after its retries fails its cells with the reason."""
        import ray

        try:
            outcome = ray.get(ref)
        except ray.exceptions.RayError as exc:  # the worker or its node died MAX_RETRIES + 1 times
            return lost(step, f"its Ray worker was lost ({type(exc).__name__}, after {MAX_RETRIES} retries)", self.device)
        if outcome[0] == "error":
            raise ERRORS.get(outcome[1], RuntimeError)(outcome[2])
        return outcome[1]
