"""The example sampler package (`examples/lvrbench-example-sampler/`, the truncation trick), pip-installed: the
conformance kit and its own closed-form suite pass, and the sampling task plans it only on generators of the prior it
declares, pairs it with direct and reproduces it under `verify`."""
from __future__ import annotations

import json
import math
import re

import pytest

from conftest import REPO, pip_install, run_cli, run_own_suite

pytestmark = pytest.mark.slow  # end to end: pip-installs the example, trains a ring8 generator through the CLI

EXAMPLE = REPO / "examples" / "lvrbench-example-sampler"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return pip_install(EXAMPLE, tmp_path_factory)


def test_the_conformance_kit_passes_on_it(installed):
    done = run_cli("test", "lvrbench-example-sampler", "-rA", pythonpath=installed, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = {line.split("::")[-1] for line in done.stdout.splitlines() if line.startswith("PASSED")}
    assert {"test_sampler_is_seeded_and_returns_estimates[truncation]", "test_default_grid_lies_in_the_declared_ranges[truncation]",
            "test_distribution_registers_its_plugins[lvrbench-example-sampler]"} <= passed
    assert "lvrbench-example-sampler has no regularizers" in done.stdout


def test_its_own_suite_runs_its_closed_forms_and_the_kit(installed, tmp_path):
    run_own_suite(EXAMPLE, installed, tmp_path, ("samplers",), own=8)  # tests/test_truncation.py: 8 closed-form checks


def test_it_is_listed_with_the_prior_it_requires(installed):
    listed = run_cli("list", "--kind", "samplers", "--json", pythonpath=installed)
    assert listed.returncode == 0, listed.stderr
    row = next(r for r in json.loads(listed.stdout)["samplers"] if r["name"] == "truncation")
    assert (row["plugin"], row["requires"], row["params"]) == ("lvrbench-example-sampler", "normal",
                                                                {"threshold": [1.0, 2.0], "max_rounds": [100.0]})


def test_the_sampling_task_runs_it_where_its_prior_is_and_verify_reproduces_it(installed, tmp_path):
    out, env = tmp_path / "lb", {"LVRBENCH_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    args = ("run", "--task", "sampling", "--dataset", "ring8", "--family", "vanilla", "--method", "direct",
            "--method", "truncation", "--out", str(out), "--device", "cpu")
    refused = run_cli(*args, pythonpath=installed, env=env)  # ring8's generators train on paper 003's uniform prior
    assert (refused.returncode, refused.stderr) == (2, "lvrbench: error: sampling: truncation is defined for the normal "
                                                       "prior, not the uniform prior\n")
    done = run_cli(*args, "--prior", "normal", pythonpath=installed, env=env)
    assert done.returncode == 0, done.stderr
    results = {(r["config"]["method"], r["config"]["hparams"].get("threshold")): r
               for r in (json.loads(p.read_text()) for p in (out / "results" / "sampling").glob("*.json"))}
    assert sorted(results) == [("direct", None), ("truncation", 1.0), ("truncation", 2.0)]
    for c in (1.0, 2.0):
        acceptance, p = results[("truncation", c)]["metrics"]["acceptance"], math.erf(c / math.sqrt(2))
        assert acceptance["low"] <= p <= acceptance["high"]  # 500 samples x 16 elements: the closed form in its interval
    page = (out / "sampling.md").read_text()
    assert re.search(r"\| vanilla +\| truncation +\| max_rounds=100, threshold=1 +\|", page), page
    assert run_cli("leaderboard", "check", "--out", str(out), pythonpath=installed).returncode == 0
    path = out / "results" / "sampling" / f"{results[('truncation', 1.0)]['id']}.json"
    verified = run_cli("verify", str(path), "--device", "cpu", pythonpath=installed, env=env)
    assert verified.returncode == 0 and verified.stdout.startswith(f"{path}: reproduces ("), verified.stderr
