"""The 0.4 import paths plugin packages used keep working for one release, each with a DeprecationWarning that names
the new place; nothing in lvrbench itself imports them (`tests/test_layers.py`)."""
from __future__ import annotations

import subprocess
import sys

import pytest

OLD = {
    "from lvrbench import hookimpl": "from lvrbench.api import hookimpl",
    "from lvrbench.kinds import Regularizer, DataInfo, Pretrained": "lvrbench.kinds is deprecated",
    "from lvrbench.networks import init_parameters": "lvrbench.networks is deprecated",
    "from lvrbench.priors import PRIORS": "lvrbench.priors is deprecated",
    "from lvrbench.registry import load_registry": "lvrbench.registry is deprecated",
    "from lvrbench.training import TrainSettings, train_gan": "lvrbench.training is deprecated",
}


@pytest.mark.parametrize("statement", OLD)
def test_a_04_import_works_and_warns_with_the_new_place(statement):
    code = f"import warnings\nwarnings.simplefilter('always')\n{statement}\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "DeprecationWarning" in done.stderr and OLD[statement] in done.stderr and "0.6.0" in done.stderr


def test_the_old_names_are_the_new_objects():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from lvrbench.kinds import Regularizer
        from lvrbench.training import train_gan
    from lvrbench.api import Regularizer as new
    from lvrbench.kit import train_gan as new_train

    assert Regularizer is new and train_gan is new_train
