"""What the core checks of a sampler's output before a cell is scored (`run_sampler`): n finite samples of G's shape
and dtype, latents [n, d] or None, estimates for stats, the global RNGs untouched, the prior it declares; each failure
one line naming the sampler, with what to do."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from torch import nn

from lvrbench.api import (Estimate, Family, NormalPrior, SampleOutput, Sampler, SamplerError, TrainedGAN, UniformPrior,
                          UsageError)
from lvrbench.engine.sampling import run_sampler

from conftest import gen

CPU = torch.device("cpu")
N = 50


def points_gan(prior=None) -> TrainedGAN:
    """G = identity on 2-D latents: samples [n, 2], like a generator of a point dataset."""
    return TrainedGAN(Family(), nn.ModuleDict({"G": nn.Identity()}), prior or NormalPrior().with_dim(2), 2, "points", {})


class Returns(Sampler):
    """A sampler whose output is made by `make(ctx, n)` from draws of its context (needs no density ratio)."""

    needs_ratio = False

    def __init__(self, name, make, requires="any"):
        self.name, self.make, self.requires = name, make, requires

    def sample(self, gan, n, ctx):
        return self.make(ctx, n)


def good(ctx, n, **changes) -> SampleOutput:
    z = ctx.latents(n)
    return SampleOutput(**{"samples": ctx.generate(z), "latents": z, **changes})


@pytest.mark.parametrize("make, message", [
    (lambda ctx, n: good(ctx, n, samples=ctx.generate(ctx.latents(n)).view(n, 1, 2)),
     "sampler bad returned samples of shape [50, 1, 2], not [n, *G's sample shape] = [50, 2]: return 50 samples shaped as G(z)"),
    (lambda ctx, n: good(ctx, n - 1),
     "sampler bad returned samples of shape [49, 2], not [n, *G's sample shape] = [50, 2]: return 50 samples shaped as G(z)"),
    (lambda ctx, n: good(ctx, n, samples=ctx.generate(ctx.latents(n)).double()),
     "sampler bad returned torch.float64 samples, not G's torch.float32: return them in G's dtype"),
    (lambda ctx, n: good(ctx, n, samples=torch.full((n, 2), float("nan"))),
     "sampler bad returned 100 non-finite values among its samples: return finite samples, or raise "
     "lvrbench.api.SamplerError when it cannot"),
    (lambda ctx, n: good(ctx, n, latents=ctx.latents(n)[:, :1]),
     "sampler bad returned latents [50, 1], not [n, d] = [50, 2]: return each sample's latent, or None"),
    (lambda ctx, n: good(ctx, n, latents=torch.full((n, 2), float("inf"))),
     "sampler bad returned non-finite latents: return each sample's finite latent, or None"),
    (lambda ctx, n: good(ctx, n, stats={"acceptance": 0.5}),
     "sampler bad returned stats that are not lvrbench.api.Estimates: give each with its interval (e.g. wilson_interval)"),
    (lambda ctx, n: good(ctx, n, info={"log_m": float("nan")}),
     "sampler bad returned info values that are not finite numbers: put plain finite numbers in info"),
    (lambda ctx, n: ctx.generate(ctx.latents(n)),
     "sampler bad returned Tensor, not a lvrbench.api.SampleOutput: return SampleOutput(samples, latents, stats)"),
    (lambda ctx, n: 1 / 0, "sampler bad failed: ZeroDivisionError: division by zero"),
], ids=["extra-axis", "count", "dtype", "non-finite", "latent-shape", "latent-non-finite", "bare-stats", "info",
        "not-an-output", "raises"])
def test_a_bad_output_is_one_line_naming_the_sampler(make, message):
    with pytest.raises(SamplerError) as caught:
        run_sampler(Returns("bad", make), points_gan(), N, {}, gen(0), CPU, batch=20)
    assert str(caught.value) == message


def test_a_good_output_passes_and_reaches_the_caller_on_the_cpu():
    out = run_sampler(Returns("good", good), points_gan(), N, {}, gen(0), CPU, batch=20)
    assert out.samples.shape == (N, 2) and out.latents.shape == (N, 2) and out.cost.generator_evals == N
    stats = Returns("stats", lambda ctx, n: good(ctx, n, latents=None, stats={"share": Estimate(0.5, 0.4, 0.6, n)}))
    assert run_sampler(stats, points_gan(), N, {}, gen(0), CPU).latents is None


@pytest.mark.parametrize("draw, rng", [
    (lambda: torch.randn(3), "torch"),
    (lambda: np.random.rand(3), "numpy"),
    (lambda: random.random(), "random"),
], ids=["torch", "numpy", "random"])
def test_a_draw_from_a_global_rng_fails_its_cell_and_leaves_the_state_as_it_was(draw, rng):
    def make(ctx, n):
        draw()
        return good(ctx, n)

    states = torch.get_rng_state(), np.random.get_state()[1].copy(), random.getstate()
    with pytest.raises(SamplerError) as caught:
        run_sampler(Returns("global", make), points_gan(), N, {}, gen(0), CPU)
    assert str(caught.value) == (f"sampler global drew from the global {rng} RNG, so its numbers depend on what ran before: "
                                 "draw every random number through ctx (ctx.latents, ctx.normal, ctx.uniform, ctx.integers)")
    assert torch.equal(torch.get_rng_state(), states[0]) and np.array_equal(np.random.get_state()[1], states[1])
    assert random.getstate() == states[2]


def test_a_prior_the_sampler_does_not_declare_is_refused_before_it_runs():
    ran = []
    normal_only = Returns("normal-only", lambda ctx, n: ran.append(n) or good(ctx, n), requires="normal")
    with pytest.raises(UsageError) as caught:
        run_sampler(normal_only, points_gan(UniformPrior().with_dim(2)), N, {}, gen(0), CPU)
    assert str(caught.value) == "normal-only is defined for the normal prior, not the uniform prior" and ran == []
    assert run_sampler(normal_only, points_gan(), N, {}, gen(0), CPU).samples.shape == (N, 2)


def test_the_shape_probe_takes_no_draw_of_the_sampler_and_no_counted_evaluation():
    """The reference sample that gives G's shape and dtype is drawn from a generator of its own: the samples are the
    prior's draws from the seed handed in, exactly, and only the sampler's own evaluations are counted."""
    out = run_sampler(Returns("good", good), points_gan(), N, {}, gen(3), CPU, batch=20)
    g = gen(3)
    assert torch.equal(out.samples, torch.cat([NormalPrior().with_dim(2).sample(b, g) for b in (20, 20, 10)]))
    assert (out.cost.generator_evals, out.cost.discriminator_evals) == (N, 0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_draw_from_the_devices_global_rng_is_caught_on_a_gpu():
    def make(ctx, n):
        torch.randn(3, device=ctx.device)
        return good(ctx, n)

    gan = points_gan()
    gan.nets.to("cuda")
    with pytest.raises(SamplerError) as caught:
        run_sampler(Returns("global", make), gan, N, {}, gen(0), torch.device("cuda"))
    assert str(caught.value).startswith("sampler global drew from the global torch.cuda RNG, so its numbers depend on ")
    assert run_sampler(Returns("good", good), gan, N, {}, gen(0), torch.device("cuda")).samples.device.type == "cpu"
