"""A real third-party plugin package, pip-installed, joins the registry through its entry point."""
from __future__ import annotations

import json

import pytest
import torch

from conftest import pip_install, REPO, run_cli, run_own_suite

pytestmark = pytest.mark.slow  # end to end: pip-installs the example package and runs it through the CLI

EXAMPLE = REPO / "examples" / "lvrbench-example-plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return pip_install(EXAMPLE, tmp_path_factory)


def test_the_installed_package_is_listed(installed):
    listed = run_cli("list", "--kind", "regularizers", "--json", pythonpath=installed)
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)["regularizers"]}
    assert rows["kl-gaussian"]["plugin"] == "lvrbench-example-plugin"
    assert rows["kl-gaussian"]["version"] == "0.1.0"
    assert rows["kl-gaussian"]["requires"] == "normal"
    assert rows["kl-gaussian"]["summary"] == "KL divergence from the normal fitted to the latent's elements to the normal prior."
    assert rows["bhattacharyya"]["plugin"] == "lvrbench"


def test_its_method_is_planned_like_a_built_in(installed, tmp_path):
    dry = run_cli("run", "--task", "recovery-real", "--method", "kl-gaussian", "--dry-run", "--out", str(tmp_path),
                  pythonpath=installed)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[-1] == "8 cells: 0 done, 0 failed, 8 pending; 8 to compute"  # normal prior only: 2 lr x 4 weights
    assert all(" normal kl-gaussian " in line for line in lines[:-1])
    refused = run_cli("run", "--task", "recovery-real", "--method", "kl-gaussian", "--prior", "uniform", "--dry-run",
                      "--out", str(tmp_path), pythonpath=installed)
    assert refused.returncode == 2
    assert refused.stderr == "lvrbench: error: kl-gaussian is defined for the normal prior, not the uniform prior\n"


def test_its_loss_is_the_closed_form_kl(installed, monkeypatch):
    monkeypatch.syspath_prepend(str(installed))
    from lvrbench_example.plugin import KLGaussian

    from lvrbench.api import NormalPrior, RecoveryContext

    z = torch.tensor([[[1.0, 3.0], [0.0, 0.0]]])  # latents with (mean, var) = (2, 1) and (0, 0)
    ctx = RecoveryContext(NormalPrior(0.0, 2.0), 1, 1, torch.Generator(), None, {}, None)
    loss = KLGaussian().loss(z, ctx)
    # KL(N(2, 1) || N(0, 4)) = 0.5 (1/4 + 4/4 - 1 - ln 1/4)
    assert loss[0, 0].item() == pytest.approx(0.5 * (0.25 + 1.0 - 1 - torch.log(torch.tensor(0.25)).item()))
    assert torch.isfinite(loss).all()


def test_the_conformance_kit_passes_on_it(installed):
    done = run_cli("test", "lvrbench-example-plugin", "-rA", pythonpath=installed, env={"OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    passed = {line.split("::")[-1] for line in done.stdout.splitlines() if line.startswith("PASSED")}
    for check in ("test_method_keeps_shapes_and_dtype", "test_method_does_not_modify_its_input",
                  "test_method_gives_the_same_numbers_batched_and_row_by_row",
                  "test_method_draws_only_from_the_generator_handed_in",
                  "test_regularizer_has_finite_gradients", "test_method_honours_the_priors_it_declares",
                  "test_default_grid_lies_in_the_declared_ranges"):
        assert f"{check}[kl-gaussian]" in passed
    assert "test_distribution_registers_its_plugins[lvrbench-example-plugin]" in passed
    assert "lvrbench-example-plugin has no families" in done.stdout  # kinds it does not provide: skipped, with why


def test_its_own_suite_runs_the_kit(installed, tmp_path):
    """The example's tests/test_conformance.py: what an author's suite holds to run the kit under plain pytest."""
    run_own_suite(EXAMPLE, installed, tmp_path, ("regularizers",))
