"""The per-family tasks of issue 10 (generation, reconstruction, mode-coverage) end to end on tiny settings, and
the pieces whose answers are known: the reconstruction error, validation of crafted results."""
from __future__ import annotations

import copy
import json
import statistics
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from lvrbench.base.errors import UsageError
from lvrbench.run.harness import PlanRequest, make_plan
from lvrbench.api.estimates import wilson_interval
from lvrbench.api.priors import PRIORS
from lvrbench.api.networks import init_parameters
from lvrbench.run.store import ResultStore
from lvrbench.commands.runner import RunOptions, run_command

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
TASKS = ("generation", "reconstruction", "mode-coverage")
FAMILIES = ("vanilla", "logan-b")  # logan-b has its own encoder: the ad hoc column
N_TRAIN_IMAGES = 1024

pytestmark = pytest.mark.usefixtures("one_thread")


def results_of(root: Path, task: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "results" / task).glob("*.json"))]


def tiny(monkeypatch: pytest.MonkeyPatch) -> None:
    """Profile settings small enough for a test: few epochs and samples, 2 encoders of 40 steps."""
    from lvrbench.run.env import RunEnv
    from lvrbench.kit import protocols
    from lvrbench_plugins import generation, mode_coverage, reconstruction

    monkeypatch.setitem(protocols.GAN_TRAINING["points"]["quick"], "train", {"epochs": 2, "batch_size": 256, "lr": 1e-3})
    monkeypatch.setitem(protocols.GAN_TRAINING["image"]["quick"], "train", {"epochs": 2, "batch_size": 128, "lr": 3e-4})
    monkeypatch.setitem(generation.SCORING, "quick", {"n_samples": 300, "n_real": 300, "n_boot_fid": 20, "k": 3})
    monkeypatch.setitem(mode_coverage.SCORING, "quick", {"n_samples": 500})
    monkeypatch.setitem(reconstruction.ENCODERS, "quick", {
        "points": {"n_encoders": 2, "steps": 40, "batch_size": 128, "lr": 1e-3, "n_test": 300},
        "image": {"n_encoders": 2, "steps": 10, "batch_size": 64, "lr": 1e-3, "n_test": 64}})
    split = RunEnv.split

    def small_split(self, dataset, name):  # a slice of the 60k training images: seconds, not minutes
        x, y = split(self, dataset, name)
        return (x[:N_TRAIN_IMAGES], y[:N_TRAIN_IMAGES]) if name == "train" and x.dim() == 4 else (x, y)

    monkeypatch.setattr(RunEnv, "split", small_split)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, registry):
    """The three tasks run in-process on ring8 (and fashion-mnist where installed) for two families."""
    base = tmp_path_factory.mktemp("family-tasks")
    datasets = ("ring8", "fashion-mnist") if FMNIST.exists() else ("ring8",)
    with pytest.MonkeyPatch.context() as mp:
        tiny(mp)
        opts = RunOptions(tasks=TASKS, datasets=datasets, families=FAMILIES, out=str(base / "lb"), cache_dir=str(base / "cache"))
        # mode-coverage has no cell on images: run it on the mixtures alone
        first = run_command(registry, RunOptions(**{**opts.__dict__, "tasks": TASKS[:2]}))
        second = run_command(registry, RunOptions(**{**opts.__dict__, "tasks": TASKS[2:], "datasets": ("ring8",)}))
        yield {"root": base / "lb", "opts": opts, "codes": (first, second), "registry": registry, "mp": mp,
               "datasets": datasets}


def test_every_task_runs_validates_and_renders_with_its_figures(runs):
    root, registry = runs["root"], runs["registry"]
    assert runs["codes"] == (0, 0)
    for task in TASKS:
        results = results_of(root, task)
        expected = len(FAMILIES) * (len(runs["datasets"]) if task != "mode-coverage" else 1)
        assert len(results) == expected and all(r["status"] == "ok" for r in results)
        assert all(registry.get("tasks", task).validate(r) == [] for r in results)
        page = (root / f"{task}.md").read_text()
        assert "- G and D `mlp`, d_z = 16, prior uniform\n- trained 2 epochs in batches of 256\n" in page
        links = [part.split(")")[0] for part in page.split("](")[1:]]
        assert links and all((root / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for link in links)
    generation = results_of(root, "generation")
    assert {r["config"]["prior"] for r in generation if r["config"]["dataset"] == "ring8"} == {"uniform"}  # paper 003 §4.1
    assert sum("-curve.png" in link for link in (root / "generation.md").read_text().split("](")) == len(generation)


def test_generation_records_training_curves_and_wilson_intervals(runs):
    for r in results_of(runs["root"], "generation"):
        m = r["metrics"]
        for key in ("precision", "recall") + (("high_quality",) if "centers" in r["extra"] else ()):
            assert m[key] == wilson_interval(m[key]["value"], m[key]["n"]).to_dict()
        history = r["extra"]["history"]
        assert [h["epoch"] for h in history] == list(range(1, r["config"]["settings"]["gan"]["train"]["epochs"] + 1))


def test_images_are_scored_by_a_second_evaluator_and_every_result_checks_its_generator(runs):
    """Generation on Fashion-MNIST: the same samples in the features of a second classifier (another architecture and
    seed); on the mixtures there is one evaluator, the points. Every task's result names its generator's check, the
    same for one generator on every task."""
    if "fashion-mnist" not in runs["datasets"]:
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    for r in results_of(runs["root"], "generation"):
        artifacts, m = r["artifacts"], r["metrics"]
        if r["config"]["dataset"] != "fashion-mnist":
            assert "evaluator_alt" not in artifacts and "fid_alt" not in m
            assert artifacts["evaluator"]["description"] == {"arch": "identity", "epochs": 0, "seed": None}
            continue
        assert artifacts["evaluator"]["description"] == {"arch": "cnn-2x-128", "epochs": 1, "seed": 0, "n_train": 25000}
        assert artifacts["evaluator_alt"]["description"] == {"arch": "mlp-512-128", "epochs": 1, "seed": 1, "n_train": 25000}
        assert artifacts["evaluator_alt"]["key"] != artifacts["evaluator"]["key"]
        assert all(m[f"{name}_alt"]["n"] == m[name]["n"] for name in ("fid", "precision", "recall"))
        assert m["fid_alt"]["value"] != m["fid"]["value"]  # other features, another distance
    checks: dict[tuple, set] = {}
    for task in TASKS:
        for r in results_of(runs["root"], task):
            check = r["artifacts"]["generator"]["check"]
            assert set(check) == {"failed", "why"} and check["failed"] == bool(check["why"])
            checks.setdefault((r["config"]["dataset"], r["config"]["family"]), set()).add(json.dumps(check))
    assert all(len(found) == 1 for found in checks.values())


def test_mode_counts_add_up_to_the_high_quality_share(runs):
    for r in results_of(runs["root"], "mode-coverage"):
        hq, per_mode = r["metrics"]["high_quality"], r["extra"]["per_mode"]
        assert hq["n"] == 500 and sum(per_mode) == round(hq["value"] * hq["n"])
        assert r["metrics"]["modes_covered"]["value"] == sum(5 * len(per_mode) * k >= 500 for k in per_mode)


def test_reconstruction_reports_mean_and_sd_over_encoders(runs):
    page = (runs["root"] / "reconstruction.md").read_text()
    assert "population sd" in page
    results = results_of(runs["root"], "reconstruction")
    assert {r["config"]["family"] for r in results if "ad_hoc" in r["metrics"]} == {"logan-b"}
    # paper 003's chain is put to the results and no verdict is issued, saying why: these tiny generators fail the
    # generator check (under 10% high-quality samples), so nothing is left to compare, and each is named
    line = next(text for text in page.splitlines() if text.startswith("- paper 003, ring8: orders logan-b < vanilla"))
    assert "**not applicable**: nothing left to compare" in line and "Left out: " in line and "under 10%" in line
    for r in results:
        runs_ = r["extra"]["post_hoc_runs"]
        post = r["metrics"]["post_hoc"]
        assert len(runs_) == 2 and post["value"] == pytest.approx(statistics.fmean(runs_), rel=1e-12)
        assert post["low"] <= post["value"] <= post["high"]
        line = next(text for text in page.splitlines() if text.startswith(f"| {r['config']['family']} ") and r["id"] in text)
        assert f"± {statistics.pstdev(runs_):#.3g}".rstrip(".") in line


def test_same_seed_same_numbers(runs):
    root = runs["root"]
    before = {r["id"]: r for r in results_of(root, "reconstruction")}
    opts = RunOptions(**{**runs["opts"].__dict__, "tasks": ("reconstruction",), "datasets": ("ring8",), "force": True})
    assert run_command(runs["registry"], opts) == 0
    after = {r["id"]: r for r in results_of(root, "reconstruction")}
    assert before.keys() == after.keys()
    for cid in before:
        assert before[cid]["metrics"] == after[cid]["metrics"] and before[cid]["extra"] == after[cid]["extra"]


def crafted(result: dict, path: str, value) -> dict:
    out = copy.deepcopy(result)
    *parents, last = path.split(".")
    target = out
    for part in parents:
        target = target[part]
    target[last] = value
    return out


@pytest.mark.parametrize("task, path, value, problem", [
    ("generation", "extra.history", [{"epoch": 1, "d_loss": "high", "g_loss": 0.5}],
     "extra.history must be a non-empty list of {epoch: integer, d_loss: number, g_loss: number or null}"),
    ("generation", "metrics.precision", 0.5,
     "metrics.precision is not a {value, low, high, n} estimate of finite numbers with low <= high"),
    ("generation", "config.settings.gan.latent_dim", "16", "config.settings.gan.latent_dim has the wrong type"),
    ("reconstruction", "extra.post_hoc_runs", [0.1], "extra.post_hoc_runs must hold 2 non-negative numbers, one per encoder training"),
    ("reconstruction", "extra.post_hoc_runs", [0.0, 1e6], "metrics.post_hoc.value must be the mean of extra.post_hoc_runs"),
    ("reconstruction", "metrics.ad_hoc", {"value": 1.0}, "metrics.ad_hoc is not a {value, low, high, n} estimate of finite numbers with low <= high"),
    ("reconstruction", "extra.reconstructions", {"kind": "points", "data": [[0, "x"]]},
     "extra.reconstructions: points must be a non-empty list of [x, y] finite numbers"),
    ("mode-coverage", "extra.per_mode", [1, 2, -3, 4, 5, 6, 7, 8], "extra.per_mode must hold one non-negative integer count per centre"),
    ("mode-coverage", "extra.centers", [[0, 1]] * 8 + [["a", 1]], "extra.centers: points must be a non-empty list of [x, y] finite numbers"),
])
def test_validate_rejects_crafted_results_with_the_problem_line(runs, task, path, value, problem):
    result = next(r for r in results_of(runs["root"], task) if r["config"]["dataset"] == "ring8")
    assert runs["registry"].get("tasks", task).validate(crafted(result, path, value))[0] == problem


def test_a_crafted_result_fails_the_leaderboard_check_not_the_process(runs, tmp_path):
    from lvrbench.report.check import check

    root = tmp_path / "lb"
    result = next(r for r in results_of(runs["root"], "reconstruction") if r["config"]["dataset"] == "ring8")
    ResultStore(root).write(crafted(result, "extra.post_hoc_runs", "many"))
    assert check(runs["registry"], root)[0] == f"results/reconstruction/{result['id']}.json: extra.post_hoc_runs has the wrong type"


def test_reconstruction_error_has_the_known_answer():
    from lvrbench_plugins.reconstruction import l1_errors, over_encoders, train_encoder

    G = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        G.weight.copy_(torch.tensor([[2.0, 0.0], [1.0, 1.0]]))
    x = torch.tensor([[0.0, 0.0], [1.0, -1.0], [0.5, 2.0]])
    shifted = lambda xb: torch.linalg.solve(G.weight, xb.T).T + torch.tensor([0.1, -0.2])  # noqa: E731
    # G(E(x)) - x = G @ (0.1, -0.2) = (0.2, -0.1): L1 0.3 for every sample
    assert torch.allclose(l1_errors(G, shifted, x), torch.full((3,), 0.3, dtype=torch.float64), atol=1e-6)
    errors = torch.tensor([[0.1, 0.3, 0.2], [0.3, 0.5, 0.4]], dtype=torch.float64)
    e = over_encoders(errors, torch.Generator().manual_seed(0), n_boot=200)
    assert e.value == pytest.approx(0.3) and e.n == 3 and 0.1 <= e.low <= e.value <= e.high <= 0.5
    flat = over_encoders(torch.full((5, 4), 0.7, dtype=torch.float64), torch.Generator().manual_seed(0), n_boot=50)
    assert (flat.low, flat.value, flat.high) == pytest.approx((0.7, 0.7, 0.7))
    # an invertible linear G under U(-1, 1)^2: a trained linear encoder inverts it almost exactly
    prior = SimpleNamespace(sample=lambda n, g, device: PRIORS["uniform"].with_dim(2).sample(n, g, device))
    gan = SimpleNamespace(nets={"G": G}, prior=prior)
    start = nn.Linear(2, 2)
    init_parameters(start, torch.Generator().manual_seed(3))  # not torch's global generator: whatever ran before
    encoder = train_encoder(gan, start, steps=600, batch_size=256, lr=0.02,
                            generator=torch.Generator().manual_seed(1), device=torch.device("cpu"))
    held_out = G(PRIORS["uniform"].with_dim(2).sample(500, torch.Generator().manual_seed(2))).detach()
    assert float(l1_errors(G, encoder, held_out).mean()) < 0.02
    assert all(p.requires_grad for p in G.parameters())  # G was frozen only while the encoder trained


def test_a_named_family_that_cannot_run_is_refused_before_any_work(registry):
    store = ResultStore(Path("/nonexistent"))
    tasks = [registry.get("tasks", t) for t in TASKS]
    with pytest.raises(UsageError) as refused:
        make_plan(tasks, PlanRequest(registry, datasets=("ring8",), families=("gm-gan",), priors=("uniform",)), store)
    assert str(refused.value) == "generation: family gm-gan is trained on the normal prior, not the uniform prior"
    # named by --prior alone, families that cannot take it are left out; the others run
    plan = make_plan(tasks, PlanRequest(registry, datasets=("ring8",), priors=("uniform",)), store)
    families = {c.config["family"] for c in plan.cells}
    assert "gm-gan" not in families and {"vanilla", "bigan", "logan-b"} <= families
    # by default a family runs with a prior it takes: ring8's uniform (paper 003 §4.1), gm-gan its N(0, I) noise
    plan = make_plan(tasks, PlanRequest(registry, datasets=("ring8",), families=("gm-gan", "logan-b")), store)
    assert {(c.config["family"], c.config["prior"]) for c in plan.cells} == {("gm-gan", "normal"), ("logan-b", "uniform")}
    assert {c.task for c in plan.cells} == set(TASKS)
