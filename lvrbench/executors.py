"""Executors run jobs and hand back result documents; the driver process writes them.

Because `harness.execute_job` is a pure function of (job, environment), an executor that ships
jobs to other processes or machines (Ray, a batch scheduler) only has to implement `run`.
"""
from __future__ import annotations

from typing import Iterator, Protocol

from .env import RunEnv
from .harness import Job, execute_job


class Executor(Protocol):
    """Runs jobs, yielding each job with its result documents as soon as it finishes."""

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, list[dict]]]: ...


class InProcessExecutor:
    """Runs jobs one after the other in this process, sharing loaded data and networks (see RunEnv)."""

    def __init__(self, env: RunEnv):
        self.env = env

    def run(self, jobs: list[Job]) -> Iterator[tuple[Job, list[dict]]]:
        for job in jobs:
            yield job, execute_job(job, self.env)
