"""The conformance kit itself: lazy for everyone else, and each of its checks fails on a plugin that breaks its promise."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap

import pytest

from conftest import run_cli

#: A distribution whose every plugin breaks one promise of `lvrbench.kinds`, plus one sampler that keeps them all.
BROKEN = '''
import torch
from lvrbench.api import hookimpl
from lvrbench.api import Dataset, Param, Regularizer, Resampler, Sampler, Task
from lvrbench.api import Estimate
from lvrbench.api import SampleOutput
from lvrbench_plugins.families import LSGAN


class MixesRows(Regularizer):
    """Centres each latent on the mean over grid rows: a row's loss depends on its batch-mates."""
    name = "mixes-rows"

    def loss(self, z, ctx):
        return (z - z.mean(0, keepdim=True)).square().mean(-1)


class GlobalNoise(Regularizer):
    """Draws its reference from the global RNG instead of ctx.generator."""
    name = "global-noise"

    def loss(self, z, ctx):
        return (z - torch.randn(z.shape[1:], dtype=z.dtype)).abs().mean(-1)


class ClaimsAll(Regularizer):
    """Declares the normal prior, then says it supports every prior."""
    name = "claims-all"
    requires = "normal"

    def supports(self, prior):
        return True

    def loss(self, z, ctx):
        return z.square().mean(-1)


class ClampsInPlace(Resampler):
    """Clamps the latents it is given in place."""
    name = "clamps-in-place"

    def apply(self, z, ctx):
        prior, step, total_steps, generator, params = ctx.prior, ctx.step, ctx.total_steps, ctx.generator, ctx.params
        return z.clamp_(-1.0, 1.0)


class BadGrid(Resampler):
    """A default grid outside its own declared range: refused at load."""
    name = "bad-grid"
    params = (Param("c", (0.0, 1.0), minimum=0.0, exclusive_minimum=True),)

    def apply(self, z, ctx):
        prior, step, total_steps, generator, params = ctx.prior, ctx.step, ctx.total_steps, ctx.generator, ctx.params
        return z.clone()


class PriorSamples(Sampler):
    """G(z) for z from the generator's prior, all accepted."""
    name = "prior-samples"

    def sample(self, gan, n, ctx):
        z = ctx.latents(n)
        return SampleOutput(ctx.generate(z), z, {"acceptance": Estimate(1.0, 1.0, 1.0, n)})


class Unseeded(Sampler):
    """G(z) for z from the global RNG."""
    name = "unseeded"

    def sample(self, gan, n, ctx):
        z = torch.randn(n, gan.latent_dim)
        return SampleOutput(ctx.generate(z), z, {"acceptance": Estimate(1.0, 1.0, 1.0, n)})


class NoisyLSGAN(LSGAN):
    """LSGAN whose discriminator sees real data with noise from the global RNG."""
    name = "noisy-lsgan"

    def discriminator_loss(self, batch):
        D = batch.nets["D"]
        real = batch.real + 0.01 * torch.randn(batch.real.shape)
        return self.d_loss(D(real).flatten(), D(batch.fake.detach()).flatten())


class BadData(Dataset):
    """Images in [0, 255], and a fingerprint that counts its reads."""
    name = "bad-data"
    shape = (1, 4, 4)
    num_classes = 2
    reads = 0

    def load(self, split, data_dir):
        return torch.full((8, 1, 4, 4), 255.0), torch.zeros(8, dtype=torch.int64)

    def fingerprint(self, data_dir):
        BadData.reads += 1
        return f"read-{BadData.reads}"


class Drifting(Task):
    """Plans a cell whose seed counts the plans made, and scores it with a bare number."""
    name = "drifting"
    plans = 0

    def plan(self, request):
        from lvrbench.api import Cell, Job
        from lvrbench.kit import cell_config as make_config

        Drifting.plans += 1
        config = make_config(request, self, dataset="ring8", family="lsgan", prior="normal", method="direct",
                             hparams={}, seed=Drifting.plans, settings={}, plugins={})
        return [Job(self.name, "drifting", [Cell(config)])]

    def run(self, job, env):
        from lvrbench.api import CellOutcome

        return [CellOutcome(metrics={"score": 1.0}) for _ in job.cells]


@hookimpl
def lvrbench_regularizers():
    return [MixesRows(), GlobalNoise(), ClaimsAll()]


@hookimpl
def lvrbench_families():
    return [NoisyLSGAN()]


@hookimpl
def lvrbench_datasets():
    return [BadData()]


@hookimpl
def lvrbench_tasks():
    return [Drifting()]


@hookimpl
def lvrbench_resamplers():
    return [ClampsInPlace(), BadGrid()]


@hookimpl
def lvrbench_samplers():
    return [PriorSamples(), Unseeded()]
'''


def outcomes(stdout: str) -> dict[str, str]:
    """test id -> PASSED / FAILED / SKIPPED from pytest's -rA summary."""
    found = {}
    for line in stdout.splitlines():
        m = re.match(r"(PASSED|FAILED|SKIPPED) \S*::(\S+)", line)
        if m:
            found[m.group(2)] = m.group(1)
    return found


@pytest.fixture(scope="module")
def broken_run(tmp_path_factory):
    """`lvrbench test broken-plugins -rA` over BROKEN, installed as a real distribution."""
    site = tmp_path_factory.mktemp("site")
    (site / "broken_plugins.py").write_text(BROKEN)
    info = site / "broken_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[lvrbench]\nbroken = broken_plugins\n")
    return run_cli("test", "broken-plugins", "-rA", "-p", "no:randomly", pythonpath=site,
                   env={"OMP_NUM_THREADS": "1"})


@pytest.mark.parametrize("check,plugin", [
    ("test_method_gives_the_same_numbers_batched_and_row_by_row", "mixes-rows"),
    ("test_regularizer_has_finite_gradients", "mixes-rows"),
    ("test_method_draws_only_from_the_generator_handed_in", "global-noise"),
    ("test_method_honours_the_priors_it_declares", "claims-all"),
    ("test_method_does_not_modify_its_input", "clamps-in-place"),
    ("test_sampler_is_seeded_and_returns_estimates", "unseeded"),
    ("test_family_trains_a_seeded_step_finitely_and_repeatably", "noisy-lsgan"),
    ("test_dataset_loads_both_splits_in_range", "bad-data"),
    ("test_dataset_fingerprint_is_stable", "bad-data"),
    ("test_task_plans_deterministically", "drifting"),
    ("test_task_validate_accepts_its_own_output", "drifting"),
])
def test_each_check_fails_on_the_plugin_that_breaks_it(broken_run, check, plugin):
    assert broken_run.returncode == 1, broken_run.stdout[-3000:] + broken_run.stderr[-2000:]
    assert outcomes(broken_run.stdout)[f"{check}[{plugin}]"] == "FAILED"


def test_the_failures_say_what_is_wrong(broken_run):
    out = broken_run.stdout
    assert "mixes-rows under normal, grid row 0 {'weight': 0.01}: alone differs from batched" in out
    assert "mixes-rows under normal: the loss of latent (2, 2) depends on other latents" in out
    assert "global-noise drew from the global torch RNG" in out
    assert "claims-all declares requires='normal' but supports(uniform prior) is True" in out
    assert "clamps-in-place under normal changed the latents it was given in place" in out
    assert "unseeded drew from the global torch RNG" in out
    assert "noisy-lsgan drew from the global torch RNG while training" in out
    assert "bad-data train: values outside [-1, 1] (255 to 255)" in out
    assert "bad-data: fingerprint changed between two reads (read-1 then read-2)" in out
    assert "drifting: two plans differ" in out
    assert "invalid result: metric 'score' is not a {value, low, high, n} estimate" in out
    # The resampler with a default grid outside its range never registered: the entry-point check names it.
    assert "bad-grid: default grid: c must be > 0, got 0" in out
    assert outcomes(out)["test_distribution_registers_its_plugins[broken-plugins]"] == "FAILED"


def test_plugins_that_keep_a_promise_pass_its_check(broken_run):
    found = outcomes(broken_run.stdout)
    assert found["test_sampler_is_seeded_and_returns_estimates[prior-samples]"] == "PASSED"
    for plugin in ("mixes-rows", "global-noise", "claims-all", "clamps-in-place"):
        assert found[f"test_method_keeps_shapes_and_dtype[{plugin}]"] == "PASSED"
    assert found["test_method_gives_the_same_numbers_batched_and_row_by_row[global-noise]"] == "FAILED"  # unseeded draws
    assert found["test_method_gives_the_same_numbers_batched_and_row_by_row[claims-all]"] == "PASSED"
    assert found["test_family_prior_and_capabilities_give_what_they_declare[noisy-lsgan]"] == "PASSED"


def test_an_unknown_distribution_is_one_line_and_exit_2():
    done = run_cli("test", "lvrbnch")
    assert done.returncode == 2
    assert done.stderr == "lvrbench: error: unknown plugin distribution 'lvrbnch'; did you mean 'lvrbench'?\n"
    assert done.stdout == ""


def test_the_plugin_is_loaded_for_everyone_yet_imports_no_torch(tmp_path):
    """Through its pytest11 entry point pytest loads it in any project; until a test uses it, torch stays unimported."""
    (tmp_path / "test_other.py").write_text(textwrap.dedent('''
        import sys

        def test_other_project(pytestconfig):
            assert pytestconfig.pluginmanager.has_plugin("lvrbench.testing")
            assert "torch" not in sys.modules and "lvrbench_plugins" not in sys.modules
    '''))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout



def test_the_fixtures_give_data_and_cached_reproducible_tiny_generators(lvrbench_registry, lvrbench_gan, lvrbench_data):
    import torch

    from lvrbench.api.contracts import TrainedGAN
    from lvrbench.testing import tiny

    x, y = lvrbench_data("ring8", "train", 10)
    assert x.shape == (10, 2) and y.shape == (10,)
    assert torch.equal(x, lvrbench_registry.get("datasets", "ring8").load("train", None)[0][:10])
    gan = lvrbench_gan("lsgan")
    assert isinstance(gan, TrainedGAN) and lvrbench_gan("lsgan") is gan  # cached per session
    assert gan.key == "tiny-lsgan-ring8-0" and gan.latent_dim == tiny.LATENT_DIM == 8
    assert gan.metrics["iterations"] == 8 and gan.metrics["generator_steps"] == 8
    fresh = tiny.tiny_gan(lvrbench_registry, "lsgan", "ring8", 0, lvrbench_data)  # the same seeds: the same weights
    for key, value in gan.nets.state_dict().items():
        assert torch.equal(value, fresh.nets.state_dict()[key]), key
    other = lvrbench_gan("lsgan", seed=1)
    assert not torch.equal(other.nets["G"][0].weight, gan.nets["G"][0].weight)
    assert lvrbench_gan("gm-gan").prior.kind != "normal"  # a family's own prior, learned values included
    assert tiny.dataset_for(lvrbench_registry, lvrbench_registry.get("families", "vanilla")) == "ring8"
