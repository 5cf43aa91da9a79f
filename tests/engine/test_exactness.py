"""A cell's float32 numbers on the CPU never depend on its batch-mates (issue: numbers a reviewer can trust).

Every registered regularizer and resampler is recovered on seeded-random and on trained generators of
both architectures, in float32 as the tasks run them: each grid row alone, the whole grid, a reversed
subset and small chunks must give bit-identical latents and losses. The stacked generator pass (the GPU
default) is shown to break this with two threads, which is why the CPU never uses it.
"""
from __future__ import annotations

import pytest
import torch

from conftest import gen
from lvrbench.api.contracts import Regularizer
from lvrbench.api.datainfo import DataInfo
from lvrbench.api.networks import init_parameters
from lvrbench.api.priors import NormalPrior
from lvrbench.engine.recovery import recover
from lvrbench.engine.training import TrainSettings, train_gan

D_Z = 16
N = 5  # odd: a row's N * d_z elements are not a multiple of any vector width
STEPS = 12
IMAGES = DataInfo("fashion-mnist", "image", (1, 28, 28), 10)


def _nets(registry, arch: str, trained: bool) -> torch.nn.ModuleDict:
    family = registry.get("families", "lsgan")
    nets = family.build(IMAGES, D_Z, arch)
    init_parameters(nets, gen(7))
    if trained:
        x, _ = registry.get("datasets", "fashion-mnist").load("train", None)
        settings = TrainSettings(epochs=1, batch_size=64, lr=2e-4)
        train_gan(family, nets, x[:512], NormalPrior(dim=D_Z), settings, gen(8), torch.device("cpu"), "exactness fixture")
    return nets.float().eval()


@pytest.fixture(scope="module")
def generators(registry):
    """(arch, trained) -> float32 networks of the lsgan family (G and D)."""
    return {(arch, trained): _nets(registry, arch, trained) for arch in ("mlp", "dcgan") for trained in (False, True)}


def _grid(method) -> list[dict]:
    """Two learning rates (large, so descent amplifies any rounding) by up to three values of each parameter."""
    rows = [{"lr": lr} for lr in (0.05, 0.3)]
    for p in method.params:
        values = (0.0, 0.1, 1.0) if p.name == "weight" else p.grid[:2]
        rows = [{**r, p.name: v} for r in rows for v in values]
    return rows


def _recover(nets, registry, method, grid, **kw):
    prior = NormalPrior(dim=D_Z)
    z_true = prior.sample(N, gen(1))
    with torch.no_grad():
        targets = nets["G"](z_true)
    init = prior.sample(N, gen(2))
    realness = None
    if isinstance(method, Regularizer) and method.needs_discriminator:
        family = registry.get("families", "lsgan")
        realness = lambda x: family.realness(nets, x)  # noqa: E731
    return recover(nets["G"], targets, prior, method, grid, steps=STEPS, init=init, latent_dim=D_Z, seed=3,
                   diff="l2", realness=realness, **kw)


def _methods(registry):
    return [name for kind in ("regularizers", "resamplers") for name in registry.names(kind)
            if registry.method(name).supports(NormalPrior())]


@pytest.mark.parametrize("arch,trained", [("mlp", False), ("mlp", True), ("dcgan", False), ("dcgan", True)])
def test_a_cell_gives_the_same_float32_bits_alone_in_its_grid_in_a_subset_and_in_chunks(registry, generators, arch, trained):
    nets = generators[(arch, trained)]
    assert next(nets["G"].parameters()).dtype == torch.float32
    for name in _methods(registry):
        method = registry.method(name)
        grid = _grid(method)
        full = _recover(nets, registry, method, grid)
        assert not torch.equal(full.z[0], full.z[-1]), f"{name}: the grid's rows should descend differently"
        for h, row in enumerate(grid):
            alone = _recover(nets, registry, method, [row])
            assert torch.equal(alone.z[0], full.z[h]), f"{name} row {row}: alone differs from its grid"
            assert torch.equal(alone.diff[0], full.diff[h]), f"{name} row {row}: loss alone differs"
        picked = list(range(len(grid)))[::-2]
        subset = _recover(nets, registry, method, [grid[i] for i in picked])
        assert torch.equal(subset.z, full.z[picked]), f"{name}: a reversed subset differs"
        chunked = _recover(nets, registry, method, grid, max_rows=2 * N)
        assert torch.equal(chunked.z, full.z) and torch.equal(chunked.diff, full.diff), f"{name}: chunks differ"


@pytest.fixture
def two_threads():
    """Two torch threads: kernels split their work by thread, and the bits of a batched kernel can then change
    (with one thread this CPU's stacked pass happens to round as the per-row one)."""
    saved = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(saved)


def test_stacked_generator_passes_change_a_cells_bits_with_two_threads(registry, generators, two_threads):
    """What the row pass prevents: a batch of rows through one matrix multiply or convolution may round differently.

    Whether it does depends on the CPU's kernels: on the AVX2 machine of 0.4 both architectures' stacked passes
    changed a cell's bits; on an AVX512 machine they may round alike, and then there is nothing to show here."""
    changed = []
    for arch in ("mlp", "dcgan"):
        nets = generators[(arch, False)]
        method = registry.method("none")
        grid = _grid(method)
        full = _recover(nets, registry, method, grid, generator_pass="stacked")
        alone = [_recover(nets, registry, method, [row], generator_pass="stacked").z[0] for row in grid]
        if not all(torch.equal(a, f) for a, f in zip(alone, full.z)):
            changed.append(arch)
        rows = _recover(nets, registry, method, grid, generator_pass="rows")
        torch.testing.assert_close(rows.z, full.z, atol=1e-3, rtol=0)  # the same descent, up to rounding
    if not changed:
        pytest.skip(f"this CPU ({torch.backends.cpu.get_cpu_capability()}) rounds a stacked batch as it rounds each row")


def test_an_unknown_generator_pass_is_refused(registry, generators):
    from lvrbench.base.errors import UsageError

    with pytest.raises(UsageError, match=r"^unknown generator pass 'fused' \(known: rows, stacked\)$"):
        _recover(generators[("mlp", False)], registry, registry.method("none"), [{"lr": 0.1}], generator_pass="fused")
