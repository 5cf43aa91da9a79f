from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch
from hypothesis import find, given, settings
from hypothesis import strategies as st

from lvrbench.api.distances import AXIOMS, DISTANCES, bhattacharyya, bhattacharyya_normal, energy, lukaszyk_karmowski, wasserstein

TOL = 1e-9
F64 = torch.float64
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None)
FIND_SETTINGS = settings(max_examples=2000, deadline=None, database=None, derandomize=True)


def t(xs) -> torch.Tensor:
    return torch.as_tensor(xs, dtype=F64)


def d(name: str, a, b) -> float:
    return DISTANCES[name].fn(t(a), t(b)).item()


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- reference values -------------------------------------------------------------------------

SIZES = [(1, 1), (1, 5), (2, 3), (7, 7), (10, 33), (100, 17)]


@pytest.mark.parametrize("n,m", SIZES)
@pytest.mark.parametrize("ties", [False, True])
@pytest.mark.parametrize(
    "fn,reference",
    [(wasserstein, scipy.stats.wasserstein_distance), (energy, scipy.stats.energy_distance)],
)
def test_matches_scipy(fn, reference, n, m, ties):
    g = rng(n * 100 + m)
    if ties:  # few distinct values, shared between and within the samples
        a, b = g.integers(-3, 4, n).astype(float), g.integers(-2, 5, m).astype(float)
    else:
        a, b = g.normal(size=n), g.normal(0.5, 2.0, size=m)
    np.testing.assert_allclose(fn(t(a), t(b)).item(), reference(a, b), rtol=1e-12, atol=1e-14)


def test_wasserstein_and_energy_hand_computed():
    # Point masses at 0 and 3: W = 3, energy = sqrt(2 * 3) = sqrt(2E|X-Y|) since E|X-X'| = 0.
    assert wasserstein(t([0.0]), t([3.0])).item() == pytest.approx(3.0)
    assert energy(t([0.0]), t([3.0])).item() == pytest.approx(math.sqrt(6.0))


def test_energy_equals_expectation_form():
    g = rng(1)
    a, b = t(g.normal(size=13)), t(g.normal(1.0, 3.0, size=21))
    squared = 2 * lukaszyk_karmowski(a, b) - lukaszyk_karmowski(a, a) - lukaszyk_karmowski(b, b)
    torch.testing.assert_close(energy(a, b), squared.sqrt(), rtol=1e-12, atol=1e-14)


def brute_force_lk(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return (a[..., :, None] - b[..., None, :]).abs().mean(dim=(-2, -1))


@pytest.mark.parametrize("n,m", SIZES)
@pytest.mark.parametrize("ties", [False, True])
def test_lukaszyk_karmowski_matches_brute_force_values_and_gradients(n, m, ties):
    g = rng(n + 7 * m)
    if ties:  # at b_j == a_i the brute force differentiates |0| as 0; so must the fast version
        a0, b0 = g.integers(-2, 3, n).astype(float), g.integers(-2, 3, m).astype(float)
    else:
        a0, b0 = g.normal(size=n), g.normal(0.3, 1.5, size=m)
    a, b = t(a0).requires_grad_(), t(b0).requires_grad_()
    a_ref, b_ref = t(a0).requires_grad_(), t(b0).requires_grad_()
    value, reference = lukaszyk_karmowski(a, b), brute_force_lk(a_ref, b_ref)
    torch.testing.assert_close(value, reference, rtol=1e-12, atol=1e-14)
    grads = torch.autograd.grad(value, (a, b))
    ref_grads = torch.autograd.grad(reference, (a_ref, b_ref))
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad, ref_grad, rtol=1e-12, atol=1e-14)


def test_lukaszyk_karmowski_float32_large_batch():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(4, 256, generator=g), torch.randn(4, 1000, generator=g)
    torch.testing.assert_close(lukaszyk_karmowski(a, b), brute_force_lk(a, b), rtol=1e-5, atol=1e-6)


def normal_pdf(x: float, mean: float, var: float) -> float:
    return math.exp(-((x - mean) ** 2) / (2 * var)) / math.sqrt(2 * math.pi * var)


@pytest.mark.parametrize(
    "mean1,var1,mean2,var2",
    [(0.0, 1.0, 0.0, 1.0), (0.0, 1.0, 1.0, 1.0), (-1.0, 0.5, 2.0, 3.0), (0.3, 0.01, 0.0, 4.0)],
)
def test_bhattacharyya_normal_matches_numerical_integration(mean1, var1, mean2, var2):
    def integrand(x):
        return math.sqrt(normal_pdf(x, mean1, var1) * normal_pdf(x, mean2, var2))

    # Split the range at both means so quad does not miss a narrow peak.
    points = sorted([-60.0, mean1, mean2, 60.0])
    coefficient = sum(
        scipy.integrate.quad(integrand, lo, hi, epsabs=1e-14, epsrel=1e-12)[0]
        for lo, hi in zip(points, points[1:])
    )
    value = bhattacharyya_normal(t(mean1), t(var1), mean2, var2).item()
    assert value == pytest.approx(-math.log(coefficient), rel=1e-8, abs=1e-10)


def test_bhattacharyya_fits_population_moments():
    g = rng(2)
    a, b = g.normal(1.0, 2.0, size=50), g.normal(-0.5, 0.7, size=30)
    expected = bhattacharyya_normal(t(a.mean()), t(a.var(ddof=0)), t(b.mean()), t(b.var(ddof=0)))
    torch.testing.assert_close(bhattacharyya(t(a), t(b)), expected, rtol=1e-12, atol=1e-14)


def test_bhattacharyya_constant_samples_are_finite():
    zeros, ones = torch.zeros(5, dtype=F64), torch.ones(3, dtype=F64)
    assert bhattacharyya(zeros, zeros).item() == pytest.approx(0.0, abs=1e-12)
    # Both variances floored at 1e-12: 1 / (4 * 2e-12).
    assert bhattacharyya(zeros, ones).item() == pytest.approx(1.25e11)


# --- batching ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize("b_shape", [(4, 9), (9,)])
def test_batching_matches_row_loop(name, b_shape):
    fn = DISTANCES[name].fn
    g = torch.Generator().manual_seed(3)
    a = torch.randn(3, 4, 6, dtype=F64, generator=g)
    b = torch.randn(*b_shape, dtype=F64, generator=g)
    out = fn(a, b)
    assert out.shape == (3, 4)
    b_rows = b.expand(4, 9)
    expected = torch.stack([torch.stack([fn(a[i, j], b_rows[j]) for j in range(4)]) for i in range(3)])
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", DISTANCES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_one_dimensional_inputs_give_scalar(name, dtype):
    out = DISTANCES[name].fn(torch.tensor([0.0, 1.0, 2.5], dtype=dtype), torch.tensor([0.5, 3.0], dtype=dtype))
    assert out.shape == () and out.dtype == dtype


# --- gradients --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DISTANCES)
def test_gradcheck(name):
    g = torch.Generator().manual_seed(4)
    # Batched and tie-free; the samples overlap so every interval of the pooled sort matters.
    a = torch.randn(2, 5, dtype=F64, generator=g).requires_grad_()
    b = (0.5 + 1.5 * torch.randn(2, 7, dtype=F64, generator=g)).requires_grad_()
    assert torch.autograd.gradcheck(DISTANCES[name].fn, (a, b))


@pytest.mark.parametrize("name", DISTANCES)
def test_gradient_finite_at_zero_distance(name):
    a = torch.tensor([0.3, -1.0, 2.0, 0.7], dtype=F64, requires_grad=True)
    b = a.detach().flip(0).clone().requires_grad_()
    grads = torch.autograd.grad(DISTANCES[name].fn(a, b), (a, b))
    assert all(torch.isfinite(grad).all() for grad in grads)


def test_energy_gradient_is_zero_at_zero_distance():
    a = torch.tensor([0.3, -1.0, 2.0], dtype=F64, requires_grad=True)
    value = energy(a, a)
    (grad,) = torch.autograd.grad(value, a)
    assert value.item() == 0.0
    assert torch.equal(grad, torch.zeros_like(grad))


@pytest.mark.parametrize("name", DISTANCES)
def test_gradient_finite_from_constant_init(name):
    # Latent recovery starts from z = 0, a constant sample.
    z = torch.zeros(2, 64, requires_grad=True)
    target = torch.randn(1000, generator=torch.Generator().manual_seed(5))
    value = DISTANCES[name].fn(z, target).sum()
    (grad,) = torch.autograd.grad(value, z)
    assert torch.isfinite(value) and torch.isfinite(grad).all()
    # Moving the whole constant sample to c: d/dc at c = 0, in closed form (the sum of the element gradients).
    toward = -torch.sign(target).mean()  # d/dc of mean_j |c - t_j|
    shift = {"wasserstein": toward, "lukaszyk-karmowski": toward,
             "energy": toward / DISTANCES["energy"].fn(z[0].detach(), target),
             "bhattacharyya": -target.mean() / (2 * target.var(correction=0))}[name]  # the floored variance is flat
    assert grad.sum(-1).tolist() == pytest.approx([shift.item()] * 2, rel=1e-4)
    if name == "lukaszyk-karmowski":  # each element is pulled alike
        assert torch.allclose(grad, torch.full_like(grad, toward.item() / 64))


# --- axioms -----------------------------------------------------------------------------------


def same_distribution(a, b) -> bool:
    def masses(xs):
        return {x: Fraction(c, len(xs)) for x, c in Counter(xs).items()}

    return masses(a) == masses(b)


def non_negativity_holds(name, a, b) -> bool:
    return d(name, a, b) >= -TOL


def symmetry_holds(name, a, b) -> bool:
    return math.isclose(d(name, a, b), d(name, b, a), rel_tol=1e-12, abs_tol=1e-12)


def identity_holds(name, a, b) -> bool:
    """On this pair: exactly 0 for the same empirical distribution, clearly positive otherwise."""
    distance = d(name, a, b)
    return distance == 0.0 if same_distribution(a, b) else distance > TOL


def triangle_holds(name, a, b, c) -> bool:
    return d(name, a, c) <= d(name, a, b) + d(name, b, c) + TOL * (1 + d(name, a, c))


HOLDS = {
    "non-negativity": non_negativity_holds,
    "symmetry": symmetry_holds,
    "identity": identity_holds,
    "triangle": triangle_holds,
}

samples = st.lists(
    st.floats(-10, 10, allow_nan=False, allow_infinity=False), min_size=2, max_size=30
)


def _identity_pairs(a):
    beyond = max(a) + 1.0
    return st.one_of(
        st.permutations(a).map(lambda p: (a, p)),
        st.just((a, a + a)),
        st.permutations(a + [beyond]).map(lambda p: (a, p)),
    )


CASES = {
    "non-negativity": st.tuples(samples, samples),
    "symmetry": st.tuples(samples, samples),
    "identity": samples.flatmap(_identity_pairs),
    "triangle": st.tuples(samples, samples, samples),
}


def test_axiom_tables_agree():
    assert set(HOLDS) == set(CASES) == set(AXIOMS)
    assert set(DISTANCES) == {"wasserstein", "energy", "lukaszyk-karmowski", "bhattacharyya"}
    for name, distance in DISTANCES.items():
        assert distance.name == name and distance.axioms <= set(AXIOMS)


DECLARED = [(n, ax) for n, dist in DISTANCES.items() for ax in AXIOMS if ax in dist.axioms]
UNDECLARED = [(n, ax) for n, dist in DISTANCES.items() for ax in AXIOMS if ax not in dist.axioms]


@pytest.mark.parametrize("name,axiom", DECLARED)
def test_declared_axiom_holds(name, axiom):
    @PROPERTY_SETTINGS
    @given(CASES[axiom])
    def check(case):
        assert HOLDS[axiom](name, *case), case

    check()


def _find(name, axiom):
    return lambda: find(CASES[axiom], lambda case: not HOLDS[axiom](name, *case), settings=FIND_SETTINGS)


# Counterexample for every axiom a distance does not declare: found by search, or built by hand
# where a random search would rarely hit it.
COUNTEREXAMPLES = {
    ("lukaszyk-karmowski", "identity"): _find("lukaszyk-karmowski", "identity"),
    # Both have mean 0 and population variance 4, but different empirical distributions.
    ("bhattacharyya", "identity"): lambda: ([-4.0, 0, 0, 0, 0, 0, 0, 4.0], [-2.0, 2.0]),
    ("bhattacharyya", "triangle"): _find("bhattacharyya", "triangle"),
}


def test_every_undeclared_axiom_has_a_counterexample():
    assert set(COUNTEREXAMPLES) == set(UNDECLARED)


@pytest.mark.parametrize("name,axiom", UNDECLARED)
def test_undeclared_axiom_fails(name, axiom):
    case = COUNTEREXAMPLES[(name, axiom)]()
    assert not HOLDS[axiom](name, *case)


def test_lukaszyk_karmowski_self_distance_is_positive():
    # Pairs of [0, 1] with itself: |0-0|, |0-1|, |1-0|, |1-1| -> mean 0.5.
    assert d("lukaszyk-karmowski", [0.0, 1.0], [0.0, 1.0]) == pytest.approx(0.5)
    assert d("lukaszyk-karmowski", [2.0, 2.0], [2.0, 2.0]) == 0.0


def test_bhattacharyya_hand_built_counterexamples():
    assert d("bhattacharyya", [-4.0, 0, 0, 0, 0, 0, 0, 4.0], [-2.0, 2.0]) == pytest.approx(0.0, abs=1e-12)
    # Equal variances 1/4, means 0.5, 1.5, 2.5: d = (Δmean)² / 2, so 2 > 0.5 + 0.5.
    a, b, c = [0.0, 1.0], [1.0, 2.0], [2.0, 3.0]
    assert d("bhattacharyya", a, c) == pytest.approx(2.0)
    assert d("bhattacharyya", a, b) == pytest.approx(0.5) == d("bhattacharyya", b, c)
