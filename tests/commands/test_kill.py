"""SIGKILL at a random point of a run, mid-write included, then the same command: only unfinished cells are computed
and no result file is truncated. The kill times come from a seeded RNG, so the test is repeatable."""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, run_cli

from lvrbench.run.store import ResultStore

#: A task of single-cell jobs with a result large enough (a few MB of JSON) that writing it takes much of the run.
BULKY_TASK = '''
from lvrbench.api import hookimpl
from lvrbench.api import Cell, CellOutcome, Job
from lvrbench.kit import cell_config as make_config
from lvrbench.api import Task
from lvrbench.kit import summarize, table
from lvrbench.api import Estimate


class Bulky(Task):
    """A third-party task whose results are big."""

    name = "bulky"

    def plan(self, request):
        return [Job(self.name, f"cell {i}", [Cell(make_config(request, self, dataset="ring8", family="lsgan", prior="normal",
                                                               method="none", hparams={"i": float(i)}, seed=0, settings={},
                                                               plugins={}))])
                for i in range(CELLS)]

    def run(self, job, env):
        i = job.cells[0].config["hparams"]["i"]
        return [CellOutcome(metrics={"score": Estimate(i, i, i, 1).to_dict()}, extra={"payload": [i + k / 7 for k in range(150000)]})]

    def render(self, results, page):
        return table([[r["config"]["hparams"]["i"], summarize([r["metrics"]["score"]])] for r in results], ["i", "score"])


@hookimpl
def lvrbench_tasks():
    return [Bulky()]
'''
CELLS = 8


def snapshot(store: ResultStore) -> dict[str, bytes]:
    """Every result file (dot-files, a killed writer's temporaries, are no results) by name."""
    return {p.name: p.read_bytes() for p in store.dir.glob("bulky/*.json")}


@pytest.mark.slow
def test_sigkill_at_random_points_loses_no_result_and_resumes_only_unfinished_cells(plugin_dist, tmp_path):
    site = plugin_dist("lvrbench-bulky", {"lvrbench_bulky": BULKY_TASK.replace("CELLS", str(CELLS))}, {"bulky": "lvrbench_bulky"})
    root = tmp_path / "lb"
    args = ["run", "--task", "bulky", "--out", str(root)]
    env = {**os.environ, "PYTHONPATH": f"{site}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
           "LVRBENCH_CACHE_DIR": str(tmp_path / "cache")}
    store, rng = ResultStore(root), random.Random(20261201)
    kept, temporaries = {}, 0
    for round_ in range(6):
        before, left = snapshot(store), set(store.dir.glob("bulky/.*.tmp"))
        proc = subprocess.Popen([sys.executable, "-m", "lvrbench", *args], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline and not set(store.dir.glob("bulky/.*.tmp")) - left:
            time.sleep(0.01)  # this run's first write has begun: from here on, a kill lands in compute or mid-write
        # every other kill within the first tenth of a second of that write (a write takes a quarter of one, more
        # under load): mid-write; the others anywhere in the next cells' compute and writes
        time.sleep(rng.uniform(0.0, 0.1 if round_ % 2 else 1.5))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        found = re.search(r"(\d+) to compute", err)
        assert found, err
        todo = int(found.group(1))
        assert todo == CELLS - len(before)  # only the unfinished cells were to be computed
        temporaries += len(set(store.dir.glob("bulky/.*.tmp")) - left)  # a write this kill cut short
        results, problems = store.load()
        assert problems == []  # every result file is whole: valid JSON, valid result, its own id
        after = snapshot(store)
        assert {k: v for k, v in after.items() if k in before} == before  # a finished cell is never rewritten
        kept = after
        if len(kept) == CELLS:
            break
    assert temporaries > 0, "no kill landed mid-write; the test proved less than it says"
    done = run_cli(*args, env={"PYTHONPATH": env["PYTHONPATH"], "LVRBENCH_CACHE_DIR": env["LVRBENCH_CACHE_DIR"]})
    assert done.returncode == 0, done.stderr
    assert f"{CELLS} cells, {CELLS - len(kept)} to compute" in done.stderr
    assert {k: v for k, v in snapshot(store).items() if k in kept} == kept and len(snapshot(store)) == CELLS
