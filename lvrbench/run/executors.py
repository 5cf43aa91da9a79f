"""Executors run a run's graph (`harness.graph`: artifact steps, then jobs that wait for what they need) and hand
back each step as it finishes; the driver process alone writes results.

- `InProcessExecutor`: the steps in order in this process, under the thread policy;
- `LocalExecutor`: a pool of worker processes on this machine (the default on the CPU, as many as its cores);
- `RayExecutor` (`lvrbench.run.rayexec`): Ray core tasks over a cluster.

Each gives the in-process bytes: a job's numbers depend on its cells' configs alone, every worker computes with one
thread (`lvrbench.base.threads`) and checks it has the driver's versions and plugins (`workers.signature`).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator, Protocol

from ..base import threads
from ..base.errors import UsageError
from ..base.progress import BARS
from .harness import Step
from .workers import ERRORS, Finished, Setup, Worker, error_kind, lost, mismatch, run_step, signature


class Executor(Protocol):
    """Runs a run's steps, yielding each as it finishes."""

    def run(self, steps: list[Step]) -> Iterator[Finished]: ...


class Schedule:
    """Which step may start next: the first waiting step whose needs the graph builds are all done (artifact steps,
    listed first, need nothing). A failed artifact step counts as done: the jobs that need it fail with its recorded
    error at once (`lvrbench.engine.artifacts`) rather than wait."""

    def __init__(self, steps: list[Step]):
        self.waiting = list(steps)
        self.built = {step.name for step in steps if step.job is None}
        self.done: set[str] = set()

    def __bool__(self) -> bool:
        return bool(self.waiting)

    def next(self) -> Step | None:
        """Take the next step that can start now (None: every waiting one needs a build not done yet)."""
        for i, step in enumerate(self.waiting):
            if all(need in self.done or need not in self.built for need in step.needs):
                return self.waiting.pop(i)
        return None

    def finish(self, step: Step) -> None:
        self.done.add(step.name)


class InProcessExecutor:
    """Runs the steps one after the other in this process, in the graph's order, sharing loaded data and networks
    (see RunEnv)."""

    def __init__(self, env: Any):
        self.env = env

    def run(self, steps: list[Step]) -> Iterator[Finished]:
        """Each step in turn, under the thread policy (restored afterwards)."""
        with threads.policy():
            for step in steps:
                yield run_step(step, self.env)


def default_workers() -> int:
    """The local pool's size when `--jobs` is not given: the cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


#: How often an idle worker looks whether its driver is still alive (seconds).
WATCH = 0.5


def _serve(conn: Connection, setup: Setup, driver: int) -> None:
    """A local worker process: set up, say how it computes, then compute each step it is sent until None.

    It ignores Ctrl-C (the driver stops it) and exits when the driver dies (a SIGKILL leaves no orphan computing)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    BARS["on"] = False

    def watch() -> None:
        while os.getppid() == driver:
            time.sleep(WATCH)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()
    try:
        worker = Worker(setup)
    except Exception as exc:  # sent to the driver, which stops the run with it
        conn.send(("error", error_kind(exc), str(exc)))
        return
    conn.send(("ready", worker.signature))
    while True:
        try:
            step = conn.recv()
        except EOFError:
            return
        if step is None:
            return
        conn.send(("done", worker.run(step)))


@dataclass
class _Process:
    """One local worker as the driver sees it."""

    proc: Any
    conn: Connection
    ready: bool = False
    step: Step | None = None
    started: float = field(default_factory=time.perf_counter)


class LocalExecutor:
    """A pool of `workers` processes on this machine, started with `spawn` (a fork after torch has loaded would copy
    its thread pools): each loads the plugins, computes with one thread, and sends back what it computed.

    A worker that dies (killed, out of memory) fails the job it was computing, with the reason, and is replaced."""

    def __init__(self, setup: Setup, workers: int, registry: Any, device: Any):
        self.setup, self.workers, self.device = setup, workers, device
        with threads.policy():  # what a worker computes under, whatever this process's own state
            self.expected = signature(registry)

    def _start(self, ctx: Any) -> _Process:
        ours, theirs = ctx.Pipe()
        proc = ctx.Process(target=_serve, args=(theirs, self.setup, os.getpid()), daemon=True, name="lvrbench-worker")
        proc.start()
        theirs.close()
        return _Process(proc, ours)

    def run(self, steps: list[Step]) -> Iterator[Finished]:
        """The steps over the pool, each started once what it needs is done; yields each as it finishes."""
        threads.prepare()  # the workers start with the policy's variables: OpenMP reads them when torch loads
        ctx = multiprocessing.get_context("spawn")
        schedule = Schedule(steps)
        pool = [self._start(ctx) for _ in range(min(self.workers, len(steps)))]
        try:
            while schedule or any(w.step is not None for w in pool):
                for w in pool:
                    if w.ready and w.step is None and (step := schedule.next()) is not None:
                        try:
                            w.conn.send(step)
                        except OSError:  # it has just died: the step waits for another worker
                            schedule.waiting.insert(0, step)
                            continue
                        w.step = step
                for finished in self._collect(pool, ctx):
                    schedule.finish(finished.step)
                    yield finished
        finally:
            self._stop(pool)

    def _collect(self, pool: list[_Process], ctx: Any) -> list[Finished]:
        """Wait for messages or deaths of workers; returns the steps that finished (a dead worker's step as lost)."""
        out = []
        ready = wait([w.conn for w in pool] + [w.proc.sentinel for w in pool])
        for i, w in enumerate(pool):
            if w.conn in ready:
                try:
                    message = w.conn.recv()
                except EOFError:  # it died while sending: its sentinel says so below
                    message = None
                if message is not None:
                    out += self._handle(w, message)
                    continue
            if w.proc.sentinel in ready or not w.proc.is_alive():
                w.proc.join(1)
                if not w.ready:
                    raise RuntimeError(f"a worker process died while starting (exit code {w.proc.exitcode})")
                if w.step is not None:
                    out.append(lost(w.step, f"the worker process computing it died (exit code {w.proc.exitcode})",
                                    self.device))
                pool[i] = self._start(ctx)
        return out

    def _handle(self, w: _Process, message: tuple) -> list[Finished]:
        kind = message[0]
        if kind == "error":
            raise ERRORS.get(message[1], RuntimeError)(message[2])
        if kind == "ready":
            why = mismatch(self.expected, message[1], f"worker process {w.proc.pid}")
            if why:
                raise UsageError(why)
            w.ready = True
            return []
        finished, w.step = message[1], None
        return [finished]

    @staticmethod
    def _stop(pool: list[_Process]) -> None:
        """Stop every worker: idle ones are told to, busy ones (an interrupted run) are killed after a short grace."""
        for w in pool:
            if w.step is None and w.proc.is_alive():
                try:
                    w.conn.send(None)
                except OSError:
                    pass
            else:
                w.proc.terminate()
        deadline = time.monotonic() + 5
        for w in pool:
            w.proc.join(max(deadline - time.monotonic(), 0.1))
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(5)
            w.conn.close()
