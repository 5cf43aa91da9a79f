"""The conformance checks, one test per promise of `lvrbench.api`, each run on every plugin of its kinds.

`lvrbench.testing`'s `pytest_generate_tests` parametrizes them with the plugins of the selected
distributions (`--lvrbench-dist`, or the importing module's LVRBENCH_DISTRIBUTION); a kind the
distribution does not provide is skipped with the reason. Import them into a test module with
`from lvrbench.testing.conformance import *` (only the checks are exported).
"""
from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest
import torch

from ..base.errors import UsageError
from ..api.contracts import Method, Param, RecoveryContext, Regularizer, ResampleContext, Resampler
from ..api.priors import NormalPrior, Prior, REQUIREMENTS, UniformPrior
from . import tiny

#: kind -> the names of the checks run on it (tests/api/test_kinds.py: every kind has at least one).
CHECKS: dict[str, list[str]] = {}
ENTRY_POINTS = "entry points"


def conformance(*kinds: str) -> Callable:
    """Mark a check as run once per registered plugin of `kinds` (ENTRY_POINTS: once per distribution)."""
    def mark(fn: Callable) -> Callable:
        fn.lvrbench_kinds = kinds
        for kind in kinds:
            CHECKS.setdefault(kind, []).append(fn.__name__)
        return pytest.mark.lvrbench_conformance(*kinds)(fn)
    return mark


def gen(seed: int) -> torch.Generator:
    """A seeded CPU generator."""
    return torch.Generator().manual_seed(seed)


# -- regularizers and resamplers ------------------------------------------------------------------------------

D = tiny.LATENT_DIM
N = 3


class JointPrior(Prior):
    """A prior whose elements are not IID: only methods defined for "any" prior take it."""

    kind = "lvrbench-kit-joint"
    iid = False


class LaplacePrior(Prior):
    """An IID prior that is neither normal nor uniform: methods defined for "iid" take it."""

    kind = "lvrbench-kit-laplace"


#: Priors a method's `supports` must answer as its `requires` says (paper 000 Table 1's columns).
DECLARED = (NormalPrior(), NormalPrior(0.5, 2.0), UniformPrior(), UniformPrior(0.0, 3.0), LaplacePrior(), JointPrior())
#: Priors a method is run with, where it supports them: shifted and scaled, so a hard-coded N(0, 1) or U(-1, 1) shows.
CONCRETE = (NormalPrior(0.5, 2.0, dim=D), UniformPrior(0.0, 3.0, dim=D))


def grid_rows(method: Method, limit: int = 3) -> list[dict[str, float]]:
    """Up to `limit` rows of the method's default grid, spread over it; for a regularizer, rows of positive weight only
    (the engine never calls a loss for weight-0 rows). Without parameters, `limit` identical rows."""
    rows = [dict(zip([p.name for p in method.params], values)) for values in itertools.product(*[p.grid for p in method.params])]
    if isinstance(method, Regularizer) and any(p.name == "weight" for p in method.params):
        rows = [r for r in rows if r["weight"] > 0] or rows
    if len(rows) > limit:
        rows = [rows[round(i * (len(rows) - 1) / (limit - 1))] for i in range(limit)]
    return rows or [{} for _ in range(limit)]


@dataclass
class MethodCall:
    """A regularizer's loss or a resampler's apply as the recovery engine makes it, for grid `rows` and latents z."""

    method: Method
    prior: Prior
    rows: list[dict[str, float]]
    gan: Any = None  # a TrainedGAN, for regularizers that read G(z) or the discriminator
    _nets: dict = field(default_factory=dict, repr=False)

    def params(self, rows: list[dict[str, float]], dtype: torch.dtype) -> dict[str, torch.Tensor]:
        shape = (-1, 1) if isinstance(self.method, Regularizer) else (-1, 1, 1)
        return {p.name: torch.tensor([r[p.name] for r in rows], dtype=dtype).view(*shape) for p in self.method.params}

    def nets(self, dtype: torch.dtype):
        """The tiny generator's networks in `dtype`: a copy, so the session's cached generator stays as it is."""
        if dtype not in self._nets:
            self._nets[dtype] = copy.deepcopy(self.gan.nets).to(dtype)
        return self._nets[dtype]

    @property
    def reads_generator(self) -> bool:
        return isinstance(self.method, Regularizer) and (self.method.needs_generated or self.method.needs_discriminator)

    def __call__(self, z: torch.Tensor, rows: list[dict[str, float]] | None = None, seed: int = 0) -> torch.Tensor:
        rows = self.rows if rows is None else rows
        params = self.params(rows, z.dtype)
        if isinstance(self.method, Resampler):
            return self.method.apply(z, ResampleContext(self.prior, 3, 10, gen(seed), params))
        generated = realness = None
        if self.reads_generator:
            nets = self.nets(z.dtype)
            generated = nets["G"](z.reshape(-1, z.shape[-1]))
            realness = lambda x: self.gan.family.realness(nets, x)  # noqa: E731
        ctx = RecoveryContext(self.prior, 3, 10, gen(seed), generated, params, realness)
        return self.method.loss(z, ctx)


def realness_family(registry) -> str:
    """A registered family with a realness score (lsgan, paper 000's, where there is one)."""
    names = [n for n in registry.names("families") if "realness" in registry.get("families", n).capabilities]
    if not names:
        pytest.skip("no registered family has a realness score")
    return "lsgan" if "lsgan" in names else names[0]


def calls(entry, registry, lvrbench_gan) -> list[MethodCall]:
    """The method once per concrete prior it supports, with its grid rows (and a tiny generator where it reads one)."""
    method = entry.obj
    priors = [p for p in CONCRETE if method.supports(p)]
    if not priors:
        pytest.skip(f"{method.name} supports none of {', '.join(p.kind for p in CONCRETE)}: the kit cannot run it")
    gan = None
    if isinstance(method, Regularizer) and (method.needs_generated or method.needs_discriminator):
        gan = lvrbench_gan(realness_family(registry))
    return [MethodCall(method, p, grid_rows(method), gan) for p in priors]


def latents(prior: Prior, h: int, seed: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """[h, N, D] latents: prior draws stretched 2.5x, so some elements lie far out (where resamplers act)."""
    with torch.no_grad():
        return (2.5 * prior.sample(h * N, gen(seed))).reshape(h, N, D).to(dtype)


@conformance("regularizers", "resamplers")
def test_method_keeps_shapes_and_dtype(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
    """A regularizer maps [H, N, d] to one value per latent, [H, N]; a resampler returns z's shape; both keep the dtype."""
    for call in calls(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
        h = len(call.rows)
        for dtype in (torch.float32, torch.float64):
            z = latents(call.prior, h, 1, dtype)
            with torch.no_grad():
                out = call(z)
            want = z.shape[:2] if isinstance(call.method, Regularizer) else z.shape
            assert isinstance(out, torch.Tensor), f"{call.method.name} returned {type(out).__name__}, not a tensor"
            where = f"{call.method.name} under {call.prior.kind}"
            assert tuple(out.shape) == tuple(want), f"{where}: shape {tuple(out.shape)}, want {tuple(want)}"
            assert out.dtype == dtype, f"{where}: returned {out.dtype} for {dtype} latents"
            assert torch.isfinite(out).all(), f"{where}: non-finite values"


@conformance("regularizers", "resamplers")
def test_method_does_not_modify_its_input(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
    for call in calls(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
        z = latents(call.prior, len(call.rows), 2)
        saved = z.clone()
        with torch.no_grad():
            call(z)
        assert torch.equal(z, saved), f"{call.method.name} under {call.prior.kind} changed the latents it was given in place"


@conformance("regularizers", "resamplers")
def test_method_gives_the_same_numbers_batched_and_row_by_row(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
    """The engine calls a method once over a job's grid rows; each row must get what it gets alone (CONTRIBUTING:
    elementwise, draws shaped [N, ...]). Bit for bit where the method sees z alone, as `tests/engine/test_exactness.py` asks
    of the engine; to rounding where it reads G(z), whose pass over a stacked batch may round differently."""
    for call in calls(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
        z = latents(call.prior, len(call.rows), 3)
        with torch.no_grad():
            batched = call(z, seed=7)
            for h, row in enumerate(call.rows):
                alone = call(z[h:h + 1], [row], seed=7)[0]
                where = f"{call.method.name} under {call.prior.kind}, grid row {h} {row}"
                if call.reads_generator:
                    torch.testing.assert_close(alone, batched[h], rtol=1e-5, atol=1e-6,
                                               msg=f"{where}: alone differs from batched")
                else:
                    assert torch.equal(alone, batched[h]), f"{where}: alone differs from batched"


@conformance("regularizers", "resamplers")
def test_method_draws_only_from_the_generator_handed_in(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
    """Same seed, same numbers; the global torch RNG is never touched (a cell must not depend on what ran before)."""
    for call in calls(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
        z = latents(call.prior, len(call.rows), 4)
        state = torch.get_rng_state()
        with torch.no_grad():
            first, second = call(z, seed=11), call(z, seed=11)
        assert torch.equal(torch.get_rng_state(), state), f"{call.method.name} drew from the global torch RNG"
        assert torch.equal(first, second), f"{call.method.name} under {call.prior.kind}: the same seed gave other numbers"


@conformance("regularizers")
def test_regularizer_has_finite_gradients(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
    """Finite d loss / d z at prior draws and at zeros (paper 000's initialisation), and one value per latent: the
    loss of latent (h, n) has no gradient in any other latent."""
    for call in calls(lvrbench_plugin, lvrbench_registry, lvrbench_gan):
        for start in ("prior draws", "zeros"):
            z = latents(call.prior, len(call.rows), 5)
            z = (torch.zeros_like(z) if start == "zeros" else z).requires_grad_(True)
            loss = call(z)
            if not loss.requires_grad:  # a loss constant in z (`none`): a zero gradient
                continue
            (grad,) = torch.autograd.grad(loss.sum(), z, allow_unused=True)
            assert grad is None or torch.isfinite(grad).all(), (
                f"{call.method.name} under {call.prior.kind}: non-finite gradient at {start}")
        h, n = len(call.rows) - 1, N - 1
        z = latents(call.prior, len(call.rows), 6).requires_grad_(True)
        loss = call(z)
        if loss.requires_grad:
            (grad,) = torch.autograd.grad(loss[h, n], z, allow_unused=True)
            others = torch.ones(z.shape, dtype=torch.bool)
            others[h, n] = False
            assert grad is None or (grad[others] == 0).all(), (
                f"{call.method.name} under {call.prior.kind}: the loss of latent ({h}, {n}) depends on other latents")


@conformance("regularizers", "resamplers")
def test_method_honours_the_priors_it_declares(lvrbench_plugin):
    """`supports` answers as `requires` says, and a resampler redraws inside a bounded prior's support."""
    method = lvrbench_plugin.obj
    assert method.requires in REQUIREMENTS, f"{method.name}: requires={method.requires!r} is not one of {REQUIREMENTS}"
    for prior in DECLARED:
        assert method.supports(prior) is prior.satisfies(method.requires), (
            f"{method.name} declares requires={method.requires!r} but supports({prior.kind} prior) is {method.supports(prior)}")
    if isinstance(method, Resampler):
        prior = UniformPrior(0.0, 3.0, dim=D)
        if method.supports(prior):
            call = MethodCall(method, prior, grid_rows(method))
            z = latents(prior, len(call.rows), 6, torch.float64)
            out = call(z)
            redrawn = out[out != z]
            assert ((redrawn >= prior.low) & (redrawn <= prior.high)).all(), f"{method.name} redrew values outside U(0, 3)"


@conformance("regularizers", "resamplers", "samplers")
def test_default_grid_lies_in_the_declared_ranges(lvrbench_plugin):
    """Every value of every default grid passes its Param's check, and every row of the grid passes check_params."""
    plugin = lvrbench_plugin.obj
    params = plugin.params
    assert isinstance(params, tuple) and all(isinstance(p, Param) for p in params), f"{plugin.name}: params must be Params"
    for p in params:
        assert isinstance(p.grid, tuple) and p.grid, f"{plugin.name}: {p.name} has an empty grid"
        for value in p.grid:
            p.check(plugin.name, value)  # a UsageError here names the value
    if isinstance(plugin, Method):
        for values in itertools.islice(itertools.product(*[p.grid for p in params]), 500):
            plugin.check_params(dict(zip([p.name for p in params], values)))


# -- families -------------------------------------------------------------------------------------------------

def _state(nets) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in nets.state_dict().items()}


@conformance("families")
def test_family_trains_a_seeded_step_finitely_and_repeatably(lvrbench_plugin, lvrbench_registry, lvrbench_data):
    """Up to and including its first generator update (a critic schedule's first D steps first), twice from the same
    seeds: the same weights bit for bit, finite, moved by training, and the global torch RNG untouched."""
    family = lvrbench_plugin.obj
    dataset = tiny.dataset_for(lvrbench_registry, family)
    info = lvrbench_registry.get("datasets", dataset).info
    settings = tiny.settings(family)
    iterations = min(max(1, family.critic_steps(settings, 0)), 200)
    x, _ = lvrbench_data(dataset, "train", iterations * settings.batch_size)
    runs = []
    for _ in range(2):
        nets = tiny.build(family, info, seed=0)
        assert "G" in nets and "D" in nets, f"{family.name}.build must return networks keyed 'G' and 'D', got {list(nets)}"
        before = _state(nets)
        state = torch.get_rng_state()
        metrics = tiny.train(family, nets, x, iterations, seed=1)
        assert torch.equal(torch.get_rng_state(), state), f"{family.name} drew from the global torch RNG while training"
        runs.append((before, _state(nets), metrics))
    (before, after, metrics), (before_again, again, metrics_again) = runs
    assert all(torch.equal(before[k], before_again[k]) for k in before), f"{family.name}: build is not seeded"
    assert metrics["generator_steps"] >= 1, f"{family.name}: no generator update in {iterations} iterations"
    for key in after:
        assert torch.equal(after[key], again[key]), f"{family.name}: {key} differs between two runs from the same seeds"
        if after[key].is_floating_point():
            assert torch.isfinite(after[key]).all(), f"{family.name}: {key} is not finite after training"
    assert metrics == metrics_again
    d_side, g_side = family.player_parameters(tiny.build(family, info, seed=0))
    assert d_side and g_side, f"{family.name}: player_parameters gave an empty side"
    for side in ("D", "G"):
        moved = [k for k in after if k.startswith(f"{side}.") and after[k].is_floating_point()
                 and not torch.equal(after[k], before[k])]
        assert moved, f"{family.name}: training left every {side} weight unchanged"


@conformance("families")
def test_family_prior_and_capabilities_give_what_they_declare(lvrbench_plugin, lvrbench_gan, lvrbench_registry):
    """The generator's prior samples [n, d] from the generator handed in; G maps them to the data's shape; each
    declared capability (encode, realness, log_density_ratio of generated and of real samples) and the critic's score
    return finite values of their shapes."""
    family = lvrbench_plugin.obj
    gan = lvrbench_gan(family.name)
    nets, prior = gan.nets, gan.prior
    with torch.no_grad():
        z, z_again = prior.sample(5, gen(3)), prior.sample(5, gen(3))
        assert tuple(z.shape) == (5, gan.latent_dim) and torch.equal(z, z_again), f"{family.name}: its prior is not seeded"
        assert torch.isfinite(prior.log_prob(z)).all(), f"{family.name}: log p(z) of its own samples is not finite"
        x = nets["G"](z)
        assert x.shape[0] == 5 and torch.isfinite(x).all(), f"{family.name}: G(z) is not finite"
        calls = {"realness": lambda: family.realness(nets, x), "encode": lambda: family.encode(nets, x),
                 "log_density_ratio": lambda: family.log_density_ratio(nets, x, z),
                 "log_density_ratio of real samples": lambda: family.log_density_ratio(nets, x, None),
                 "critic_score": lambda: family.critic_score(nets, x, z)}
        shapes = {"encode": (5, gan.latent_dim)}
        for call, compute in calls.items():
            if call.split()[0] not in family.capabilities | {"critic_score"}:
                continue
            out = compute()
            assert tuple(out.shape) == shapes.get(call, (5,)), f"{family.name}.{call}: shape {tuple(out.shape)}"
            assert torch.isfinite(out).all(), f"{family.name}.{call}: non-finite values"


# -- datasets -------------------------------------------------------------------------------------------------

def _load(dataset, split: str):
    try:
        return dataset.load(split, None)
    except UsageError as exc:  # the files are not on this machine: the dataset says how to get them
        pytest.skip(str(exc))


@conformance("datasets")
def test_dataset_loads_both_splits_in_range(lvrbench_plugin):
    """x float32 of the declared shape (images in [-1, 1]), y int64 labels (below num_classes where declared), one per row."""
    data = lvrbench_plugin.obj
    assert data.modality in ("image", "points"), f"{data.name}: modality {data.modality!r}"
    for split in ("train", "test"):
        x, y = _load(data, split)
        where = f"{data.name} {split}"
        assert x.dtype == torch.float32 and y.dtype == torch.int64, f"{where}: dtypes {x.dtype}, {y.dtype}"
        assert x.shape[0] > 0 and tuple(x.shape[1:]) == tuple(data.shape), (
            f"{where}: shape {tuple(x.shape)}, declared {data.shape}")
        assert tuple(y.shape) == (x.shape[0],), f"{where}: {tuple(y.shape)} labels for {x.shape[0]} samples"
        assert torch.isfinite(x).all(), f"{where}: non-finite values"
        if data.modality == "image":  # what a tanh generator produces; point sets keep their own coordinates
            assert x.min() >= -1 and x.max() <= 1, f"{where}: values outside [-1, 1] ({x.min().item():g} to {x.max().item():g})"
        if data.num_classes:
            assert y.min() >= 0 and y.max() < data.num_classes, f"{where}: labels outside [0, {data.num_classes})"


@conformance("datasets")
def test_dataset_fingerprint_is_stable(lvrbench_plugin):
    """The digest of both splits, part of every cell's identity: the same twice, and from a fresh load."""
    data = lvrbench_plugin.obj
    _load(data, "test")
    first, second = data.fingerprint(None), data.fingerprint(None)
    assert isinstance(first, str) and first, f"{data.name}: fingerprint {first!r}"
    assert first == second, f"{data.name}: fingerprint changed between two reads ({first} then {second})"


# -- tasks ----------------------------------------------------------------------------------------------------

def _plan(task, registry, profile: str) -> list:
    from ..run.harness import PlanRequest

    try:
        return task.plan(PlanRequest(registry, profile=profile))
    except UsageError as exc:  # e.g. a dataset whose files are not here
        pytest.skip(f"{task.name} cannot plan here: {exc}")


def _profile(task) -> str:
    return "quick" if "quick" in task.profiles else task.profiles[0]


@conformance("tasks")
def test_task_plans_deterministically(lvrbench_plugin, lvrbench_registry):
    """Two plans of the same request: the same jobs and cells in the same order, distinct ids, plain-JSON configs."""
    from ..api.contracts import Cell, Job
    from ..base.hashing import canonical_json
    from ..run.store import config_keys

    task = lvrbench_plugin.obj
    profile = _profile(task)
    first, second = _plan(task, lvrbench_registry, profile), _plan(task, lvrbench_registry, profile)
    assert all(isinstance(j, Job) and all(isinstance(c, Cell) for c in j.cells) for j in first), (
        f"{task.name}: plan must give Jobs of Cells")
    assert first, f"{task.name} plans no cell for its {profile} profile's defaults"
    layout = [(j.task, j.label, [c.id for c in j.cells]) for j in first]
    assert layout == [(j.task, j.label, [c.id for c in j.cells]) for j in second], f"{task.name}: two plans differ"
    ids = [c.id for j in first for c in j.cells]
    assert len(ids) == len(set(ids)), f"{task.name} plans a cell twice"
    for job in first:
        assert job.task == task.name, f"{task.name}: a job names task {job.task!r}"
        for cell in job.cells:
            canonical_json(cell.config)  # plain JSON data only
            missing = [k for k in config_keys() if k not in cell.config]
            assert not missing and cell.config["task"] == task.name, f"{task.name}: cell config lacks {missing}"
            assert cell.config["profile"] == profile
    names = task.method_names(lvrbench_registry)
    assert isinstance(names, set) and all(isinstance(n, str) for n in names), f"{task.name}: method_names must be a set of names"


@conformance("tasks")
def test_task_validate_accepts_its_own_output(lvrbench_plugin, lvrbench_registry, tmp_path_factory):
    """One planned cell (on a point dataset where the task has one) computed by `run` with tiny generators and
    classifiers on small splits (`tiny.TinyEnv`), then turned into a result: `validate` must accept it."""
    from ..api.contracts import Job
    from ..base.provenance import provenance
    from ..run.harness import to_result

    task = lvrbench_plugin.obj
    jobs = _plan(task, lvrbench_registry, _profile(task))
    if not jobs:
        pytest.skip(f"{task.name} plans no cell here")
    modality = lambda j: lvrbench_registry.get("datasets", j.cells[0].config["dataset"]).modality  # noqa: E731
    job = min(jobs, key=lambda j: modality(j) != "points")
    cell = job.cells[0]
    env = tiny.TinyEnv(lvrbench_registry, tmp_path_factory.mktemp("lvrbench-kit-cache"))
    outcomes = task.run(Job(job.task, job.label, [cell]), env)
    assert len(outcomes) == 1, f"{task.name}.run returned {len(outcomes)} outcomes for one cell"
    result = to_result(cell, outcomes[0], provenance(env.device, 0.0), task)
    assert result["status"] == "ok", f"{task.name} on {cell.label()}: {result.get('error')}"


# -- samplers -------------------------------------------------------------------------------------------------

def draw_samples(sampler, gan, n: int, seed: int, held_out: torch.Tensor) -> tuple[torch.Tensor, dict, Any]:
    """The kit's one call of a sampler: n samples of a tiny `gan` (a TrainedGAN) by `lvrbench.engine.sampling.run_sampler`
    with the first value of each declared grid, seeded by `seed`; their statistics as result dicts; the cost."""
    from ..engine.sampling import run_sampler

    params = {p.name: p.grid[0] for p in sampler.params}
    out = run_sampler(sampler, gan, n, params, gen(seed), torch.device("cpu"), held_out=held_out, batch=32)
    return out.samples, {key: estimate.to_dict() for key, estimate in out.stats.items()}, out.cost


@conformance("samplers")
def test_sampler_is_seeded_and_returns_estimates(lvrbench_plugin, lvrbench_registry, lvrbench_gan, lvrbench_data):
    """From the first family it accepts (density-ratio families first): n finite samples of the data's shape, the same
    for the same seed and others for another, the global RNG untouched, and statistics that are estimates."""
    from ..api.fields import METRIC, check_fields

    sampler = lvrbench_plugin.obj
    names = sorted(lvrbench_registry.names("families"),
                   key=lambda n: "log_density_ratio" not in lvrbench_registry.get("families", n).capabilities)
    for name in names:
        gan = lvrbench_gan(name)
        held_out = lvrbench_data(tiny.dataset_for(lvrbench_registry, gan.family), "test", 256)[0]
        state = torch.get_rng_state()
        try:
            samples, stats, cost = draw_samples(sampler, gan, 64, 0, held_out)
        except UsageError:
            continue  # the sampler refuses this family
        assert torch.equal(torch.get_rng_state(), state), f"{sampler.name} drew from the global torch RNG"
        break
    else:
        pytest.fail(f"{sampler.name} refuses every registered family ({', '.join(names)})")
    with torch.no_grad():
        shape = tuple(gan.nets["G"](gan.prior.sample(1, gen(0))).shape[1:])
    assert tuple(samples.shape) == (64, *shape), f"{sampler.name} with {name}: shape {tuple(samples.shape)}, want (64, *{shape})"
    assert torch.isfinite(samples).all(), f"{sampler.name} with {name}: non-finite samples"
    assert isinstance(stats, dict), f"{sampler.name}: statistics must be a dict, got {type(stats).__name__}"
    problems = check_fields({"stats": stats}, {("stats", key): METRIC for key in stats})
    assert not problems, f"{sampler.name} with {name}: {'; '.join(problems)}"
    assert cost.generator_evals >= 64, f"{sampler.name} with {name}: {cost.generator_evals} generator evaluations counted"
    again, stats_again, _ = draw_samples(sampler, gan, 64, 0, held_out)
    assert torch.equal(samples, again) and stats == stats_again, f"{sampler.name} with {name}: the same seed gave other samples"
    other, _, _ = draw_samples(sampler, gan, 64, 1, held_out)
    assert not torch.equal(samples, other), f"{sampler.name} with {name}: another seed gave the same samples"


# -- pretrained generators -----------------------------------------------------------------------------------

@conformance("generators")
def test_pretrained_generator_loads_and_samples_its_dataset(lvrbench_plugin, lvrbench_registry):
    """Its weights load (weights_only) into the networks it declares, with a stable digest; a family exactly when it
    has a D; G maps its prior's latents to finite samples of its dataset's shape, the same for the same latents."""
    from ..engine.specs import family_of
    from ..run.pretrained import load_pretrained

    generator = lvrbench_plugin.obj
    assert ("D" in generator.networks) == bool(generator.family), \
        f"{generator.name}: a D needs a family that says what its output means, and a family needs a D"
    nets, digest = load_pretrained(lvrbench_registry, generator)
    assert load_pretrained(lvrbench_registry, generator)[1] == digest, f"{generator.name}: its weights' digest changed"
    assert sorted(nets) == sorted(generator.networks)
    z = generator.latent_prior().sample(4, gen(0))
    assert tuple(z.shape) == (4, generator.latent_dim)
    with torch.no_grad():
        x, again = nets["G"](z), nets["G"](z.clone())
    shape = tuple(lvrbench_registry.get("datasets", generator.dataset).shape)
    assert tuple(x.shape) == (4, *shape), f"{generator.name}: G gives {tuple(x.shape)}, want (4, *{shape})"
    assert torch.isfinite(x).all() and torch.equal(x, again), f"{generator.name}: G is not finite and deterministic"
    family = family_of(lvrbench_registry, generator)
    if "D" in nets and "realness" in family.capabilities:
        with torch.no_grad():
            assert torch.isfinite(family.realness(nets, x)).all(), f"{generator.name}: its D gives non-finite scores"


# -- entry points ---------------------------------------------------------------------------------------------

@conformance(ENTRY_POINTS)
def test_distribution_registers_its_plugins(lvrbench_distribution, lvrbench_registry):
    """Every entry point of the distribution loads and registers (none is reported and skipped)."""
    from . import distributions, normalize

    failed = [e.line() for e in lvrbench_registry.errors if normalize(e.distribution) == normalize(lvrbench_distribution)]
    assert not failed, "\n".join(failed)
    assert normalize(lvrbench_distribution) in {normalize(d) for d in distributions(lvrbench_registry)}, (
        f"{lvrbench_distribution} registers no lvrbench plugin")


__all__ = [name for name in dict(globals()) if name.startswith("test_")]
