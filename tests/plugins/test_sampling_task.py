"""The `sampling` task end to end on ring8 with tiny settings: planning its sampler grid, paired differences with
direct, a cell that fails alone, the page and its validation of crafted results."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from lvrbench.base.errors import UsageError
from lvrbench.run.harness import PlanRequest, make_plan
from lvrbench.run.store import ResultStore
from lvrbench.commands.runner import RunOptions, run_command

pytestmark = pytest.mark.usefixtures("one_thread")
FAMILIES = ("vanilla", "lsgan")  # an exact BCE logit, and a critic the samplers calibrate
SAMPLERS = {"direct", "drs", "dg-flow", "ddls", "mh-gan"}


def results_of(root: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "results" / "sampling").glob("*.json"))]


def tiny(mp: pytest.MonkeyPatch) -> None:
    from lvrbench.kit import protocols
    from lvrbench_plugins import sampling

    mp.setitem(protocols.GAN_TRAINING["points"]["quick"], "train", {"epochs": 2, "batch_size": 256, "lr": 1e-3})
    mp.setitem(sampling.SCORING, "quick", {"n_samples": 200, "n_real": 300, "n_held_out": 300, "n_ratio_test": 300,
                                           "n_boot_fid": 20, "k": 3, "batch": 100})
    mp.setitem(sampling.GRIDS, "quick", {"drs": {"burn_in": (300.0,), "max_attempts": (50.0,)}, "ddls": {"steps": (4.0,)},
                                         "dg-flow": {"steps": (4.0,)}, "mh-gan": {"proposals": (4.0,)}})


@pytest.fixture(scope="module")
def run(tmp_path_factory, registry):
    base = tmp_path_factory.mktemp("sampling")
    with pytest.MonkeyPatch.context() as mp:
        tiny(mp)
        opts = RunOptions(tasks=("sampling",), datasets=("ring8",), families=FAMILIES, out=str(base / "lb"),
                          cache_dir=str(base / "cache"))
        code = run_command(registry, opts)
        yield {"root": base / "lb", "code": code, "registry": registry, "opts": opts, "mp": mp}


def test_every_sampler_runs_on_every_family_and_the_page_checks(run):
    from lvrbench.report.check import check

    root, registry = run["root"], run["registry"]
    assert run["code"] == 0
    results = results_of(root)
    assert {(r["config"]["family"], r["config"]["method"]) for r in results} == {(f, s) for f in FAMILIES for s in SAMPLERS}
    assert all(r["status"] == "ok" and registry.get("tasks", "sampling").validate(r) == [] for r in results)
    assert check(registry, root) == []
    page = (root / "sampling.md").read_text()
    assert "- G and D `mlp`, d_z = 16, prior uniform\n- trained 2 epochs in batches of 256\n" in page
    assert "- scored on 200 samples per sampler, 300 test samples, 300 held-out real samples for calibration" in page
    assert "- grid: burn_in 300; diffusion 0.01; epsilon 0.01; eta 0.1; gamma 0; max_attempts 50; percentile 95; proposals 4; steps 4" in page
    assert "![quality against cost on ring8](images/sampling/ring8-quality-cost.png)" in page
    links = [part.split(")")[0] for part in page.split("](")[1:]]
    reliability = {link for link in links if link.endswith("-reliability.png")}
    assert len(links) == len(results) + 1 + len(reliability)
    assert all((root / link).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for link in links)
    cost = {(r["family"], r["sampler"]): r["density ratio"] for r in tables(page) if "density ratio" in r and "s / 1000" in r}
    assert cost[("vanilla", "drs")] == "exact: BCE logit" and cost[("lsgan", "mh-gan")] == "calibrated: logistic on the critic's score"
    assert cost[("vanilla", "direct")] == "-"
    assert all(len(header) <= 10 for header in headers(page))  # quality and cost apart, no table past 10 columns
    assert page.index("## Ranking") < page.index("## Details") < page.index("## Protocol")


def tables(page: str) -> list[dict[str, str]]:
    """Every row of every markdown table of a page, keyed by its table's headers."""
    rows, block = [], []
    for line in page.splitlines() + [""]:
        if line.startswith("|"):
            block.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif block:
            rows += [dict(zip(block[0], cells)) for cells in block[2:]]
            block = []
    return rows


def headers(page: str) -> list[list[str]]:
    lines = page.splitlines()
    return [[c.strip() for c in line.strip().strip("|").split("|")] for i, line in enumerate(lines)
            if line.startswith("|") and (i == 0 or not lines[i - 1].startswith("|"))]


def test_each_metric_is_paired_with_direct_on_the_same_seed(run):
    results = results_of(run["root"])
    for r in results:
        m = r["metrics"]
        direct = next(x for x in results if x["config"]["method"] == "direct" and x["config"]["family"] == r["config"]["family"])
        assert r["config"]["settings"] == direct["config"]["settings"]  # one generator, one evaluator, the same reals
        for metric in ("fid", "precision", "recall", "high_quality"):
            diff = m[f"{metric}_vs_direct"]
            assert diff["value"] == pytest.approx(m[metric]["value"] - direct["metrics"][metric]["value"], abs=1e-9)
            assert diff["low"] <= diff["value"] <= diff["high"]
        assert m["modes_covered_vs_direct"]["value"] == m["modes_covered"]["value"] - direct["metrics"]["modes_covered"]["value"]
        assert r["extra"]["direct_cost"] == direct["extra"]["cost"]
    direct = next(r for r in results if r["config"]["method"] == "direct")
    assert direct["metrics"]["fid_vs_direct"] == {"value": 0.0, "low": 0.0, "high": 0.0, "n": 200}
    assert direct["extra"]["cost"]["generator_evals"] == 1000 and direct["extra"]["cost"]["discriminator_evals"] == 0
    flow = next(r for r in results if r["config"]["method"] == "dg-flow")
    assert flow["extra"]["cost"]["generator_evals"] == 5000 and flow["extra"]["cost"]["discriminator_evals"] == 4000
    mh = next(r for r in results if r["config"]["method"] == "mh-gan" and r["config"]["family"] == "lsgan")
    assert mh["metrics"]["acceptance"]["n"] == 800 and mh["extra"]["ratio"]["calibrator"]["n_real"] == 300


def test_a_sampler_that_gives_up_fails_its_cell_alone(run, tmp_path):
    opts = RunOptions(**{**run["opts"].__dict__, "families": ("vanilla",), "methods": ("direct", "drs"),
                         "overrides": ("gamma=40", "percentile=0", "max_attempts=1"), "out": str(tmp_path / "lb")})
    assert run_command(run["registry"], opts) == 1
    by_method = {r["config"]["method"]: r for r in results_of(tmp_path / "lb")}
    assert by_method["direct"]["status"] == "ok"
    assert by_method["drs"]["status"] == "failed" and by_method["drs"]["error"] == (
        "drs: accepted 0 of 200 samples in 200 proposals, the cap (max_attempts=1 per sample); lower gamma or "
        "percentile, or raise max_attempts")


def test_method_and_set_select_samplers_and_their_grid_before_any_work(registry):
    store, task = ResultStore(Path("/nonexistent")), [registry.get("tasks", "sampling")]
    # paper 004's fixed γ = -5 and -8 (percentile 0), over the full profile's declared (reference) defaults
    request = PlanRequest(registry, profile="full", datasets=("ring8",), families=("vanilla",), methods=("drs",),
                          overrides={"gamma": (-5.0, -8.0), "percentile": (0.0,)})
    plan = make_plan(task, request, store)
    assert [c.config["hparams"] for c in plan.cells] == [
        {"burn_in": 10000.0, "gamma": g, "max_attempts": 100.0, "percentile": 0.0} for g in (-5.0, -8.0)]
    assert task[0].parameters(request) == {"burn_in", "gamma", "percentile", "max_attempts"}
    assert task[0].method_names(registry) == SAMPLERS
    with pytest.raises(UsageError) as refused:
        make_plan(task, PlanRequest(registry, datasets=("ring8",), methods=("dg-flow",), overrides={"steps": (2.5,)}), store)
    assert str(refused.value) == "dg-flow: steps must be a whole number, got 2.5"
    full = make_plan(task, PlanRequest(registry, profile="full", datasets=("ring8",), families=("vanilla",)), store)
    assert {c.config["method"]: c.config["hparams"] for c in full.cells}["mh-gan"] == {"proposals": 640.0}  # the reference's


@pytest.mark.parametrize("path, value, problem", [
    ("extra.ratio", {"text": "exact: trust me"},
     "extra.ratio must be null or name its ratio as one of: exact: BCE logit; calibrated: logistic on the critic's score"),
    ("extra.cost", {"generator_evals": 1.0, "seconds": 0.1}, "extra.cost must hold generator_evals, discriminator_evals, "
     "seconds as numbers >= 0"),
    ("metrics.fid_vs_direct", 0.5, "metrics.fid_vs_direct is not a {value, low, high, n} estimate of finite numbers with low <= high"),
    ("metrics.acceptance", "high", "metrics.acceptance is not a {value, low, high, n} estimate of finite numbers with low <= high"),
    ("extra.paired", "yes", "extra.paired has the wrong type"),
    ("extra.ratio.heldout.at_chance", 1, "extra.ratio.heldout.at_chance has the wrong type"),
    ("artifacts.generator.check", {"failed": True, "why": ""},
     "artifacts.generator.check.why must say why exactly when the generator failed"),
])
def test_validate_rejects_crafted_results(run, path, value, problem):
    result = copy.deepcopy(next(r for r in results_of(run["root"]) if r["config"]["method"] == "drs"))
    *parents, last = path.split(".")
    target = result
    for part in parents:
        target = target[part]
    target[last] = value
    assert run["registry"].get("tasks", "sampling").validate(result)[0] == problem


# --------------------------------------------------------- the page on crafted results (the measure half's fields)

#: lvrbench 0.4.0's published sampling cells, retired to the archive in both forms: 0.4's own files and their
#: migration to 0.5's identity (`config.code`), which are the templates here.
STANDARD = Path(__file__).resolve().parents[2] / "leaderboards" / "standard" / "archive" / "0.4.0" / "results" / "sampling"


def published(family: str, method: str) -> dict:
    """A published 0.4.0 standard-profile sampling result on Fashion-MNIST (one seed), migrated, as a template."""
    for path in sorted(STANDARD.glob("*.json")):
        r = json.loads(path.read_text())
        c = r["config"]
        if "code" in c and (c["dataset"], c["family"], c["method"]) == ("fashion-mnist", family, method):
            return r
    raise AssertionError(f"no published {family} {method} cell")


def reseeded(r: dict, seed: int, shift: float) -> dict:
    """The template as another network's cell: its seed, and its FIDs (and their change against direct) moved."""
    out = copy.deepcopy(r)
    out["config"]["seed"] = out["config"]["settings"]["gan"]["seed"] = seed
    out["id"] = f"{r['id'][:12]}{seed:04d}"
    for key in ("fid", "fid_vs_direct"):
        if r["config"]["method"] != "direct" or key == "fid":
            m = out["metrics"][key]
            out["metrics"][key] = {**m, "value": m["value"] + shift, "low": m["low"] + shift, "high": m["high"] + shift}
    return out


def heldout(at_chance: bool) -> dict:
    bins = [{"low": p - 0.05, "high": p + 0.05, "count": 40, "mean_predicted": p, "observed": min(1.0, p + 0.05)}
            for p in (0.15, 0.45, 0.75)]
    e = lambda v, lo, hi: {"value": v, "low": lo, "high": hi, "n": 2000}  # noqa: E731
    return {"accuracy": e(0.50, 0.48, 0.52) if at_chance else e(0.81, 0.79, 0.83),
            "log_loss": e(0.693, 0.690, 0.697) if at_chance else e(0.42, 0.40, 0.44),
            "auc": e(0.5, 0.48, 0.52) if at_chance else e(0.88, 0.86, 0.9), "ece": 0.03, "reliability": bins,
            "at_chance": at_chance, "n_real": 60, "n_fake": 60}


def crafted_root(seeds: int, chance: str = "wgan", failed: str | None = None, alt: bool = True) -> list[dict]:
    """vanilla's and wgan's published cells as `seeds` networks, with the measure half's fields: whether each sampler
    pairs with direct, each ratio's held-out quality (`chance`'s at chance), the second evaluator's scores (its FID
    change against direct turned the other way for DRS on vanilla), a generator check (`failed`'s failed)."""
    out = []
    for family in ("vanilla", "wgan"):
        for method in ("direct", "drs", "dg-flow"):
            template = published(family, method)
            for seed in range(seeds):
                r = reseeded(template, seed, 0.4 * seed)
                r["extra"]["paired"] = method != "drs"
                r["config"]["settings"]["n_ratio_test"] = 2000  # 0.5's sampling cells score each ratio on these
                if method != "direct":
                    r["extra"]["ratio"] = {**r["extra"]["ratio"], "heldout": heldout(family == chance)}
                if alt:
                    base = r["metrics"]["fid"]["value"] * 1.5
                    flip = 30.0 if (family, method) == ("vanilla", "drs") else 0.0
                    for key, value in (("fid_alt", base + flip), ("precision_alt", 0.7), ("recall_alt", 0.2)):
                        r["metrics"][key] = {"value": value, "low": value * 0.98, "high": value * 1.02, "n": 2000}
                    for key in ("fid_alt", "precision_alt", "recall_alt"):  # against direct's on the same network
                        value = 1.5 * r["metrics"]["fid_vs_direct"]["value"] + flip if key == "fid_alt" else 0.0
                        r["metrics"][f"{key}_vs_direct"] = {"value": value, "low": value - 1, "high": value + 1, "n": 2000}
                    r["artifacts"]["evaluator_alt"] = {"key": "b" * 16, "description": {"arch": "mlp-512-128", "epochs": 5, "seed": 1},
                                                       "test_accuracy": {"value": 0.85, "low": 0.84, "high": 0.86, "n": 10000}}
                check = {"failed": family == failed, "why": "its critic's loss sat at 0" if family == failed else ""}
                r["artifacts"]["generator"]["check"] = check
                out.append(r)
    return out


def render(registry, results: list[dict], tmp_path) -> str:
    from lvrbench.report.pages import Page

    task = registry.get("tasks", "sampling")
    assert all(task.validate(r) == [] for r in results)
    return task.render(results, Page(tmp_path, "sampling"))


def test_the_page_reads_pairing_ratio_quality_and_the_second_evaluator(registry, tmp_path):
    page = render(registry, crafted_root(3), tmp_path)
    rows = tables(page)
    ranking = {(r["family"], r["sampler"]): r for r in rows if "Δ interval" in r and "rank" in r}
    assert ranking[("vanilla", "drs")]["Δ interval"] == "two-sample" and ranking[("vanilla", "dg-flow")]["Δ interval"] == "paired"
    assert ranking[("vanilla", "direct")]["rank"] != "-"  # three seeds: ranked
    # wgan's ratio is at chance: its sampler cells read so instead of numbers, and rank nowhere
    assert ranking[("wgan", "drs")]["density ratio"] == "not applicable: ratio at chance"
    quality = {(r["family"], r["sampler"]): r for r in rows if "Δ FID" in r and "params" in r}
    assert quality[("wgan", "drs")]["FID ↓"] == "not applicable: ratio at chance"
    assert quality[("vanilla", "drs")]["Δ interval"] == "two-sample"
    ratios = {r["family"]: r for r in rows if "AUC ↑" in r}
    assert ratios["wgan"]["at chance"] == "3 of 3 seeds" and ratios["vanilla"]["at chance"] == "0 of 3 seeds"
    assert ratios["vanilla"]["AUC ↑"] == "0.880 [0.880, 0.880] (3 seeds)"
    assert ratios["vanilla"]["figure"] == "[reliability](images/sampling/fashion-mnist-vanilla-reliability.png)"
    second = {(r["family"], r["sampler"]): r for r in rows if "FID ↓, B" in r}
    assert second[("vanilla", "drs")]["precision ↑, B"] == "0.700 [0.700, 0.700] (3 seeds)"
    lines = [line for line in page.splitlines() if line.startswith("- paper 004")]
    vanilla = next(line for line in lines if "drs improves vanilla's FID" in line)
    assert "**evaluator-dependent**" in vanilla and "evaluator B reads disagrees" in vanilla
    every = next(line for line in lines if "for every family run here" in line)  # the evidence line
    assert "Left out: wgan drs seeds 0, 1 and 2: its density ratio is at chance on held-out data." in every


def test_a_failed_generator_is_flagged_and_left_out(registry, tmp_path):
    page = render(registry, crafted_root(3, chance="none", failed="wgan"), tmp_path)
    assert "**Generators that failed to train**" in page and "wgan on fashion-mnist (normal prior), seed 0: its critic's loss sat at 0" in page
    every = next(line for line in page.splitlines() if line.startswith("- paper 004") and "for every family" in line)
    tested, left = every.split(" Left out: ")
    assert "drs − direct (vanilla)" in tested and "(wgan)" not in tested  # the claim is tested on vanilla alone
    assert left == "wgan direct seeds 0, 1 and 2: its critic's loss sat at 0; wgan drs seeds 0, 1 and 2: its critic's loss sat at 0."


def test_one_seed_issues_no_verdict_and_says_why(registry, tmp_path):
    page = render(registry, crafted_root(1, chance="none", alt=False), tmp_path)
    lines = [line for line in page.splitlines() if line.startswith("- paper 004")]
    assert lines and all("**not applicable**: one training seed" in line for line in lines)
    assert headlines_text(page).count("(one network's evaluation interval)") == len(lines)
    assert "No ranks: one training seed per row" in page


def headlines_text(page: str) -> str:
    return page.split("## The papers beside ours", 1)[1].split("## Details", 1)[0]


def test_a_crafted_result_fails_the_check_not_the_process(run, tmp_path):
    from lvrbench.report.check import check

    result = copy.deepcopy(next(r for r in results_of(run["root"]) if r["config"]["method"] == "ddls"))
    del result["extra"]["centers"]  # mixture scores without their centres
    ResultStore(tmp_path / "lb").write(result)
    assert check(run["registry"], tmp_path / "lb")[0] == f"results/sampling/{result['id']}.json: extra.centers is missing"


THIRD_PARTY = '''
import torch

from lvrbench.api import SampleOutput, Sampler, hookimpl


class Plain(Sampler):
    """G(z) from ctx's latents, as direct does."""

    name = "plain"
    needs_ratio = False

    def sample(self, gan, n, ctx):
        z = ctx.latents(n)
        return SampleOutput(ctx.generate(z), z)


class ExtraAxis(Plain):
    """Returns its samples with an extra axis: [n, 1, 2] on a 2-D dataset."""

    name = "extra-axis"

    def sample(self, gan, n, ctx):
        out = super().sample(gan, n, ctx)
        return SampleOutput(out.samples.unsqueeze(1), out.latents)


class GlobalDraw(Plain):
    """Adds noise drawn from the global torch RNG."""

    name = "global-draw"

    def sample(self, gan, n, ctx):
        out = super().sample(gan, n, ctx)
        return SampleOutput(out.samples + 0.01 * torch.randn(out.samples.shape), out.latents)


class NormalOnly(Plain):
    """Defined for generators of the normal prior only."""

    name = "normal-only"
    requires = "normal"


@hookimpl
def lvrbench_samplers():
    return [Plain(), ExtraAxis(), GlobalDraw(), NormalOnly()]
'''


@pytest.fixture
def third_party(plugin_dist):
    from lvrbench.run.registry import load_registry

    plugin_dist("acme-samplers", {"acme_samplers": THIRD_PARTY}, {"samplers": "acme_samplers"})
    return load_registry(strict=True)


def test_a_samplers_bad_output_fails_its_cell_alone_naming_it(run, third_party, tmp_path):
    """A sampler returning [n, 1, 2] on a 2-D dataset, or drawing from the global RNG, fails its own cell with its name;
    direct's cell and a good sampler's, in the same job, are ok."""
    opts = RunOptions(**{**run["opts"].__dict__, "families": ("vanilla",), "out": str(tmp_path / "lb"),
                         "methods": ("direct", "plain", "extra-axis", "global-draw")})
    assert run_command(third_party, opts) == 1
    by_method = {r["config"]["method"]: r for r in results_of(tmp_path / "lb")}
    assert {m: r["status"] for m, r in by_method.items()} == {"direct": "ok", "plain": "ok", "extra-axis": "failed",
                                                              "global-draw": "failed"}
    assert by_method["extra-axis"]["error"] == ("sampler extra-axis returned samples of shape [200, 1, 2], not "
                                                "[n, *G's sample shape] = [200, 2]: return 200 samples shaped as G(z)")
    assert by_method["global-draw"]["error"] == (
        "sampler global-draw drew from the global torch RNG, so its numbers depend on what ran before: draw every random "
        "number through ctx (ctx.latents, ctx.normal, ctx.uniform, ctx.integers)")
    assert by_method["plain"]["metrics"]["fid"] == by_method["direct"]["metrics"]["fid"]  # the same samples as direct's


def test_a_samplers_declared_priors_are_honoured_by_the_planner(third_party, tmp_path):
    """ring8's generators are trained on the uniform prior (paper 003's), fashion-mnist's on the normal one: a sampler
    that requires "normal" is skipped on the first, planned on the second, and refused in one line when named with what
    cannot run it."""
    store, task = ResultStore(tmp_path), [third_party.get("tasks", "sampling")]

    def planned(**options) -> set[tuple[str, str, str]]:
        plan = make_plan(task, PlanRequest(third_party, **options), store)
        return {(c.config["dataset"], c.config["prior"], c.config["family"]) for c in plan.cells
                if c.config["method"] == "normal-only"}

    assert planned(datasets=("ring8",), families=("vanilla",), methods=("direct",)) == set()
    assert planned(datasets=("ring8", "fashion-mnist"), families=("vanilla", "gm-gan")) == {
        ("fashion-mnist", "normal", "vanilla")}  # not ring8's uniform prior, nor GM-GAN's learned mixture
    assert planned(datasets=("ring8",), families=("vanilla",), priors=("normal",)) == {("ring8", "normal", "vanilla")}
    for options, message in [
        ({"families": ("vanilla",)}, "sampling: normal-only is defined for the normal prior, not the uniform prior"),
        ({"priors": ("uniform",)}, "sampling: normal-only is defined for the normal prior, not the uniform prior"),
        ({"datasets": ("fashion-mnist",), "families": ("gm-gan",)},
         "sampling: normal-only is defined for the normal prior, not the gaussian-mixture prior"),
    ]:
        with pytest.raises(UsageError) as refused:
            make_plan(task, PlanRequest(third_party, **{"datasets": ("ring8",), "methods": ("normal-only",), **options}), store)
        assert str(refused.value) == message


def test_refining_samplers_are_paired_with_direct_the_others_two_sample(run):
    from lvrbench.kit import inference

    declared = {s: run["registry"].get("samplers", s).paired for s in SAMPLERS}
    assert declared == {"direct": True, "dg-flow": True, "ddls": True, "drs": False, "mh-gan": False}
    results = results_of(run["root"])
    for r in results:
        assert r["extra"]["paired"] is declared[r["config"]["method"]]
        if declared[r["config"]["method"]]:
            continue
        direct = next(x for x in results if x["config"]["method"] == "direct" and x["config"]["family"] == r["config"]["family"])
        for metric in ("precision", "high_quality"):  # two independent sets of 200 samples: Newcombe's two-sample interval
            ours, theirs = r["metrics"][metric], direct["metrics"][metric]
            expected = inference.newcombe_difference(round(ours["value"] * 200), 200, round(theirs["value"] * 200), 200)
            assert r["metrics"][f"{metric}_vs_direct"] == expected


def test_every_density_ratio_is_scored_on_held_out_samples_it_was_not_fitted_on(run):
    results = results_of(run["root"])
    heldout = {}
    for r in results:
        ratio = r["extra"]["ratio"]
        if r["config"]["method"] == "direct":
            assert ratio is None
            continue
        q = ratio["heldout"]
        # 300 other held-out real samples (n_ratio_test) against 300 fresh generated ones; the calibrator saw 300 others
        assert (q["n_real"], q["n_fake"]) == (300, 300) and q["accuracy"]["n"] == q["log_loss"]["n"] == 600
        assert sum(b["count"] for b in q["reliability"]) == 600 and isinstance(q["at_chance"], bool)
        heldout.setdefault(r["config"]["family"], []).append(q)
        if r["config"]["family"] == "lsgan":
            assert ratio["calibrator"]["n_real"] == 300 and ratio["calibrator"]["accuracy"] != q["accuracy"]["value"]
    # one ratio per generator: every sampler that reads it carries the same scores
    assert {f: len({json.dumps(q, sort_keys=True) for q in qs}) for f, qs in heldout.items()} == {"vanilla": 1, "lsgan": 1}


FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.fixture(scope="module")
def images(tmp_path_factory, registry):
    """Samplers on a Fashion-MNIST generator (one epoch on 1024 images): scored by both evaluators."""
    if not FMNIST.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    from lvrbench.kit import protocols
    from lvrbench.run.env import RunEnv

    base = tmp_path_factory.mktemp("sampling-images")
    with pytest.MonkeyPatch.context() as mp:
        tiny(mp)
        mp.setitem(protocols.GAN_TRAINING["image"]["quick"], "train", {"epochs": 1, "batch_size": 64, "lr": 3e-4})
        split = RunEnv.split
        mp.setattr(RunEnv, "split", lambda self, d, name: tuple(v[:1024] for v in split(self, d, name)) if name == "train"
                   else split(self, d, name))
        opts = RunOptions(tasks=("sampling",), datasets=("fashion-mnist",), families=("vanilla",),
                          methods=("direct", "drs", "dg-flow"), out=str(base / "lb"), cache_dir=str(base / "cache"))
        assert run_command(registry, opts) == 0
        yield results_of(base / "lb")


def test_images_are_compared_with_direct_in_both_evaluators(images, registry):
    task = registry.get("tasks", "sampling")
    by = {r["config"]["method"]: r for r in images}
    assert set(by) == {"direct", "drs", "dg-flow"} and all(task.validate(r) == [] for r in images)
    for method, r in by.items():
        m = r["metrics"]
        assert r["artifacts"]["evaluator_alt"]["description"] == {"arch": "mlp-512-128", "epochs": 1, "seed": 1, "n_train": 25000}
        for name in ("fid", "precision", "recall", "fid_alt", "precision_alt", "recall_alt"):
            diff = m[f"{name}_vs_direct"]
            # FIDs of a few hundred: their difference agrees to float64's rounding of two eigendecompositions (1e-8 of them)
            assert diff["value"] == pytest.approx(m[name]["value"] - by["direct"]["metrics"][name]["value"], abs=1e-5)
        assert r["extra"]["paired"] is (method != "drs")
    # the second evaluator's precision of DRS against direct: two independent sets, Newcombe's two-sample interval
    from lvrbench.kit import inference

    ours, theirs = by["drs"]["metrics"]["precision_alt"], by["direct"]["metrics"]["precision_alt"]
    assert by["drs"]["metrics"]["precision_alt_vs_direct"] == inference.newcombe_difference(
        round(ours["value"] * 200), 200, round(theirs["value"] * 200), 200)
    heldout = by["drs"]["extra"]["ratio"]["heldout"]
    assert by["drs"]["extra"]["ratio"]["text"] == "exact: BCE logit" and (heldout["n_real"], heldout["n_fake"]) == (300, 300)
    assert by["dg-flow"]["extra"]["ratio"]["heldout"] == heldout
