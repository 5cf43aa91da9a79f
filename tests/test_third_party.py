"""A real third-party plugin package, pip-installed, joins the registry through its entry point."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO, run_cli

pytestmark = pytest.mark.slow  # end to end: pip-installs the example package and runs it through the CLI

EXAMPLE = REPO / "examples" / "lvrbench-example-plugin"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    target = tmp_path_factory.mktemp("site")
    source = shutil.copytree(EXAMPLE, tmp_path_factory.mktemp("src") / EXAMPLE.name)  # builds leave the checkout clean
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                           "--target", str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return target


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
    assert lines[-1] == "12 cells: 0 done, 0 failed, 12 pending; 12 to compute"  # normal prior only: 3 lr x 4 weights
    assert all(" normal kl-gaussian " in line for line in lines[:-1])
    refused = run_cli("run", "--task", "recovery-real", "--method", "kl-gaussian", "--prior", "uniform", "--dry-run",
                      "--out", str(tmp_path), pythonpath=installed)
    assert refused.returncode == 2
    assert refused.stderr == "lvrbench: error: kl-gaussian is defined for the normal prior, not the uniform prior\n"


def test_its_loss_is_the_closed_form_kl(installed, monkeypatch):
    monkeypatch.syspath_prepend(str(installed))
    from lvrbench_example.plugin import KLGaussian

    from lvrbench.priors import NormalPrior

    z = torch.tensor([[[1.0, 3.0], [0.0, 0.0]]])  # latents with (mean, var) = (2, 1) and (0, 0)
    loss = KLGaussian().loss(z, NormalPrior(0.0, 2.0), None)
    # KL(N(2, 1) || N(0, 4)) = 0.5 (1/4 + 4/4 - 1 - ln 1/4)
    assert loss[0, 0].item() == pytest.approx(0.5 * (0.25 + 1.0 - 1 - torch.log(torch.tensor(0.25)).item()))
    assert torch.isfinite(loss).all()
