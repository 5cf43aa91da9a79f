"""Cells, results and leaderboards: identities, validation, failure isolation, build/check."""
from __future__ import annotations

import json
import math
import re

import pytest

from lvrbench.base.errors import UsageError
from lvrbench.api.contracts import Cell, CellOutcome
from lvrbench.run.harness import to_result
from lvrbench.base.hashing import canonical_json, derive_seed
from lvrbench.base.text import fmt_estimate
from lvrbench.kit.pages import summarize
from lvrbench.report.check import check
from lvrbench.report.pages import _orphans, build
from lvrbench.base.identity import cell_id
from lvrbench.run.store import ResultStore, validate_result

from conftest import est, real_outcome, recovery_config

CONFIG = {"task": "recovery-real", "profile": "quick", "dataset": "fashion-mnist", "family": "lsgan", "prior": "normal",
          "method": "bhattacharyya", "hparams": {"lr": 0.01, "weight": 1.0}, "seed": 0,
          "settings": {"steps": 100, "n_images": 64}, "code": {"core": {"recovery": 1}}}


def test_cell_id_is_a_stable_hash_of_the_config():
    # A persistent contract: result files are named by it. Changing the hashing breaks every leaderboard.
    assert cell_id(CONFIG) == "9e6591d9a2ec49bc"
    assert canonical_json({"b": 1, "a": [1.5, "x"]}) == '{"a":[1.5,"x"],"b":1}'
    reordered = dict(reversed(list(CONFIG.items())))
    assert cell_id(reordered) == cell_id(CONFIG)
    assert len(cell_id(CONFIG)) == 16 and int(cell_id(CONFIG), 16) >= 0


@pytest.mark.parametrize("path, value", [
    (("method",), "wasserstein"), (("seed",), 1), (("profile",), "full"), (("hparams", "lr"), 0.1),
    (("hparams", "weight"), 1.0000001), (("settings", "steps"), 101), (("code", "core", "recovery"), 2),
])
def test_everything_that_determines_the_numbers_changes_the_id(path, value):
    changed = json.loads(json.dumps(CONFIG))
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert cell_id(changed) != cell_id(CONFIG)


def test_derived_seeds_are_stable_and_distinct():
    # pinned: these seeds drive the synthetic data, initialisation and training, so a change moves every number
    assert derive_seed(0, "recovery") == 8967703592651735394 and derive_seed(0, "recovery", 1) == 4804052204347561668
    assert len({derive_seed(0, "recovery"), derive_seed(1, "recovery"), derive_seed(0, "init")}) == 3
    assert 0 <= derive_seed("x") < 2**63


def current(config: dict) -> dict:
    """`config` as this lvrbench version would write it (pages show, and validate, the current version's cells)."""
    from lvrbench.run.harness import core_revisions

    return {**config, "code": {**config["code"], "core": core_revisions()}}


def result_for(outcome: CellOutcome) -> dict:
    return to_result(Cell(CONFIG), outcome, {"lvrbench": "0.1.0", "device": "cpu"})


def test_a_non_finite_number_fails_the_cell_with_its_location():
    r = result_for(CellOutcome(metrics={"accuracy": {"value": 0.5, "low": 0.4, "high": math.nan, "n": 10}}))
    assert r["status"] == "failed" and r["error"] == "non-finite value in metrics.accuracy.high"
    r = result_for(CellOutcome(metrics={"a": est(1.0)}, extra={"errors": [0.1, math.inf]}))
    assert r["error"] == "non-finite value in extra.errors[1]"
    assert result_for(CellOutcome())["error"] == "the task returned no metrics"
    ok = result_for(CellOutcome(metrics={"a": est(1.0)}))
    assert ok["status"] == "ok" and validate_result(ok) == []


def test_validation_of_result_documents():
    good = result_for(CellOutcome(metrics={"accuracy": {"value": 0.5, "low": 0.4, "high": 0.6, "n": 10}}))
    assert validate_result(good) == []
    tampered = json.loads(json.dumps(good))
    tampered["config"]["hparams"]["lr"] = 0.1
    assert validate_result(tampered) == [f"id {good['id']!r} does not match its config (expected {cell_id(tampered['config'])})"]
    nan_metric = json.loads(json.dumps(good))
    nan_metric["metrics"]["accuracy"]["value"] = float("nan")
    assert validate_result(nan_metric) == ["metric 'accuracy' is not a {value, low, high, n} estimate of finite numbers with low <= high"]
    for bad in (0.5, {"value": 0.5, "low": 0.6, "high": 0.4, "n": 10}, {"value": 0.5, "low": 0.4, "high": 0.6, "n": True}):
        unscored = json.loads(json.dumps(good))  # a bare number, a reversed interval, a bool count
        unscored["metrics"]["accuracy"] = bad
        assert validate_result(unscored) == [
            "metric 'accuracy' is not a {value, low, high, n} estimate of finite numbers with low <= high"]
    assert validate_result([]) == ["not a JSON object"]
    assert validate_result({"schema": 1, "config": {"task": "x"}}) == [
        "config must be an object with keys task, profile, dataset, family, prior, method, hparams, seed, settings, code",
        "id must be 16 lower-case hex digits: the first of the SHA-256 of the config's canonical JSON",
        "status must be one of ok, failed", "provenance must be an object", "metrics must be a non-empty object of estimates",
        "extra must be an object", "artifacts must be an object"]
    failed = result_for(CellOutcome(error="boom"))
    assert validate_result(failed) == []
    failed["error"] = ""
    assert validate_result(failed) == ["error must be a failed cell's reason, a non-empty string"]


def test_store_statuses_and_atomic_layout(tmp_path):
    store = ResultStore(tmp_path)
    ok = result_for(CellOutcome(metrics={"a": est(1.0)}))
    cid = ok["id"]
    assert store.status("recovery-real", cid) == "pending"
    path = store.write(ok)
    assert path == tmp_path / "results" / "recovery-real" / f"{cid}.json"
    assert store.status("recovery-real", cid) == "done"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp files left behind
    store.write(result_for(CellOutcome(error="boom")))
    assert store.status("recovery-real", cid) == "failed"
    path.write_text("{ half a file")
    assert store.status("recovery-real", cid) == "pending"
    results, problems = store.load()
    assert results == [] and problems == [f"results/recovery-real/{cid}.json: not valid JSON (Expecting property name "
                                          "enclosed in double quotes: line 1 column 3 (char 2))"]


def test_a_result_in_the_wrong_place_is_invalid(tmp_path):
    ok = result_for(CellOutcome(metrics={"a": est(1.0)}))
    wrong = tmp_path / "results" / "recovery-real" / "0000000000000000.json"
    wrong.parent.mkdir(parents=True)
    wrong.write_text(json.dumps(ok))
    _, problems = ResultStore(tmp_path).load()
    assert problems == [f"results/recovery-real/0000000000000000.json: must be stored as results/recovery-real/{ok['id']}.json"]


def test_formatting_carries_uncertainty():
    e = {"value": 0.942, "low": 0.927, "high": 0.956, "n": 1000}
    assert fmt_estimate(e) == "0.942 [0.927, 0.956]"
    assert fmt_estimate(e, scale=100) == "94.2 [92.7, 95.6]"
    assert summarize([e]) == "0.942 [0.927, 0.956]"
    # two networks: their mean with a t interval on 1 degree of freedom (0.9375 ± 12.7 x 0.0045)
    assert summarize([e, {**e, "value": 0.933}]) == "0.938 [0.880, 0.995] (2 seeds)"


def test_profiles_never_mix_in_one_root(registry, tmp_path):
    store = ResultStore(tmp_path)
    store.write(result_for(CellOutcome(error="x")))
    full = json.loads(json.dumps(CONFIG))
    full["profile"] = "full"
    store.write(to_result(Cell(full), CellOutcome(error="x"), {}))
    with pytest.raises(UsageError, match="holds results of profiles full and quick; profiles never mix"):
        build(registry, tmp_path)


def test_a_run_is_refused_before_any_work_when_its_root_holds_another_profile(tmp_path, cli):
    full = json.loads(json.dumps(CONFIG))
    full["profile"] = "full"
    ResultStore(tmp_path).write(to_result(Cell(full), CellOutcome(error="x"), {}))
    before = sorted(tmp_path.rglob("*"))
    done = cli("run", "--task", "generation", "--dataset", "ring8", "--out", str(tmp_path),
               env={"LVRBENCH_CACHE_DIR": str(tmp_path / "cache")})
    assert done.returncode == 2
    assert done.stderr == (f"lvrbench: error: {tmp_path}: holds full-profile results; a quick-profile run goes to its "
                           "own leaderboard root (--out): profiles never mix\n")
    assert sorted(tmp_path.rglob("*")) == before


def test_what_a_task_renders_is_validated_as_data(registry, tmp_path):
    store = ResultStore(tmp_path)
    partial = to_result(Cell(current(CONFIG)), CellOutcome(metrics={"accuracy": {"value": 0.5, "low": 0.4, "high": 0.6, "n": 10}}), {})
    store.write(partial)
    # what the page reads: metrics, per-image outcomes, and the config fields its protocol line states
    assert check(registry, tmp_path) == [f"results/recovery-real/{partial['id']}.json: metrics.l1 is missing; "
                                         "extra.correct is missing; extra.l1 is missing; artifacts.evaluator.key is missing; "
                                         "artifacts.evaluator.test_accuracy is missing; config.settings.init is missing; "
                                         "config.settings.diff is missing; config.settings.gan.family is missing; "
                                         "config.settings.gan.arch is missing; config.settings.gan.latent_dim is missing; "
                                         "config.settings.gan.train.epochs is missing; config.settings.gan.seed is missing"]


def test_a_link_is_never_written_through_nor_read(registry, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    root = tmp_path / "root"
    ok = to_result(Cell(recovery_config("recovery-real", "bhattacharyya", {"lr": 0.01, "weight": 1.0})),
                   real_outcome([1, 0] * 16), {})
    ResultStore(root).write(ok)
    (root / "recovery-real.md").symlink_to(victim)
    with pytest.raises(UsageError, match="recovery-real.md: is a link; leaderboards are never written through links"):
        build(registry, root)
    assert victim.read_text() == "keep me"
    (root / "recovery-real.md").unlink()
    (root / "images").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UsageError, match="images: is a link"):
        build(registry, root)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root", "victim.txt"]
    (root / "images").unlink()
    outside = tmp_path / "outside"
    (outside / "recovery-real").mkdir(parents=True)
    (outside / "recovery-real" / "keep.png").write_bytes(b"\x89PNG")
    (root / "images").symlink_to(outside, target_is_directory=True)
    with pytest.raises(UsageError, match="images: is a link"):
        build(registry, root)
    (outside / "generation").mkdir()
    (outside / "generation" / "keep.png").write_bytes(b"\x89PNG")
    written = [p.relative_to(root).as_posix() for p in root.glob("*.md")]
    assert _orphans(registry, root, written) == []  # stale-figure clean-up never reaches through a link
    assert (outside / "recovery-real" / "keep.png").exists() and (outside / "generation" / "keep.png").exists()
    (root / "results" / "recovery-real" / "0000000000000000.json").symlink_to(victim)
    assert check(registry, root) == ["results/recovery-real/0000000000000000.json: not a regular file (links are refused)"]


def test_tables_show_the_installed_codes_cells_only_and_say_how_many_are_not_shown(registry, tmp_path):

    store = ResultStore(tmp_path)
    # an older version's result, in that version's shape (no per-image outcomes): kept, counted, not validated
    # against what this version's page reads, since it is not rendered
    old = to_result(Cell(CONFIG), CellOutcome(metrics={"accuracy": est(0.75), "l1": est(0.1)},
                                              artifacts={"evaluator": {"key": "k", "test_accuracy": est(0.9, 100)}}),
                    {"lvrbench": "0.1.0"})
    config = recovery_config("recovery-real", "bhattacharyya", {"lr": 0.01, "weight": 1.0}, n=4)
    new = to_result(Cell(config), real_outcome([1, 0, 0, 0]), {"lvrbench": "now"})
    store.write(old)
    store.write(new)
    build(registry, tmp_path)
    page = (tmp_path / "recovery-real.md").read_text()
    assert ("_1 result files computed by other revisions of the code are not shown: numbers are compared within one "
            "revision of the code that computes them; `lvrbench run` recomputes their cells._") in page
    assert "0.250 [" in page and "0.750 [" not in page  # the installed code's cell, not the older one's 0.75
    # the old cell is neither validated nor re-planned (no installed code plans it); the crafted 4-image one is refused
    assert check(registry, tmp_path) == [f"results/recovery-real/{new['id']}.json: not the cell the installed planner "
                                         "produces: settings.n_images is 4, the planner gives 32"]


def test_values_that_round_alike_stay_apart_in_tables(registry, tmp_path):
    """Two cells whose weights agree to 6 digits are two grid columns, never one overwriting the other."""
    from lvrbench.base.text import hparams_text, number_text

    assert [number_text(v) for v in (3.0, 0.0032, 1e-05, 1.0000001, 20000)] == ["3", "0.0032", "1e-05", "1.0000001", "20000"]
    assert hparams_text({"lr": 0.1, "b": 2.5, "a": 2.0}, ("lr",)) == "a=2, b=2.5"
    store = ResultStore(tmp_path)
    for weight, correct in ((1.0000001, [1, 0, 0, 0]), (1.0000002, [1, 1, 1, 0])):
        config = recovery_config("recovery-real", "bhattacharyya", {"lr": 0.01, "weight": weight}, n=4)
        store.write(to_result(Cell(config), real_outcome(correct), {}))
    build(registry, tmp_path)
    page = (tmp_path / "recovery-real.md").read_text()
    assert re.search(r"\| lr \\ params +\| weight=1\.0000001 +\| weight=1\.0000002 +\|", page)
    assert "0.250" in page and "0.750" in page


def test_results_of_an_unknown_task_are_reported(registry, tmp_path):
    other = json.loads(json.dumps(CONFIG))
    other["task"] = "not-installed"
    ResultStore(tmp_path).write(to_result(Cell(other), CellOutcome(metrics={"a": est(1.0)}), {}))
    assert check(registry, tmp_path) == ["results/not-installed/: no installed task is called 'not-installed' (is its plugin installed?)"]


def test_a_result_that_is_not_valid_data_is_a_failed_cell_not_a_crash():
    import numpy as np

    r = result_for(CellOutcome(metrics={"accuracy": np.float32(0.5)}))
    assert r["status"] == "failed" and r["error"].startswith("invalid result: not JSON data (")
    assert validate_result(r) == []
    r = result_for(CellOutcome(metrics={"accuracy": "high"}))
    assert r["error"] == "invalid result: metric 'accuracy' is not a {value, low, high, n} estimate of finite numbers with low <= high"
    assert result_for("not an outcome")["error"] == "the task returned str, not a CellOutcome"


def test_a_task_validate_that_raises_fails_the_cell_not_the_run():
    class Raising:
        def validate(self, result):
            raise KeyError("nope")

    r = to_result(Cell(CONFIG), CellOutcome(metrics={"a": est(1.0)}), {}, Raising())
    assert r["status"] == "failed" and r["error"] == "invalid result: the task's validate failed (KeyError: 'nope')"
    assert validate_result(r) == []


def test_files_are_written_readable_by_everyone_the_umask_allows(tmp_path):
    import os

    saved = os.umask(0o022)
    try:
        path = ResultStore(tmp_path).write(result_for(CellOutcome(metrics={"a": est(1.0)})))
    finally:
        os.umask(saved)
    assert path.stat().st_mode & 0o777 == 0o644


def test_a_crafted_sample_payload_is_reported_not_drawn(registry, tmp_path):
    from lvrbench.kit.figures import payload_problem

    assert payload_problem({"kind": "images", "shape": [1], "data": "AA=="}) == \
        "images need a shape [n, c, h, w] of positive integers with c = 1 or 3"
    assert payload_problem({"kind": "images", "shape": [1, 1, 2, 2], "data": "AA=="}) == \
        "images cannot be decoded (image payload does not match its shape)"
    assert payload_problem({"kind": "points", "data": [[0.0, "x"]]}) == "points must be a non-empty list of [x, y] finite numbers"
    assert payload_problem({"kind": "images", "shape": [1, 1, 1, 2], "data": "AAA="}) is None
    gan = {"arch": "mlp", "latent_dim": 16, "train": {"epochs": 1, "batch_size": 8, "lr": 0.001}}
    settings = {"gan": gan, "n_samples": 8, "n_real": 8, "k": 3, "n_boot_fid": 10}  # what generation's pages read
    config = dict(current(json.loads(json.dumps(CONFIG))), task="generation", method="direct", hparams={}, settings=settings)
    crafted = to_result(Cell(config), CellOutcome(
        metrics={"fid": est(1.0), "precision": est(0.5), "recall": est(0.5)},
        extra={"samples": {"kind": "images", "shape": [1], "data": "AA=="},
               "history": [{"epoch": 1, "d_loss": 1.0, "g_loss": 1.0}]},
        artifacts={"evaluator": {"key": "k", "test_accuracy": est(0.9, 100)}}), {})
    ResultStore(tmp_path).write(crafted)
    problem = (f"results/generation/{crafted['id']}.json: extra.samples: images need a shape [n, c, h, w] "
               "of positive integers with c = 1 or 3")
    assert check(registry, tmp_path) == [problem]
    with pytest.raises(UsageError, match=re.escape(problem)):
        build(registry, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]  # nothing half-built


def test_a_figure_that_cannot_be_drawn_is_a_problem_line(tmp_path):
    from lvrbench.report.pages import Page

    page = Page(tmp_path, "toy")
    page.figure("grid 1", lambda path: (_ for _ in ()).throw(ValueError("bad\npayload")))
    assert page.draw(tmp_path / "scratch") == ["images/toy/grid-1.png: cannot be drawn (ValueError: bad payload)"]


def test_an_invalid_result_file_is_pending_so_it_is_recomputed(tmp_path):
    store = ResultStore(tmp_path)
    ok = result_for(CellOutcome(metrics={"a": est(1.0)}))
    path = store.write(ok)
    broken = dict(ok, metrics={"a": "high"})
    path.write_text(json.dumps(broken))
    assert store.status("recovery-real", ok["id"]) == "pending"


def test_equal_hyper_parameters_make_one_cell(registry):
    """1, 1.0 and -0.0 vs 0.0 compute the same numbers, so they are one cell id and one table column."""
    from lvrbench.kit.grid import cell_config as make_config
    from lvrbench.run.harness import PlanRequest

    request, task = PlanRequest(registry), registry.get("tasks", "recovery-synthetic")
    configs = [make_config(request, task, dataset="ring8", family="lsgan", prior="normal", method="none",
                           hparams={"lr": lr, "weight": w}, seed=0, settings={}, plugins={})
               for lr, w in ((1, 0), (1.0, 0.0), (1.0, -0.0))]
    assert {cell_id(c) for c in configs} == {cell_id(configs[1])}
    assert json.dumps(configs[2]["hparams"]) == '{"lr": 1.0, "weight": 0.0}'


def test_a_metric_too_large_for_a_float_or_nested_too_deep_fails_its_cell():
    huge = result_for(CellOutcome(metrics={"a": {"value": 10 ** 400, "low": 0, "high": 1, "n": 1}}))
    assert huge["status"] == "failed" and huge["error"] == "non-finite value in metrics.a.value"
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    nested = result_for(CellOutcome(metrics={"a": est(1.0)}, extra={"deep": deep}))
    assert nested["status"] == "failed" and nested["error"] == "invalid result: nested more than 100 levels deep"


def test_a_plugin_calling_sys_exit_fails_its_cells_not_the_run():
    import sys

    from lvrbench.api.contracts import Job
    from lvrbench.run.harness import execute_job

    class Exits:
        def run(self, job, env):
            sys.exit(3)

        def validate(self, result):
            sys.exit(4)

    class Env:
        registry = type("R", (), {"get": staticmethod(lambda kind, name: Exits()), "names": staticmethod(lambda kind: []),
                                  "versions": staticmethod(lambda plugins: {})})()
        device = __import__("torch").device("cpu")

    [r] = execute_job(Job("recovery-real", "exits", [Cell(CONFIG)]), Env())
    assert r["status"] == "failed" and r["error"] == "SystemExit: 3"
    r = to_result(Cell(CONFIG), CellOutcome(metrics={"a": est(1.0)}), {}, Exits())
    assert r["error"] == "invalid result: the task's validate failed (SystemExit: 4)"
