"""Pretrained generators (issue 14): a pip-installed package's generator and a --checkpoint of lvrbench's own
architecture are benchmarked as they are, never trained; their weights are read with weights_only, checked before any
work, and identified by their digest."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from conftest import pip_install, REPO, run_cli

from lvrbench import __version__
from lvrbench.engine.specs import gan_spec
from lvrbench.run.env import RunEnv
from lvrbench.base.errors import UsageError
from lvrbench.run.harness import PlanRequest, make_plan
from lvrbench.api.networks import init_parameters
from lvrbench.run.pretrained import load_pretrained, read_checkpoint
from lvrbench.run.registry import Entry, load_registry
from lvrbench.run.store import ResultStore
from lvrbench.commands.runner import RunOptions, run_command

EXAMPLE = REPO / "examples" / "lvrbench-example-generator"
FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.skipif(not FMNIST.exists(), reason="the example generator models Fashion-MNIST")]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The example generator package, pip-installed next to lvrbench (a --target directory for PYTHONPATH)."""
    return pip_install(EXAMPLE, tmp_path_factory)


@pytest.fixture
def example(installed, monkeypatch):
    """A registry loaded in-process with the installed example on sys.path: its entry point registers two generators."""
    monkeypatch.syspath_prepend(str(installed))
    registry = load_registry(strict=True)
    assert registry.names("generators") == ["tiny-fmnist", "tiny-fmnist-g"]
    return registry


def results_of(root: Path, task: str) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((root / "results" / task).glob("*.json"))]


# -- the installed package, through the CLI with real entry points ----------------------------------------------

def test_the_conformance_kit_passes_on_the_installed_generators(installed):
    done = run_cli("test", "lvrbench-example-generator", "-rA", pythonpath=installed, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = {line.split("::")[-1] for line in done.stdout.splitlines() if line.startswith("PASSED")}
    assert {f"test_pretrained_generator_loads_and_samples_its_dataset[{name}]" for name in ("tiny-fmnist", "tiny-fmnist-g")} <= passed
    assert "lvrbench-example-generator has no regularizers" in done.stdout


def test_the_installed_generators_are_listed_with_what_they_declare(installed):
    listed = run_cli("list", "--kind", "generators", "--json", pythonpath=installed)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)["generators"]}
    assert sorted(rows) == ["tiny-fmnist", "tiny-fmnist-g"]
    assert rows["tiny-fmnist"] | {"source": None} == {
        "name": "tiny-fmnist", "plugin": "lvrbench-example-generator", "version": "0.1.0",
        "summary": "A tiny fully connected GAN on Fashion-MNIST (d_z = 8), with its discriminator.",
        "dataset": "fashion-mnist", "prior": "normal", "latent_dim": 8, "family": "vanilla", "networks": ["D", "G"],
        "source": None}
    assert rows["tiny-fmnist-g"]["family"] is None and rows["tiny-fmnist-g"]["networks"] == ["G"]
    text = run_cli("list", "--kind", "generators", pythonpath=installed).stdout.splitlines()
    assert text[1].split() == ["name", "dataset", "prior", "d_z", "family", "source", "plugin", "summary"]
    assert text[4].startswith("tiny-fmnist-g  fashion-mnist  normal   8      - (no D)  lvrbench_example_generator/train.py: ")


def test_recovery_runs_on_the_installed_generators_without_training_them(installed, tmp_path):
    out, cache = tmp_path / "lb", tmp_path / "cache"
    args = ("run", "--task", "recovery-synthetic", "--generator", "tiny-fmnist", "--generator", "tiny-fmnist-g",
            "--method", "none", "--method", "z-score-square", "--set", "weight=0.1", "--out", str(out),
            "--cache-dir", str(cache), "--device", "cpu")
    done = run_cli(*args, pythonpath=installed)
    assert done.returncode == 0, done.stderr
    results = results_of(out, "recovery-synthetic")
    assert len(results) == 4 and all(r["status"] == "ok" for r in results)
    assert {r["config"]["family"] for r in results} == {"tiny-fmnist", "tiny-fmnist-g"}
    for r in results:
        gan = r["config"]["settings"]["gan"]
        assert gan["pretrained"] == r["config"]["family"] and gan["latent_dim"] == 8 and "train" not in gan
        assert r["config"]["code"]["generator"] == {"distribution": "lvrbench-example-generator", "revision": 1}
        assert r["artifacts"]["generator"]["weights"] == gan["weights"]
    assert not (cache / "generators").exists()  # nothing was trained
    # both share one G: with no regularizer their recoveries are the same numbers, D or no D
    none = {r["config"]["family"]: r["extra"]["errors"] for r in results if r["config"]["method"] == "none"}
    assert none["tiny-fmnist"] == none["tiny-fmnist-g"]
    page = (out / "recovery-synthetic.md").read_text()
    assert "### fashion-mnist / tiny-fmnist (pretrained), normal prior" in page
    assert ("Pretrained generators (benchmarked as they are, never trained here; their rows say `(pretrained)`): "
            "tiny-fmnist from lvrbench_example_generator/train.py: lvrbench's training loop, vanilla GAN losses, "
            "10 epochs, seed 0 (lvrbench-example-generator revision 1, mlp 8-64-784, d_z = 8, weights ") in page
    assert ("- rows marked `(pretrained)` come from generators trained elsewhere (named under the table), not the one "
            "described here, and never trained by lvrbench: for them a seed sets only the evaluated items") in page
    checked = run_cli("leaderboard", "check", "--out", str(out), pythonpath=installed)
    assert checked.returncode == 0, checked.stderr
    again = run_cli(*args, "--dry-run", pythonpath=installed)
    assert again.stdout.splitlines()[-1] == "4 cells: 4 done, 0 failed, 0 pending; 0 to compute"
    # a reviewer with the package installed recomputes every cell bit for bit
    paths = sorted(str(p) for p in (out / "results" / "recovery-synthetic").glob("*.json"))
    verified = run_cli("verify", *paths, "--device", "cpu", "--cache-dir", str(tmp_path / "empty"), pythonpath=installed)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.splitlines() == [f"{p}: reproduces (6 metrics and every number in extra and artifacts, exactly, "
                                            "on cpu)" for p in paths]


def test_the_sampling_task_runs_on_the_installed_generators(installed, tmp_path):
    """Direct sampling runs on both; DRS reads the vanilla D's logit of tiny-fmnist and is refused, named, for
    tiny-fmnist-g, which has no D (and skipped for it when not named)."""
    out, cache = tmp_path / "lb", tmp_path / "cache"
    common = ("--out", str(out), "--cache-dir", str(cache), "--device", "cpu")
    refused = run_cli("run", "--task", "sampling", "--generator", "tiny-fmnist-g", "--method", "drs", *common,
                      pythonpath=installed)
    assert refused.returncode == 2 and not out.exists()
    assert refused.stderr == ("lvrbench: error: sampling: drs reads a discriminator's density ratio, and generator "
                              "tiny-fmnist-g has none\n")
    dry = run_cli("run", "--task", "sampling", "--generator", "tiny-fmnist-g", "--dry-run", *common, pythonpath=installed)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1] == "1 cells: 0 done, 0 failed, 1 pending; 1 to compute"  # direct alone
    done = run_cli("run", "--task", "sampling", "--generator", "tiny-fmnist", "--method", "direct", "--method", "drs",
                   *common, pythonpath=installed)
    assert done.returncode == 0, done.stderr
    results = {r["config"]["method"]: r for r in results_of(out, "sampling")}
    assert sorted(results) == ["direct", "drs"] and all(r["status"] == "ok" for r in results.values())
    assert results["drs"]["extra"]["ratio"]["text"] == "exact: BCE logit"
    assert 0 < results["drs"]["metrics"]["acceptance"]["value"] <= 1 and "acceptance" not in results["direct"]["metrics"]
    assert not (cache / "generators").exists()  # nothing was trained
    page = (out / "sampling.md").read_text()
    assert "| tiny-fmnist (pretrained) | drs       | burn_in=" in page  # its cost row, as every family's
    checked = run_cli("leaderboard", "check", "--out", str(out), pythonpath=installed)
    assert checked.returncode == 0, checked.stderr


# -- the loaded TrainedGAN ------------------------------------------------------------------------------------

def test_a_generator_without_d_has_no_d_and_no_capability_that_reads_it(example, tmp_path):
    request = PlanRequest(example)
    env = RunEnv(example, torch.device("cpu"), tmp_path)
    bare = env.gan(gan_spec(request, {"pretrained": "tiny-fmnist-g"}))
    assert sorted(bare.nets) == ["G"] and bare.family.capabilities == frozenset()
    with pytest.raises(UsageError, match="has no realness score"):
        bare.family.realness(bare.nets, torch.zeros(1, 1, 28, 28))
    full = env.gan(gan_spec(request, {"pretrained": "tiny-fmnist"}))
    assert sorted(full.nets) == ["D", "G"] and full.family is example.get("families", "vanilla")
    x = full.sample(5, torch.Generator().manual_seed(3), torch.device("cpu"))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1
    # the same G and prior in both: the same samples; the vanilla D's logit is its log density ratio
    assert torch.equal(x, bare.sample(5, torch.Generator().manual_seed(3), torch.device("cpu")))
    with torch.no_grad():
        assert torch.equal(full.family.log_density_ratio(full.nets, x, None), full.nets["D"](x).flatten())
    assert bare.history == [] and bare.describe()["pretrained"] == "tiny-fmnist-g"


def test_generation_and_reconstruction_plan_it_on_its_own_dataset_and_mode_coverage_skips_it(example, tmp_path):
    store = ResultStore(tmp_path)
    tasks = [example.get("tasks", t) for t in ("generation", "reconstruction", "mode-coverage")]
    plan = make_plan(tasks, PlanRequest(example, generators=("tiny-fmnist-g",)), store)
    assert [(c.task, c.config["dataset"], c.config["family"], c.config["prior"]) for c in plan.cells] == [
        ("generation", "fashion-mnist", "tiny-fmnist-g", "normal"),
        ("reconstruction", "fashion-mnist", "tiny-fmnist-g", "normal")]
    assert all(c.config["settings"]["gan"]["pretrained"] == "tiny-fmnist-g" for c in plan.cells)
    with pytest.raises(UsageError) as refused:
        make_plan(tasks[2:], PlanRequest(example, generators=("tiny-fmnist-g",)), store, explicit=True)
    assert str(refused.value) == ("task mode-coverage does not run on fashion-mnist (image), which generator tiny-fmnist-g "
                                  "models; the tasks that do: generation, reconstruction, recovery-real, "
                                  "recovery-synthetic, sampling")
    # unnamed, a registered generator joins the task's defaults; --family alone leaves it out
    defaults = make_plan(tasks[:1], PlanRequest(example), store)
    assert {"tiny-fmnist", "tiny-fmnist-g", "vanilla"} <= {c.config["family"] for c in defaults.cells}
    families_only = make_plan(tasks[:1], PlanRequest(example, families=("vanilla",)), store)
    assert {c.config["family"] for c in families_only.cells} == {"vanilla"}


def test_generation_runs_validates_and_renders_on_a_pretrained_generator(example, tmp_path, monkeypatch):
    from lvrbench_plugins import generation

    monkeypatch.setitem(generation.SCORING, "quick", {"n_samples": 200, "n_real": 200, "n_boot_fid": 10, "k": 3})
    split = RunEnv.split
    monkeypatch.setattr(RunEnv, "split", lambda self, dataset, name: tuple(  # the classifier on 512 images: seconds
        t[:512] if name == "train" else t for t in split(self, dataset, name)))
    code = run_command(example, RunOptions(tasks=("generation",), generators=("tiny-fmnist",), out=str(tmp_path / "lb"),
                                           cache_dir=str(tmp_path / "cache"), device="cpu"))
    assert code == 0
    [result] = results_of(tmp_path / "lb", "generation")
    assert result["status"] == "ok" and example.get("tasks", "generation").validate(result) == []
    assert result["extra"]["history"] == [] and not (tmp_path / "cache" / "generators").exists()
    crafted = json.loads(json.dumps(result))
    crafted["extra"]["history"] = [{"epoch": 0, "d_loss": 1.0, "g_loss": 1.0}]
    assert example.get("tasks", "generation").validate(crafted) == ["extra.history must be empty for a pretrained generator"]
    page = (tmp_path / "lb" / "generation.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| tiny-fmnist (pretrained) ") and "[samples](" in line)
    assert "[losses](" not in row  # no training curve: it was never trained here
    assert "pretrained generators, never trained here: tiny-fmnist (`mlp-8-64-784`, d_z = 8, prior normal)" in page


def test_reconstruction_runs_validates_and_renders_on_a_pretrained_generator(example, tmp_path, monkeypatch):
    from lvrbench_plugins import reconstruction

    monkeypatch.setitem(reconstruction.ENCODERS, "quick", {"image": {"n_encoders": 2, "steps": 10, "batch_size": 64, "lr": 1e-3,
                                                                     "n_test": 64}})
    code = run_command(example, RunOptions(tasks=("reconstruction",), generators=("tiny-fmnist-g",), out=str(tmp_path / "lb"),
                                           cache_dir=str(tmp_path / "cache"), device="cpu"))
    assert code == 0
    [result] = results_of(tmp_path / "lb", "reconstruction")
    assert result["status"] == "ok" and example.get("tasks", "reconstruction").validate(result) == []
    assert "ad_hoc" not in result["metrics"]  # no encoder of its own
    page = (tmp_path / "lb" / "reconstruction.md").read_text()
    assert ("- pretrained generators, never trained here: tiny-fmnist-g (`mlp-8-64-784`, d_z = 8, prior normal)\n"
            "- seeds 0\n- scored on 2 post-hoc encoders") in page
    assert "| tiny-fmnist-g (pretrained) | 0      | 2 " in page


def test_the_trick_discriminator_is_planned_only_for_a_generator_with_a_d(example, tmp_path):
    task = example.get("tasks", "recovery-synthetic")
    for name, planned in (("tiny-fmnist", True), ("tiny-fmnist-g", False)):
        plan = make_plan([task], PlanRequest(example, generators=(name,)), ResultStore(tmp_path))
        methods = {c.config["method"] for c in plan.cells}
        assert ("trick-discriminator" in methods) is planned and "none" in methods
    with pytest.raises(UsageError) as exc:
        task.plan(PlanRequest(example, generators=("tiny-fmnist-g",), methods=("trick-discriminator",)))
    assert str(exc.value) == ("recovery-synthetic: trick-discriminator reads a discriminator's realness, and generator "
                              "tiny-fmnist-g has no D (or no family whose losses read it)")


def test_named_generators_that_contradict_the_options_are_refused_before_any_work(example, tmp_path):
    base = dict(tasks=("recovery-synthetic",), out=str(tmp_path / "lb"), dry_run=True)
    with pytest.raises(UsageError) as exc:
        run_command(example, RunOptions(**base, generators=("tiny-fmnist",), datasets=("ring8",)))
    assert str(exc.value) == "--generator tiny-fmnist models fashion-mnist, which --dataset leaves out (ring8)"
    with pytest.raises(UsageError) as exc:
        run_command(example, RunOptions(**base, generators=("tiny-fmnist",), priors=("uniform",)))
    assert str(exc.value) == ("--generator tiny-fmnist draws its latents from the normal prior, which --prior leaves "
                              "out (uniform)")
    with pytest.raises(UsageError) as exc:
        run_command(example, RunOptions(**base, families=("tiny-fmnist",)))
    assert str(exc.value) == ("--family tiny-fmnist: tiny-fmnist is a pretrained generator (it is never trained); select "
                              "it with --generator tiny-fmnist")
    with pytest.raises(UsageError) as exc:
        run_command(example, RunOptions(**base, generators=("tiny-fmnis",)))
    assert str(exc.value) == "unknown generator 'tiny-fmnis'; did you mean 'tiny-fmnist'?"
    assert not (tmp_path / "lb").exists()


# -- the --checkpoint route: lvrbench's own architectures, a TOML file beside the weights ---------------------------

TOML = 'arch = "mlp"\nlatent_dim = 16\nprior = "normal"\ndataset = "fashion-mnist"\nsource = "a test"\n'


def checkpoint(tmp_path: Path, registry, toml: str = TOML, family: str | None = None, latent_dim: int = 16,
               seed: int = 0, name: str = "gen", dataset: str = "fashion-mnist") -> Path:
    """lvrbench's mlp networks (G, and the family's D) with seeded weights, saved as NAME.pt beside NAME.toml."""
    from torch import nn

    from lvrbench.api.networks import build_generator

    toml = toml.replace("fashion-mnist", dataset)
    data = registry.get("datasets", dataset).info
    nets = (registry.get("families", family).build(data, latent_dim, "mlp") if family
            else nn.ModuleDict({"G": build_generator(data, latent_dim, "mlp")}))
    init_parameters(nets, torch.Generator().manual_seed(seed))
    path = tmp_path / f"{name}.pt"
    torch.save(nets.state_dict(), path)
    (tmp_path / f"{name}.toml").write_text(toml + (f'family = "{family}"\n' if family else ""))
    return path


def refusal(registry, path) -> str:
    with pytest.raises(UsageError) as exc:
        gen = read_checkpoint(registry, str(path))
        registry.add(Entry("generators", gen.name, gen, "lvrbench", __version__, "--checkpoint"))
        load_pretrained(registry, gen)
    return str(exc.value)


def test_a_checkpoint_loads_into_lvrbench_networks_with_and_without_d(tmp_path):
    reg = load_registry(strict=True)
    gen = read_checkpoint(reg, str(checkpoint(tmp_path, reg)))
    assert (gen.name, gen.networks, gen.family) == ("gen", {"G": "generator"}, None)
    reg.add(Entry("generators", gen.name, gen, "lvrbench", __version__, "--checkpoint"))
    nets, _ = load_pretrained(reg, gen)
    assert sorted(nets) == ["G"]
    saved = torch.load(tmp_path / "gen.pt", weights_only=True)
    assert all(torch.equal(v, saved[k]) for k, v in nets.state_dict().items())
    other = tmp_path / "d"
    other.mkdir()
    gen_d = read_checkpoint(reg, str(checkpoint(other, reg, family="vanilla", name="with-d")))
    reg.add(Entry("generators", gen_d.name, gen_d, "lvrbench", __version__, "--checkpoint"))
    trained = RunEnv(reg, torch.device("cpu"), tmp_path).gan(gan_spec(PlanRequest(reg), {"pretrained": "with-d"}))
    assert sorted(trained.nets) == ["D", "G"] and "log_density_ratio" in trained.family.capabilities


def test_a_checkpoint_runs_through_the_cli_and_verifies_with_its_weights_only(tmp_path):
    path = checkpoint(tmp_path, load_registry(strict=True), name="my-mlp")
    done = run_cli("run", "--task", "recovery-synthetic", "--checkpoint", str(path), "--method", "none",
                   "--out", str(tmp_path / "lb"), "--cache-dir", str(tmp_path / "cache"), "--device", "cpu")
    assert done.returncode == 0, done.stderr
    [result] = results_of(tmp_path / "lb", "recovery-synthetic")
    assert result["status"] == "ok" and result["config"]["family"] == "my-mlp"
    assert result["config"]["code"]["generator"] == {"distribution": "lvrbench", "revision": 1}
    assert "### fashion-mnist / my-mlp (pretrained), normal prior" in (tmp_path / "lb" / "recovery-synthetic.md").read_text()
    [file] = (tmp_path / "lb" / "results" / "recovery-synthetic").glob("*.json")
    verify = ("verify", str(file), "--device", "cpu", "--cache-dir", str(tmp_path / "empty"))
    done = run_cli(*verify, "--checkpoint", str(path))
    assert (done.returncode, done.stdout) == (0, f"{file}: reproduces (6 metrics and every number in extra and "
                                                 "artifacts, exactly, on cpu)\n"), done.stderr
    verify = ("verify", str(file), "--device", "cpu", "--cache-dir", str(tmp_path / "never"))
    unnamed = run_cli(*verify)
    assert (unnamed.returncode, unnamed.stderr) == (2, f"lvrbench: error: {file}: its generator my-mlp is not installed: its "
                                                       "generator came from --checkpoint; give the same weights with "
                                                       "--checkpoint PATH to verify it\n")
    other = tmp_path / "other"
    other.mkdir()
    changed = checkpoint(other, load_registry(strict=True), name="my-mlp", seed=1)
    digest = result["config"]["settings"]["gan"]["weights"]
    wrong = run_cli(*verify, "--checkpoint", str(changed))
    assert wrong.returncode == 2 and wrong.stderr.startswith(
        f"lvrbench: error: {file}: config.settings.gan.weights is {digest!r} but generator my-mlp's weights here have "
        "digest '") and wrong.stderr.endswith("': give the weights it was computed with\n")
    assert not (tmp_path / "never").exists()  # both refused before any compute


def test_a_task_that_does_not_take_a_checkpoints_dataset_says_which_tasks_do(tmp_path):
    path = checkpoint(tmp_path, load_registry(strict=True), dataset="ring8")
    done = run_cli("run", "--task", "recovery-synthetic", "--checkpoint", str(path), "--dry-run", "--out", str(tmp_path / "lb"))
    assert (done.returncode, done.stderr) == (2, "lvrbench: error: task recovery-synthetic does not run on ring8 (points), "
                                                 "which generator gen models; the tasks that do: generation, "
                                                 "mode-coverage, reconstruction, sampling\n")


def test_checkpoint_problems_are_one_line_errors_naming_the_file(tmp_path):
    reg = load_registry(strict=True)
    path = checkpoint(tmp_path, reg)
    toml = tmp_path / "gen.toml"
    for text, message in [
        (TOML.replace('latent_dim = 16\n', ''), f"{toml}: missing key 'latent_dim' (the latent size d_z G was trained with)"),
        (TOML + 'epochs = 3\n', f"{toml}: unknown key 'epochs' (known: arch, dataset, family, latent_dim, name, prior, source)"),
        (TOML.replace('16', '"16"'), f"{toml}: latent_dim must be a positive integer, got '16'"),
        (TOML.replace('"mlp"', '"resnet"'), f"{toml}: arch must be mlp or dcgan, got 'resnet'"),
        (TOML.replace('fashion-mnist', 'fashion-mnst'), f"{toml}: unknown dataset 'fashion-mnst'; did you mean 'fashion-mnist'?"),
        (TOML + "family = 'vanilla'\n", f"{path}: missing keys D.1.weight, D.1.bias, D.3.weight, D.3.bias (and 2 more) "
                                        "(the networks G, D of gen's mlp with latent_dim 16 on fashion-mnist (1, 28, 28))"),
        (TOML.replace('16', '10'), f"{toml}: latent_dim is 10, but the first layer of G in {path} (G.0.weight, shape "
                                   "[256, 16]) takes 16"),
        (TOML.replace('fashion-mnist', 'ring8'), f"{path}: G.0.weight has shape [256, 16], but gen's mlp with latent_dim "
                                                 "16 on ring8 (2,) expects [128, 16]"),
        ("arch = [", None),
    ]:
        toml.write_text(text)
        got = refusal(load_registry(strict=True), path)
        if message is None:
            assert got.startswith(f"{toml}: not valid TOML (TOMLDecodeError: ") and "\n" not in got
        else:
            assert got == message
    # a latent size that would cost gigabytes to build is refused from the weights' first layer, before any network
    import resource

    toml.write_text(TOML.replace('16', '4000000'))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert refusal(reg, path) == (f"{toml}: latent_dim is 4000000, but the first layer of G in {path} (G.0.weight, "
                                  "shape [256, 16]) takes 16")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # kB: nothing near the 4 GB a G costs
    toml.unlink()
    assert refusal(reg, path) == (f"--checkpoint {path}: no {toml} beside it (it says arch, latent_dim, prior, dataset, "
                                  "source; see CONTRIBUTING.md)")
    toml.write_text(TOML)
    state = torch.load(path, weights_only=True)
    torch.save({**state, "G.extra": torch.zeros(1)}, path)
    assert refusal(reg, path) == (f"{path}: unexpected keys G.extra (the networks G of gen's mlp with latent_dim 16 on "
                                  "fashion-mnist (1, 28, 28))")
    torch.save({**state, "D.0.weight": torch.zeros(1)}, path)
    assert refusal(reg, path) == (f"{path}: holds weights of D but {toml} names no family (set `family`, e.g. "
                                  "\"vanilla\", to say which losses trained them)")
    (tmp_path / "gen.toml").write_text(TOML + 'name = "lsgan"\n')
    torch.save(state, path)
    assert refusal(reg, path) == ("--checkpoint: generator name 'lsgan' is already taken by the family of lvrbench "
                                  f"{__version__}")
    # through the CLI: exit 2, one line on stderr, nothing written
    done = run_cli("run", "--task", "recovery-synthetic", "--checkpoint", str(tmp_path / "nothing.pt"), "--out",
                   str(tmp_path / "lb"))
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"lvrbench: error: --checkpoint {tmp_path / 'nothing.pt'}: "
                                                                   "no such file\n")
    assert not (tmp_path / "lb").exists()


class Payload:
    """A pickle that would run a command if it were unpickled."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


SAVE = "save the weights alone: torch.save(model.state_dict(), PATH)"


def test_a_pickled_payload_is_refused_never_run(tmp_path):
    reg = load_registry(strict=True)
    path = checkpoint(tmp_path, reg)
    marker = tmp_path / "ran"
    torch.save({"G.0.weight": Payload(marker)}, path)
    assert refusal(reg, path) == (f"{path}: holds a pickled Python object (posix.system), which weights_only=True never "
                                  f"loads (unpickling it could run code): {SAVE}")
    assert not marker.exists()


def test_files_that_are_no_state_dict_say_how_to_save_one(tmp_path):
    """A pickled module, a training checkpoint around the state dict, a non-tensor entry, a list: one line each, saying
    what to save instead."""
    from torch import nn

    from lvrbench.api.networks import build_generator

    reg = load_registry(strict=True)
    path = checkpoint(tmp_path, reg)
    state = torch.load(path, weights_only=True)
    nets = nn.ModuleDict({"G": build_generator(reg.get("datasets", "fashion-mnist").info, 16, "mlp")})
    for saved, message in [
        (nets, f"{path}: a pickled torch.nn.Module (torch.nn.modules.container.ModuleDict), not a state dict: {SAVE}"),
        ({"state_dict": state, "epoch": 3}, f"{path}: a training checkpoint (keys state_dict, epoch), not a state dict: "
                                            "save its weights alone: torch.save(checkpoint['state_dict'], PATH)"),
        ({**state, "step": 3}, f"{path}: step is an int, not a tensor: {SAVE}"),
        ([state], f"{path}: holds a list, not a state dict: {SAVE}"),
    ]:
        torch.save(saved, path)
        assert refusal(reg, path) == message
    path.write_text("not weights")
    message = refusal(reg, path)
    assert message.startswith(f"{path}: not a file torch.save wrote (") and message.endswith(f"): {SAVE}")


def test_the_identity_is_the_weights_digest_not_the_file(tmp_path):
    def ids(path: Path) -> list[str]:
        reg = load_registry(strict=True)
        gen = read_checkpoint(reg, str(path))
        reg.add(Entry("generators", gen.name, gen, "lvrbench", __version__, "--checkpoint"))
        plan = make_plan([reg.get("tasks", "recovery-synthetic")], PlanRequest(reg, generators=("gen",)), ResultStore(tmp_path))
        return [c.id for c in plan.cells]

    reg = load_registry(strict=True)
    first = ids(checkpoint(tmp_path, reg, seed=0))
    assert len(set(first)) == len(first) > 0
    assert ids(checkpoint(tmp_path, reg, seed=0)) == first  # the same weights again: the same cells
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    assert ids(checkpoint(moved, reg, seed=0)) == first  # the path is no part of it
    changed = ids(checkpoint(tmp_path, reg, seed=1))
    assert not set(changed) & set(first)  # changed weights: every cell is new
    assert ids(checkpoint(tmp_path, reg, seed=0, toml=TOML.replace("a test", "another test"))) != first  # so is its source


def test_weights_that_change_after_planning_fail_the_cell(tmp_path):
    reg = load_registry(strict=True)
    path = checkpoint(tmp_path, reg)
    gen = read_checkpoint(reg, str(path))
    reg.add(Entry("generators", gen.name, gen, "lvrbench", __version__, "--checkpoint"))
    spec = gan_spec(PlanRequest(reg), {"pretrained": "gen"})
    checkpoint(tmp_path, reg, seed=5)
    with pytest.raises(UsageError) as exc:
        RunEnv(reg, torch.device("cpu"), tmp_path).gan(spec)
    assert str(exc.value).startswith(f"generator gen's weights changed since this cell was planned (digest "
                                     f"{spec['weights']}, now ")


def test_a_plugin_generator_that_breaks_its_contract_is_reported_and_skipped(plugin_dist):
    site = plugin_dist("broken-gen", {"broken_gen": '''
        from lvrbench.api import hookimpl
        from lvrbench.api import Pretrained

        class NoD(Pretrained):
            """names a family but has no D"""
            name, dataset, latent_dim, family, source = "no-d", "fashion-mnist", 8, "vanilla", "a test"

        class Taken(Pretrained):
            """takes a family's name"""
            name, dataset, latent_dim, source = "lsgan", "fashion-mnist", 8, "a test"

        class Unsourced(Pretrained):
            """says nothing of where it comes from"""
            name, dataset, latent_dim = "unsourced", "fashion-mnist", 8

        @hookimpl
        def lvrbench_generators():
            return [NoD(), Taken(), Unsourced()]
    '''}, {"gens": "broken_gen"})
    assert site.exists()
    reg = load_registry(strict=False)
    assert reg.names("generators") == []
    assert [e.line() for e in reg.errors] == [
        "plugin entry point 'gens' (broken-gen 1.0): no-d: names family vanilla but declares no D for its losses to read",
        f"plugin entry point 'gens' (broken-gen 1.0): generator name 'lsgan' is already taken by lvrbench {__version__} "
        "(entry point 'families')",
        "plugin entry point 'gens' (broken-gen 1.0): unsourced: source must say where it comes from (a URL, a paper): "
        "every page that reports it names it"]


BROKEN_WEIGHTS = '''
from pathlib import Path

from torch import nn

from lvrbench.api import Pretrained, build_generator, hookimpl


class Pickled(Pretrained):
    """A generator whose weights file is a pickled module, not a state dict."""

    name, dataset, latent_dim, arch, source = "pickled", "fashion-mnist", 8, "mlp", "a test"

    def build(self, data):
        return nn.ModuleDict({"G": build_generator(data, 8, "mlp")})

    def weights(self):
        return Path(__file__).with_name("pickled.pt")


@hookimpl
def lvrbench_generators():
    return [Pickled()]
'''


def test_a_generator_whose_weights_do_not_load_is_skipped_with_one_line_unless_named(plugin_dist, tmp_path):
    """Unnamed, it would join every run's defaults: it is skipped with a warning naming it (as a plugin that fails to
    load is) and the run goes on; named, it is bad input; under LVRBENCH_STRICT_PLUGINS=1, a plugin error."""
    from torch import nn

    from lvrbench.api.networks import build_generator

    site = plugin_dist("broken-weights", {"broken_weights": BROKEN_WEIGHTS}, {"gens": "broken_weights"})
    data = load_registry(strict=True).get("datasets", "fashion-mnist").info
    torch.save(nn.ModuleDict({"G": build_generator(data, 8, "mlp")}), site / "pickled.pt")
    why = (f"generator pickled: {site / 'pickled.pt'}: a pickled torch.nn.Module (torch.nn.modules.container.ModuleDict), "
           f"not a state dict: {SAVE}")
    args = ("run", "--task", "recovery-synthetic", "--method", "none", "--dry-run", "--out", str(tmp_path / "lb"))
    done = run_cli(*args, pythonpath=site)
    assert done.returncode == 0, done.stderr
    assert done.stderr == f"lvrbench: warning: skipped plugin entry point 'gens' (broken-weights 1.0): {why}\n"
    assert all(" pickled " not in line for line in done.stdout.splitlines())  # planned without it
    named = run_cli(*args, "--generator", "pickled", pythonpath=site)
    assert (named.returncode, named.stderr) == (2, f"lvrbench: error: {why}\n")
    strict = run_cli(*args, pythonpath=site, env={"LVRBENCH_STRICT_PLUGINS": "1"})
    assert (strict.returncode, strict.stderr) == (3, "lvrbench: plugin error: plugin entry point 'gens' (broken-weights "
                                                     f"1.0): {why} (LVRBENCH_STRICT_PLUGINS=1)\n")


@pytest.mark.parametrize("dataset, arch, family, prior", [("fashion-mnist", "mlp", None, "normal"),
                                                          ("fashion-mnist", "dcgan", "vanilla", "uniform"),
                                                          ("ring8", "mlp", "bigan", "uniform")])
def test_the_checkpoint_template_is_what_read_checkpoint_reads(tmp_path, dataset, arch, family, prior):
    """Its keys and shapes are the built networks' (G alone, E optional, without a family; the family's networks with
    one); its TOML, with a source filled in, beside weights of exactly those keys, loads through --checkpoint."""
    import tomllib

    from torch import nn

    from lvrbench.api.networks import build_encoder, build_generator
    from lvrbench.run.pretrained import checkpoint_template

    reg = load_registry(strict=True)
    text = checkpoint_template(reg, dataset, arch, 12, prior, family)
    keys, toml = text.split("\n\n# gen.toml")
    rows = [line.split() for line in keys.splitlines() if not line.startswith("#")]
    listed = {row[0]: (" ".join(row[1:]).removesuffix(" (optional)"), row[-1] == "(optional)") for row in rows}
    data = reg.get("datasets", dataset).info
    nets = reg.get("families", family).build(data, 12, arch) if family else nn.ModuleDict(
        {"G": build_generator(data, 12, arch), "E": build_encoder(data, 12, arch)})
    state = nets.state_dict()
    assert listed == {k: (f"{list(v.shape)} {str(v.dtype).removeprefix('torch.')}", not family and k.startswith("E."))
                      for k, v in state.items()}
    meta = tomllib.loads(toml.split("\n", 1)[1])
    assert meta == {"arch": arch, "latent_dim": 12, "prior": prior, "dataset": dataset, "source": "",
                    **({"family": family} if family else {})}
    (tmp_path / "gen.toml").write_text(toml.split("\n", 1)[1].replace('source = ""', 'source = "a test"'))
    torch.save({k: v for k, v in state.items() if family or k.startswith("G.")}, tmp_path / "gen.pt")
    gen = read_checkpoint(reg, str(tmp_path / "gen.pt"))
    reg.add(Entry("generators", gen.name, gen, "lvrbench", __version__, "--checkpoint"))
    loaded, _ = load_pretrained(reg, gen)
    assert sorted(loaded) == sorted(nets if family else ["G"])


def test_the_checkpoint_template_command_and_its_refusals(cli_here):
    code, out, err = cli_here("checkpoint-template", "--dataset", "ring8", "--arch", "mlp")
    assert code == 0 and err == ""
    assert out.splitlines()[2] == "G.0.weight  [128, 16]      float32"  # the standard profile's d_z on points: 16
    assert 'latent_dim = 16             # required: the latent size d_z G was trained with' in out
    for args, message in [
        (("--dataset", "ring8", "--arch", "dcgan"), "architecture 'dcgan' needs images whose sides are multiples of 4, not "
                                                    "ring8 (2,)"),
        (("--dataset", "ring8", "--arch", "mlp", "--family", "gm-gan", "--prior", "uniform"),
         "family gm-gan is trained on the normal prior, not the uniform prior"),
        (("--dataset", "fashion-mnst", "--arch", "mlp"), "unknown dataset 'fashion-mnst'; did you mean 'fashion-mnist'?"),
        (("--dataset", "ring8", "--arch", "resnet"), "unknown architecture 'resnet' (known: mlp, dcgan)"),
    ]:
        assert cli_here("checkpoint-template", *args) == (2, "", f"lvrbench: error: {message}\n")


def test_an_empty_source_is_refused(tmp_path):
    reg = load_registry(strict=True)
    path = checkpoint(tmp_path, reg, toml=TOML.replace('"a test"', '" "'))
    assert refusal(reg, path) == (f"{tmp_path / 'gen.toml'}: source is empty (where it comes from (a URL, a paper, a run): "
                                  "shown on every page)")
