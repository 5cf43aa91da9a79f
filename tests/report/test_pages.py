"""What the recovery pages say: intervals that can be right, paired comparisons, the protocol actually run."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import est, real_outcome, recovery_config
from lvrbench.api.contracts import Cell, CellOutcome
from lvrbench.run.harness import to_result
from lvrbench.report.pages import build
from lvrbench.report.check import check
from lvrbench.run.store import ResultStore

GRID = [{"lr": lr, "weight": w} for lr in (0.01, 0.032, 0.1) for w in (0.0, 0.1, 1.0, 3.2)]


def ok(registry, config: dict, outcome: CellOutcome) -> dict:
    """The result document of a cell, validated by its task as a run validates it."""
    result = to_result(Cell(config), outcome, {"lvrbench": "test", "device": "cpu"}, registry.get("tasks", config["task"]))
    assert result["status"] == "ok", result.get("error")
    return result


def page(registry, root, results: list[dict], task: str) -> str:
    """Build a root holding `results`; the markdown of `task`'s page."""
    store = ResultStore(root)
    for r in results:
        store.write(r)
    build(registry, root)
    # its pages and figures are what `build` writes; its crafted results (a few items) are no planned cells
    assert [p for p in check(registry, root) if not p.startswith("results/")] == []
    return (root / f"{task}.md").read_text()


def synthetic(registry, method: str, errors: list[float], hparams: dict | None = None, seed: int = 0) -> dict:
    """A recovery-synthetic result with these per-latent errors, scored as the task scores them."""
    task = registry.get("tasks", "recovery-synthetic")
    hp = {"lr": 0.2, **(hparams if hparams is not None else ({} if method == "none" else {"weight": 0.1}))}
    cell = Cell(recovery_config("recovery-synthetic", method, hp, seed=seed, n=len(errors)))
    z_true = torch.zeros(len(errors), 1, dtype=torch.float64)
    z = torch.tensor(errors, dtype=torch.float64).sqrt()[:, None]  # error = (z - z_true)^2 / 1
    outcome = task.score(cell, z, torch.zeros(len(errors)), z_true, FakeGAN(), None)
    return ok(registry, cell.config, outcome)


class FakeGAN:
    def describe(self) -> dict:
        return {"key": "g", "family": "lsgan"}


def tables(text: str) -> list[list[dict[str, str]]]:
    """Every markdown table of a page, as rows keyed by their headers."""
    out, block = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            out.append([dict(zip(block[0], cells)) for cells in block[2:]])
            block = []
    return out


def cell(text: str, column: str, method: str, params: str | None = None) -> str:
    """The `column` of `method`'s first row (with `params`, where given) in the first table that has that column."""
    for rows in tables(text):
        for r in rows:
            if column in r and r.get("method", r.get("sampler")) == method and params in (None, r.get("params")):
                return r[column]
    raise AssertionError(f"no {column!r} for {method}")


def section(text: str, title: str) -> str:
    """The markdown under `## title`, up to the next `## `."""
    return text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


# ------------------------------------------------------------------------------- shares: Wilson, with k/m


def test_shares_on_the_synthetic_page_have_wilson_intervals_and_significant_wins_show_k_of_m(registry, tmp_path):
    base = [1.0] * 30 + [0.4, 0.4]
    # under 1e-4: 0 of 32 for none; under 1: 32 of 32 for the method, which loses 2 latents by a factor 2.25
    method = [1e-6] * 30 + [0.9, 0.9]
    text = page(registry, tmp_path, [synthetic(registry, "none", base), synthetic(registry, "hard-cutoff", method, {"c": 3.0})],
                "recovery-synthetic")
    assert cell(text, "% < 0.0001", "none") == "0.00 [0.00, 10.7]"  # Wilson 0/32, never the bootstrap's [0.00, 0.00]
    assert cell(text, "% < 1", "hard-cutoff") == "100 [89.3, 100]"
    # significant wins: 30 latents improve by a factor 1e6 and win; the 2 latents that got 4x worse lose
    assert cell(text, "% wins (k/n)", "hard-cutoff") == "93.8 [79.9, 98.3] (30/32)"
    assert cell(text, "% sig. wins (k/m decisive)", "hard-cutoff") == "93.8 [79.9, 98.3] (30/32)"  # 30 of 32 decisive
    only_losses = page(registry, tmp_path / "b", [synthetic(registry, "none", [1.0] * 30 + [0.5, 0.5]),
                                                  synthetic(registry, "hard-cutoff", [1.0] * 30 + [2.0, 2.0], {"c": 3.0})],
                       "recovery-synthetic")
    assert cell(only_losses, "% sig. wins (k/m decisive)", "hard-cutoff") == "0.00 [0.00, 65.8] (0/2)"  # 0 of 2, and says so


def test_rounding_is_a_tie_never_a_win(registry, tmp_path):
    base = [0.25, 1e-13, 0.5, 0.5]
    ours = [0.25 * (1 - 5e-7), 3e-13, 0.5 * (1 - 2e-6), 0.75]  # within 1e-6 relative; within 1e-12; a win; a loss
    text = page(registry, tmp_path, [synthetic(registry, "none", base), synthetic(registry, "hard-cutoff", ours, {"c": 3.0})],
                "recovery-synthetic")
    assert [cell(text, c, "hard-cutoff") for c in ("% wins (k/n)", "% ties", "% losses")] == [
        "25.0 [4.56, 69.9] (1/4)", "50.0 [15.0, 85.0] (2/4)", "25.0 [4.56, 69.9] (1/4)"]
    assert cell(text, "% sig. wins (k/m decisive)", "hard-cutoff") == "- (0/0)"  # no latent differs by a factor of 2
    assert "two errors a and b tie when |a − b| ≤ 1e-6·max(a, b) + 1e-12" in text


def test_a_method_compared_with_none_shows_the_paired_difference_of_mean_errors(registry, tmp_path):
    base = [0.5, 0.25, 1.0, 0.75]
    shifted = [e - 0.125 for e in base]
    text = page(registry, tmp_path, [synthetic(registry, "none", base), synthetic(registry, "hard-cutoff", shifted, {"c": 3.0})],
                "recovery-synthetic")
    # the same latents in every resample: a constant difference has a zero-width interval
    assert cell(text, "Δ mean error vs none ↓", "hard-cutoff", "c=3, lr=0.2") == "-0.125 [-0.125, -0.125]"
    # the ranking's cross-fitted difference (one cell each: no selection) is the same constant
    assert cell(text, "Δ mean error vs none ↓", "hard-cutoff") == "-0.125 [-0.125, -0.125]"
    assert cell(text, "Δ mean error vs none ↓", "none") == "-"


# -------------------------------------------------------------------------------------- paired resampling


def test_cells_on_the_same_items_share_their_bootstrap_draws(registry):
    errors = [0.1, 0.5, 2.0, 0.01, 0.3, 0.7, 1.5, 0.05]
    a = synthetic(registry, "none", errors)
    b = synthetic(registry, "hard-cutoff", errors, {"c": 3.0})
    c = synthetic(registry, "hard-cutoff", errors, {"c": 2.5})
    assert a["id"] != b["id"] != c["id"]
    assert a["metrics"]["mean_error"] == b["metrics"]["mean_error"] == c["metrics"]["mean_error"]
    other_items = synthetic(registry, "none", errors, seed=1)  # another seed draws other latents
    assert other_items["metrics"]["mean_error"] != a["metrics"]["mean_error"]
    assert other_items["metrics"]["mean_error"]["value"] == a["metrics"]["mean_error"]["value"]


# ------------------------------------------------------------------------------------ best cell per method


def test_the_best_cell_is_scored_on_images_it_was_not_chosen_on(registry, tmp_path):
    """Two cells, A right on the first half of the images only and B on the second: chosen and scored on the same
    images the best reads 0.5; cross-fitted over random halves, each half's choice is scored on images it was not
    chosen on, so the method reads below 0.5, exactly what `inference.crossfit_point` gives with the page's seed."""
    from lvrbench.api import derive_seed
    from lvrbench.kit import inference
    from lvrbench.kit.recovery import N_SPLITS, item_key

    a, b = [1] * 10 + [0] * 10, [0] * 10 + [1] * 10
    results = [ok(registry, recovery_config("recovery-real", "none", {"lr": lr}, n=20), real_outcome(x))
               for lr, x in ((0.01, a), (0.1, b))]
    text = page(registry, tmp_path, results, "recovery-real")
    seed = derive_seed("crossfit", item_key(results[0]["config"]), "correct", N_SPLITS)
    expected = inference.crossfit_point(np.array([a, b], dtype=float), [0, 1], seed, n_splits=N_SPLITS)
    assert expected < 0.5
    assert cell(text, "accuracy ↑ (cross-fitted)", "none").startswith(f"{expected:#.3g} [")
    assert cell(text, "best cell (all images)", "none") == "lr=0.01"  # the first of the two equal cells on all images


def test_crossfitting_removes_the_selection_bias_of_the_maximum():
    """12 cells of equal true accuracy 0.8 at 64 images: the best cell scored on its own images is inflated by
    about 0.079; the cross-fitted one (random halves, as the pages score) is not."""
    from lvrbench.kit import inference

    rng = np.random.default_rng(3)
    naive, fitted = [], []
    for i in range(1000):
        cells = (rng.random((12, 64)) < 0.8).astype(float)
        naive.append(cells.mean(axis=1).max())
        fitted.append(inference.crossfit_point(cells, list(range(12)), i, n_splits=4))
    assert np.mean(naive) - 0.8 == pytest.approx(0.079, abs=0.005)
    assert np.mean(fitted) == pytest.approx(0.8, abs=0.005)  # its standard error here is 0.0016


def test_a_best_cell_is_compared_with_none_on_the_same_images_and_weight_0_is_none(registry, tmp_path):
    n = 8
    none = [1, 0, 1, 0, 1, 0, 1, 0]
    better = [1, 1, 1, 1, 1, 1, 1, 0]
    results = [ok(registry, recovery_config("recovery-real", "none", {"lr": 0.1}, n=n), real_outcome(none))]
    for w, correct in ((0.0, better), (1.0, [1, 1, 1, 1, 0, 0, 0, 0])):  # weight 0 is the better cell, and not its own
        results.append(ok(registry, recovery_config("recovery-real", "bhattacharyya", {"lr": 0.1, "weight": w}, n=n),
                          real_outcome(correct)))
    results.append(ok(registry, recovery_config("recovery-real", "z-score-square", {"lr": 0.1, "weight": 0.0}, n=n),
                      real_outcome(none)))
    text = page(registry, tmp_path, results, "recovery-real")
    # bhattacharyya's one cell of its own, weight 1: scored on every image whatever the split
    assert cell(text, "best cell (all images)", "bhattacharyya") == "lr=0.1, weight=1"
    assert cell(text, "accuracy ↑ (cross-fitted)", "bhattacharyya").startswith("0.500 [")
    assert cell(text, "Δ accuracy vs none ↑", "bhattacharyya").startswith("0.00 [")  # paired with none's 4 of 8
    ranked = [r["method"] for r in tables(section(text, "Ranking"))[0]]
    assert ranked[:2] == ["bhattacharyya", "none"] and "z-score-square" not in ranked
    assert "Not ranked: z-score-square (every cell at weight 0, which is `none`: no cell of its own)." in text


def test_per_image_outcomes_are_validated(registry, tmp_path):
    config = recovery_config("recovery-real", "none", {"lr": 0.1}, n=4)
    task = registry.get("tasks", "recovery-real")
    for extra, problem in (({"l1": [0.1] * 4}, "extra.correct is missing"),
                           ({"correct": [1, 0, 1], "l1": [0.1] * 4}, "extra.correct must hold 4 values, one per item"),
                           ({"correct": [1, 0, 2, True], "l1": [0.1] * 4}, "extra.correct must hold only 0 and 1"),
                           ({"correct": [1, 0, 1, 0], "l1": [0.1, -1, 0, 0]}, "extra.l1 must hold non-negative numbers"),
                           ({"correct": [1, 1, 1, 0], "l1": [0.1] * 4}, "metrics.accuracy does not match extra.correct")):
        outcome = real_outcome([1, 0, 1, 0])
        outcome.extra = extra
        r = to_result(Cell(config), outcome, {}, task)
        assert r["error"] == f"invalid result: {problem}"
    crafted = ok(registry, config, real_outcome([1, 0, 1, 0]))
    crafted["config"]["settings"]["n_images"] = 1
    crafted["id"] = Cell(crafted["config"]).id
    assert task.validate(crafted) == ["config.settings.n_images must be at least 2"]


# ------------------------------------------------------------------------------------------- protocol line


def protocol(text: str) -> list[str]:
    """The items of a page's protocol list."""
    return [line[2:] for line in section(text, "Protocol").splitlines() if line.startswith("- ")]


def test_the_protocol_list_states_what_was_run_not_the_papers_numbers(registry, tmp_path):
    results = [ok(registry, recovery_config("recovery-real", "bhattacharyya", hp), real_outcome([1, 0] * 16)) for hp in GRID]
    results.append(ok(registry, recovery_config("recovery-real", "none", {"lr": 0.1}), real_outcome([1, 0] * 16)))
    text = page(registry, tmp_path, results, "recovery-real")
    items = protocol(text)
    assert items[0].startswith("after paper 000 §2 (")
    assert items[1:12] == ["family lsgan", "architecture mlp", "d_z 16", "GAN epochs 2", "classifier epochs 1",
                           "test images per seed 32", "steps 100", "init zeros", "difference l1", "seeds 0",
                           "grid: lr 0.01, 0.032 or 0.1; weight 0, 0.1, 1 or 3.2"]
    assert all(len(item) < 400 for item in items)  # a short list, not a 600-character line
    # the paper's own numbers appear only as the paper's, never as this page's protocol
    assert not any("d_z=256" in item or item.startswith("1000 test images") for item in items)
    assert any("paper 000 trains on MNIST for 200 epochs with d_z = 256 and reports 1000 test images" in i for i in items)
    assert any("an interval over seeds covers the variance of all three" in i for i in items)  # what a seed varies
    assert text.index("## Ranking") < text.index("## The papers beside ours") < text.index("## Details") < \
        text.index("## Protocol")  # the page opens with its ranking, then the papers, then details


def test_the_synthetic_protocol_states_where_it_differs_from_paper_001(registry, tmp_path):
    text = page(registry, tmp_path, [synthetic(registry, "none", [0.5] * 4)], "recovery-synthetic")
    items = protocol(text)
    assert "latents per seed 4" in items and "steps 250" in items and "grid: lr 0.2" in items
    assert any("its generator is a DCGAN trained with soft labels (d_z = 100" in i for i in items)
    assert any("states no learning rate; the learning rate here is lvrbench's choice" in i for i in items)


def test_the_default_protocol_reads_the_generator_from_the_configs(registry):
    """Every task gets a true protocol from the core: generation's, from its results' generator settings."""
    task = registry.get("tasks", "generation")
    config = recovery_config("recovery-real", "none", {"lr": 0.1}, seed=3)
    config["settings"]["gan"]["arch"] = "dcgan\n# injected `heading`"  # results are data: one line, inert
    items = task.protocol([{"config": config}])
    assert items[0] == f"after {task.source}" and items[1:3] == ["family lsgan", "prior normal"]
    assert items[3:] == ["architecture dcgan # injected \\`heading\\`", "d_z 16", "GAN epochs 2", "batch 128",
                         "GAN learning rate 0.0003", "seeds 3", "grid: lr 0.1"]
    assert all("\n" not in i for i in items) and task.protocol([]) == [f"after {task.source}"]


TOY = '''
from lvrbench.api import hookimpl
from lvrbench.api import Task


class Toy(Task):
    """A third-party task with the core's default protocol line, and one whose protocol is not text."""

    name = "toy"
    source = "toy paper §1"

    def protocol(self, results):
        return super().protocol(results) if results[0]["config"]["settings"]["ok"] else 5

    def render(self, results, page):
        return "body"


@hookimpl
def lvrbench_tasks():
    return [Toy()]
'''


def test_a_third_party_task_gets_the_default_protocol_and_a_broken_one_is_a_problem(plugin_dist, tmp_path):
    from lvrbench.run.harness import core_revisions
    from lvrbench.base.errors import UsageError
    from lvrbench.run.registry import load_registry

    plugin_dist("lvrbench-toy-pages", {"lvrbench_toy_pages": TOY}, {"toy": "lvrbench_toy_pages"})
    registry = load_registry(strict=True)
    config = {"task": "toy", "profile": "quick", "dataset": "ring8", "family": "lsgan", "prior": "normal",
              "method": "m", "hparams": {"x": 2.0}, "seed": 4, "settings": {"ok": True, "gan": {"latent_dim": 8}},
              "code": {"core": core_revisions()}}
    text = page(registry, tmp_path / "a", [ok(registry, config, CellOutcome(metrics={"s": est(1.0)}))], "toy")
    assert "## Protocol\n\n- after toy paper §1\n- d_z 8\n- seeds 4\n- grid: x 2\n" in text
    broken = ok(registry, {**config, "settings": {"ok": False}}, CellOutcome(metrics={"s": est(1.0)}))
    ResultStore(tmp_path / "b").write(broken)
    with pytest.raises(UsageError, match=r"results/toy/: cannot be rendered \(TypeError: protocol\(\) returned int, not a list of str\)"):
        build(registry, tmp_path / "b")


def test_seeds_train_their_own_generators(registry):
    from lvrbench.run.harness import PlanRequest

    if not __import__("pathlib").Path("/usr/share/datasets/fashion-mnist").exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    request = PlanRequest(registry, methods=("none",), priors=("normal",), seeds=(0, 1))
    for name in ("recovery-real", "recovery-synthetic"):
        cells = [c for job in registry.get("tasks", name).plan(request) for c in job.cells]
        assert {(c.config["seed"], c.config["settings"]["gan"]["seed"]) for c in cells} == {(0, 0), (1, 1)}


def test_seeds_aggregate_on_the_page_although_each_trains_its_own_generator(registry, tmp_path):
    results = []
    for seed, correct in ((0, [1, 1, 1, 0]), (1, [1, 0, 0, 0])):
        config = recovery_config("recovery-real", "none", {"lr": 0.1}, seed=seed, n=4)
        assert config["settings"]["gan"]["seed"] == seed
        results.append(ok(registry, config, real_outcome(correct)))
    text = page(registry, tmp_path, results, "recovery-real")
    # 0.75 and 0.25: a t interval over two networks (clipped to accuracy's range), not the spread of their items
    assert cell(text, "accuracy ↑ (cross-fitted)", "none") == "0.500 [0.00, 1.00] (2 seeds)"
    assert "| 0.1           | 0.500 [0.00, 1.00] (2 seeds) |" in text  # the grid's one cell, over both seeds


# ------------------------------------------------------------------------------------------------ heatmaps


def test_heatmaps_share_one_colour_scale(tmp_path):
    """0.5 has viridis' middle colour in a grid of [0.5, 0.6] and in one of [0.2, 0.5] (not each grid's own min or max)."""
    from PIL import Image
    import matplotlib

    from lvrbench.kit.figures import heatmap

    middle = np.array(matplotlib.colormaps["viridis"](0.5)[:3]) * 255
    for name, values in (("low", [[0.5, 0.6]]), ("high", [[0.2, 0.5]])):
        path = tmp_path / f"{name}.png"
        heatmap(np.array(values), ["0.1"], ["w=0", "w=1"], path, "t", "lr", "parameters", (0.0, 1.0))
        pixels = np.asarray(Image.open(path).convert("RGB"), dtype=float).reshape(-1, 3)
        assert (np.abs(pixels - middle).max(axis=1) <= 2).sum() > 1000, name


def test_every_accuracy_heatmap_of_a_page_uses_the_scale_0_to_1(registry, tmp_path, monkeypatch):
    import lvrbench.kit.recovery as tasks

    drawn, draw = [], tasks.heatmap

    def recorded(values, *args):
        drawn.append((float(np.nanmax(values)), args[-1]))
        draw(values, *args)

    monkeypatch.setattr(tasks, "heatmap", recorded)
    results = [ok(registry, recovery_config("recovery-real", method, hp, n=4), real_outcome(correct))
               for method, hp, correct in (("none", {"lr": 0.1}, [1, 0, 0, 0]),
                                           ("bhattacharyya", {"lr": 0.1, "weight": 1.0}, [1, 1, 1, 0]))]
    for r in results:
        ResultStore(tmp_path).write(r)
    build(registry, tmp_path)
    assert sorted(drawn) == [(0.25, (0.0, 1.0)), (0.75, (0.0, 1.0))]
