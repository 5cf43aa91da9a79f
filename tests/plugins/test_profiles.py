"""The standard profile: its sizes as the README states them, its seeds, its own published root."""
from collections import Counter
from pathlib import Path

from lvrbench.run.harness import PlanRequest, make_plan
from lvrbench.base.identity import PROFILES
from lvrbench.run.store import ResultStore
from lvrbench.commands.runner import default_root


def plan(registry, tmp_path, **kw):
    tasks = [e.obj for e in registry.entries("tasks")]
    return make_plan(tasks, PlanRequest(registry, "standard", **kw), ResultStore(tmp_path / "empty"))


def test_every_profile_has_its_own_root():
    assert PROFILES == ("quick", "standard", "full")
    assert [default_root(p) for p in PROFILES] == [Path("leaderboards/quick"), Path("leaderboards/standard"),
                                                   Path("leaderboards/full")]


def test_standard_sizes_and_seeds(registry, tmp_path):
    cells = [c.config for c in plan(registry, tmp_path, seeds_given=False).cells]
    real = [c for c in cells if c["task"] == "recovery-real"]
    # the full 7 x 8 grid for every regularizer, on 500 test images of a d_z = 256 generator
    grid = Counter((c["prior"], c["method"]) for c in real)
    assert grid[("normal", "bhattacharyya")] == grid[("uniform", "lukaszyk-karmowski")] == 56
    assert {c["settings"]["n_images"] for c in real} == {500}
    assert {c["settings"]["gan"]["latent_dim"] for c in real} == {256}
    synthetic = [c for c in cells if c["task"] == "recovery-synthetic"]
    assert {c["settings"]["n_latents"] for c in synthetic} == {100}
    # every family everywhere; three seeds on the mixtures, one on Fashion-MNIST when --seed is not given
    generation = [c for c in cells if c["task"] == "generation"]
    assert len({c["family"] for c in generation}) == len(registry.names("families"))
    seeds = {d: sorted({c["seed"] for c in generation if c["dataset"] == d}) for d in ("fashion-mnist", "ring8", "grid25")}
    assert seeds == {"fashion-mnist": [0], "ring8": [0, 1, 2], "grid25": [0, 1, 2]}
    assert {c["dataset"] for c in cells if c["task"] == "mode-coverage"} == {"ring8", "grid25"}


def test_seed_replaces_the_profiles_seeds(registry, tmp_path):
    cells = [c.config for c in plan(registry, tmp_path, seeds=(7,)).cells]
    assert {c["seed"] for c in cells} == {7}
