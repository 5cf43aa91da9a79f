"""The batched recovery engine `lvrbench.recovery.recover` against independent references.

Every network is small, seeded and float64; every random draw comes from a seeded generator.
"""
from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from conftest import gen
from lvrbench.base.errors import UsageError
from lvrbench.api.contracts import Param, Regularizer
from lvrbench.api.datainfo import DataInfo
from lvrbench.api.networks import build_discriminator, build_generator, init_parameters
from lvrbench.api.priors import NormalPrior, Prior, UniformPrior
from lvrbench.api.contracts import RecoveryContext
from lvrbench.engine.recovery import recover

F64 = torch.float64
IMG = DataInfo("t", "image", (1, 28, 28), 10)
PTS = DataInfo("p", "points", (2,))
D_Z = 16
N = 3
STEPS = 15
ATOL = 1e-10


pytestmark = pytest.mark.usefixtures("one_thread")



def make_G(info: DataInfo = IMG, latent_dim: int = D_Z, seed: int = 0) -> nn.Module:
    G = build_generator(info, latent_dim, "mlp")
    init_parameters(G, gen(seed))
    G = G.double()
    # Non-trivial BatchNorm running statistics, so that eval and train mode give different outputs.
    g = gen(seed + 1000)
    with torch.no_grad():
        for m in G.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g, dtype=F64))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g, dtype=F64))
    return G.eval()


def make_D(info: DataInfo = IMG, seed: int = 7) -> nn.Module:
    D = build_discriminator(info, "mlp")
    init_parameters(D, gen(seed))
    return D.double()


def make_targets(G: nn.Module, prior: Prior, n: int = N, latent_dim: int = D_Z, seed: int = 11) -> torch.Tensor:
    G = copy.deepcopy(G).eval()
    with torch.no_grad():
        return G(prior.sample_elements((n, latent_dim), gen(seed)).to(F64))


@pytest.fixture(scope="module")
def reg():
    from lvrbench.run.registry import load_registry

    return load_registry(strict=True)


@pytest.fixture(scope="module")
def G():
    return make_G()


def run(G, targets, prior, method, grid, *, steps=STEPS, init=None, seed=5, **kw):
    return recover(G, targets, prior, method, grid, steps=steps, init=init, latent_dim=D_Z, seed=seed, **kw)


def assert_close(a: torch.Tensor, b: torch.Tensor, atol: float = ATOL) -> None:
    assert a.shape == b.shape
    assert a.dtype == b.dtype
    torch.testing.assert_close(a, b, atol=atol, rtol=0)


# --- batched == one by one ---------------------------------------------------------------------

# Each case: method, prior, grid, init scale (None: zeros init as in paper 000; s: s * prior draw).
BATCH_CASES = {
    "lukaszyk-karmowski": (NormalPrior(), [{"lr": lr, "weight": w} for lr in (0.01, 0.1) for w in (0.0, 0.32, 3.2)], None),
    "wasserstein": (UniformPrior(), [{"lr": lr, "weight": w} for lr in (0.032, 0.32) for w in (0.1, 1.0, 10.0)], None),
    "logistic-cutoff": (NormalPrior(), [{"lr": lr, "a": a, "b": b} for lr in (0.01, 0.1) for a, b in ((2.0, 2.0), (4.0, 1.0), (3.0, 2.5))], 1.5),
    "truncated-normal-cutoff": (NormalPrior(), [{"lr": lr, "a": a} for lr in (0.01, 0.1, 0.32) for a in (1.5, 2.5)], 1.5),
    "boundary": (UniformPrior(), [{"lr": lr} for lr in (0.032, 0.1, 0.32, 1.0)], 0.97),
    "none": (NormalPrior(), [{"lr": lr} for lr in (0.001, 0.1, 1.0)], None),
}


def batch_setup(reg, G, name):
    prior, grid, scale = BATCH_CASES[name]
    init = None if scale is None else scale * prior.sample_elements((N, D_Z), gen(21)).to(F64)
    return reg.method(name), prior, grid, init, make_targets(G, prior)


def one_by_one(G, targets, prior, method, grid, init):
    parts = [run(G, targets, prior, method, [row], init=init) for row in grid]
    return torch.cat([p.z for p in parts]), torch.cat([p.diff for p in parts]), torch.cat([p.diverged_at for p in parts])


@pytest.mark.parametrize("name", list(BATCH_CASES))
def test_batched_grid_equals_one_row_at_a_time(reg, G, name):
    method, prior, grid, init, targets = batch_setup(reg, G, name)
    batched = run(G, targets, prior, method, grid, init=init)
    assert batched.z.shape == (len(grid), N, D_Z)
    assert batched.diff.shape == (len(grid), N)
    assert torch.equal(batched.diverged_at, torch.zeros(len(grid), N, dtype=torch.long))
    z, diff, diverged = one_by_one(G, targets, prior, method, grid, init)
    assert_close(batched.z, z)
    assert_close(batched.diff, diff)
    assert torch.equal(batched.diverged_at, diverged)
    if name != "none":
        # The method did something: the rows differ from plain gradient descent from the same start.
        plain = run(G, targets, prior, reg.method("none"), [{"lr": r["lr"]} for r in grid], init=init)
        moved = (batched.z - plain.z).abs().amax(dim=(1, 2))
        weights = torch.tensor([r.get("weight", 1.0) for r in grid], dtype=F64)
        assert bool((moved[weights > 0] > 1e-6).all())


@pytest.mark.parametrize("name", ["lukaszyk-karmowski", "logistic-cutoff", "boundary"])
@pytest.mark.parametrize("max_rows", [N - 1, N, 2 * N, 4 * N + 1])
def test_chunked_grid_equals_one_call(reg, G, name, max_rows):
    method, prior, grid, init, targets = batch_setup(reg, G, name)
    whole = run(G, targets, prior, method, grid, init=init)
    chunked = run(G, targets, prior, method, grid, init=init, max_rows=max_rows)
    assert_close(chunked.z, whole.z)
    assert_close(chunked.diff, whole.diff)
    assert torch.equal(chunked.diverged_at, whole.diverged_at)


@pytest.mark.parametrize("name", ["wasserstein", "truncated-normal-cutoff", "boundary"])
def test_row_result_does_not_depend_on_its_batch_mates(reg, G, name):
    method, prior, grid, init, targets = batch_setup(reg, G, name)
    whole = run(G, targets, prior, method, grid, init=init)
    # Reverse the grid and drop its second row.
    keep = [i for i in reversed(range(len(grid))) if i != 1]
    part = run(G, targets, prior, method, [grid[i] for i in keep], init=init)
    assert_close(part.z, whole.z[keep])
    assert_close(part.diff, whole.diff[keep])
    # A duplicated row gives the same numbers twice (up to BLAS blocking of the batch).
    twice = run(G, targets, prior, method, [grid[0], grid[0]], init=init)
    assert_close(twice.z[0], twice.z[1])


def test_images_are_independent(reg, G):
    """Recovering N images together equals recovering each on its own (draws aside: `none`)."""
    prior = NormalPrior()
    targets = make_targets(G, prior)
    grid = [{"lr": 0.1, "weight": 0.32}]
    together = run(G, targets, prior, reg.method("z-score-square"), grid)
    for i in range(N):
        alone = run(G, targets[i:i + 1], prior, reg.method("z-score-square"), grid)
        assert_close(alone.z[0, 0], together.z[0, i])


# --- an independent naive reference ------------------------------------------------------------

def naive_recover(G, targets, lr, steps, penalty, weight, diff="l1", init=None):
    """Paper 000's latent_recovery for one cell: torch.optim.Adam on z, diff + weight * L_lr."""
    G = copy.deepcopy(G).eval().requires_grad_(False)
    n = targets.shape[0]
    z = torch.zeros(n, D_Z, dtype=F64) if init is None else init.clone()
    z.requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    x = targets.reshape(n, -1)

    def diffs(zz):
        err = G(zz).reshape(n, -1) - x
        return err.abs().mean(1) if diff == "l1" else err.square().mean(1)

    for _ in range(steps):
        opt.zero_grad()
        loss = diffs(z).sum() + weight * penalty(z, G).sum()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return z.detach(), diffs(z)


def z_score_square(prior):
    return lambda z, G: ((z - prior.mean) / prior.std).square().mean(-1)


def bhattacharyya_ref(prior):
    def penalty(z, G):
        m = z.mean(-1, keepdim=True)
        v = (z - m).square().mean(-1).clamp_min(1e-12)  # population variance; zeros init needs the floor
        m = m.squeeze(-1)
        s2 = prior.std ** 2
        return (m - prior.mean).square() / (4 * (v + s2)) + 0.5 * torch.log((v + s2) / (2 * v.sqrt() * prior.std))
    return penalty


def no_penalty(z, G):
    return z.new_zeros(z.shape[0])


NAIVE_CASES = {
    "z-score-square": (NormalPrior(0.3, 1.5), z_score_square),
    "bhattacharyya": (NormalPrior(0.5, 2.0), bhattacharyya_ref),
    "bhattacharyya-std-normal": (NormalPrior(), bhattacharyya_ref),
    "none": (NormalPrior(), lambda prior: no_penalty),
}


@pytest.mark.parametrize("case", list(NAIVE_CASES))
@pytest.mark.parametrize("diff", ["l1", "l2"])
def test_engine_matches_naive_adam_loop(reg, case, diff):
    prior, make_penalty = NAIVE_CASES[case]
    name = case.replace("-std-normal", "")
    G = make_G()
    G.train()  # the engine must recover in eval mode whatever mode G comes in
    targets = make_targets(G, prior)
    method = reg.method(name)
    cells = [(lr, w) for lr in (0.01, 0.1) for w in ((0.0, 0.32, 3.2) if name != "none" else (0.0,))]
    grid = [{"lr": lr, "weight": w} if name != "none" else {"lr": lr} for lr, w in cells]
    steps = 25
    result = run(G, targets, prior, method, grid, steps=steps, diff=diff)
    for h, (lr, w) in enumerate(cells):
        z, d = naive_recover(G, targets, lr, steps, make_penalty(prior), w, diff=diff)
        assert_close(result.z[h], z)
        assert_close(result.diff[h], d)
    assert G.training


def test_l2_diff_is_mean_squared_error_and_l1_mean_absolute_error(reg, G):
    prior = NormalPrior()
    targets = make_targets(G, prior)
    init = prior.sample_elements((N, D_Z), gen(3)).to(F64)
    with torch.no_grad():
        out = G(init).reshape(N, -1)
    x = targets.reshape(N, -1)
    for diff, expected in (("l1", (out - x).abs().mean(1)), ("l2", ((out - x) ** 2).sum(1) / x.shape[1])):
        result = run(G, targets, prior, reg.method("none"), [{"lr": 0.1}], steps=0, init=init, diff=diff)
        assert_close(result.z[0], init, atol=0)
        assert_close(result.diff[0], expected, atol=1e-14)


# --- the weight-0 column is plain gradient descent ---------------------------------------------

ALL_REGULARIZERS = ["bhattacharyya", "energy", "lukaszyk-karmowski", "trick-discriminator", "wasserstein",
                    "z-score-absolute", "z-score-square"]


WEIGHT_ZERO_CASES = [(name, NormalPrior()) for name in ALL_REGULARIZERS] + [
    (name, UniformPrior()) for name in ("energy", "lukaszyk-karmowski", "trick-discriminator", "wasserstein")]


@pytest.mark.parametrize("name,prior", WEIGHT_ZERO_CASES, ids=[f"{n}-{p.kind}" for n, p in WEIGHT_ZERO_CASES])
def test_weight_zero_row_is_the_no_loss_column(reg, G, lsgan_realness, name, prior):
    method = reg.method(name)
    targets = make_targets(G, prior)
    realness = lsgan_realness if method.needs_discriminator else None
    baseline = run(G, targets, prior, reg.method("none"), [{"lr": 0.1}])
    alone = run(G, targets, prior, method, [{"lr": 0.1, "weight": 0.0}], realness=realness)
    assert torch.equal(alone.z, baseline.z)
    assert torch.equal(alone.diff, baseline.diff)
    mixed = run(G, targets, prior, method, [{"lr": 0.1, "weight": 1.0}, {"lr": 0.1, "weight": 0.0}], realness=realness)
    # Only BLAS blocking for a different batch size separates these numbers.
    assert_close(mixed.z[1], baseline.z[0], atol=1e-12)
    assert_close(mixed.diff[1], baseline.diff[0], atol=1e-12)
    assert (mixed.z[0] - baseline.z[0]).abs().max() > 1e-6


# --- the generator is frozen -------------------------------------------------------------------

def snapshot(G):
    return {k: v.clone() for k, v in G.state_dict().items()}


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_generator_weights_are_frozen_and_flags_restored(reg, mode):
    G = make_G()
    G.train(mode == "train")
    G[0].bias.requires_grad_(False)  # a mixed set of flags, restored as it was
    flags = [p.requires_grad for p in G.parameters()]
    before = snapshot(G)
    seen_modes = []
    handle = G.register_forward_pre_hook(lambda m, args: seen_modes.append((m.training, [x.training for x in m.modules()])))
    prior = NormalPrior()
    targets = make_targets(G, prior)
    run(G, targets, prior, reg.method("z-score-square"), [{"lr": 0.1, "weight": 1.0}, {"lr": 0.32, "weight": 0.0}])
    handle.remove()
    assert seen_modes and all(not top and not any(subs) for top, subs in seen_modes)
    assert all(p.grad is None for p in G.parameters())
    after = G.state_dict()
    assert before.keys() == after.keys()
    for k in before:  # weights and BatchNorm running statistics (incl. num_batches_tracked)
        assert torch.equal(before[k], after[k]), k
    assert [p.requires_grad for p in G.parameters()] == flags
    assert all(m.training == (mode == "train") for m in G.modules())


def test_mixed_submodule_modes_are_restored(reg):
    G = make_G()
    G.train()
    G[1].eval()  # e.g. a BatchNorm frozen for fine-tuning
    modes = [m.training for m in G.modules()]
    prior = NormalPrior()
    run(G, make_targets(G, prior), prior, reg.method("none"), [{"lr": 0.1}], steps=2)
    assert [m.training for m in G.modules()] == modes


class Boom(Regularizer):
    """Raises at step 3."""

    name = "test-boom"

    def loss(self, z, ctx):
        if ctx.step == 3:
            raise RuntimeError("boom")
        return z.square().mean(-1)


def test_flags_restored_when_recovery_raises():
    G = make_G()
    G.train()
    flags = [p.requires_grad for p in G.parameters()]
    prior = NormalPrior()
    with pytest.raises(RuntimeError, match="boom"):
        run(G, make_targets(G, prior), prior, Boom(), [{"lr": 0.1, "weight": 1.0}])
    assert all(m.training for m in G.modules())
    assert [p.requires_grad for p in G.parameters()] == flags == [True] * len(flags)
    assert all(p.grad is None for p in G.parameters())


# --- reproducibility ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["logistic-cutoff", "wasserstein"])
def test_same_seed_same_tensors_other_seed_other_result(reg, G, name):
    prior = NormalPrior()
    method = reg.method(name)
    grid = [{"lr": 0.1, "a": 2.0, "b": 1.0}] if name == "logistic-cutoff" else [{"lr": 0.1, "weight": 3.2}]
    init = 2.0 * prior.sample_elements((N, D_Z), gen(8)).to(F64)
    targets = make_targets(G, prior)
    a = run(G, targets, prior, method, grid, init=init, seed=1)
    b = run(G, targets, prior, method, grid, init=init, seed=1)
    c = run(G, targets, prior, method, grid, init=init, seed=2)
    assert torch.equal(a.z, b.z) and torch.equal(a.diff, b.diff) and torch.equal(a.diverged_at, b.diverged_at)
    assert (a.z - c.z).abs().max() > 1e-3
    # The seed only matters through the method's draws: plain descent ignores it.
    p1 = run(G, targets, prior, reg.method("none"), [{"lr": 0.1}], init=init, seed=1)
    p2 = run(G, targets, prior, reg.method("none"), [{"lr": 0.1}], init=init, seed=2)
    assert torch.equal(p1.z, p2.z)


def test_init_is_shared_by_every_row_and_not_modified(reg, G):
    prior = NormalPrior()
    init = prior.sample_elements((N, D_Z), gen(4)).to(F64)
    saved = init.clone()
    result = run(G, make_targets(G, prior), prior, reg.method("none"), [{"lr": 0.1}, {"lr": 0.2}], init=init, steps=0)
    assert torch.equal(init, saved)
    assert torch.equal(result.z[0], init) and torch.equal(result.z[1], init)
    zeros = run(G, make_targets(G, prior), prior, reg.method("none"), [{"lr": 0.1}], steps=0)
    assert torch.equal(zeros.z, torch.zeros(1, N, D_Z, dtype=F64))


# --- refused before any work -------------------------------------------------------------------

class Counting(nn.Module):
    def __init__(self, G):
        super().__init__()
        self.G = G
        self.calls = 0

    def forward(self, z):
        self.calls += 1
        return self.G(z)


class NotIID(Prior):
    kind = "custom"
    iid = False


OK_ROW = {"lr": 0.1, "weight": 1.0}
REFUSALS = [
    ("bhattacharyya", UniformPrior(), [OK_ROW], "bhattacharyya is defined for the normal prior, not the uniform prior"),
    ("z-score-square", UniformPrior(), [OK_ROW], "z-score-square is defined for the normal prior, not the uniform prior"),
    ("z-score-absolute", UniformPrior(), [OK_ROW], "z-score-absolute is defined for the normal prior, not the uniform prior"),
    ("logistic-cutoff", UniformPrior(), [{"lr": 0.1, "a": 2.0, "b": 2.0}], "logistic-cutoff is defined for the normal prior, not the uniform prior"),
    ("boundary", NormalPrior(), [{"lr": 0.1}], "boundary is defined for the uniform prior, not the normal prior"),
    ("wasserstein", NotIID(), [OK_ROW], "wasserstein is defined for the iid prior, not the custom prior"),
    ("z-score-square", NormalPrior(), [OK_ROW, {"lr": 0.1, "weight": -0.1}], "z-score-square: weight must be >= 0, got -0.1"),
    ("hard-cutoff", NormalPrior(), [{"lr": 0.1, "c": 2.5}, {"lr": 0.1, "c": 0.0}], "hard-cutoff: c must be > 0, got 0"),
    ("hard-cutoff", NormalPrior(), [{"lr": 0.1, "c": -1.5}], "hard-cutoff: c must be > 0, got -1.5"),
    ("hard-cutoff", NormalPrior(), [{"lr": 0.1, "c": math.nan}], "hard-cutoff: c must be a finite number, got nan"),
    ("logistic-cutoff", NormalPrior(), [{"lr": 0.1, "a": math.inf, "b": 2.0}], "logistic-cutoff: a must be a finite number, got inf"),
    ("truncated-normal-cutoff", NormalPrior(), [{"lr": 0.1, "a": 0.0}], "truncated-normal-cutoff: a must be > 0, got 0"),
    ("z-score-square", NormalPrior(), [OK_ROW, {"lr": math.nan, "weight": 1.0}], "z-score-square: lr must be a finite number > 0, got nan"),
    ("z-score-square", NormalPrior(), [{"lr": math.inf, "weight": 1.0}], "z-score-square: lr must be a finite number > 0, got inf"),
    ("none", NormalPrior(), [{"lr": 0.0}], "none: lr must be a finite number > 0, got 0.0"),
    ("none", NormalPrior(), [{"lr": -0.01}], "none: lr must be a finite number > 0, got -0.01"),
    ("none", NormalPrior(), [{}], "none: lr must be a finite number > 0, got None"),
    ("none", NormalPrior(), [OK_ROW], "none: unknown hyper-parameter 'weight' (it has: none)"),
    ("hard-cutoff", NormalPrior(), [{"lr": 0.1, "c": 2.5, "a": 1.0}], "hard-cutoff: unknown hyper-parameter 'a' (it has: c)"),
    ("logistic-cutoff", NormalPrior(), [{"lr": 0.1, "a": 2.0}], "logistic-cutoff: hyper-parameter 'b' is missing"),
    ("z-score-square", NormalPrior(), [{"lr": 0.1}], "z-score-square: hyper-parameter 'weight' is missing"),
    ("trick-discriminator", NormalPrior(), [OK_ROW], "trick-discriminator needs the family's discriminator, and none was given"),
]


@pytest.mark.parametrize("name,prior,grid,message", REFUSALS, ids=[m for *_, m in REFUSALS])
def test_refused_before_any_work(reg, name, prior, grid, message):
    G = make_G()
    G.train()
    counted = Counting(G)
    before = snapshot(G)
    targets = torch.zeros(N, *IMG.shape, dtype=F64)
    with pytest.raises(UsageError) as info:
        run(counted, targets, prior, reg.method(name), grid)
    assert str(info.value) == message
    assert counted.calls == 0
    assert all(m.training for m in G.modules())
    assert all(torch.equal(v, G.state_dict()[k]) for k, v in before.items())


def test_unknown_diff_is_a_usage_error(reg):
    G = make_G()
    counted = Counting(G)
    with pytest.raises(UsageError, match="^unknown diff 'l3' \\(known: l1, l2\\)$"):
        run(counted, torch.zeros(N, *IMG.shape, dtype=F64), NormalPrior(), reg.method("none"), [{"lr": 0.1}], diff="l3")
    assert counted.calls == 0


# --- divergence is reported, not raised --------------------------------------------------------

class NaNAfter(Regularizer):
    """z-score-square, except that rows with weight 0.5 go NaN at step 4 (even images only) and rows
    with weight 2.0 at step 7 (every image); with `enabled` False it never goes NaN."""

    name = "test-nan-after"

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def loss(self, z, ctx):
        w = ctx.params["weight"]  # [H, 1]
        h, n = z.shape[:2]
        even = (torch.arange(n) % 2 == 0).view(1, n)
        bad = ((w == 0.5) & even & (ctx.step >= 4)) | ((w == 2.0) & (ctx.step >= 7))
        factor = torch.where(bad & self.enabled, torch.full_like(w.expand(h, n), math.nan), torch.ones_like(w.expand(h, n)))
        return factor * z.square().mean(-1)


def test_divergence_is_marked_per_row_and_step(G):
    prior = NormalPrior()
    targets = make_targets(G, prior, n=4)
    grid = [{"lr": 0.1, "weight": w} for w in (0.1, 0.5, 1.0, 2.0, 0.0)]
    result = run(G, targets, prior, NaNAfter(), grid, steps=10)
    expected = torch.zeros(len(grid), 4, dtype=torch.long)
    expected[1, 0::2] = 4
    expected[3, :] = 7
    assert torch.equal(result.diverged_at, expected)
    bad = expected > 0
    assert not torch.isfinite(result.z[bad]).any()
    assert torch.isnan(result.diff[bad]).all()
    # Every latent that never diverged equals a run where nothing diverges.
    clean = run(G, targets, prior, NaNAfter(enabled=False), grid, steps=10)
    assert torch.equal(clean.diverged_at, torch.zeros_like(expected))
    assert_close(result.z[~bad], clean.z[~bad])
    assert_close(result.diff[~bad], clean.diff[~bad])
    # ... and a run without the diverging rows.
    kept = [0, 2, 4]
    without = run(G, targets, prior, NaNAfter(), [grid[i] for i in kept], steps=10)
    assert torch.equal(without.diverged_at, torch.zeros(3, 4, dtype=torch.long))
    assert_close(result.z[kept], without.z)
    assert_close(result.diff[kept], without.diff)


@pytest.mark.parametrize("name,prior,row", [
    ("hard-cutoff", NormalPrior(), {"lr": 0.1, "c": 2.5}),
    ("logistic-cutoff", NormalPrior(), {"lr": 0.1, "a": 2.0, "b": 2.0}),
    ("truncated-normal-cutoff", NormalPrior(), {"lr": 0.1, "a": 2.5}),
    ("boundary", UniformPrior(), {"lr": 0.1}),
])
def test_divergence_with_a_resampler_is_still_reported(reg, G, name, prior, row):
    """A NaN latent is never 'resampled back' to finite values by a resampler."""
    init = prior.sample_elements((N, D_Z), gen(2)).to(F64)
    init[1, 3] = math.nan  # image 1 is non-finite from the first step on
    result = run(G, make_targets(G, prior), prior, reg.method(name), [row, row], init=init, steps=5)
    expected = torch.zeros(2, N, dtype=torch.long)
    expected[:, 1] = 1
    assert torch.equal(result.diverged_at, expected)
    assert torch.isfinite(result.z[:, [0, 2]]).all()


class AlwaysNaN(Regularizer):
    """A regularizer whose loss (and gradient) is NaN for every row."""

    name = "test-always-nan"

    def loss(self, z, ctx):
        return z.sum(-1) * math.nan


def test_weight_zero_row_ignores_a_non_finite_regularizer(reg, G):
    prior = NormalPrior()
    targets = make_targets(G, prior)
    baseline = run(G, targets, prior, reg.method("none"), [{"lr": 0.1}])
    alone = run(G, targets, prior, AlwaysNaN(), [{"lr": 0.1, "weight": 0.0}])
    assert torch.equal(alone.z, baseline.z)  # holds: the regularizer is skipped
    mixed = run(G, targets, prior, AlwaysNaN(), [{"lr": 0.1, "weight": 1.0}, {"lr": 0.1, "weight": 0.0}])
    assert torch.equal(mixed.diverged_at[0], torch.ones(N, dtype=torch.long))
    assert torch.equal(mixed.diverged_at[1], torch.zeros(N, dtype=torch.long))
    assert_close(mixed.z[1], baseline.z[0], atol=1e-12)


# --- trick discriminator -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def lsgan_nets():
    return nn.ModuleDict({"G": make_G(), "D": make_D()})


@pytest.fixture(scope="module")
def lsgan_realness(reg, lsgan_nets):
    family = reg.get("families", "lsgan")
    return lambda x: family.realness(lsgan_nets, x)


def test_trick_discriminator_loss_is_paper_000s_lsgan_loss(reg, lsgan_nets, lsgan_realness):
    """(D(G(z)) - 1)^2, without LSGAN training's 1/2, as in paper 000's code (Table 8's weight scale)."""
    G, D = lsgan_nets["G"], lsgan_nets["D"]
    h, n = 2, N
    z = NormalPrior().sample_elements((h, n, D_Z), gen(12)).to(F64)
    with torch.no_grad():
        generated = G(z.reshape(h * n, D_Z))
        ctx = RecoveryContext(NormalPrior(), 1, 10, gen(0), generated, {"weight": torch.ones(h, 1, dtype=F64)}, lsgan_realness)
        loss = reg.method("trick-discriminator").loss(z, ctx)
        expected = torch.stack([(D(G(z[i])).flatten() - 1) ** 2 for i in range(h)])
    assert loss.shape == (h, n)
    assert_close(loss, expected, atol=1e-12)


def test_trick_discriminator_recovery_matches_naive_loop(reg, lsgan_nets, lsgan_realness):
    G, D = lsgan_nets["G"], lsgan_nets["D"]
    prior = NormalPrior()
    targets = make_targets(G, prior)
    D_before = snapshot(D)
    cells = [(0.01, 0.32), (0.1, 3.2), (0.1, 0.0)]
    steps = 12
    result = run(G, targets, prior, reg.method("trick-discriminator"), [{"lr": lr, "weight": w} for lr, w in cells],
                 steps=steps, realness=lsgan_realness)
    D_ref = copy.deepcopy(D).requires_grad_(False)
    penalty = lambda z, G_: (D_ref(G_(z)).flatten() - 1) ** 2  # noqa: E731  (paper 000's scale)
    for h, (lr, w) in enumerate(cells):
        z, d = naive_recover(G, targets, lr, steps, penalty, w)
        assert_close(result.z[h], z)
        assert_close(result.diff[h], d)
    assert all(p.grad is None for p in D.parameters())
    assert all(torch.equal(v, D.state_dict()[k]) for k, v in D_before.items())


# --- point generators work too -----------------------------------------------------------------

def test_point_generator_batched_equals_one_by_one(reg):
    G = make_G(PTS, latent_dim=D_Z, seed=3)
    prior = NormalPrior()
    targets = make_targets(G, prior, n=5)
    grid = [{"lr": lr, "weight": w} for lr in (0.01, 0.32) for w in (0.1, 3.2)]
    method = reg.method("energy")
    batched = run(G, targets, prior, method, grid)
    assert batched.diff.shape == (4, 5)
    for h, row in enumerate(grid):
        alone = run(G, targets, prior, method, [row])
        assert_close(batched.z[h], alone.z[0])
        assert_close(batched.diff[h], alone.diff[0])


def test_custom_regularizer_params_reach_the_loss_per_row(G):
    """ctx.params hold each row's own values, shaped [H, 1]; the engine multiplies by the row's weight.

    A loss on z alone is called once per step over the active rows and sees no G(z); one that declares
    `needs_generated` is called once per row with that row's own G(z), [N, ...], and gives the same numbers.
    """
    seen, seen_rows = [], []

    class Spy(Regularizer):
        name = "test-spy"
        params = Regularizer.params + (Param("k", (1.0,), minimum=0.0),)

        def loss(self, z, ctx):
            seen.append({k: v.clone() for k, v in ctx.params.items()})
            assert ctx.generated is None
            return ctx.params["k"] * z.square().mean(-1)

    class RowSpy(Spy):
        needs_generated = True

        def loss(self, z, ctx):
            seen_rows.append((tuple(z.shape), tuple(ctx.generated.shape), ctx.params["k"].clone()))
            return ctx.params["k"] * z.square().mean(-1)

    prior = NormalPrior()
    grid = [{"lr": 0.1, "weight": 0.5, "k": 2.0}, {"lr": 0.2, "weight": 1.0, "k": 0.5}]
    result = run(G, make_targets(G, prior), prior, Spy(), grid, steps=3)
    assert len(seen) == 3
    assert torch.equal(seen[0]["weight"], torch.tensor([[0.5], [1.0]], dtype=F64))
    assert torch.equal(seen[0]["k"], torch.tensor([[2.0], [0.5]], dtype=F64))
    rows = run(G, make_targets(G, prior), prior, RowSpy(), grid, steps=3)
    assert [s[:2] for s in seen_rows] == [((1, N, D_Z), (N, *IMG.shape))] * 6
    assert [float(s[2]) for s in seen_rows[:2]] == [2.0, 0.5]
    assert torch.equal(rows.z, result.z)
    # weight * k * mean(z^2) is the same penalty as z-score-square with weight w*k.
    from lvrbench_plugins.regularizers import ZScoreSquare

    ref = run(G, make_targets(G, prior), prior, ZScoreSquare(), [{"lr": 0.1, "weight": 1.0}, {"lr": 0.2, "weight": 0.5}], steps=3)
    assert_close(result.z, ref.z, atol=1e-12)


# --- dtype and device follow G ------------------------------------------------------------------

def test_float32_generator_gives_float32_results_close_to_float64(reg, G):
    prior = NormalPrior()
    targets = make_targets(G, prior)
    grid = [{"lr": 0.01, "weight": 0.32}, {"lr": 0.1, "weight": 3.2}]
    r64 = run(G, targets, prior, reg.method("z-score-square"), grid)
    r32 = run(copy.deepcopy(G).float(), targets.float(), prior, reg.method("z-score-square"), grid)
    assert r32.z.dtype == r32.diff.dtype == torch.float32
    torch.testing.assert_close(r32.z.double(), r64.z, atol=1e-4, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name,prior,grid", [
    ("logistic-cutoff", NormalPrior(), [{"lr": 0.1, "a": 2.0, "b": 1.0}, {"lr": 0.32, "a": 4.0, "b": 2.0}]),
    ("lukaszyk-karmowski", NormalPrior(), [{"lr": 0.1, "weight": 1.0}, {"lr": 0.32, "weight": 0.1}]),
])
def test_cuda_gives_the_cpu_numbers(reg, G, name, prior, grid):
    """Draws are made on the CPU and moved, so the device does not change the random numbers."""
    targets = make_targets(G, prior)
    init = 1.5 * prior.sample_elements((N, D_Z), gen(21)).to(F64)
    cpu = run(G, targets, prior, reg.method(name), grid, init=init)
    gpu = run(copy.deepcopy(G).cuda(), targets.cuda(), prior, reg.method(name), grid, init=init)
    assert gpu.z.is_cuda
    torch.testing.assert_close(gpu.z.cpu(), cpu.z, atol=1e-8, rtol=0)
    assert torch.equal(gpu.diverged_at.cpu(), cpu.diverged_at)


def test_recovery_under_no_grad_gives_the_same_numbers(reg, G):
    """A caller's no_grad block (e.g. a scoring step) must not stop the descent."""
    prior = NormalPrior()
    targets = make_targets(G, prior)
    grid = [{"lr": 0.1, "weight": 0.32}]
    plain = run(G, targets, prior, reg.method("bhattacharyya"), grid)
    with torch.no_grad():
        inside = run(G, targets, prior, reg.method("bhattacharyya"), grid)
    assert not torch.equal(plain.z, torch.zeros_like(plain.z))
    assert torch.equal(inside.z, plain.z) and torch.equal(inside.diff, plain.diff)
