"""A cell's identity is the revisions of the code that computed it; a pinned digest of each plugin's and each core
module's tiny seeded computation fails the suite when numbers change while the revision does not."""
from __future__ import annotations

import json

import pytest

from lvrbench.testing import pins


@pytest.fixture(scope="module")
def pinned() -> dict:
    document = json.loads(pins.BUILTIN_PINS.read_text())
    if {k: document[k] for k in ("cpu", "torch")} != pins.environment():
        pytest.skip(f"the pins hold for {document['cpu']} and torch {document['torch']}, not {pins.environment()}")
    return document["pins"]


@pytest.fixture(scope="module")
def computed(registry, tmp_path_factory, pinned) -> dict:
    return pins.compute(registry, "lvrbench", tmp_path_factory.mktemp("pins-cache"), pinned)


def test_every_builtin_plugin_and_core_module_matches_its_pinned_digest(pinned, computed):
    assert pins.check(pinned, computed) == []
    assert {name.split("/")[0] for name in computed} == {"core", "regularizers", "resamplers", "families", "samplers",
                                                         "datasets", "tasks"}


def test_a_change_without_a_bump_fails_and_names_what_to_do(registry, tmp_path, monkeypatch, pinned):
    bhattacharyya = registry.method("bhattacharyya")
    loss = type(bhattacharyya).loss
    monkeypatch.setattr(type(bhattacharyya), "loss", lambda self, z, ctx: loss(self, z, ctx) * 1.0001)
    probes = pins.Probes(registry, tmp_path)
    now = {"regularizers/bhattacharyya": {"revision": bhattacharyya.revision, "digest": probes.method(bhattacharyya)}}
    old = {"regularizers/bhattacharyya": pinned["regularizers/bhattacharyya"]}
    assert pins.check(old, now) == [
        f"regularizers/bhattacharyya: its numbers changed (digest {now['regularizers/bhattacharyya']['digest']}, pinned "
        f"{old['regularizers/bhattacharyya']['digest']}) but its revision is still 1: bump the revision, then update the pin"]


def test_a_plan_whose_sizes_change_needs_no_bump_but_its_numbers_do(registry, tmp_path, monkeypatch, pinned, one_thread):
    """A task is pinned on one cell's config: a profile that plans other sizes plans other cells (other ids), so the
    pinned cell still computes its pinned digest; the same cell computing other numbers asks for the bump."""
    from lvrbench_plugins import generation

    task, pin = registry.get("tasks", "generation"), pinned["tasks/generation"]
    probes = pins.Probes(registry, tmp_path)
    monkeypatch.setitem(generation.SCORING, "quick", {**generation.SCORING["quick"], "n_samples": 999})
    assert probes.task_cell(task)["settings"]["n_samples"] == 999 != pin["config"]["settings"]["n_samples"]
    assert pins.task_pin(probes, task, pin) == (pin["digest"], {"config": pin["config"]})
    monkeypatch.setattr(type(task), "score", lambda self, c, env, score=type(task).score: score(self, {
        **c, "settings": {**c["settings"], "n_samples": c["settings"]["n_samples"] - 1}}, env))  # a code change
    now = {"tasks/generation": {"revision": task.revision, "digest": pins.task_pin(probes, task, pin)[0]}}
    assert pins.check({"tasks/generation": pin}, now) == [
        f"tasks/generation: its numbers changed (digest {now['tasks/generation']['digest']}, pinned {pin['digest']}) "
        f"but its revision is still {task.revision}: bump the revision, then update the pin"]


def test_a_pinned_cell_the_task_no_longer_takes_names_the_error_and_the_update(registry, tmp_path, pinned):
    task, pin = registry.get("tasks", "mode-coverage"), pinned["tasks/mode-coverage"]
    broken = {**pin, "config": {**pin["config"], "settings": {}}}
    digest, extra = pins.task_pin(pins.Probes(registry, tmp_path), task, broken)
    assert digest is None and extra == {"config": broken["config"], "error": "KeyError: 'n_samples'"}
    now = {"tasks/mode-coverage": {"revision": task.revision, "digest": digest, **extra}}
    assert pins.check({"tasks/mode-coverage": broken}, now) == [
        f"tasks/mode-coverage: its pinned cell cannot be computed any more ({extra['error']}); if its plan changed, run "
        "python -m lvrbench.testing.pins --update"]


def test_the_pin_rules():
    old = {"a": {"revision": 1, "digest": "x"}, "b": {"revision": 1, "digest": "y"}, "c": {"revision": 1, "digest": None}}
    assert pins.check(old, {"a": {"revision": 2, "digest": "z"}, "b": {"revision": 2, "digest": "y"},
                            "c": {"revision": 1, "digest": "w"}, "d": {"revision": 1, "digest": "v"}}) == [
        "a: revision 2 is not pinned yet (pinned 1); run python -m lvrbench.testing.pins --update",
        "b: revision 2 (pinned 1) but its numbers did not change: a bump re-keys every cell it computed, so keep the old "
        "revision",
        "d: no pin (revision 1); run python -m lvrbench.testing.pins --update"]


def test_a_revision_is_part_of_a_cells_identity_and_a_version_is_not(registry):
    """Bumping one sampler's revision re-keys that sampler's cells only; a new distribution version re-keys none."""
    from lvrbench.run.harness import PlanRequest

    task = registry.get("tasks", "sampling")

    def ids() -> dict[str, str]:
        jobs = task.plan(PlanRequest(registry, datasets=("ring8",), families=("vanilla",)))
        return {f"{c.config['method']} {sorted(c.config['hparams'].items())}": c.id for j in jobs for c in j.cells}

    before = ids()
    drs = registry.get("samplers", "drs")
    type(drs).revision = 2
    try:
        after = ids()
    finally:
        del type(drs).revision
    changed = {k for k in before if before[k] != after[k]}
    assert changed and all(k.startswith("drs ") for k in changed)
    (job,) = task.plan(PlanRequest(registry, datasets=("ring8",), families=("vanilla",)))
    code = job.cells[0].config["code"]
    assert code["task"] == {"distribution": "lvrbench", "revision": task.revision} and "0.5" not in json.dumps(code)
