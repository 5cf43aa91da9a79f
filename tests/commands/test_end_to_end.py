"""The CLI end to end on real data: interrupt and resume, failures per cell, reproducibility, leaderboards.

These train real (small, quick-profile) networks, so they are the slowest tests of the suite.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, run_cli

pytestmark = pytest.mark.slow  # end to end: real networks trained through the CLI

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def results_of(root: Path, task: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "results" / task).glob("*.json"))]


@pytest.fixture(scope="module")
def ring(tmp_path_factory):
    """A ring8 generation run; then, on its cached generators, a reconstruction run interrupted after its first cell,
    looked at with --dry-run and resumed. All in the fixture, so no test depends on another having run."""
    base = tmp_path_factory.mktemp("ring")
    root, env = base / "lb", {"LVRBENCH_CACHE_DIR": str(base / "cache")}
    args = ["run", "--task", "generation", "--dataset", "ring8", "--family", "vanilla", "--family", "lsgan", "--out", str(root)]
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    # one job at a time, each about 2 s (5 encoders), so that the interrupt lands while the second computes
    again = ["run", "--task", "reconstruction", "--dataset", "ring8", "--family", "vanilla", "--family", "lsgan", "--out",
             str(root), "--executor", "inprocess"]
    # SIGINT as a terminal delivers it, even where this suite runs in the background of a non-interactive shell, whose
    # children start with SIGINT ignored (Python then installs no KeyboardInterrupt handler)
    proc = subprocess.Popen([sys.executable, "-m", "lvrbench", *again], cwd=REPO, env={**os.environ, **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while not list(root.glob("results/reconstruction/*.json")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, interrupted_err = proc.communicate(timeout=120)
    saved = results_of(root, "reconstruction")
    dry = run_cli(*again, "--dry-run", env=env)
    resumed = run_cli(*again, env=env)
    finished = run_cli(*again, "--dry-run", env=env)
    return {"root": root, "env": env, "args": args, "interrupted_rc": proc.returncode, "interrupted_err": interrupted_err,
            "saved": saved, "dry": dry, "resumed": resumed, "finished": finished}


def test_an_interrupted_run_keeps_finished_cells_and_resumes(ring):
    assert ring["interrupted_rc"] == 130, ring["interrupted_err"]
    assert "interrupted; finished cells are saved" in ring["interrupted_err"]
    assert "Traceback" not in ring["interrupted_err"]
    saved = ring["saved"]
    assert len(saved) == 1 and saved[0]["status"] == "ok"

    assert ring["dry"].returncode == 0
    assert ring["dry"].stdout.splitlines()[-1] == "2 cells: 1 done, 0 failed, 1 pending; 1 to compute"
    assert f"done     {saved[0]['id']}" in ring["dry"].stdout

    assert ring["resumed"].returncode == 0, ring["resumed"].stderr
    assert "2 cells, 1 to compute in 1 job on" in ring["resumed"].stderr
    assert saved[0] in results_of(ring["root"], "reconstruction")  # the finished cell was not recomputed
    assert ring["finished"].stdout.splitlines()[-1] == "2 cells: 2 done, 0 failed, 0 pending; 0 to compute"


def test_generation_scores_and_figures(ring):
    root = ring["root"]
    results = results_of(root, "generation")
    assert {r["config"]["family"] for r in results} == {"lsgan", "vanilla"}
    for r in results:
        m = r["metrics"]
        assert set(m) == {"fid", "precision", "recall", "modes_covered", "high_quality"}
        for key in ("precision", "recall", "high_quality"):
            assert 0 <= m[key]["low"] <= m[key]["value"] <= m[key]["high"] <= 1
        assert m["fid"]["value"] >= 0 and 0 <= m["modes_covered"]["low"] <= m["modes_covered"]["value"] <= 8
        assert r["artifacts"]["evaluator"] == {"key": "identity", "test_accuracy": None,
                                               "description": {"arch": "identity", "epochs": 0, "seed": None}}
        prov = r["provenance"]
        assert {"lvrbench", "git_commit", "torch", "device", "wall_time_s", "python"} <= set(prov)
        assert r["config"]["code"]["family"] == {"distribution": "lvrbench", "revision": 1}
    text = (root / "generation.md").read_text()
    assert "Smoke-level numbers" in text and "## ring8" in text
    for link in [part.split(")")[0] for part in text.split("](")[1:]]:
        assert (root / link).is_file() and (root / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_same_seed_same_numbers(ring):
    root, env, args = ring["root"], ring["env"], ring["args"]
    before = {r["id"]: r for r in results_of(root, "generation")}
    again = run_cli(*args, "--force", env=env)
    assert again.returncode == 0, again.stderr
    after = {r["id"]: r for r in results_of(root, "generation")}
    assert before.keys() == after.keys()
    for cid in before:
        assert json.dumps(before[cid]["metrics"]) == json.dumps(after[cid]["metrics"])
        assert before[cid]["extra"] == after[cid]["extra"]


def test_leaderboard_check_catches_hand_edits(ring):
    root, env = ring["root"], ring["env"]
    ok = run_cli("leaderboard", "check", "--out", str(root), env=env)
    assert ok.returncode == 0 and ok.stdout.strip() == "leaderboards match their results"
    md = root / "generation.md"
    original = md.read_text()
    md.write_text(original.replace("| lsgan ", "| LSGAN ", 1))
    edited = run_cli("leaderboard", "check", "--out", str(root), env=env)
    assert edited.returncode == 1
    assert f"lvrbench: {root}/generation.md: differs from what `lvrbench leaderboard build` writes" in edited.stderr
    stale = root / "images" / "generation" / "stale.png"
    stale.write_bytes(b"\x89PNG")
    orphan = run_cli("leaderboard", "check", "--out", str(root), env=env)
    assert f"lvrbench: {root}/images/generation/stale.png: no leaderboard links to it (run `lvrbench leaderboard build`)" \
        in orphan.stderr
    rebuilt = run_cli("leaderboard", "build", "--out", str(root), env=env)
    assert rebuilt.returncode == 0 and md.read_text() == original and not stale.exists()
    result = sorted((root / "results" / "generation").glob("*.json"))[0]
    data = json.loads(result.read_text())
    data["config"]["seed"] = 7
    result.write_text(json.dumps(data))
    tampered = run_cli("leaderboard", "check", "--out", str(root), env=env)
    assert tampered.returncode == 1 and "does not match its config" in tampered.stderr


TOY_TASK = '''
import os

from lvrbench.api import hookimpl
from lvrbench.api import Cell, CellOutcome, Job
from lvrbench.kit import cell_config as make_config
from lvrbench.api import Task
from lvrbench.kit import summarize, table
from lvrbench.api import Estimate


class Toy(Task):
    """A third-party task whose cells fail on purpose."""

    name = "toy"

    def plan(self, request):
        jobs = []
        for group in ("raises", "mixed"):
            cells = [Cell(make_config(request, self, dataset="ring8", family="lsgan", prior="normal", method=group,
                                      hparams={"x": float(i)}, seed=s, settings={}, plugins={}))
                     for i in range(2) for s in request.seeds]
            jobs.append(Job(self.name, group, cells))
        return jobs

    def run(self, job, env):
        if job.label == "raises":
            raise ValueError("boom\\non two lines")
        good = lambda c: c.config["hparams"]["x"] == 0 and not os.environ.get("TOY_FAIL")  # noqa: E731
        return [CellOutcome(metrics={"score": Estimate(1.0 if good(c) else float("nan"), 0.9, 1.0, 10).to_dict()}) for c in job.cells]

    def render(self, results, page):
        if os.environ.get("TOY_RENDER_EXITS"):
            raise SystemExit(5)
        return table([[r["config"]["method"], summarize([r["metrics"]["score"]])] for r in results], ["method", "score"])


@hookimpl
def lvrbench_tasks():
    return [Toy()]
'''


def test_failures_are_recorded_per_cell_and_the_run_goes_on(plugin_dist, tmp_path):
    site = plugin_dist("lvrbench-toy", {"lvrbench_toy_task": TOY_TASK}, {"toy": "lvrbench_toy_task"})
    root, env = tmp_path / "lb", {"LVRBENCH_CACHE_DIR": str(tmp_path / "cache")}
    done = run_cli("run", "--task", "toy", "--out", str(root), env=env, pythonpath=site)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    results = {(r["config"]["method"], r["config"]["hparams"]["x"]): r for r in results_of(root, "toy")}
    assert len(results) == 4
    assert results[("raises", 0.0)]["error"] == results[("raises", 1.0)]["error"] == "ValueError: boom on two lines"
    assert results[("mixed", 0.0)]["status"] == "ok"
    assert results[("mixed", 0.0)]["metrics"] == {"score": {"value": 1.0, "low": 0.9, "high": 1.0, "n": 10}}
    assert results[("mixed", 1.0)]["error"] == "non-finite value in metrics.score.value"
    assert "lvrbench: 3 cells failed:" in done.stderr
    assert done.stderr.count(": ValueError: boom on two lines") == 2
    page = (root / "toy.md").read_text()
    assert "## Failed cells" in page and "non-finite value in metrics.score.value" in page
    again = run_cli("run", "--task", "toy", "--out", str(root), "--dry-run", env=env, pythonpath=site)
    assert again.stdout.splitlines()[-1] == "4 cells: 1 done, 3 failed, 0 pending; 3 to compute"
    # --force whose recompute fails keeps the earlier good result, and says so
    good = next((root / "results" / "toy").glob(f"{results[('mixed', 0.0)]['id']}.json"))
    before = good.read_bytes()
    forced = run_cli("run", "--task", "toy", "--out", str(root), "--force", env={**env, "TOY_FAIL": "1"}, pythonpath=site)
    assert forced.returncode == 1 and "Traceback" not in forced.stderr
    assert f"{results[('mixed', 0.0)]['id']}: non-finite value in metrics.score.value (the earlier ok result is kept)" in forced.stderr
    assert good.read_bytes() == before
    # a render that breaks (here by sys.exit) loses neither the results nor the list of failed cells
    unrendered = run_cli("run", "--task", "toy", "--out", str(root), env={**env, "TOY_RENDER_EXITS": "1"}, pythonpath=site)
    assert unrendered.returncode == 1 and "Traceback" not in unrendered.stderr
    err = unrendered.stderr
    assert err.index("lvrbench: 3 cells failed:") < err.index("lvrbench: the results are saved but no leaderboard was written")
    assert "results/toy/: cannot be rendered (SystemExit: 5)" in err and good.read_bytes() == before


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    if not FMNIST.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    base = tmp_path_factory.mktemp("recovery")
    root, env = base / "lb", {"LVRBENCH_CACHE_DIR": str(base / "cache")}
    methods = [a for m in ("none", "bhattacharyya", "trick-discriminator", "hard-cutoff") for a in ("--method", m)]
    args = ["run", "--task", "recovery-real", "--task", "recovery-synthetic", *methods, "--prior", "normal", "--out", str(root)]
    done = run_cli(*args, env=env)
    assert done.returncode == 0, done.stderr
    return {"root": root, "env": env, "args": args}


def test_recovery_real_end_to_end(recovery):
    root = recovery["root"]
    results = results_of(root, "recovery-real")
    by_method: dict[str, list] = {}
    for r in results:
        by_method.setdefault(r["config"]["method"], []).append(r)
    # quick grid: lr {0.032, 0.1} x weight {0, 0.1, 1, 3.2}; hard-cutoff c {2.5, 3, 3.5}
    assert {m: len(v) for m, v in by_method.items()} == {"none": 2, "bhattacharyya": 8, "trick-discriminator": 8, "hard-cutoff": 6}
    for r in results:
        acc = r["metrics"]["accuracy"]
        assert 0 <= acc["low"] <= acc["value"] <= acc["high"] <= 1 and acc["n"] == 32
        test_acc = r["artifacts"]["evaluator"]["test_accuracy"]
        assert test_acc["n"] == 10000 and 0.75 < test_acc["low"] < test_acc["value"] < test_acc["high"] < 1
        # the same recovered images classified by the second evaluator (an MLP of another seed)
        alt = r["metrics"]["accuracy_alt"]
        assert alt["n"] == 32 and alt["value"] == sum(r["extra"]["correct_alt"]) / 32
        assert r["artifacts"]["evaluator_alt"]["description"] == {"arch": "mlp-512-128", "epochs": 1, "seed": 1,
                                                                  "n_train": 25000}
        assert r["artifacts"]["generator"]["check"] == {"failed": False, "why": ""}
    none = {r["config"]["hparams"]["lr"]: r["metrics"]["accuracy"]["value"] for r in by_method["none"]}
    for r in by_method["bhattacharyya"] + by_method["trick-discriminator"]:
        if r["config"]["hparams"]["weight"] == 0:  # paper 000's "No loss" column is the same in every table
            assert r["metrics"]["accuracy"]["value"] == none[r["config"]["hparams"]["lr"]]
    text = (root / "recovery-real.md").read_text()
    assert "## Ranking" in text and "#### fashion-mnist / lsgan / normal prior / bhattacharyya" in text
    assert "No ranks: one training seed per row" in text  # the quick profile's one seed: no ranks, no verdicts
    assert "**not applicable**: one training seed" in text and "**agrees**" not in text
    assert (root / "images" / "recovery-real" / "fashion-mnist-lsgan-normal-bhattacharyya.png").is_file()


def test_recovery_synthetic_end_to_end(recovery):
    root = recovery["root"]
    results = results_of(root, "recovery-synthetic")
    assert sorted(r["config"]["method"] for r in results).count("bhattacharyya") == 3
    for r in results:
        errors = r["extra"]["errors"]
        assert len(errors) == 16
        assert r["metrics"]["mean_error"]["value"] == pytest.approx(sum(errors) / 16, rel=1e-12)
        assert r["metrics"]["under_1"]["value"] == pytest.approx(sum(e < 1 for e in errors) / 16)
    # the baselines, per latent on the same z_true: the prior's mean (0) and the unoptimised init, by hand
    import torch

    from lvrbench.base.hashing import derive_seed

    z_true = torch.randn(16, 16, generator=torch.Generator().manual_seed(derive_seed(0, "z-true"))).double()
    init = torch.randn(16, 16, generator=torch.Generator().manual_seed(derive_seed(0, "init"))).double()
    for r in results:
        baselines = r["extra"]["baselines"]
        assert baselines["prior_mean"]["errors"] == pytest.approx(z_true.square().mean(-1).tolist(), rel=1e-12)
        assert baselines["init"]["errors"] == pytest.approx((init - z_true).square().mean(-1).tolist(), rel=1e-12)
    # at d_z = 16 plain descent recovers latents: `none` ends below both baselines on average, and brings latents
    # under 1e-2 (4 of 16 in quick's 250 steps) where neither baseline brings any
    none = next(r for r in results if r["config"]["method"] == "none")
    mean = lambda values: sum(values) / len(values)  # noqa: E731
    baselines = none["extra"]["baselines"]
    assert none["metrics"]["mean_error"]["value"] < mean(baselines["prior_mean"]["errors"]) < mean(
        baselines["init"]["errors"])
    assert sum(e < 1e-2 for e in none["extra"]["errors"]) >= 2
    assert min(baselines["prior_mean"]["errors"] + baselines["init"]["errors"]) > 1e-2
    text = (root / "recovery-synthetic.md").read_text()
    assert "% wins" in text and "| none " in text


DIVERGING = '''
import math

from lvrbench.api import hookimpl
from lvrbench.api import Regularizer


class Diverging(Regularizer):
    """A regularizer whose gradient becomes infinite at step 3."""

    name = "diverges-at-3"

    def loss(self, z, ctx):
        return z.sum(-1) * (math.inf if ctx.step >= 3 else 0.0)


@hookimpl
def lvrbench_regularizers():
    return [Diverging()]
'''


def test_a_diverging_recovery_is_a_failed_cell_and_the_run_goes_on(recovery, plugin_dist):
    site = plugin_dist("lvrbench-diverging", {"lvrbench_diverging": DIVERGING}, {"diverging": "lvrbench_diverging"})
    root = recovery["root"].parent / "diverging"
    done = run_cli("run", "--task", "recovery-real", "--method", "diverges-at-3", "--method", "none", "--prior", "normal",
                   "--set", "lr=0.1", "--set", "weight=0,1", "--out", str(root), env=recovery["env"], pythonpath=site)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    status = {(r["config"]["method"], r["config"]["hparams"].get("weight")): r for r in results_of(root, "recovery-real")}
    assert {k: r["status"] for k, r in status.items()} == {("none", None): "ok", ("diverges-at-3", 0.0): "ok",
                                                          ("diverges-at-3", 1.0): "failed"}
    assert status[("diverges-at-3", 1.0)]["error"] == "recovery diverged to non-finite values at step 3 for 32 of 32 latents"
    assert "lvrbench: 1 cell failed:" in done.stderr


def test_recovery_reproduces_and_leaderboards_check(recovery):
    root, env = recovery["root"], recovery["env"]
    before = {r["id"]: r["metrics"] for r in results_of(root, "recovery-real") if r["config"]["method"] == "hard-cutoff"}
    again = run_cli("run", "--task", "recovery-real", "--method", "hard-cutoff", "--prior", "normal", "--force",
                    "--out", str(root), env=env)
    assert again.returncode == 0, again.stderr
    after = {r["id"]: r["metrics"] for r in results_of(root, "recovery-real") if r["config"]["method"] == "hard-cutoff"}
    assert json.dumps(before, sort_keys=True) == json.dumps(after, sort_keys=True)
    check = run_cli("leaderboard", "check", "--out", str(root), env=env)
    assert check.returncode == 0, check.stderr
