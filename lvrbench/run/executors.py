"""Executors run jobs and hand back result documents; the driver process writes them.

Because `harness.execute_job` computes a job's numbers from (job, environment) alone (the clock and
git are read only for provenance), an executor that ships
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
        """Each job in turn, in the order given."""
        for job in jobs:
            yield job, execute_job(job, self.env)
