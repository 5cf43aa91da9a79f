"""`lvrbench.api`: the one import surface for plugin and task authors.

Everything a plugin or a task needs is importable from here, and only names listed in `__all__` are promised to stay
put across releases: the contracts of the seven kinds with every type they are handed (`lvrbench.api.contracts`),
the hooks (`hookimpl`), priors, the shared networks, the statistical distances, estimates with their intervals, and
the result fields a task's `validate` checks. What tasks share beyond that (a grid expander, the recovery- and
family-task bases, scoring, headlines, protocols, figures, readers) is the task kit, `lvrbench.kit`.

    from lvrbench.api import Regularizer, hookimpl

Names load on first use (PEP 562), so `import lvrbench.api` imports no torch; the modules behind them import
nothing above this layer (`tests/test_layers.py`).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: Public name -> the module of this layer that defines it.
_WHERE: dict[str, str] = {
    **dict.fromkeys((
        "NAME", "Param", "Plugin", "Parametrised", "Method", "PAPER_WEIGHTS", "RecoveryContext", "Regularizer",
        "ResampleContext", "Resampler", "Batch", "Family", "AdversarialFamily", "TrainedGAN", "Dataset",
        "SamplerError", "Cost", "SampleOutput", "SamplerContext", "Sampler", "Pretrained", "Cell", "Job", "Artifact",
        "CellOutcome", "Registry", "Request", "Environment", "Page", "Task", "Kind", "TABLE", "KINDS", "KIND_CLASSES",
        "HOOKS", "SINGULAR", "METHOD_KINDS", "RECOVERY_KINDS"), "contracts"),
    **dict.fromkeys(("DataInfo", "MODALITIES"), "datainfo"),
    **dict.fromkeys(("hookimpl", "hookspec", "PROJECT"), "hookspecs"),
    **dict.fromkeys(("Prior", "IIDPrior", "NormalPrior", "UniformPrior", "PRIORS", "REQUIREMENTS"), "priors"),
    **dict.fromkeys(("ARCHS", "build_generator", "build_discriminator", "build_encoder", "JointDiscriminator",
                     "SANDiscriminator", "init_parameters"), "networks"),
    **dict.fromkeys(("AXIOMS", "Distance", "DISTANCES", "wasserstein", "energy", "lukaszyk_karmowski",
                     "bhattacharyya", "bhattacharyya_normal", "fit_normal"), "distances"),
    **dict.fromkeys(("Estimate", "wilson_interval", "proportion", "bootstrap_mean", "paired_proportion_difference",
                     "paired_mean_difference", "items_generator"), "estimates"),
    **dict.fromkeys(("METRIC", "OPTIONAL_METRIC", "check_fields", "is_number", "metric_problem"), "fields"),
}
#: Names of the leaves that authors need too: the error a plugin raises for bad input, seeds derived from data.
_LEAVES: dict[str, str] = {"UsageError": "lvrbench.base.errors", "derive_seed": "lvrbench.base.hashing",
                           "canonical_json": "lvrbench.base.hashing"}

#: Modules of this layer an author imports whole (`distances.wasserstein`).
_MODULES = ("distances",)

__all__ = sorted([*_WHERE, *_LEAVES, *_MODULES])


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    elif name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    elif name in _LEAVES:
        value = getattr(importlib.import_module(_LEAVES[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return __all__


if TYPE_CHECKING:  # what type checkers and IDEs read; at run time names load on first use
    from ..base.errors import UsageError  # noqa: F401
    from ..base.hashing import canonical_json, derive_seed  # noqa: F401
    from .contracts import (HOOKS, KIND_CLASSES, KINDS, METHOD_KINDS, NAME, PAPER_WEIGHTS, RECOVERY_KINDS,  # noqa: F401
                            SINGULAR, TABLE, AdversarialFamily, Artifact, Batch, Cell, CellOutcome, Cost, Dataset, Environment,
                            Family, Job, Kind, Method, Page, Param, Parametrised, Plugin, Pretrained, RecoveryContext,
                            Registry, Regularizer, Request, ResampleContext, Resampler, SampleOutput, Sampler,
                            SamplerContext, SamplerError, Task, TrainedGAN)
    from . import distances  # noqa: F401
    from .datainfo import MODALITIES, DataInfo  # noqa: F401
    from .distances import (AXIOMS, DISTANCES, Distance, bhattacharyya, bhattacharyya_normal, energy,  # noqa: F401
                            fit_normal, lukaszyk_karmowski, wasserstein)
    from .estimates import (Estimate, bootstrap_mean, items_generator, paired_mean_difference,  # noqa: F401
                            paired_proportion_difference, proportion, wilson_interval)
    from .fields import METRIC, OPTIONAL_METRIC, check_fields, is_number, metric_problem  # noqa: F401
    from .hookspecs import PROJECT, hookimpl, hookspec  # noqa: F401
    from .networks import (ARCHS, JointDiscriminator, SANDiscriminator, build_discriminator,  # noqa: F401
                           build_encoder, build_generator, init_parameters)
    from .priors import PRIORS, REQUIREMENTS, IIDPrior, NormalPrior, Prior, UniformPrior  # noqa: F401
