"""The failed-training check every result records beside its generator (`artifacts.generator.check`): on the published
generators that never trained and on healthy ones, on crafted outputs, and end to end on a WGAN that fails again."""
from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from conftest import REPO
from lvrbench.api.contracts import TrainedGAN
from lvrbench.api.priors import PRIORS
from lvrbench.kit.generator_check import (check_generator, describe_generator, flat_loss, generator_check_problems,
                                          mixture_problem, output_problem)

ARCHIVE = REPO / "leaderboards" / "standard" / "archive" / "0.4.0" / "results" / "generation"


def published(prefix: str) -> dict:
    """A generation result of the lvrbench 0.4 standard root (its history and its first 1000 samples are stored)."""
    (path,) = ARCHIVE.glob(f"{prefix}*.json")
    return json.loads(path.read_text())


def samples(result: dict) -> torch.Tensor:
    return torch.tensor(result["extra"]["samples"]["data"])


def test_the_published_ring8_wgan_that_never_trained_fails_on_its_loss_and_its_samples(registry):
    wgan = published("864f4be033")  # ring8, seed 0: the second-best FID of its page, 0 of 8 modes
    assert (wgan["config"]["family"], wgan["config"]["dataset"]) == ("wgan", "ring8")
    ring = registry.get("datasets", "ring8")
    assert flat_loss(wgan["extra"]["history"]) == (
        "its discriminator's loss sat at 0 over its last 10 epochs (|mean loss| <= 0.001, last -0.0002): it stopped "
        "training")
    assert mixture_problem(samples(wgan), ring.centers, ring.std) == (
        "only 0.2% of its samples are high quality (within 3 std of a mode), under 10%")
    assert output_problem(samples(wgan), ring.load("test", None)[0][:1000]) is None  # not collapsed: a blob


def test_published_generators_that_trained_pass(registry):
    vanilla, hinge = published("6a78d5f37a"), published("c852166b46")  # ring8: 8 of 8 modes, 77% high quality; hinge
    ring = registry.get("datasets", "ring8")
    for result in (vanilla, hinge):
        assert flat_loss(result["extra"]["history"]) is None
        assert mixture_problem(samples(result), ring.centers, ring.std) is None
        assert output_problem(samples(result), ring.load("test", None)[0][:1000]) is None
    # a critic loss that moves (WGAN-GP's, around -0.2 to 0.9) is not flat, whatever its samples are
    assert flat_loss(published("0567d520e7")["extra"]["history"]) is None


def test_flat_reads_the_last_quarter_of_the_epochs():
    history = [{"epoch": e, "d_loss": 0.5} for e in range(1, 9)] + [{"epoch": 9, "d_loss": 1e-4}, {"epoch": 10, "d_loss": -2e-4}]
    assert flat_loss(history) is not None and "last 2 epochs" in flat_loss(history)  # 10 epochs: the last 2
    history[-2]["d_loss"] = 0.0011
    assert flat_loss(history) is None
    assert flat_loss([{"epoch": 1, "d_loss": 0.0}]) is not None and flat_loss([]) is None  # pretrained: no history


class Constant(nn.Module):
    """A generator whose output ignores z (plus a tiny spread), or is NaN for some latents."""

    def __init__(self, value: torch.Tensor, spread: float = 0.0, nan_rows: int = 0):
        super().__init__()
        self.value, self.spread, self.nan_rows = value, spread, nan_rows

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.value.expand(z.shape[0], *self.value.shape).clone() + self.spread * z[:, :1].reshape(-1, *([1] * self.value.dim()))
        out[: self.nan_rows] = float("nan")
        return out


class Env:
    """What `check_generator` reads of an environment: datasets, their test split, the device."""

    def __init__(self, registry):
        self.registry, self.device = registry, torch.device("cpu")

    def dataset(self, name):
        return self.registry.get("datasets", name)

    def split(self, dataset, split):
        return self.dataset(dataset).load(split, None)


def gan_of(G: nn.Module, history: list[dict], key: str) -> TrainedGAN:
    from lvrbench.engine.specs import NoFamily

    return TrainedGAN(NoFamily("crafted", {"G": "generator"}), nn.ModuleDict({"G": G}), PRIORS["normal"].with_dim(4), 4,
                      key, {}, history)


def test_check_generator_on_crafted_outputs(registry):
    env, moving = Env(registry), [{"epoch": 1, "d_loss": 0.7}]
    ring = registry.get("datasets", "ring8")
    centre = torch.tensor(ring.centers[0], dtype=torch.float32)
    on_one_mode = gan_of(Constant(centre, spread=0.02), moving, "one-mode")
    # one mode with its own spread: neither collapsed nor failed (mode coverage ranks it, low)
    assert check_generator(on_one_mode, env, "ring8") == {"failed": False, "why": ""}
    collapsed = gan_of(Constant(centre, spread=1e-4), moving, "collapsed")
    # 1e-4 times the sd of 2500 normal draws; the ring's radius 2 gives a spread of sqrt(2 + 0.02²) = 1.41
    assert check_generator(collapsed, env, "ring8") == {
        "failed": True, "why": "Its output collapsed: the spread of its samples is 0.000103, under 1% of the data's 1.41."}
    broken = gan_of(Constant(centre, spread=0.02, nan_rows=3), moving, "nan")
    # G runs on batches of 1000 (1000, 1000, 500): 3 NaN rows in each
    assert check_generator(broken, env, "ring8") == {"failed": True, "why": "Its output is not finite for 9 of 2500 latents."}
    stopped = gan_of(Constant(centre, spread=0.02), [{"epoch": 1, "d_loss": 0.0}], "stopped")
    assert check_generator(stopped, env, "ring8")["why"].startswith("Its discriminator's loss sat at 0 over its last 1 epochs")
    described = describe_generator(gan_of(Constant(centre, spread=0.02), moving, "k"), env, "ring8")
    assert described == {"key": "k", "family": "crafted", "prior": {"kind": "normal", "mean": 0.0, "std": 1.0, "dim": 4},
                         "check": {"failed": False, "why": ""}}


@pytest.mark.parametrize("check, problem", [
    ({"failed": True, "why": ""}, "artifacts.generator.check.why must say why exactly when the generator failed"),
    ({"failed": False, "why": "It collapsed."}, "artifacts.generator.check.why must say why exactly when the generator failed"),
    ({"failed": "no", "why": ""}, "artifacts.generator.check.failed has the wrong type"),
    ({"why": ""}, "artifacts.generator.check.failed is missing"),
])
def test_crafted_checks_are_problems(check, problem):
    result = {"artifacts": {"generator": {"key": "g", "check": check}}}
    assert generator_check_problems(result) == [problem]
    assert generator_check_problems({"artifacts": {"generator": {"key": "g"}}}) == []  # results of lvrbench 0.5


@pytest.mark.slow
def test_a_quick_wgan_on_the_ring_fails_again_and_its_flag_is_on_every_page(registry, tmp_path):
    """The quick profile trains WGAN on ring8 the way the published standard did (no warm-up, lr 5e-4): its critic
    loss sits at 0 again. Vanilla on the same data trains. Every task's result carries the same check."""
    from lvrbench.commands.runner import RunOptions, run_command

    opts = RunOptions(tasks=("mode-coverage", "reconstruction"), datasets=("ring8",), families=("wgan", "vanilla"),
                      out=str(tmp_path / "lb"), cache_dir=str(tmp_path / "cache"))
    assert run_command(registry, opts) == 0
    checks: dict[str, list[dict]] = {}
    for path in sorted((tmp_path / "lb" / "results").glob("*/*.json")):
        result = json.loads(path.read_text())
        checks.setdefault(result["config"]["family"], []).append(copy.deepcopy(result["artifacts"]["generator"]["check"]))
    assert checks["vanilla"] == [{"failed": False, "why": ""}] * 2
    assert len(checks["wgan"]) == 2 and checks["wgan"][0] == checks["wgan"][1]
    assert checks["wgan"][0]["failed"] and checks["wgan"][0]["why"].startswith(
        "Its discriminator's loss sat at 0 over its last 10 epochs (|mean loss| <= 0.001")

