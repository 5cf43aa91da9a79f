"""What a profile costs on this machine, cold: plan it, time a small probe of each kind of work, extrapolate per task.

The plan is `lvrbench run --all --profile P`'s (same cells, same order). Probes, each timed on its own:
- every generator and evaluator the plan trains is trained for one epoch on a subset of its training split
  (`--probe-iterations` batches); its time is scaled to the profile's iterations (epochs x batches per epoch:
  every iteration costs the same);
- a recovery job runs `--probe-steps` steps on `--probe-rows` of its grid rows (same images); its time is scaled
  by rows x steps (each grid row's generator pass is its own, so a job's cost is linear in both);
- a job of any other task runs on its probe generator (scoring does not depend on how long G trained), up to
  `--jobs` of each task and dataset, and their mean is scaled by the task's jobs on that dataset.
A trained artifact is charged to the first task that uses it, as a cold run pays it there. Nothing is written to
leaderboards or the user's cache (artifacts go to a temporary directory).

Probes compute under lvrbench's thread policy (one thread per job), as every executor does. The wall time is then
predicted for the default `local` executor by running the run's own graph (`harness.graph`: artifact steps first,
each job after the artifacts it needs) through the executor's own `Schedule` on `--workers` workers (default: the
cores this process may use), each step taking its estimated seconds: the prediction is that schedule's makespan,
not a sum divided by the workers, so a long artifact or job at the end shows.

    .venv/bin/python benchmarks/profile_cost.py [--profile standard] [--jobs 2] [--workers 2]

The estimate is what this machine takes now: run it on an idle machine. It also times a reference, 40 iterations of the
quick profile's vanilla GAN on Fashion-MNIST on one thread (17 ms per iteration once on an idle machine of this kind)
and prints their ratio, for information only: on an idle machine it ranged from 1.2 to 2.2 within minutes (the
CPU's speed is not steady), and on the quick profile the undivided prediction (9.5 min) was closer to the measured
cold run (8 min 44 s, +9%) than the one divided by the ratio (7.3 min, -16%), so nothing is divided by it.
"""
from __future__ import annotations

import argparse
import copy
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import torch

from lvrbench.api import Cell, Job
from lvrbench.base import threads
from lvrbench.base.identity import artifact_key
from lvrbench.run.env import RunEnv
from lvrbench.run.executors import Schedule, default_workers
from lvrbench.run.harness import PlanRequest, Step, graph, make_plan
from lvrbench.run.registry import load_registry
from lvrbench.run.store import ResultStore

RECOVERY = ("recovery-real", "recovery-synthetic")
#: The settings that name an evaluator: the main one and the second (issue 20).
EVALUATORS = ("evaluator", "evaluator_alt")
#: Seconds per iteration of the reference (quick vanilla GAN, Fashion-MNIST, one thread) on an idle machine.
IDLE_REFERENCE = 0.017


def slow_down(registry, iterations: int = 40) -> float:
    """How much slower than idle this machine runs now: the reference's time per iteration over IDLE_REFERENCE."""
    from lvrbench.api import init_parameters
    from lvrbench.api import PRIORS
    from lvrbench.kit import TrainSettings, resolve_training, train_gan
    from lvrbench.kit import GAN_TRAINING

    family, data = registry.get("families", "vanilla"), registry.get("datasets", "fashion-mnist")
    quick = GAN_TRAINING["image"]["quick"]
    train = {**quick["train"], "epochs": 1}
    x, _ = data.load("train", None)
    nets = family.build(data.info, quick["latent_dim"], quick["arch"])
    init_parameters(nets, torch.Generator().manual_seed(0))
    settings = TrainSettings.from_config(resolve_training(family, train))
    prior = family.latent_prior(PRIORS["normal"].with_dim(quick["latent_dim"]), nets)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    run = lambda: train_gan(family, nets, x[: iterations * train["batch_size"]], prior, settings,  # noqa: E731
                            torch.Generator().manual_seed(0), torch.device("cpu"), "reference")
    run()  # the first training in a process pays one-off costs (allocations, lazy initialisation): not timed
    seconds = clock(run)
    torch.set_num_threads(before)
    return max(1.0, seconds / iterations / IDLE_REFERENCE)


def clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def makespan(steps: list[Step], seconds: dict[str, float], workers: int) -> tuple[float, dict[str, float]]:
    """The wall time of `steps` on `workers` workers that each take the next step `Schedule` allows when free (the
    `local` executor's rule), step `name` taking `seconds[name]`; and each step's finishing time."""
    schedule, free, running, now, finished = Schedule(steps), workers, [], 0.0, {}
    while schedule or running:
        while free and (step := schedule.next()) is not None:
            running.append((now + seconds[step.name], step))
            free -= 1
        running.sort(key=lambda r: r[0])
        now, step = running.pop(0)
        schedule.finish(step)
        finished[step.name] = now
        free += 1
    return now, finished


def probe_spec(spec: dict, epochs: int) -> dict:
    out = copy.deepcopy(spec)
    out["train"]["epochs"] = epochs
    if "epochs" in out.get("family_train", {}):  # a family's own epochs replace train's when the spec is resolved
        out["family_train"]["epochs"] = epochs
    return out


def probe_job(job: Job, gan: dict | None, evaluators: dict[str, dict | None], rows: int | None = None,
              steps: int | None = None) -> Job:
    """`job` on probe artifacts (`evaluators`: the probe of each evaluator setting), and for recovery on fewer rows
    and steps."""
    cells = []
    for cell in job.cells[: rows or len(job.cells)]:
        config = copy.deepcopy(cell.config)
        s = config["settings"]
        if gan is not None and "gan" in s:
            s["gan"] = gan
        for name, evaluator in evaluators.items():
            if evaluator is not None and s.get(name) is not None:
                s[name] = evaluator
        if steps is not None:
            s["steps"] = steps
        cells.append(Cell(config))
    return Job(job.task, f"probe {job.label}", cells)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--probe-iterations", type=int, default=40, help="training batches timed per network")
    ap.add_argument("--probe-steps", type=int, default=10)
    ap.add_argument("--probe-rows", type=int, default=8)
    ap.add_argument("--jobs", type=int, default=2, help="jobs timed per task and dataset (the rest extrapolated)")
    ap.add_argument("--task", action="append", default=[], help="only these tasks (repeatable; default: all)")
    ap.add_argument("--workers", type=int, default=default_workers(),
                    help="the local pool's workers the prediction schedules on (default: this process's cores)")
    args = ap.parse_args()
    threads.apply(threads.THREADS_PER_JOB)  # as every executor computes
    registry = load_registry()
    factor = slow_down(registry)
    print(f"reference: {factor:.1f} times the idle machine's 17 ms per iteration now (information only)", flush=True)
    tasks = [registry.get("tasks", n) for n in (args.task or registry.names("tasks"))]
    request = PlanRequest(registry, args.profile, seeds_given=False)  # as `lvrbench run` plans without --seed
    plan = make_plan(tasks, request, ResultStore(Path(tempfile.mkdtemp()) / "empty"))
    cache = Path(tempfile.mkdtemp(prefix="lvrbench-cost-"))
    env = RunEnv(registry, torch.device("cpu"), cache)
    full = RunEnv(registry, torch.device("cpu"), cache)  # whole splits (env's training splits are probe subsets)

    train_cost: dict[str, float] = {}  # artifact key -> its estimated training seconds
    probes: dict[str, dict] = {}  # artifact -> its probe spec (trained)
    first_use: dict[str, str] = {}  # artifact -> the task charged with it

    def artifact(kind: str, spec: dict | None, task: str) -> dict | None:
        if spec is None or "pretrained" in spec:
            return spec
        key = artifact_key(spec)
        if key not in probes:
            train = spec["train"] if kind == "gan" else spec
            x, y = full.split(spec["dataset"], "train")
            batch = train["batch_size"]
            n = min(x.shape[0], args.probe_iterations * batch)
            env._memo[("split", spec["dataset"], "train")] = (x[:n], y[:n])  # the probe trains on a subset
            small = probe_spec(spec, 1) if kind == "gan" else {**spec, "epochs": 1}
            seconds = clock(lambda: env.gan(small) if kind == "gan" else env.evaluator(small))
            iterations = train["epochs"] * (x.shape[0] // batch)
            train_cost[key] = seconds * iterations / (n // batch)
            probes[key], first_use[key] = small, task
            print(f"  trained {kind} {spec.get('family', '')} {spec['dataset']} {spec.get('prior', '')}: {seconds:.1f}s "
                  f"for {n // batch} of {iterations} iterations ({train_cost[key]:.0f}s estimated)", flush=True)
        return probes[key]

    by_group: dict[tuple[str, str], list[Job]] = defaultdict(list)
    for job in plan.jobs:
        by_group[(job.task, job.cells[0].config["dataset"])].append(job)
    compute: dict[str, float] = defaultdict(float)
    job_cost: dict[int, float] = {}  # id(job) -> its estimated seconds
    cells: dict[str, int] = defaultdict(int)
    for (task_name, dataset), jobs in by_group.items():
        task = registry.get("tasks", task_name)
        cells[task_name] += sum(len(j.cells) for j in jobs)
        timed = []
        sample = jobs if task_name in RECOVERY else jobs[: args.jobs]
        for job in sample:
            s = job.cells[0].config["settings"]
            gan = artifact("gan", s.get("gan"), task_name)
            evaluators = {name: artifact("evaluator", s.get(name), task_name) for name in EVALUATORS}
            if task_name in RECOVERY:
                rows = min(args.probe_rows, len(job.cells))
                steps = min(args.probe_steps, s["steps"])
                seconds = clock(lambda: task.run(probe_job(job, gan, evaluators, rows, steps), env))
                timed.append(seconds * len(job.cells) / rows * s["steps"] / steps)
            else:
                timed.append(clock(lambda: task.run(probe_job(job, gan, evaluators), env)))
            print(f"  {job.label}: {timed[-1]:.1f}s (estimated)", flush=True)
        for i, job in enumerate(jobs):  # every recovery job is timed; the others cost their group's timed mean
            job_cost[id(job)] = timed[i] if task_name in RECOVERY else statistics.mean(timed)
        compute[task_name] += sum(job_cost[id(job)] for job in jobs)
        for job in jobs[len(sample):]:  # artifacts of the jobs not timed are still trained, and charged
            s = job.cells[0].config["settings"]
            artifact("gan", s.get("gan"), task_name)
            for name in EVALUATORS:
                artifact("evaluator", s.get(name), task_name)

    training: dict[str, float] = defaultdict(float)
    for key, seconds in train_cost.items():
        training[first_use[key]] += seconds
    print(f"\nprofile {args.profile}, {len(plan.cells)} cells, {torch.get_num_threads()} torch threads, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores at the end:")
    print(f"{'task':<20} {'cells':>6} {'training min':>13} {'compute min':>12} {'total min':>10}")
    for name in dict.fromkeys(j.task for j in plan.jobs):
        print(f"{name:<20} {cells[name]:>6} {training[name] / 60:>13.1f} {compute[name] / 60:>12.1f} "
              f"{(training[name] + compute[name]) / 60:>10.1f}")
    total = sum(training.values()) + sum(compute.values())
    print(f"{'total':<20} {len(plan.cells):>6} {sum(training.values()) / 60:>13.1f} {sum(compute.values()) / 60:>12.1f} "
          f"{total / 60:>10.1f}")
    print(f"one worker (`--executor inprocess`): {total / 60:.1f} min")
    steps = graph(plan.jobs, registry, ready=lambda artifact: False)  # cold: every artifact is a step
    seconds = {step.name: train_cost[step.artifact.key] if step.job is None else job_cost[id(step.job)] for step in steps}
    wall, finished = makespan(steps, seconds, args.workers)
    last: dict[str, float] = {}
    for step in steps:
        if step.job is not None:
            last[step.job.task] = max(last.get(step.job.task, 0.0), finished[step.name])
    print(f"predicted wall time of the default `local` executor on {args.workers} workers: "
          f"{wall / 60:.1f} min (artifacts first: the last one built at "
          f"{max((finished[s.name] for s in steps if s.job is None), default=0.0) / 60:.1f} min; each task's last job "
          "done at " + ", ".join(f"{name} {t / 60:.1f}" for name, t in last.items()) + " min)")


if __name__ == "__main__":
    main()
