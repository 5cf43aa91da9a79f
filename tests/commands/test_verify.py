"""`lvrbench verify`: a result's cell recomputed from its config; versions, data and artifact keys checked first."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import est, run_cli

from lvrbench.base.errors import UsageError
from lvrbench.api.contracts import CellOutcome
from lvrbench.run.harness import PlanRequest, to_result
from lvrbench.base.identity import cell_id
from lvrbench.run.store import ResultStore
from lvrbench.commands.verify import differences, other_code_path, read_claims

ARGS = ["--task", "mode-coverage", "--dataset", "ring8", "--family", "vanilla"]


def planned(registry) -> dict:
    """The config mode-coverage plans for ring8 and vanilla, as the installed code gives it (no compute)."""
    task = registry.get("tasks", "mode-coverage")
    (job,) = task.plan(PlanRequest(registry, datasets=("ring8",), families=("vanilla",)))
    return job.cells[0].config


def claimed(registry, tmp_path: Path, edit=None, **outcome) -> Path:
    """A valid ok result file of the planned cell, `edit(result)` applied and its id recomputed."""
    from lvrbench.api.contracts import Cell

    config = planned(registry)
    result = to_result(Cell(config), CellOutcome(metrics={"modes_covered": est(8.0)},
                                                 artifacts={"generator": {"key": registry.get("tasks", "mode-coverage")
                                                                          .artifact_keys(config)["generator"]}}, **outcome),
                       {"device": "cpu"})
    if edit:
        edit(result)
        result["id"] = cell_id(result["config"])
    path = tmp_path / f"{result['id']}.json"
    path.write_text(json.dumps(result))
    return path


def test_a_result_whose_inputs_match_is_accepted_before_any_compute(registry, tmp_path):
    (claim,) = read_claims(registry, [claimed(registry, tmp_path)], None)
    assert claim.task.name == "mode-coverage" and claim.result["artifacts"]["generator"]["key"] == \
        claim.task.artifact_keys(claim.result["config"])["generator"]


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["config"]["code"].update(family={"distribution": "lvrbench", "revision": 7}),
     "computed by family vanilla revision 7 of lvrbench; install the code that computed it to verify it"),
    (lambda r: r["config"]["code"]["core"].update(recovery=99),
     "computed by another revision of lvrbench's core; install the code that computed it to verify it"),
    (lambda r: r["config"].update(family="gone"),
     "its family gone is not installed; install the code that computed it to verify it"),
    (lambda r: r["config"].update(data="0" * 16),
     "config.data is '0000000000000000' but the ring8 data here has digest '{data}'"),
    (lambda r: r["artifacts"]["generator"].update(key="0" * 16),
     'artifacts.generator.key is "0000000000000000" but its config gives "{key}"; nothing was computed'),
    (lambda r: r.update(status="failed", error="boom"), "a failed cell (boom); there are no numbers to reproduce"),
])
def test_revisions_data_and_artifact_keys_are_checked_in_one_line(registry, tmp_path, edit, message):
    config = planned(registry)
    path = claimed(registry, tmp_path, edit)
    expected = message.format(data=config["data"], key=registry.get("tasks", "mode-coverage").artifact_keys(config)["generator"])
    with pytest.raises(UsageError) as caught:
        read_claims(registry, [path], None)
    assert str(caught.value) == f"{path}: {expected}"


def test_differences_are_exact_on_the_cpu_and_within_the_tolerance_on_a_gpu():
    a = {"metrics": {"m": {"value": 0.5, "low": 0.4, "high": 0.6, "n": 10}}, "extra": {"xs": [1, 2.5], "k": "a"}}
    b = {"metrics": {"m": {"value": 0.5 + 1e-12, "low": 0.4, "high": 0.6, "n": 10}}, "extra": {"xs": [1, 2.5], "k": "a"}}
    assert differences(a, a, None) == []
    assert differences(a, b, None) == [f"metrics.m.value: recorded 0.5, recomputed {0.5 + 1e-12!r}"]
    assert differences(a, b, {"rel": 1e-6, "abs": 0.0}) == []
    c = {"metrics": {"m": {**b["metrics"]["m"], "n": 11}}, "extra": {"xs": [1, 2.5, 3], "k": "b"}}
    assert differences(a, c, {"rel": 0.01, "abs": 0.0}) == [
        "extra.k: recorded 'a', recomputed 'b'", "extra.xs: 2 items recorded, 3 recomputed", "metrics.m.n: recorded 10, recomputed 11"]
    assert differences(a, {"metrics": {}, "extra": {"xs": [1.0, 2.5], "k": "a"}}, None) == [
        "extra.xs[0]: recorded 1, recomputed 1.0", "metrics.m: recorded only"]


def test_bits_are_compared_only_on_the_same_cpu_code_path():
    from lvrbench.base import threads

    here = {"device": "cpu (x86_64, 1 threads)", "torch": "2.14.1", "threads": {"threads": 1, "wait_policy": "passive"},
            "cpu_code_path": threads.cpu_code_path()}
    assert other_code_path(here, json.loads(json.dumps(here))) is None
    assert other_code_path({**here, "threads": {"threads": 2}}, here) == "other CPU code path: threads 2 recorded, 1 here"
    avx2 = {**here, "cpu_code_path": {**here["cpu_code_path"], "cpu_capability": "AVX2"}}
    assert other_code_path(avx2, here) == f"other CPU code path: cpu_capability AVX2 recorded, {here['cpu_code_path']['cpu_capability']} here"
    assert other_code_path({"device": "cpu"}, here).startswith("other CPU code path: ")  # a result that records none
    assert other_code_path({**here, "device": "NVIDIA H100"}, here) == "a GPU"


@pytest.fixture(scope="module")
def computed(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("verify")
    root, env = base / "lb", {"LVRBENCH_CACHE_DIR": str(base / "cache")}
    done = run_cli("run", *ARGS, "--out", str(root), env=env)
    assert done.returncode == 0, done.stderr
    (path,) = (root / "results" / "mode-coverage").glob("*.json")
    return {"base": base, "path": path, "env": env}


@pytest.mark.slow
def test_a_computed_cell_reproduces_exactly_even_with_its_generator_trained_again(computed):
    fresh = {"LVRBENCH_CACHE_DIR": str(computed["base"] / "empty-cache")}
    done = run_cli("verify", str(computed["path"]), "--device", "cpu", env=fresh)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{computed['path']}: reproduces (2 metrics and every number in extra and artifacts, exactly, on cpu)\n"
    assert list((computed["base"] / "empty-cache" / "generators").glob("*.pt"))  # it did train the generator again


@pytest.mark.slow
def test_a_tampered_metric_does_not_reproduce_and_names_the_metric_and_both_values(computed, tmp_path):
    result = json.loads(computed["path"].read_text())
    true = result["metrics"]["high_quality"]["value"]
    result["metrics"]["high_quality"]["value"] = true + 0.01  # metrics are not part of the id: the file stays valid
    tampered = tmp_path / computed["path"].name
    tampered.write_text(json.dumps(result))
    done = run_cli("verify", str(tampered), str(computed["path"]), env=computed["env"])
    assert done.returncode == 1
    assert f"lvrbench: {tampered}: metrics.high_quality.value: recorded {true + 0.01!r}, recomputed {true!r}" in done.stderr
    assert done.stdout.splitlines() == [f"{tampered}: does not reproduce (1 number differs; compared exactly)",
                                        f"{computed['path']}: reproduces (2 metrics and every number in extra and artifacts, "
                                        "exactly, on cpu)"]
    result["metrics"]["high_quality"]["value"] = true
    result["extra"]["per_mode"][0] += 1  # what a page shows from extra is checked too
    tampered.write_text(json.dumps(result))
    done = run_cli("verify", str(tampered), env=computed["env"])
    assert done.returncode == 1 and f"lvrbench: {tampered}: extra.per_mode[0]: recorded " in done.stderr


@pytest.mark.slow
def test_a_wrong_artifact_key_is_refused_before_any_compute(computed, tmp_path):
    result = json.loads(computed["path"].read_text())
    result["artifacts"]["generator"]["key"] = "0" * 16
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(result))
    cache = tmp_path / "never-made"
    done = run_cli("verify", str(computed["path"]), str(bad), env={"LVRBENCH_CACHE_DIR": str(cache)})
    assert done.returncode == 2 and done.stderr.startswith(f'lvrbench: error: {bad}: artifacts.generator.key is "0000000000000000"')
    assert len(done.stderr.splitlines()) == 1 and done.stdout == "" and not cache.exists()
    assert ResultStore(computed["path"].parents[2]).status("mode-coverage", computed["path"].stem) == "done"


def test_a_tasks_timings_are_left_out_of_the_comparison_but_must_exist():
    a = {"extra": {"cost": {"seconds": 0.008, "generator_evals": 1000}}}
    b = {"extra": {"cost": {"seconds": 0.009, "generator_evals": 1000}}}
    skip = ("extra.cost.seconds",)
    assert differences(a, b, None) == ["extra.cost.seconds: recorded 0.008, recomputed 0.009"]
    assert differences(a, b, None, skip=skip) == []
    c = {"extra": {"cost": {"seconds": 0.009, "generator_evals": 1001}}}
    assert differences(a, c, None, skip=skip) == ["extra.cost.generator_evals: recorded 1000, recomputed 1001"]
    assert differences(a, {"extra": {"cost": {"generator_evals": 1000}}}, None, skip=skip) == [
        "extra.cost.seconds: recorded only"]


@pytest.mark.slow
def test_a_sampling_cell_reproduces_though_its_wall_seconds_cannot(tmp_path):
    root, env = tmp_path / "lb", {"LVRBENCH_CACHE_DIR": str(tmp_path / "cache")}
    done = run_cli("run", "--task", "sampling", "--dataset", "ring8", "--family", "vanilla", "--method", "drs",
                   "--out", str(root), env=env)
    assert done.returncode == 0, done.stderr
    (path,) = (root / "results" / "sampling").glob("*.json")
    fresh = {"LVRBENCH_CACHE_DIR": str(tmp_path / "empty-cache")}
    done = run_cli("verify", str(path), "--device", "cpu", env=fresh)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{path}: reproduces (")
    assert done.stdout.endswith("exactly; timings not compared: extra.cost.seconds, extra.direct_cost.seconds, on cpu)\n")


@pytest.mark.slow
def test_another_cpu_code_path_is_compared_within_tolerance_and_never_called_a_failure_to_reproduce(computed, tmp_path):
    result = json.loads(computed["path"].read_text())
    assert result["provenance"]["threads"]["threads"] == 1 and result["provenance"]["cpu_code_path"]
    result["provenance"]["threads"]["threads"] = 2  # as a run outside the policy would record
    other = tmp_path / computed["path"].name
    other.write_text(json.dumps(result))
    done = run_cli("verify", str(other), env=computed["env"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == (f"{other}: reproduces (2 metrics and every number in extra and artifacts, within rel 0.001, "
                           "abs 1e-06 (other CPU code path: threads 2 recorded, 1 here), on cpu)\n")
    result["metrics"]["high_quality"]["value"] *= 1.5  # beyond the tolerance: what training amplifies on other kernels
    other.write_text(json.dumps(result))
    done = run_cli("verify", str(other), env=computed["env"])
    assert done.returncode == 1
    assert done.stdout == (f"{other}: differs on other CPU code path: threads 2 recorded, 1 here (1 number differs beyond "
                           "rel 0.001, abs 1e-06): verify it where the recorded code path is to compare bit for bit\n")
