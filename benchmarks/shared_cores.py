"""Graceful on shared cores: one recovery job alone, then beside processes that keep other cores busy with torch.

Each mode runs the same job in a fresh interpreter, so OpenMP reads that mode's environment when torch loads:

- default: torch's own choice, one thread per core and libgomp's spinning wait (no OMP_* / MKL_* variables);
- passive: one thread per core as torch chooses, but libgomp's idle threads sleep (OMP_WAIT_POLICY=PASSIVE):
           what the wait policy alone buys;
- policy:  lvrbench's thread policy (`lvrbench.base.threads`): 1 thread, OMP_WAIT_POLICY=PASSIVE.

The job repeats a small recovery (the profile's hot loop) for --seconds and counts the calls it finished; its speed
is calls per second. A competitor is a 1-thread process multiplying matrices with torch, non-stop. For each mode the
table gives the speed alone and loaded, the slowdown (alone / loaded speed, the median of --repeat runs), the job's
CPU seconds per call (spinning shows as CPU spent without work) and two yardsticks:

- fair share: the slowdown if the cores were shared equally among all busy threads (the job's T and the K
  competitors' on C cores): min(T, C) / (T * min(1, C / (T + K)));
- cores lost: C / (C - K), the slowdown of a job that used every core alone and keeps only the idle ones.

A slowdown at or below the fair share is graceful; the issue measured 23x where a fair share was 3x.

    python benchmarks/shared_cores.py [--seconds 8] [--repeat 2] [--competitors K] [--modes default,passive,policy]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from lvrbench.base import threads

MODES = ("default", "passive", "policy")
#: The variables a mode's job inherits nothing of: each mode sets its own.
THREAD_VARS = tuple(threads.environment(1)) + ("GOMP_SPINCOUNT",)


def job(seconds: float) -> dict:
    """The representative job: recovery of 64 images over an 8-cell grid, 10 steps a call, repeated for `seconds`.

    The one place that calls lvrbench's engine (its import path moves with the package's layers).
    """
    import torch

    from lvrbench.api import DataInfo
    from lvrbench.api import build_generator, init_parameters
    from lvrbench.api import NormalPrior
    from lvrbench.engine.recovery import recover
    from lvrbench.run.registry import load_registry

    data = DataInfo("bench", "image", (1, 28, 28), 10)
    G = build_generator(data, 128, "mlp")
    init_parameters(G, torch.Generator().manual_seed(0))
    G.eval()
    targets = torch.rand(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    method = load_registry().method("bhattacharyya")
    grid = [{"lr": lr, "weight": w} for lr in (0.01, 0.1) for w in (0.0, 0.1, 1.0, 10.0)]

    def call() -> None:
        recover(G, targets, NormalPrior(), method, grid, steps=10, init=None, latent_dim=128, seed=0, desc="bench")

    call()  # one-time set-up outside the timing
    calls, cpu0, start = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        call()
        calls += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    return {"calls": calls, "wall": wall, "cpu": cpu, "threads": torch.get_num_threads()}


def competitor() -> None:
    """Keep one core busy with torch work until killed."""
    import torch

    torch.set_num_threads(1)
    a = torch.randn(256, 256)
    while True:
        a = torch.tanh(a @ a)


def mode_env(mode: str) -> dict[str, str]:
    """The environment a mode's job starts with."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARS}
    if mode == "policy":
        env.update(threads.environment(threads.THREADS_PER_JOB))
    elif mode == "passive":
        env["OMP_WAIT_POLICY"] = threads.WAIT_POLICY
    return env


def run_job(mode: str, seconds: float) -> dict:
    """One timed job in a fresh interpreter; its figures as a dict."""
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--seconds", str(seconds)], env=mode_env(mode),
                         capture_output=True, text=True, timeout=seconds * 20 + 120)
    if out.returncode != 0:
        raise RuntimeError(f"the {mode} job failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def with_competitors(k: int, fn):
    """Call `fn()` while `k` competitor processes keep cores busy; they are stopped (by pid) afterwards."""
    env = {key: v for key, v in os.environ.items() if key not in THREAD_VARS}
    procs = [subprocess.Popen([sys.executable, __file__, "--compete"], env=env) for _ in range(k)]
    try:
        time.sleep(3)  # their interpreters up and computing
        return fn()
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait(30)


def fair_share(t: int, k: int, c: int) -> float:
    """The slowdown of a T-thread job beside K busy threads on C cores if every busy thread got an equal share."""
    return min(t, c) / (t * min(1.0, c / (t + k)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="how long each job runs (default 8)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each (mode, load); the median is shown")
    cores = os.cpu_count() or 1
    parser.add_argument("--competitors", type=int, default=max(cores - 1, 1),
                        help=f"1-thread competitor processes (default: cores - 1 = {max(cores - 1, 1)})")
    parser.add_argument("--modes", default="default,passive,policy", help="comma-separated: default, passive, policy")
    parser.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--compete", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compete:
        competitor()
    if args.child:
        if args.child == "policy":
            threads.apply(threads.THREADS_PER_JOB)  # its environment was set at start: this fixes torch's counts
        print(json.dumps(job(args.seconds)))
        return

    modes = args.modes.split(",")
    if set(modes) - set(MODES):
        parser.error(f"unknown mode {', '.join(sorted(set(modes) - set(MODES)))} (known: {', '.join(MODES)})")
    print(f"$ python {' '.join(sys.argv)}")
    print(f"{cores} cores ({threads.cpu_info()[0]}), {args.competitors} competitor(s), {args.seconds:g} s per job, "
          f"median of {args.repeat}; load average before: {os.getloadavg()[0]:.2f}", flush=True)
    alone = {m: [run_job(m, args.seconds) for _ in range(args.repeat)] for m in modes}
    loaded = with_competitors(args.competitors, lambda: {m: [run_job(m, args.seconds) for _ in range(args.repeat)]
                                                         for m in modes})
    lost = f"{cores / (cores - args.competitors):.2f}x" if args.competitors < cores else "all"
    print(f"\n{'mode':8} {'threads':>7} {'calls/s alone':>13} {'loaded':>8} {'slowdown':>9} {'fair share':>10} "
          f"{'cores lost':>10} {'CPU s/call alone':>16} {'loaded':>7}")
    for m in modes:
        rate = lambda runs: statistics.median(r["calls"] / r["wall"] for r in runs)  # noqa: E731
        cpu = lambda runs: statistics.median(r["cpu"] / max(r["calls"], 1) for r in runs)  # noqa: E731
        t = alone[m][0]["threads"]
        slow = rate(alone[m]) / rate(loaded[m])
        print(f"{m:8} {t:>7} {rate(alone[m]):13.2f} {rate(loaded[m]):8.2f} {slow:8.2f}x "
              f"{fair_share(t, args.competitors, cores):9.2f}x {lost:>10} {cpu(alone[m]):16.3f} {cpu(loaded[m]):7.3f}")
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
