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
    """Every result under `root`, its clock readings left out: provenance's, and the fields a task declares as
    `timings` (sampling's measured seconds), which `verify` leaves out too."""
    from lvrbench.run.registry import load_registry

    registry = load_registry()
    out = {}
    for path in sorted((root / "results").glob("*/*.json")):
        doc = json.loads(path.read_text())
        for key in CLOCK:
            doc["provenance"].pop(key, None)
        for dotted in registry.get("tasks", path.parent.name).timings:
            *parents, last = dotted.split(".")
            holder = doc
            for name in parents:
                holder = holder.get(name, {}) if isinstance(holder, dict) else {}
            if isinstance(holder, dict):
                holder.pop(last, None)
        out[f"{path.parent.name}/{path.name}"] = doc
    return out


def first_difference(a: object, b: object, where: str = "") -> str | None:
    """The dotted path of the first place two result documents differ (None: equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(a.keys() | b.keys(), key=str):
            if key not in a or key not in b:
                return f"{where}.{key}".lstrip(".")
            if (found := first_difference(a[key], b[key], f"{where}.{key}")) is not None:
                return found.lstrip(".")
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return next((f for i, (x, y) in enumerate(zip(a, b)) if (f := first_difference(x, y, f"{where}[{i}]"))), None)
    return None if a == b else (where.lstrip(".") or "(root)")


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
        differ = [f"{name}: {first_difference(doc, r['results'].get(name))}" for name, doc in first["results"].items()
                  if doc != r["results"].get(name)]
        print(f"{r['executor']} over {first['executor']}: {first['wall'] / r['wall']:.2f}x; results "
              + (f"DIFFER in {len(differ)} files, first {differ[0]}" if differ else "the same bytes")
              + " (clock readings left out)")


if __name__ == "__main__":
    main()
