"""The post-hoc samplers on cases whose answers are known in closed form, no GAN trained: a discrete generator with
known probabilities, and G = identity on 1-D Gaussians with the optimal logit (methods.md §§8-12)."""
from __future__ import annotations

import itertools
import math
from collections import defaultdict

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn

from lvrbench.engine.artifacts import ArtifactCache
from lvrbench.api.contracts import TrainedGAN
from lvrbench.base.errors import UsageError
from lvrbench.api.contracts import Family
from lvrbench.api.priors import NormalPrior, UniformPrior
from lvrbench.api.contracts import SamplerError
from lvrbench.engine.sampling import CALIBRATED, EXACT, fit_logistic, run_sampler
from lvrbench_plugins.samplers import DDLS, DGFlow, DRS, DRS_EPSILON, MHGAN, Direct, reflect

from conftest import gen

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")
P_G = np.array([0.5, 0.3, 0.2])  # the discrete generator's law on {0, 1, 2}
P_D = np.array([0.2, 0.3, 0.5])  # the data's
LOG_R = np.log(P_D / P_G)


class Ratio(Family):
    """A family whose D is the exact log density ratio (as a BCE-optimal discriminator's logit)."""

    name = "known"
    capabilities = frozenset({"log_density_ratio"})

    def log_density_ratio(self, nets, x, z):
        return nets["D"](x).flatten()


class Critic(Family):
    """A family whose D is a critic: a score, not a ratio (the samplers must calibrate it)."""

    name = "critic"


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def discrete_gan() -> TrainedGAN:
    """G(z) = the bucket of z ~ U(0, 1) under P_G's cumulative sums, D = log(P_D / P_G) of that bucket."""
    cuts = torch.tensor(np.cumsum(P_G)[:-1], dtype=torch.float32)
    table = torch.tensor(LOG_R)
    nets = nn.ModuleDict({"G": Fn(lambda z: torch.bucketize(z[:, :1], cuts, right=True).float()),
                          "D": Fn(lambda x: table[x[:, 0].long()])})
    return TrainedGAN(Ratio(), nets, UniformPrior(0.0, 1.0).with_dim(1), 1, "discrete", {})


def optimal_logit(mu: float, sigma: float):
    """log N(x; mu, sigma^2) - log N(x; 0, 1): the BCE-optimal logit of N(mu, sigma^2) data against N(0, 1) samples."""
    return lambda x: (-(x - mu) ** 2 / (2 * sigma**2) - math.log(sigma) + x**2 / 2).flatten()


def gaussian_gan(mu: float, sigma: float, family: Family | None = None, d=None, prior=None) -> TrainedGAN:
    """G = identity on N(0, 1) latents, D the optimal logit of N(mu, sigma^2) data (or `d`)."""
    nets = nn.ModuleDict({"G": nn.Identity(), "D": Fn(d or optimal_logit(mu, sigma))})
    return TrainedGAN(family or Ratio(), nets, prior or NormalPrior().with_dim(1), 1, f"gauss-{mu}-{sigma}", {})


def drs(**params) -> dict:
    return {"burn_in": 1000.0, "gamma": 0.0, "percentile": 0.0, "max_attempts": 100.0, **params}


def frequencies(x: torch.Tensor) -> np.ndarray:
    return np.bincount(x.flatten().long().numpy(), minlength=3) / x.shape[0]


def assert_law(x: torch.Tensor, law: np.ndarray) -> None:
    """The samples' frequencies match `law` (chi-square, and each within 5 binomial standard errors)."""
    n = x.shape[0]
    counts = np.bincount(x.flatten().long().numpy(), minlength=len(law))
    assert stats.chisquare(counts, law * n).pvalue > 1e-4
    assert np.all(np.abs(counts / n - law) < 5 * np.sqrt(law * (1 - law) / n))


def assert_moments(x: torch.Tensor, mean: float, var: float) -> None:
    """Sample mean and variance within 5 standard errors of a Gaussian's (var's s.e. is var sqrt(2 / (n - 1)))."""
    v = x.double().flatten()
    n = v.numel()
    assert abs(float(v.mean()) - mean) < 5 * math.sqrt(var / n)
    assert abs(float(v.var()) - var) < 5 * var * math.sqrt(2 / (n - 1))


# -- direct --------------------------------------------------------------------------------------------------

def test_direct_is_the_generator_on_its_prior_and_counts_no_discriminator():
    gan = discrete_gan()
    out = run_sampler(Direct(), gan, 30000, {}, gen(0), CPU)
    assert_law(out.samples, P_G)
    g = gen(0)
    z = torch.cat([gan.prior.sample(b, g) for b in (500,) * 60])  # drawn in batches of ctx.batch
    torch.testing.assert_close(out.latents, z)
    assert (out.cost.generator_evals, out.cost.discriminator_evals) == (30000, 0) and out.cost.seconds >= 0
    assert out.stats == {}


# -- DRS ------------------------------------------------------------------------------------------------------

def test_drs_with_gamma_zero_accepts_r_over_m_and_its_samples_follow_the_data():
    out = run_sampler(DRS(), discrete_gan(), 20000, drs(), gen(1), CPU, batch=1000)
    m = math.exp(LOG_R.max())  # burn-in of 1000 sees the largest ratio (probability 1 - 0.8^1000)
    assert out.info["log_m"] == pytest.approx(LOG_R.max())
    rate, proposals = out.stats["acceptance"], out.info["proposals"]
    assert abs(rate.value - 1 / m) < 5 * math.sqrt(0.4 * 0.6 / proposals)  # Σ p_g r / M = 1 / M = 0.4
    assert rate.low < rate.value < rate.high and rate.n == proposals
    assert_law(out.samples, P_D)  # accepted ∝ p_g r = p_d
    assert out.cost.generator_evals == out.cost.discriminator_evals == 1000 + proposals


def test_drs_gamma_shift_follows_paper_004_equation_5():
    gamma = -2.0
    out = run_sampler(DRS(), discrete_gan(), 20000, drs(gamma=gamma), gen(2), CPU, batch=1000)
    r, m = np.exp(LOG_R), np.exp(LOG_R.max())
    a = r / (r * (1 - math.exp(gamma)) + m * math.exp(gamma))  # eq. (5); γ < 0 accepts more than r / M
    rate = float(P_G @ a)
    assert rate > 0.4 and abs(out.stats["acceptance"].value - rate) < 5 * math.sqrt(rate * (1 - rate) / out.info["proposals"])
    assert_law(out.samples, P_G * a / rate)


def test_drs_percentile_rule_sets_gamma_at_the_batch_percentile_of_f():
    # F's 95th percentile in a batch is F at the largest ratio (it holds 20% > 5% of the samples): F_max = -log(1 - e^-ε)
    out = run_sampler(DRS(), discrete_gan(), 20000, drs(percentile=95.0), gen(3), CPU, batch=1000)
    delta = LOG_R - LOG_R.max()
    f = delta - np.log1p(-np.exp(delta - DRS_EPSILON))
    f_max = -math.log1p(-math.exp(-DRS_EPSILON))
    assert out.info["gamma_mean"] == pytest.approx(f_max, rel=1e-9)
    a = 1 / (1 + np.exp(-(f - f_max)))
    rate = float(P_G @ a)
    assert a[2] == pytest.approx(0.5) and abs(out.stats["acceptance"].value - rate) < 5 * math.sqrt(rate * (1 - rate) / out.info["proposals"])
    assert_law(out.samples, P_G * a / rate)


def test_drs_on_gaussians_gives_the_data_moments_at_rate_one_over_m():
    mu, sigma = 0.5, 0.8
    out = run_sampler(DRS(), gaussian_gan(mu, sigma), 20000, drs(burn_in=10000.0), gen(4), CPU, batch=2000)
    x_star = mu / (1 - sigma**2)  # the ratio's maximum: d'(x) = -(x - mu) / sigma^2 + x = 0
    log_m = optimal_logit(mu, sigma)(torch.tensor([x_star], dtype=torch.float64)).item()
    assert out.info["log_m"] == pytest.approx(log_m, abs=1e-3)
    rate = math.exp(-log_m)
    assert abs(out.stats["acceptance"].value - rate) < 5 * math.sqrt(rate * (1 - rate) / out.info["proposals"])
    assert_moments(out.samples, mu, sigma**2)


def test_drs_gives_up_at_its_cap_with_the_reason():
    with pytest.raises(SamplerError) as caught:
        run_sampler(DRS(), discrete_gan(), 10, drs(gamma=30.0, max_attempts=3.0), gen(5), CPU)
    assert str(caught.value) == ("drs: accepted 0 of 10 samples in 30 proposals, the cap (max_attempts=3 per sample); "
                                 "lower gamma or percentile, or raise max_attempts")


# -- DG-flow ---------------------------------------------------------------------------------------------------

def test_dg_flow_moves_gaussian_latents_as_euler_maruyama_on_the_logit_says():
    mu, sigma, eta, gamma, steps = 1.0, 0.5, 0.1, 0.01, 25
    out = run_sampler(DGFlow(), gaussian_gan(mu, sigma), 20000, {"eta": eta, "diffusion": gamma, "steps": float(steps)},
                      gen(6), CPU, batch=5000)
    a, b = 1 - 1 / sigma**2, mu / sigma**2  # ∇d(x) = a x + b; no prior term
    m, v = 0.0, 1.0
    for _ in range(steps):
        m, v = (1 + eta * a) * m + eta * b, (1 + eta * a) ** 2 * v + 2 * eta * gamma
    assert_moments(out.samples, m, v)
    assert out.stats["steps"].value == steps
    assert (out.cost.generator_evals, out.cost.discriminator_evals) == (20000 * (steps + 1), 20000 * steps)


def test_dg_flow_starts_from_the_latents_direct_draws_on_the_seed():
    gan = gaussian_gan(0.0, 1.0)  # N(0, 1) data: d ≡ 0, no drift; no noise either
    flow = run_sampler(DGFlow(), gan, 1200, {"eta": 0.1, "diffusion": 0.0, "steps": 3.0}, gen(7), CPU)
    direct = run_sampler(Direct(), gan, 1200, {}, gen(7), CPU)
    torch.testing.assert_close(flow.samples, direct.samples)
    again = run_sampler(DGFlow(), gaussian_gan(1.0, 0.5), 700, {"eta": 0.1, "diffusion": 0.01, "steps": 3.0}, gen(8), CPU)
    same = run_sampler(DGFlow(), gaussian_gan(1.0, 0.5), 700, {"eta": 0.1, "diffusion": 0.01, "steps": 3.0}, gen(8), CPU)
    assert torch.equal(again.samples, same.samples)  # the same seed, the same numbers


def test_dg_flow_keeps_latents_of_a_bounded_prior_inside_its_box():
    gan = gaussian_gan(0.0, 1.0, d=lambda x: (5 * x).flatten(), prior=UniformPrior().with_dim(1))  # drift to the wall
    out = run_sampler(DGFlow(), gan, 2000, {"eta": 0.01, "diffusion": 0.01, "steps": 50.0}, gen(17), CPU)  # 2.5 of drift
    assert float(out.latents.min()) >= -1 and float(out.latents.max()) <= 1 and float(out.latents.mean()) > 0.9


# -- DDLS ------------------------------------------------------------------------------------------------------

def test_ddls_langevin_on_gaussians_has_the_closed_form_moments_and_the_data_as_stationary_law():
    mu, sigma, eps, steps = 1.0, 0.5, 0.01, 200
    out = run_sampler(DDLS(), gaussian_gan(mu, sigma), 20000, {"epsilon": eps, "steps": float(steps)}, gen(9), CPU, batch=5000)
    # E(z) = z^2/2 - d(z): ∇E = (z - mu) / sigma^2, so z' = c z + ε mu / (2 sigma^2) + √ε ξ with c = 1 - ε / (2 sigma^2)
    c = 1 - eps / (2 * sigma**2)
    m, v = 0.0, 1.0
    for _ in range(steps):
        m, v = c * m + eps * mu / (2 * sigma**2), c * c * v + eps
    assert_moments(out.samples, m, v)
    assert eps / (1 - c * c) == pytest.approx(sigma**2, rel=0.02)  # stationary: the data's law, up to O(ε)
    assert out.cost.discriminator_evals == 20000 * steps


def test_ddls_reflects_at_a_uniform_priors_walls_and_keeps_it_stationary():
    assert reflect(torch.tensor([1.5, -3.5, 0.25, 5.0]), -1.0, 1.0).tolist() == [0.5, 0.5, 0.25, 1.0]
    gan = gaussian_gan(0.0, 1.0, d=lambda x: 0 * x.flatten(), prior=UniformPrior().with_dim(1))
    out = run_sampler(DDLS(), gan, 20000, {"epsilon": 0.5, "steps": 20.0}, gen(10), CPU, batch=5000)
    x = out.samples.flatten().double()
    assert float(x.min()) >= -1 and float(x.max()) <= 1
    assert stats.kstest(x.numpy(), stats.uniform(-1, 2).cdf).pvalue > 1e-3  # a symmetric reflected walk keeps U(-1, 1)


def test_ddls_follows_a_learned_mixture_priors_gradient():
    from lvrbench_plugins.families import GaussianMixture

    prior = GaussianMixture(1, 2, 0.1, 0.5)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([[-1.0], [1.0]]))
    gan = gaussian_gan(0.0, 1.0, d=lambda x: 0 * x.flatten(), prior=prior)  # d ≡ 0: the prior is the stationary law
    out = run_sampler(DDLS(), gan, 20000, {"epsilon": 0.01, "steps": 50.0}, gen(18), CPU, batch=5000)
    assert_moments(out.samples, 0.0, 0.25 + 1.0)  # the mixture's mean and variance: E σ² + E μ² - (E μ)²
    assert all(p.grad is None for p in prior.parameters())  # gradients wrt z only


@pytest.mark.parametrize("sampler,params", [
    (Direct(), {}), (DRS(), drs(percentile=95.0)), (DGFlow(), {"eta": 0.1, "diffusion": 0.01, "steps": 3.0}),
    (DDLS(), {"epsilon": 0.01, "steps": 3.0}), (MHGAN(), {"proposals": 3.0})])
def test_the_same_seed_gives_the_same_numbers(sampler, params):
    real = 0.5 + 0.8 * torch.randn(100, 1, generator=gen(19))
    a, b = (run_sampler(sampler, gaussian_gan(0.5, 0.8), 300, params, gen(20), CPU, real, batch=128) for _ in range(2))
    assert torch.equal(a.samples, b.samples) and a.stats == b.stats
    other = run_sampler(sampler, gaussian_gan(0.5, 0.8), 300, params, gen(21), CPU, real, batch=128)
    assert not torch.equal(a.samples, other.samples)


# -- MH-GAN ----------------------------------------------------------------------------------------------------

def mh_law(k: int) -> tuple[np.ndarray, float]:
    """The exact law of MH-GAN's output on the discrete case, and its acceptance rate per proposal: a chain from
    x0 ~ P_D over proposals y1..yk ~ P_G accepting with min(1, r(y) / r(state)); a chain that never moves is
    replaced by the rerun from y1 over y2..yk (fresh uniforms)."""
    law, accepted = np.zeros(3), 0.0
    r = np.exp(LOG_R)
    for x0 in range(3):
        for ys in itertools.product(range(3), repeat=k):
            w = P_D[x0] * np.prod(P_G[list(ys)])
            dist = {(x0, False): 1.0}
            for y in ys:
                step = defaultdict(float)
                for (state, moved), q in dist.items():
                    a = min(1.0, r[y] / r[state])
                    accepted += w * q * a
                    step[(y, True)] += q * a
                    step[(state, moved)] += q * (1 - a)
                dist = step
            alt = {ys[0]: 1.0}
            for y in ys[1:]:
                step = defaultdict(float)
                for state, q in alt.items():
                    a = min(1.0, r[y] / r[state])
                    step[y] += q * a
                    step[state] += q * (1 - a)
                alt = step
            for (state, moved), q in dist.items():
                if moved:
                    law[state] += w * q
                else:
                    for s, qa in alt.items():
                        law[s] += w * q * qa
    return law, accepted / k


@pytest.mark.parametrize("k", [1, 3])
def test_mh_gan_output_law_is_the_exact_chains(k):
    law, rate = mh_law(k)
    if k == 1:
        np.testing.assert_allclose(law, P_G)  # one proposal: emitted when accepted, and by the rerun when not
    held_out = torch.tensor(np.repeat([0.0, 1.0, 2.0], (P_D * 1000).astype(int)), dtype=torch.float32)[:, None]
    out = run_sampler(MHGAN(), discrete_gan(), 20000, {"proposals": float(k)}, gen(11), CPU, held_out, batch=5000)
    assert_law(out.samples, law)
    proposals = 20000 * k
    assert out.stats["acceptance"].n == proposals
    assert abs(out.stats["acceptance"].value - rate) < 6 * math.sqrt(rate * (1 - rate) / proposals)
    assert (out.cost.generator_evals, out.cost.discriminator_evals) == (proposals, proposals + 20000)


def test_mh_gan_keeps_the_data_law_from_real_starts_and_never_emits_them():
    mu, sigma = 0.5, 0.8
    real = (mu + sigma * torch.randn(5000, 1, generator=gen(12)))
    out = run_sampler(MHGAN(), gaussian_gan(mu, sigma), 20000, {"proposals": 40.0}, gen(13), CPU, real, batch=5000)
    assert_moments(out.samples, mu, sigma**2)  # started at the stationary law, every step keeps it
    assert out.stats["cap_out"].value < 0.01
    # a real start with a huge ratio is never left: every chain caps out, and its rerun on the fakes is emitted
    far = torch.full((10, 1), 50.0)
    spiked = gaussian_gan(mu, sigma, d=lambda x: (1000.0 * (x > 40)).flatten())
    stuck = run_sampler(MHGAN(), spiked, 300, {"proposals": 5.0}, gen(14), CPU, far)
    assert stuck.stats["cap_out"].value == 1.0 and not bool((stuck.samples == 50.0).any())
    assert stuck.latents is not None and torch.equal(stuck.latents, stuck.samples)  # G = identity: x = z


# -- the density ratio, refusals and parameters --------------------------------------------------------------

def test_a_critic_is_calibrated_by_logistic_regression_and_cached_by_generator(tmp_path):
    # data N(1, 1) against N(0, 1): log r(x) = x - 1/2; the critic scores s = 3x + 2, so log r = s / 3 - 7/6
    gan = gaussian_gan(0.0, 1.0, family=Critic(), d=lambda x: (3 * x + 2).flatten())
    real = 1 + torch.randn(20000, 1, generator=gen(15))
    cache = ArtifactCache(tmp_path)
    out = run_sampler(DRS(), gan, 500, drs(), gen(16), CPU, real, cache)
    calibrated = run_sampler(DRS(), gan, 500, drs(), gen(16), CPU, real, cache)
    assert torch.equal(out.samples, calibrated.samples)  # the cached calibrator gives the same numbers
    from lvrbench.engine.sampling import density_ratio

    ratio = density_ratio(DRS(), gan, real, CPU, cache)
    assert ratio.text == CALIBRATED == "calibrated: logistic on the critic's score"
    c = ratio.calibrator
    assert c["a"] == pytest.approx(1 / 3, abs=0.02) and c["b"] == pytest.approx(-7 / 6, abs=0.05)
    assert len(list((tmp_path / "calibrators").glob("*.pt"))) == 1
    other = gaussian_gan(0.0, 1.0, family=Critic(), d=lambda x: (3 * x + 2).flatten())
    other.key = "another generator"
    assert density_ratio(DRS(), other, real, CPU, cache).calibrator["key"] != c["key"]
    assert density_ratio(DRS(), gaussian_gan(1.0, 1.0), None, CPU).text == EXACT == "exact: BCE logit"


def test_fit_logistic_recovers_known_coefficients():
    s = torch.linspace(-4, 4, 4001, dtype=torch.float64)
    p = torch.sigmoid(2 * s - 1)  # expected labels as weights: duplicate each score by its odds
    real, fake = s.repeat_interleave((p * 100).round().long()), s.repeat_interleave(((1 - p) * 100).round().long())
    a, b, fit = fit_logistic(real, fake)
    assert a == pytest.approx(2, rel=0.01) and b == pytest.approx(-1, abs=0.02)
    assert fit["n_real"] == real.numel() and fit["n_fake"] == fake.numel()


def test_samplers_refuse_what_the_generator_does_not_offer():
    gan = gaussian_gan(0.0, 1.0)
    del gan.nets["D"]  # a pretrained generator may come without its discriminator
    with pytest.raises(UsageError) as caught:
        run_sampler(DRS(), gan, 10, drs(), gen(0), CPU)
    assert str(caught.value) == "drs: the known generator has no discriminator (its networks: G), so it gives no density ratio"
    assert run_sampler(Direct(), gan, 10, {}, gen(0), CPU).samples.shape == (10, 1)  # direct needs no D
    critic = gaussian_gan(0.0, 1.0, family=Critic())
    with pytest.raises(UsageError) as caught:
        run_sampler(DGFlow(), critic, 10, {"eta": 0.1, "diffusion": 0.01, "steps": 1.0}, gen(0), CPU)
    assert str(caught.value) == ("dg-flow: family critic's critic is no density-ratio estimator and no held-out real split "
                                 "was given to calibrate it on")
    with pytest.raises(UsageError) as caught:
        run_sampler(MHGAN(), gaussian_gan(0.0, 1.0), 10, {"proposals": 2.0}, gen(0), CPU)
    assert str(caught.value) == "mh-gan: no held-out real split to start its chains from"


@pytest.mark.parametrize("sampler,params,message", [
    (DGFlow(), {"eta": 0.1, "diffusion": 0.01, "steps": 2.5}, "dg-flow: steps must be a whole number, got 2.5"),
    (DGFlow(), {"eta": 0.0, "diffusion": 0.01, "steps": 2.0}, "dg-flow: eta must be > 0, got 0"),
    (DDLS(), {"epsilon": 0.01}, "ddls: hyper-parameter 'steps' is missing"),
    (DRS(), drs(percentile=101.0), "drs: percentile must be <= 100, got 101"),
    (MHGAN(), {"proposals": 5.0, "k": 1.0}, "mh-gan: unknown hyper-parameter 'k' (it has: proposals)"),
    (Direct(), {"steps": 1.0}, "direct: unknown hyper-parameter 'steps' (it has: none)"),
])
def test_parameters_are_checked_before_any_work(sampler, params, message):
    with pytest.raises(UsageError) as caught:
        run_sampler(sampler, gaussian_gan(0.0, 1.0), 10, params, gen(0), CPU)
    assert str(caught.value) == message


def test_batch_norm_does_not_couple_samples():
    gan = gaussian_gan(0.0, 1.0)
    gan.nets["G"] = nn.Sequential(nn.Linear(1, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    gan.nets.train()
    with torch.no_grad():
        gan.nets["G"][1].running_mean.fill_(0.3)
    alone = run_sampler(Direct(), gan, 1, {}, gen(0), CPU)  # a batch of one fails in train mode
    both = run_sampler(Direct(), gan, 2, {}, gen(0), CPU)
    assert not gan.nets.training
    torch.testing.assert_close(both.samples[:1], alone.samples)
