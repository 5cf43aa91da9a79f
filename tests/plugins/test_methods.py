"""Each built-in regularizer and resampler against its definition (paper 000 §1-2, paper 001 §3.2)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from conftest import gen
from lvrbench.api import distances
from lvrbench.base.errors import UsageError
from lvrbench.api.contracts import PAPER_WEIGHTS, Param, Regularizer, Resampler
from lvrbench.api.priors import NormalPrior, Prior, UniformPrior
from lvrbench.api.contracts import RecoveryContext, ResampleContext
from lvrbench_plugins.regularizers import (
    Bhattacharyya,
    Energy,
    LukaszykKarmowski,
    NoRegularizer,
    TrickDiscriminator,
    Wasserstein,
    ZScoreAbsolute,
    ZScoreSquare,
)
from lvrbench_plugins.resamplers import Boundary, HardCutoff, LogisticCutoff, TruncatedNormalCutoff

F64 = torch.float64
NORMALS = [NormalPrior(), NormalPrior(0.5, 2.0), NormalPrior(-1.0, 0.3)]
NORMAL_IDS = ["N(0,1)", "N(0.5,2^2)", "N(-1,0.3^2)"]


pytestmark = pytest.mark.usefixtures("one_thread")



def ctx_for(prior: Prior, h: int, seed: int = 0, generated=None, realness=None, step: int = 1) -> RecoveryContext:
    return RecoveryContext(prior, step, 100, gen(seed), generated, {"weight": torch.ones(h, 1, dtype=F64)}, realness)


def latents(h: int, n: int, d: int, seed: int, scale: float = 1.0, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(h, n, d, generator=gen(seed), dtype=F64) * scale + shift


@pytest.fixture(scope="module")
def reg():
    from lvrbench.run.registry import load_registry

    return load_registry(strict=True)


# --- regularizers ------------------------------------------------------------------------------

@pytest.mark.parametrize("prior", NORMALS, ids=NORMAL_IDS)
def test_z_score_square_and_absolute(prior):
    z = latents(3, 4, 7, seed=1, scale=2.0, shift=0.4)
    zn = z.numpy()
    expected_sq = (((zn - prior.mean) / prior.std) ** 2).mean(-1)
    expected_abs = (np.abs(zn - prior.mean) / prior.std).mean(-1)
    sq = ZScoreSquare().loss(z, ctx_for(prior, 3))
    ab = ZScoreAbsolute().loss(z, ctx_for(prior, 3))
    assert sq.shape == ab.shape == (3, 4)
    np.testing.assert_allclose(sq.numpy(), expected_sq, rtol=1e-13)
    np.testing.assert_allclose(ab.numpy(), expected_abs, rtol=1e-13)
    # Zero exactly at the prior mean.
    at_mean = torch.full((1, 1, 5), prior.mean, dtype=F64)
    assert ZScoreSquare().loss(at_mean, ctx_for(prior, 1)).item() == 0.0
    assert ZScoreAbsolute().loss(at_mean, ctx_for(prior, 1)).item() == 0.0


def bhattacharyya_quad(m1: float, v1: float, m2: float, v2: float) -> float:
    """-ln ∫ sqrt(p q) dx for p = N(m1, v1), q = N(m2, v2), numerically."""
    s1, s2 = math.sqrt(v1), math.sqrt(v2)
    lo, hi = min(m1 - 12 * s1, m2 - 12 * s2), max(m1 + 12 * s1, m2 + 12 * s2)
    f = lambda x: math.sqrt(scipy.stats.norm.pdf(x, m1, s1) * scipy.stats.norm.pdf(x, m2, s2))  # noqa: E731
    bc, _ = scipy.integrate.quad(f, lo, hi, points=[m1, m2], limit=500, epsabs=1e-14, epsrel=1e-12)
    return -math.log(bc)


@pytest.mark.parametrize("prior", NORMALS, ids=NORMAL_IDS)
def test_bhattacharyya_matches_its_integral(prior):
    z = torch.cat([latents(2, 3, 32, seed=2), latents(1, 3, 32, seed=3, scale=0.2, shift=1.5)])
    loss = Bhattacharyya().loss(z, ctx_for(prior, 3))
    assert loss.shape == (3, 3)
    for h in range(3):
        for n in range(3):
            sample = z[h, n].numpy()
            m1, v1 = sample.mean(), sample.var()  # population variance (ddof=0)
            closed = (m1 - prior.mean) ** 2 / (4 * (v1 + prior.std ** 2)) + 0.5 * math.log(
                (v1 + prior.std ** 2) / (2 * math.sqrt(v1) * prior.std))
            assert loss[h, n].item() == pytest.approx(closed, rel=1e-12)
            assert loss[h, n].item() == pytest.approx(bhattacharyya_quad(m1, v1, prior.mean, prior.std ** 2), rel=1e-7, abs=1e-10)


def test_bhattacharyya_uses_population_not_sample_variance():
    prior = NormalPrior()
    z = torch.tensor([[[-1.0, 1.0]]], dtype=F64)  # population variance 1, sample variance 2
    assert Bhattacharyya().loss(z, ctx_for(prior, 1)).item() == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize("prior", NORMALS, ids=NORMAL_IDS)
def test_bhattacharyya_finite_at_zeros_init(prior):
    d = 8
    z = torch.zeros(2, 3, d, dtype=F64, requires_grad=True)
    loss = Bhattacharyya().loss(z, ctx_for(prior, 2))
    v1 = 1e-12  # the variance floor
    s2 = prior.std ** 2
    expected = prior.mean ** 2 / (4 * (v1 + s2)) + 0.5 * math.log((v1 + s2) / (2 * math.sqrt(v1) * prior.std))
    assert torch.isfinite(loss).all()
    torch.testing.assert_close(loss, torch.full((2, 3), expected, dtype=F64), rtol=1e-12, atol=0)
    (grad,) = torch.autograd.grad(loss.sum(), z)
    assert torch.isfinite(grad).all()
    # Only the mean term moves a constant latent: d/dz_i (m - mu)^2 / (4 (v + s2)) = (m - mu) / (2 (v + s2) d).
    torch.testing.assert_close(grad, torch.full_like(grad, -prior.mean / (2 * (v1 + s2) * d)), rtol=1e-12, atol=1e-300)


SAMPLE_DISTANCES = [(Wasserstein, distances.wasserstein), (Energy, distances.energy),
                    (LukaszykKarmowski, distances.lukaszyk_karmowski)]
SAMPLE_PRIORS = [NormalPrior(), NormalPrior(0.5, 2.0), UniformPrior(), UniformPrior(0.0, 3.0)]


def brute_force_lk(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a[:, None] - b[None, :]).mean())


@pytest.mark.parametrize("cls,fn", SAMPLE_DISTANCES, ids=lambda x: getattr(x, "name", ""))
@pytest.mark.parametrize("prior", SAMPLE_PRIORS, ids=["N(0,1)", "N(0.5,4)", "U(-1,1)", "U(0,3)"])
def test_sample_distance_against_reproduced_prior_draw(cls, fn, prior):
    h, n, d = 3, 4, 24
    z = latents(h, n, d, seed=5, scale=1.3, shift=0.2)
    z[2] = z[0]  # two grid rows with the same latents
    ctx = ctx_for(prior, h, seed=42)
    loss = cls().loss(z, ctx)
    assert loss.shape == (h, n)
    assert cls.samples == 1000  # paper 000 §2: "enough samples (1000 samples)"
    reference = prior.sample_elements((n, 1000), gen(42)).to(F64)  # no grid axis: one reference per image
    torch.testing.assert_close(loss, fn(z, reference), rtol=0, atol=1e-12)
    assert torch.equal(loss[0], loss[2])
    # The generator was advanced by exactly that draw.
    follow = gen(42)
    prior.sample_elements((n, 1000), follow)
    assert torch.equal(torch.rand(5, generator=ctx.generator), torch.rand(5, generator=follow))
    # The distance itself, against scipy / brute force, row by row.
    scipy_fn = {Wasserstein: scipy.stats.wasserstein_distance, Energy: scipy.stats.energy_distance,
                LukaszykKarmowski: brute_force_lk}[cls]
    for i in range(h):
        for j in range(n):
            assert loss[i, j].item() == pytest.approx(scipy_fn(z[i, j].numpy(), reference[j].numpy()), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("cls", [Wasserstein, Energy, LukaszykKarmowski])
def test_sample_distance_draw_does_not_depend_on_grid_size(cls):
    prior = NormalPrior()
    z = latents(4, 2, 10, seed=6)
    full = cls().loss(z, ctx_for(prior, 4, seed=9))
    for i in range(4):
        alone = cls().loss(z[i:i + 1], ctx_for(prior, 1, seed=9))
        assert torch.equal(alone[0], full[i])
    # Fresh samples every step: the second call with the same generator gives other values.
    ctx = ctx_for(prior, 4, seed=9)
    first, second = cls().loss(z, ctx), cls().loss(z, ctx)
    assert not torch.equal(first, second)


# Each loss depends on its own latent alone, batched equals row by row, finite gradients: every registered
# regularizer and resampler, by the conformance kit (tests/plugins/test_conformance.py).


def test_trick_discriminator_applies_realness_to_generated():
    h, n = 2, 3
    generated = torch.randn(h * n, 1, 4, 4, generator=gen(3), dtype=F64)
    calls = []

    def realness(x):
        calls.append(x)
        return 0.5 * (x.flatten(1).sum(1) - 1) ** 2

    z = torch.full((h, n, 5), 123.0, dtype=F64)  # z itself does not enter the loss
    loss = TrickDiscriminator().loss(z, ctx_for(NormalPrior(), h, generated=generated, realness=realness))
    assert len(calls) == 1 and calls[0] is generated
    expected = (0.5 * (generated.flatten(1).sum(1) - 1) ** 2).reshape(h, n)
    assert torch.equal(loss, expected)
    assert TrickDiscriminator.needs_discriminator is True


def test_none_returns_zeros():
    z = latents(3, 4, 5, seed=1, scale=100.0)
    loss = NoRegularizer().loss(z, ctx_for(NormalPrior(), 3))
    assert loss.shape == (3, 4) and loss.dtype == F64
    assert torch.equal(loss, torch.zeros(3, 4, dtype=F64))
    assert NoRegularizer.params == ()


def test_regularizer_weight_grid_is_paper_000s():
    assert PAPER_WEIGHTS == (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)
    for cls in (ZScoreSquare, ZScoreAbsolute, Bhattacharyya, Wasserstein, Energy, LukaszykKarmowski, TrickDiscriminator):
        (weight,) = cls.params
        assert weight.name == "weight" and weight.grid == PAPER_WEIGHTS


# --- resamplers: probability functions ---------------------------------------------------------

def col(*values) -> dict:
    """Scalar hyper-parameters shaped [H=1, 1, 1]."""
    return {k: torch.tensor(v, dtype=F64).view(1, 1, 1) for k, v in values}


def apply(resampler, z, prior, params, total_steps=100, seed=0, step=1):
    return resampler.apply(z, ResampleContext(prior, step, total_steps, gen(seed), params))


def test_hard_cutoff_probability_typo_corrected():
    c = 2.5
    z = torch.tensor([0.0, 1.0, c - 0.01, -(c - 0.01), c + 0.01, -(c + 0.01), 10.0], dtype=F64).view(1, 1, -1)
    p = HardCutoff().probability(z, NormalPrior(), col(("c", c)))
    assert torch.equal(p.flatten(), torch.tensor([0, 0, 0, 0, 1, 1, 1], dtype=F64))


@pytest.mark.parametrize("prior", [NormalPrior(), NormalPrior(1.0, 2.0)], ids=["N(0,1)", "N(1,4)"])
def test_hard_cutoff_never_below_always_above(prior):
    c = 2.5
    n = 20000
    inside = prior.mean + prior.std * torch.tensor([c - 0.01, -(c - 0.01)], dtype=F64).repeat(n // 2)
    outside = prior.mean + prior.std * torch.tensor([c + 0.01, -(c + 0.01)], dtype=F64).repeat(n // 2)
    z = torch.cat([inside, outside]).view(1, 1, -1)
    for total_steps in (1, 100, 20000):
        out = apply(HardCutoff(), z, prior, col(("c", c)), total_steps=total_steps)
        assert torch.equal(out[..., :n], z[..., :n])
        assert bool((out[..., n:] != z[..., n:]).all())


def test_logistic_probability():
    a, b = 2.0, 2.5
    zs = [0.0, 1.0, b, -b, 3.7, -6.0]
    z = torch.tensor(zs, dtype=F64).view(1, 1, -1)
    p = LogisticCutoff().probability(z, NormalPrior(), col(("a", a), ("b", b))).flatten()
    expected = [1 / (1 + math.exp(-a * (abs(x) - b))) for x in zs]
    np.testing.assert_allclose(p.numpy(), expected, rtol=1e-14)
    assert p[2].item() == p[3].item() == 0.5  # P(b) = 1/2


def test_truncated_normal_probability():
    a = 2.5
    zs = [0.0, 1.0, -2.0, 2.4999, a, -a, 2.5001, 4.0, -7.0]
    z = torch.tensor(zs, dtype=F64).view(1, 1, -1)
    p = TruncatedNormalCutoff().probability(z, NormalPrior(), col(("a", a))).flatten().numpy()
    expected = [scipy.stats.norm.pdf(a) / scipy.stats.norm.pdf(x) if abs(x) <= a else 1.0 for x in zs]
    np.testing.assert_allclose(p, expected, rtol=1e-12)
    np.testing.assert_allclose(p[:4], [math.exp((x * x - a * a) / 2) for x in zs[:4]], rtol=1e-14)
    # Continuous at |z| = a, and increasing in |z| inside.
    assert p[3] == pytest.approx(1.0, abs=1e-3) and p[4] == p[5] == 1.0
    assert p[0] < p[1] < p[2] < p[3]


def test_cutoffs_standardise_by_the_prior():
    prior = NormalPrior(1.0, 2.0)
    u = torch.tensor([0.0, 1.3, -2.2, 3.1], dtype=F64).view(1, 1, -1)
    z = prior.mean + prior.std * u
    std = NormalPrior()
    for resampler, params in ((HardCutoff(), col(("c", 2.5))), (LogisticCutoff(), col(("a", 3.0), ("b", 2.0))),
                              (TruncatedNormalCutoff(), col(("a", 2.75)))):
        torch.testing.assert_close(resampler.probability(z, prior, params), resampler.probability(u, std, params),
                                   rtol=1e-14, atol=0)


@pytest.mark.parametrize("prior", [UniformPrior(), UniformPrior(0.0, 2.0)], ids=["U(-1,1)", "U(0,2)"])
def test_boundary_redraws_outside_never_inside(prior):
    lo, hi = prior.low, prior.high
    width = hi - lo
    inside = lo + width * torch.rand(5000, generator=gen(1), dtype=F64)
    inside[:2] = torch.tensor([lo, hi], dtype=F64)  # the support is closed
    outside = torch.cat([lo - 1e-9 - torch.rand(2500, generator=gen(2), dtype=F64),
                         hi + 1e-9 + 3 * torch.rand(2500, generator=gen(3), dtype=F64)])
    z = torch.cat([inside, outside]).view(1, 1, -1)
    out = apply(Boundary(), z, prior, {}, total_steps=1000)
    assert torch.equal(out[..., :5000], z[..., :5000])
    redrawn = out[..., 5000:]
    assert bool((redrawn != z[..., 5000:]).all())
    assert bool(((redrawn >= lo) & (redrawn <= hi)).all())
    p = Boundary().probability(z, prior, {}).flatten()
    assert torch.equal(p, torch.cat([torch.zeros(5000), torch.ones(5000)]).to(F64))


# --- resamplers: per-step probability 1 - (1 - P)^(1/E) ----------------------------------------

def per_step(p: float, e: int) -> float:
    return 1 - (1 - p) ** (1 / e)


def binomial_check(changed: int, total: int, p: float) -> None:
    sigma = math.sqrt(total * p * (1 - p))
    assert abs(changed - total * p) <= 5 * sigma + 1, (changed, total * p, sigma)


PER_STEP_CASES = [
    # resampler, params, |z|, P(R|z) by hand, E
    (LogisticCutoff(), (("a", 2.0), ("b", 2.0)), 2.5, 1 / (1 + math.exp(-1.0)), 100),
    (LogisticCutoff(), (("a", 4.0), ("b", 1.0)), 0.5, 1 / (1 + math.exp(2.0)), 10),
    (LogisticCutoff(), (("a", 3.0), ("b", 2.5)), 2.0, 1 / (1 + math.exp(1.5)), 1),
    (TruncatedNormalCutoff(), (("a", 2.5),), 2.0, math.exp((4.0 - 6.25) / 2), 100),
    (TruncatedNormalCutoff(), (("a", 3.0),), 1.0, math.exp((1.0 - 9.0) / 2), 5),
]


@pytest.mark.parametrize("resampler,params,zval,p_run,steps", PER_STEP_CASES)
def test_fraction_resampled_in_one_step(resampler, params, zval, p_run, steps):
    n = 200_000
    z = torch.full((1, 200, n // 200), zval, dtype=F64)
    z[..., ::2] = -zval  # the criteria are symmetric
    out = apply(resampler, z, NormalPrior(), col(*params), total_steps=steps, seed=17)
    changed = int((out != z).sum())
    binomial_check(changed, n, per_step(p_run, steps))


@pytest.mark.parametrize("zval", [7.0, 11.0])
def test_logistic_per_step_probability_is_exact_where_float32_rounds_p_to_one(zval):
    """Paper 001's a=4, b=2, E=20000: at |z| = 7, P = 1 - e^-20 (1.0 in float32), yet per step only ~1e-3."""
    n, steps = 200_000, 20000
    z = torch.full((1, 200, n // 200), zval, dtype=torch.float32)
    z[..., ::2] = -zval
    params = {k: v.float() for k, v in col(("a", 4.0), ("b", 2.0)).items()}
    assert LogisticCutoff().probability(z, NormalPrior(), params).eq(1.0).all()
    out = apply(LogisticCutoff(), z, NormalPrior(), params, total_steps=steps, seed=5)
    log_keep = -math.log1p(math.exp(4.0 * (zval - 2.0)))  # log(1 - sigmoid(x)) = -log(1 + e^x)
    binomial_check(int((out != z).sum()), n, -math.expm1(log_keep / steps))
    assert out.dtype == torch.float32


def test_per_step_probability_per_grid_row():
    """Each grid row uses its own hyper-parameters; the thresholds are shared, so the rows' changed sets nest."""
    n = 100_000
    z = torch.full((3, 100, n // 100), 2.5, dtype=F64)
    params = {"a": torch.tensor([2.0, 2.0, 4.0], dtype=F64).view(3, 1, 1),
              "b": torch.tensor([2.0, 3.0, 2.0], dtype=F64).view(3, 1, 1)}
    out = LogisticCutoff().apply(z, ResampleContext(NormalPrior(), 1, 20, gen(4), params))
    changed = out != z
    for h, (a, b) in enumerate([(2.0, 2.0), (2.0, 3.0), (4.0, 2.0)]):
        binomial_check(int(changed[h].sum()), n, per_step(1 / (1 + math.exp(-a * (2.5 - b))), 20))
    # Row 1 (lowest P) changed a subset of row 0, which changed a subset of row 2, with the same fresh values.
    assert bool((changed[1] <= changed[0]).all()) and bool((changed[0] <= changed[2]).all())
    both = changed[0] & changed[2]
    assert torch.equal(out[0][both], out[2][both])


@pytest.mark.parametrize("resampler,params,prior", [
    (HardCutoff(), col(("c", 2.5)), NormalPrior()),
    (TruncatedNormalCutoff(), col(("a", 2.5)), NormalPrior()),
    (Boundary(), {}, UniformPrior()),
])
def test_certain_and_impossible_resampling(resampler, params, prior):
    """P = 1 elements always change, P = 0 never, whatever E (the logistic P is never exactly 1: see above)."""
    n = 50_000
    far = torch.full((1, 1, n), 50.0, dtype=F64)
    for steps in (1, 100, 20000):
        out = apply(resampler, far, prior, params, total_steps=steps, seed=steps)
        assert bool((out != far).all())
    if isinstance(resampler, (HardCutoff, Boundary)):
        near = torch.full((1, 1, n), 0.5, dtype=F64)
        assert torch.equal(apply(resampler, near, prior, params, total_steps=1, seed=3), near)


# --- redrawn values follow the prior -----------------------------------------------------------

@pytest.mark.parametrize("resampler,params,prior,dist", [
    (HardCutoff(), col(("c", 2.5)), NormalPrior(), scipy.stats.norm(0, 1)),
    (HardCutoff(), col(("c", 3.0)), NormalPrior(1.0, 2.0), scipy.stats.norm(1, 2)),
    (LogisticCutoff(), col(("a", 2.0), ("b", 2.0)), NormalPrior(), scipy.stats.norm(0, 1)),
    (TruncatedNormalCutoff(), col(("a", 3.0)), NormalPrior(-0.5, 0.5), scipy.stats.norm(-0.5, 0.5)),
    (Boundary(), {}, UniformPrior(), scipy.stats.uniform(-1, 2)),
    (Boundary(), {}, UniformPrior(0.0, 3.0), scipy.stats.uniform(0, 3)),
])
def test_redrawn_values_follow_the_prior(resampler, params, prior, dist):
    n = 20_000
    # Half far outside (always redrawn), half at varied positions near the centre.
    centre = prior.mean if isinstance(prior, NormalPrior) else (prior.low + prior.high) / 2
    near = centre + 0.1 * torch.randn(n, generator=gen(1), dtype=F64)
    far = centre + 100.0 * torch.sign(torch.randn(n, generator=gen(2), dtype=F64))
    z = torch.cat([near, far]).view(1, 1, -1)
    out = apply(resampler, z, prior, params, total_steps=10, seed=123)
    changed = out != z
    assert bool(changed[..., n:].all())
    redrawn = out[changed].numpy()
    assert scipy.stats.kstest(redrawn, dist.cdf).pvalue > 1e-3
    # The test has power: the same values are far from a prior with another scale.
    assert scipy.stats.kstest(redrawn, scipy.stats.norm(0, 5).cdf).pvalue < 1e-6
    # Unchanged elements are bit-for-bit the input.
    assert torch.equal(out[~changed], z[~changed])


# --- draws shared across the grid axis, determinism --------------------------------------------

@pytest.mark.parametrize("resampler,params,prior", [
    (HardCutoff(), {"c": torch.tensor([2.5, 1.0, 2.5], dtype=F64).view(3, 1, 1)}, NormalPrior()),
    (LogisticCutoff(), {"a": torch.tensor([2.0, 3.0, 2.0], dtype=F64).view(3, 1, 1),
                        "b": torch.tensor([2.0, 1.0, 2.0], dtype=F64).view(3, 1, 1)}, NormalPrior()),
    (TruncatedNormalCutoff(), {"a": torch.tensor([2.5, 1.5, 2.5], dtype=F64).view(3, 1, 1)}, NormalPrior()),
    (Boundary(), {}, UniformPrior()),
])
def test_draws_are_shared_across_the_grid_axis(resampler, params, prior):
    z0 = 2.0 * torch.randn(1, 6, 50, generator=gen(8), dtype=F64)
    other = 2.0 * torch.randn(1, 6, 50, generator=gen(9), dtype=F64)
    z = torch.cat([z0, other, z0])  # rows 0 and 2: same latents and same parameters
    out = resampler.apply(z, ResampleContext(prior, 3, 10, gen(5), params))
    assert out.shape == z.shape
    assert torch.equal(out[0], out[2])
    assert not torch.equal(out[0], z0[0])
    # A row alone gets the same numbers as in the batch.
    alone = resampler.apply(z[:1], ResampleContext(prior, 3, 10, gen(5), {k: v[:1] for k, v in params.items()}))
    assert torch.equal(alone[0], out[0])
    # Same seeded generator: identical; the generator advances between calls.
    again = resampler.apply(z, ResampleContext(prior, 3, 10, gen(5), params))
    assert torch.equal(out, again)
    g = gen(5)
    first = resampler.apply(z, ResampleContext(prior, 3, 10, g, params))
    second = resampler.apply(z, ResampleContext(prior, 3, 10, g, params))
    assert torch.equal(first, out) and not torch.equal(first, second)


def test_resampler_keeps_dtype_and_does_not_modify_input():
    z = 3.0 * torch.randn(2, 3, 40, generator=gen(1), dtype=F64)
    saved = z.clone()
    out = LogisticCutoff().apply(z, ResampleContext(NormalPrior(), 1, 10, gen(2), {"a": torch.full((2, 1, 1), 2.0, dtype=F64),
                                                                   "b": torch.full((2, 1, 1), 2.0, dtype=F64)}))
    assert out.dtype == F64 and torch.equal(z, saved)
    out32 = HardCutoff().apply(z.float(), ResampleContext(NormalPrior(), 1, 10, gen(2), {"c": torch.full((2, 1, 1), 2.5)}))
    assert out32.dtype == torch.float32


# --- parameter checks --------------------------------------------------------------------------

@pytest.mark.parametrize("method,values,message", [
    (HardCutoff(), {"c": 0.0}, "hard-cutoff: c must be > 0, got 0"),
    (HardCutoff(), {"c": -2.5}, "hard-cutoff: c must be > 0, got -2.5"),
    (HardCutoff(), {"c": math.nan}, "hard-cutoff: c must be a finite number, got nan"),
    (HardCutoff(), {"c": -math.inf}, "hard-cutoff: c must be a finite number, got -inf"),
    (HardCutoff(), {"c": "2.5"}, "hard-cutoff: c must be a finite number, got '2.5'"),
    (HardCutoff(), {"c": True}, "hard-cutoff: c must be a finite number, got True"),
    (LogisticCutoff(), {"a": 0.0, "b": 2.0}, "logistic-cutoff: a must be > 0, got 0"),
    (LogisticCutoff(), {"a": 2.0, "b": -1.0}, "logistic-cutoff: b must be > 0, got -1"),
    (LogisticCutoff(), {"a": 2.0, "b": math.inf}, "logistic-cutoff: b must be a finite number, got inf"),
    (LogisticCutoff(), {"a": 2.0}, "logistic-cutoff: hyper-parameter 'b' is missing"),
    (TruncatedNormalCutoff(), {"a": -0.5}, "truncated-normal-cutoff: a must be > 0, got -0.5"),
    (TruncatedNormalCutoff(), {"a": 2.5, "c": 1.0}, "truncated-normal-cutoff: unknown hyper-parameter 'c' (it has: a)"),
    (Boundary(), {"c": 1.0}, "boundary: unknown hyper-parameter 'c' (it has: none)"),
    (ZScoreSquare(), {"weight": -0.01}, "z-score-square: weight must be >= 0, got -0.01"),
    (Bhattacharyya(), {"weight": math.nan}, "bhattacharyya: weight must be a finite number, got nan"),
    (Wasserstein(), {}, "wasserstein: hyper-parameter 'weight' is missing"),
    (NoRegularizer(), {"weight": 0.0}, "none: unknown hyper-parameter 'weight' (it has: none)"),
])
def test_check_params_refuses_in_one_line(method, values, message):
    with pytest.raises(UsageError) as info:
        method.check_params(values)
    assert str(info.value) == message
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("method,values", [
    (HardCutoff(), {"c": 1e-9}), (LogisticCutoff(), {"a": 4.0, "b": 3.0}), (TruncatedNormalCutoff(), {"a": 3.5}),
    (ZScoreSquare(), {"weight": 0.0}), (ZScoreSquare(), {"weight": 10}), (Boundary(), {}), (NoRegularizer(), {}),
])
def test_check_params_accepts_valid_values(method, values):
    method.check_params(values)


def test_param_check_bounds():
    p = Param("x", (1.0,), minimum=1.0, exclusive_minimum=False, maximum=2.0)
    p.check("m", 1.0)
    p.check("m", 2.0)
    with pytest.raises(UsageError, match=r"^m: x must be >= 1, got 0.5$"):
        p.check("m", 0.5)
    with pytest.raises(UsageError, match=r"^m: x must be <= 2, got 2.5$"):
        p.check("m", 2.5)
    q = Param("y", (1.0,), minimum=0.0, exclusive_minimum=True)
    q.check("m", 1e-300)
    with pytest.raises(UsageError, match=r"^m: y must be > 0, got 0$"):
        q.check("m", 0.0)


def test_published_grids():
    assert HardCutoff.params[0].grid == (2.5, 3.0, 3.5)
    assert {p.name: p.grid for p in LogisticCutoff.params} == {"a": (2.0, 3.0, 4.0), "b": (2.0, 2.5, 3.0)}
    assert TruncatedNormalCutoff.params[0].grid == (2.5, 2.75, 3.0, 3.25, 3.5)  # paper 001 §4.2
    assert Boundary.params == ()  # "no hyperparameter" (paper 000 Table 1)


# --- declared priors: paper 000 Table 1 --------------------------------------------------------

class NotIID(Prior):
    kind = "custom"
    iid = False


class OtherIID(Prior):
    """An IID prior that is neither normal nor uniform (e.g. Laplace)."""

    kind = "laplace"
    iid = True


# name: (Z~ALL, Z~IID, Z~N, Z~U) from Table 1; hard-cutoff (paper 001) and none added.
TABLE_1 = {
    "bhattacharyya": (False, False, True, False),
    "wasserstein": (False, True, True, True),
    "energy": (False, True, True, True),
    "lukaszyk-karmowski": (False, True, True, True),
    "trick-discriminator": (True, True, True, True),
    "z-score-square": (False, False, True, False),
    "z-score-absolute": (False, False, True, False),
    "logistic-cutoff": (False, False, True, False),
    "truncated-normal-cutoff": (False, False, True, False),
    "boundary": (False, False, False, True),
    "hard-cutoff": (False, False, True, False),
    "none": (True, True, True, True),
}


@pytest.mark.parametrize("name", list(TABLE_1))
def test_declared_priors_match_table_1(reg, name):
    method = reg.method(name)
    any_prior, iid, normal, uniform = TABLE_1[name]
    assert method.supports(NormalPrior()) is normal
    assert method.supports(NormalPrior(2.0, 0.5)) is normal
    assert method.supports(UniformPrior()) is uniform
    assert method.supports(UniformPrior(0.0, 1.0)) is uniform
    assert method.supports(OtherIID()) is iid
    assert method.supports(NotIID()) is any_prior


def test_registry_holds_exactly_these_methods(reg):
    assert sorted(reg.names("regularizers") + reg.names("resamplers")) == sorted(TABLE_1)
    for name in TABLE_1:
        expected = Resampler if name in ("boundary", "hard-cutoff", "logistic-cutoff", "truncated-normal-cutoff") else Regularizer
        assert isinstance(reg.method(name), expected)
