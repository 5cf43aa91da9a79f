"""The truncation sampler against its closed forms, with no GAN trained: G = identity on N(μ, σ²) latents, so the
samples are the latents, whose elements must follow N(μ, σ²) truncated to [μ - cσ, μ + cσ], accepted at erf(c/√2)."""
from __future__ import annotations

import math

import pytest
import torch
from scipy import stats
from torch import nn

from lvrbench.api import Family, NormalPrior, SamplerError, TrainedGAN, UniformPrior, UsageError
from lvrbench.kit import run_sampler
from lvrbench_example_sampler.plugin import Truncation

MEAN, STD, DIM, N = 0.5, 2.0, 4, 5000
CPU = torch.device("cpu")


def identity_gan(prior) -> TrainedGAN:
    """A generator whose samples are its latents."""
    return TrainedGAN(Family(), nn.ModuleDict({"G": nn.Identity()}), prior, DIM, "identity", {})


def truncated(c: float, seed: int = 0, n: int = N):
    return run_sampler(Truncation(), identity_gan(NormalPrior(MEAN, STD, dim=DIM)), n,
                       {"threshold": c, "max_rounds": 100.0}, torch.Generator().manual_seed(seed), CPU)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_each_latent_element_follows_the_truncated_prior(c):
    out = truncated(c)
    assert torch.equal(out.samples, out.latents)  # G = identity: what is sampled is the latents
    u = ((out.latents.double() - MEAN) / STD).flatten().numpy()
    law = stats.truncnorm(-c, c)
    assert abs(u).max() <= c
    assert stats.kstest(u, law.cdf).pvalue > 1e-3
    var = 1 - 2 * c * stats.norm.pdf(c) / (2 * stats.norm.cdf(c) - 1)  # the truncated standard normal's variance
    assert var == pytest.approx(law.var())
    assert abs(u.mean()) < 5 * math.sqrt(var / u.size)
    assert abs(u.var() - var) < 5 * math.sqrt((law.moment(4) - var**2) / u.size)


@pytest.mark.parametrize("c", [0.5, 1.0, 2.0])
def test_a_proposed_element_is_accepted_with_probability_erf_c_over_root_2(c):
    out = truncated(c)
    p, elements = math.erf(c / math.sqrt(2)), N * DIM
    acceptance = out.stats["acceptance"]
    # accepted / proposed, with proposals a sum of geometric counts: standard error p sqrt((1 - p) / elements)
    assert abs(acceptance.value - p) < 5 * p * math.sqrt((1 - p) / elements)
    assert acceptance.low <= acceptance.value <= acceptance.high
    assert out.info["proposed_elements"] == acceptance.n and acceptance.value == elements / acceptance.n


def test_it_keeps_directs_latents_inside_the_threshold_and_is_seeded():
    c, g = 1.0, torch.Generator().manual_seed(3)
    direct = torch.cat([NormalPrior(MEAN, STD, dim=DIM).sample(500, g) for _ in range(N // 500)])  # ctx.latents' batches
    out = truncated(c, seed=3, n=N)
    inside = (direct - MEAN).abs() <= c * STD
    assert torch.equal(out.latents[inside], direct[inside])  # so its samples pair with direct's on the same seed
    assert torch.equal(truncated(c, seed=3).samples, out.samples)
    assert not torch.equal(truncated(c, seed=4).samples, out.samples)


def test_it_refuses_what_it_is_not_defined_for_in_one_line():
    with pytest.raises(UsageError) as refused:
        run_sampler(Truncation(), identity_gan(UniformPrior(dim=DIM)), 10, {"threshold": 1.0, "max_rounds": 100.0},
                    torch.Generator().manual_seed(0), CPU)
    assert str(refused.value) == "truncation is defined for the normal prior, not the uniform prior"
    with pytest.raises(SamplerError) as gave_up:
        truncated(0.01, n=100)  # P(|Z| <= 0.01) = 0.008: 400 elements need hundreds of rounds
    assert str(gave_up.value).startswith("truncation: ") and str(gave_up.value).endswith(
        " latent elements still beyond 0.01 standard deviations after 100 rounds; raise threshold or max_rounds")
