"""Shared fixtures: real plugin distributions on sys.path, the CLI in a subprocess."""
from __future__ import annotations

import functools
import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: The conformance kit's fixtures and checks (also loaded through its pytest11 entry point where lvrbench is installed).
pytest_plugins = ["lvrbench.testing"]


def est(value: float, n: int = 10) -> dict:
    """A {value, low, high, n} estimate with a zero-width interval: what result metrics must be."""
    return {"value": value, "low": value, "high": value, "n": n}


def gen(seed: int):
    """A seeded CPU torch.Generator."""
    import torch

    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def one_thread():
    """One torch thread: on two shared cores, two threads make small tensor ops many times slower."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="session")
def registry():
    from lvrbench.run.registry import load_registry

    return load_registry(strict=True)


@pytest.fixture
def plugin_dist(tmp_path, monkeypatch):
    """Install a plugin distribution the way pip leaves it (a .dist-info with entry_points.txt + modules).

    make(dist_name, modules={module_name: source}, entry_points={ep_name: "module[:attr]"}) -> site dir.
    The site dir is put on sys.path for this test (and can be passed as PYTHONPATH to a subprocess).
    """
    site = tmp_path / "site"
    site.mkdir()
    added: list[str] = []

    def make(dist_name: str, modules: dict[str, str], entry_points: dict[str, str], version: str = "1.0") -> Path:
        for name, source in modules.items():
            (site / f"{name}.py").write_text(textwrap.dedent(source))
            added.append(name)
        info = site / f"{dist_name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text("[lvrbench]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))
        importlib.invalidate_caches()
        return site

    monkeypatch.syspath_prepend(str(site))
    yield make
    for name in added:
        sys.modules.pop(name, None)


def pip_install(package: Path, tmp_path_factory) -> Path:
    """A real package from examples/, pip-installed into a --target directory (for PYTHONPATH) from a copy, so builds
    leave the checkout clean."""
    import shutil

    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(package, tmp_path_factory.mktemp("src") / package.name)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


def run_own_suite(package: Path, installed: Path, tmp_path: Path, kinds: tuple[str, ...], own: int = 0) -> None:
    """An example package's own `tests/` under plain pytest with the package installed (`installed`, a pip_install
    target): every test passes, the kit's checks of `kinds` and of its entry point run (plus `own` tests of its own),
    and every other check of the kit is skipped, one skip each."""
    import re
    import shutil

    from lvrbench.testing.conformance import CHECKS

    tests = shutil.copytree(package / "tests", tmp_path / "tests")
    env = {**os.environ, "PYTHONPATH": f"{installed}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tests)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    ran = {check for kind in (*kinds, "entry points") for check in CHECKS[kind]}
    others = {check for checks in CHECKS.values() for check in checks} - ran
    assert re.search(rf"\b{len(ran) + own} passed, {len(others)} skipped\b", done.stdout), done.stdout[-500:]


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, pythonpath: Path | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
    """`lvrbench ARGS` in a fresh interpreter; returns the completed process (text stdout/stderr)."""
    full_env = {**os.environ, **(env or {})}
    if pythonpath is not None:
        full_env["PYTHONPATH"] = str(pythonpath) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "lvrbench", *args], cwd=cwd or REPO, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def cli_here(capsys, monkeypatch):
    """`lvrbench ARGS` in this interpreter (no torch import to wait for): returns (exit code, stdout, stderr).

    `env` entries are set for the call; a subprocess (`run_cli`) is what proves import-time behaviour."""
    from lvrbench.commands.cli import main

    def call(*args: str, env: dict | None = None) -> tuple[int, str, str]:
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main(list(args))
        out, err = capsys.readouterr()
        return exited.value.code, out, err

    return call


@functools.cache
def planning_registry():
    """The installed plugins, loaded once for the helpers below (the `registry` fixture serves tests)."""
    from lvrbench.run.registry import load_registry

    return load_registry(strict=True)


def recovery_config(task: str, method: str, hparams: dict, seed: int = 0, n: int | None = None, **settings) -> dict:
    """A recovery-real or recovery-synthetic cell config as the installed planner gives it (quick profile, LSGAN on
    Fashion-MNIST under N(0, 1): 32 images, 16 latents); an `n` images or latents, or `settings`, replace those
    settings, making a crafted config the planner does not produce (`leaderboard check` refuses it)."""
    from lvrbench.run.harness import PlanRequest

    registry = planning_registry()
    request = PlanRequest(registry, "quick", datasets=("fashion-mnist",), families=("lsgan",), methods=(method,),
                          priors=("normal",), seeds=(seed,), overrides={k: (v,) for k, v in hparams.items()})
    (config,) = [cell.config for job in registry.get("tasks", task).plan(request) for cell in job.cells]
    if n is not None:
        config["settings"]["n_images" if task == "recovery-real" else "n_latents"] = n
    config["settings"].update(settings)
    return config


def ok_result() -> dict:
    """A valid recovery-real result of the installed code (a copy: tests may change it)."""
    from lvrbench.api.contracts import Cell
    from lvrbench.run.harness import to_result

    return to_result(Cell(recovery_config("recovery-real", "bhattacharyya", {"lr": 0.01, "weight": 1.0})),
                     real_outcome([1, 0] * 16), {})


def real_outcome(correct: list[int], l1: list[float] | None = None):
    """A recovery-real CellOutcome from per-image 0/1 outcomes (its accuracy their Wilson share)."""
    import torch

    from lvrbench.api.contracts import CellOutcome
    from lvrbench.api.estimates import proportion

    return CellOutcome(metrics={"accuracy": proportion(torch.tensor(correct)).to_dict(), "l1": est(0.1, len(correct))},
                       extra={"correct": list(correct), "l1": l1 or [0.1] * len(correct)},
                       artifacts={"evaluator": {"key": evaluator_key(), "test_accuracy": est(0.9, 100)}})


@functools.cache
def evaluator_key() -> str:
    """The key of the classifier every planned quick recovery-real cell on Fashion-MNIST names (one spec for all)."""
    from lvrbench.base.identity import artifact_keys

    return artifact_keys(recovery_config("recovery-real", "none", {"lr": 0.01}))["evaluator"]


@pytest.fixture
def built(registry, tmp_path) -> Path:
    """A root with one recovery-real result, built: its page and the one figure the page links; `check` finds nothing."""
    from lvrbench.report.check import check
    from lvrbench.report.pages import build
    from lvrbench.run.store import ResultStore

    root = tmp_path / "root"
    ResultStore(root).write(ok_result())
    build(registry, root)
    assert check(registry, root) == []
    return root


def git(repo: Path, *args: str) -> str:
    """git in `repo` as a test user; its stdout."""
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          check=True, capture_output=True, text=True).stdout.strip()

