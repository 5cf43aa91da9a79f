"""The standard profile: its sizes as the README states them, its seeds, its own published root."""
from collections import Counter
from pathlib import Path

from lvrbench.base.hashing import canonical_json
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
    # paper 000's 8 weights at the 3 learning rates around 0.4.0's best cells, on 200 test images of a d_z = 256 G
    grid = Counter((c["prior"], c["method"], c["seed"]) for c in real)
    assert grid[("normal", "bhattacharyya", 0)] == grid[("uniform", "lukaszyk-karmowski", 2)] == 3 * 8
    assert {c["hparams"]["lr"] for c in real} == {0.032, 0.1, 0.32}
    assert {c["settings"]["n_images"] for c in real} == {200}
    assert {c["settings"]["gan"]["latent_dim"] for c in real} == {256}
    synthetic = [c for c in cells if c["task"] == "recovery-synthetic"]
    assert {c["settings"]["n_latents"] for c in synthetic} == {50}
    # recovery-synthetic's own generator: recovery-real's but for d_z = 16, where descent recovers latents
    assert {c["settings"]["gan"]["latent_dim"] for c in synthetic} == {16}
    assert {canonical_json({k: v for k, v in c["settings"]["gan"].items() if k != "latent_dim"}) for c in synthetic} == {
        canonical_json({k: v for k, v in c["settings"]["gan"].items() if k != "latent_dim"}) for c in real}
    # every family everywhere; three training seeds on every dataset when --seed is not given
    generation = [c for c in cells if c["task"] == "generation"]
    assert len({c["family"] for c in generation}) == len(registry.names("families"))
    # on images BiGAN and LOGAN-B, read by no image headline, train 5 of the 15 epochs
    epochs = {c["family"]: c["settings"]["gan"]["train"]["epochs"] for c in generation if c["dataset"] == "fashion-mnist"}
    assert epochs == {**dict.fromkeys(registry.names("families"), 15), "bigan": 5, "logan-b": 5}
    for task in ("generation", "recovery-real", "recovery-synthetic", "reconstruction", "mode-coverage", "sampling"):
        datasets = {c["dataset"] for c in cells if c["task"] == task}
        seeds = {d: sorted({c["seed"] for c in cells if c["task"] == task and c["dataset"] == d}) for d in datasets}
        assert seeds == dict.fromkeys(datasets, [0, 1, 2]), task
    assert {c["dataset"] for c in cells if c["task"] == "mode-coverage"} == {"ring8", "grid25"}
    # two evaluators of images, of other architectures and seeds, trained alike; none of points
    images = [c for c in cells if c["task"] in ("generation", "sampling", "recovery-real")]
    for c in images:
        main, alt = c["settings"]["evaluator"], c["settings"]["evaluator_alt"]
        if c["dataset"] in ("ring8", "grid25"):
            assert main is None and alt is None
            continue
        assert (main["arch"], main["seed"], alt["arch"], alt["seed"]) == ("cnn-2x-128", 0, "mlp-512-128", 1)
        assert {k: v for k, v in main.items() if k not in ("arch", "seed")} == {k: v for k, v in alt.items() if k not in ("arch", "seed")}


def test_seed_replaces_the_profiles_seeds(registry, tmp_path):
    cells = [c.config for c in plan(registry, tmp_path, seeds=(7,)).cells]
    assert {c["seed"] for c in cells} == {7}


def test_quick_sizes(registry, tmp_path):
    """The quick profile as the README states it: what keeps `lvrbench run --all` under 5 minutes on 2 cores."""
    tasks = [e.obj for e in registry.entries("tasks")]
    cells = [c.config for c in make_plan(tasks, PlanRequest(registry, "quick"), ResultStore(tmp_path / "empty")).cells]
    datasets = {task: sorted({c["dataset"] for c in cells if c["task"] == task}) for task in {c["task"] for c in cells}}
    # no grid25: at quick's 40 epochs 8 of its 9 generators failed the training check, so its rows measured nothing
    assert datasets == {"generation": ["fashion-mnist", "ring8"], "sampling": ["fashion-mnist", "ring8"],
                        "mode-coverage": ["ring8"], "reconstruction": ["fashion-mnist", "ring8"],
                        "recovery-real": ["fashion-mnist"], "recovery-synthetic": ["fashion-mnist"]}
    assert {c["seed"] for c in cells} == {0}
    generation = [c for c in cells if c["task"] == "generation"]
    epochs = {(c["dataset"], c["family"]): c["settings"]["gan"]["family_train"].get(
        "epochs", c["settings"]["gan"]["train"]["epochs"]) for c in generation}
    families = registry.names("families")
    # on images LSGAN (the recovery tasks' generator) trains 2 epochs, every other family 1; 40 on ring8
    assert epochs == {**{("fashion-mnist", f): 1 for f in families}, ("fashion-mnist", "lsgan"): 2,
                      **{("ring8", f): 40 for f in families}}
    # recovery-real: paper 000's 4 weights at 2 learning rates on 32 test images
    real = [c for c in cells if c["task"] == "recovery-real"]
    assert {c["hparams"]["lr"] for c in real} == {0.032, 0.1}
    assert {c["settings"]["n_images"] for c in cells if c["task"] == "recovery-real"} == {32}
    synthetic = {(c["settings"]["n_latents"], c["settings"]["steps"]) for c in cells if c["task"] == "recovery-synthetic"}
    assert synthetic == {(16, 250)}
    # both classifiers see 25 000 of the 60 000 training images in their one epoch
    evaluators = {canonical_json(c["settings"][s]) for c in cells for s in ("evaluator", "evaluator_alt")
                  if c["settings"].get(s)}
    assert len(evaluators) == 2 and all('"epochs":1' in e and '"n_train":25000' in e for e in evaluators)
    assert len(cells) == 316
