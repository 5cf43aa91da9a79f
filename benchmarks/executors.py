"""Wall time of one profile slice computed by the `inprocess` and the `local` executor, in one run.

Each executor runs the same `lvrbench run` command from cold: an empty artifact cache (every network trained again)
and an empty leaderboard root, in a fresh process, one after the other (in the order given, so a run may alternate
them). It prints each run's wall and CPU seconds with the load average around it, the speed-up of each executor over
the first, and whether their results are the same bytes (clock readings left out: provenance's, and each task's
declared `timings`), naming the first field that differs where they are not.

    python benchmarks/executors.py [--executors inprocess,local] [--jobs N] [RUN ARGS ...]

RUN ARGS are `lvrbench run`'s (default: --all, the quick profile), e.g. `--profile standard --task recovery-real`.
The machine must be otherwise idle for the figure to mean anything: other processes on the cores slow the pool's
workers, which use every core, more than the in-process run, which uses one.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Provenance fields that read the clock: no two runs share them.
CLOCK = ("wall_time_s", "job_wall_time_s", "created")


def results(root: Path) -> dict[str, dict]:
    """Every result under `root`, by its path under results/."""
    return {f"{p.parent.name}/{p.name}": json.loads(p.read_text()) for p in sorted((root / "results").glob("*/*.json"))}


@functools.cache
def registry():
    """The installed plugins, loaded once: what each task declares as `timings`."""
    from lvrbench.run.registry import load_registry

    return load_registry()


def first_difference(a: dict, b: dict | None) -> str | None:
    """The first field where two results of one cell differ, `verify`'s way (`lvrbench.commands.verify.differences`),
    leaving out the clock readings: provenance's and the task's declared `timings` (sampling's measured seconds)."""
    from lvrbench.commands.verify import differences

    if b is None:
        return "missing"
    timings = registry().get("tasks", a["config"]["task"]).timings
    found = differences(a, b, None, skip=(*timings, *(f"provenance.{key}" for key in CLOCK)))
    return found[0] if found else None


def run(executor: str, jobs: int | None, args: list[str], base: Path) -> dict:
    """One cold run of `lvrbench run ARGS --executor EXECUTOR`; its wall and CPU seconds, load and results."""
    out, cache = base / f"{executor}-lb", base / f"{executor}-cache"
    command = [sys.executable, "-m", "lvrbench", "run", *args, "--out", str(out), "--cache-dir", str(cache),
               "--executor", executor, *(["--jobs", str(jobs)] if jobs and executor != "inprocess" else [])]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        sys.exit(f"{executor}: exit {done.returncode}\n{done.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"executor": executor, "wall": wall, "cpu": cpu, "load": (load, os.getloadavg()[0]), "exit": done.returncode,
            "results": results(out), "command": " ".join(command[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executors", default="inprocess,local", help="comma-separated, run in this order")
    parser.add_argument("--jobs", type=int, default=None, help="local's workers (default: the cores)")
    parser.add_argument("--keep", metavar="DIR", help="work in DIR and keep it (default: a temporary directory)")
    args, run_args = parser.parse_known_args()
    run_args = run_args or ["--all"]
    print(f"$ python {' '.join(sys.argv)}")
    print(f"{os.cpu_count()} CPUs; the cores this process may use: {len(os.sched_getaffinity(0))}")
    with tempfile.TemporaryDirectory(prefix="lvrbench-executors-") as tmp:
        base = Path(args.keep) if args.keep else Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        runs = []
        for name in args.executors.split(","):
            runs.append(run(name, args.jobs, run_args, base))
            r = runs[-1]
            print(f"{name:10} {r['wall']:8.1f} s wall {r['cpu']:8.1f} s CPU  load {r['load'][0]:.1f} -> {r['load'][1]:.1f}"
                  f"  {len(r['results'])} results, exit {r['exit']}   ({r['command']})", flush=True)
    first = runs[0]
    for r in runs[1:]:
        differ = [f"{name}: {found}" for name, doc in first["results"].items()
                  if (found := first_difference(doc, r["results"].get(name))) is not None]
        print(f"{r['executor']} over {first['executor']}: {first['wall'] / r['wall']:.2f}x; results "
              + (f"DIFFER in {len(differ)} files, first {differ[0]}" if differ else "the same bytes")
              + " (clock readings left out)")


if __name__ == "__main__":
    main()
