"""lvrbench: a plugin-based benchmark suite for GAN latent vector recovery.

Plugin and task authors import from `lvrbench.api` (the contracts, hooks, priors, networks, distances, estimates)
and `lvrbench.kit` (what tasks share). The package is layered, each folder importing only the ones before it:

    base      leaves: errors, hashing, identity, provenance, files, text, threads, progress
    api       the public face for plugin and task authors
    engine    recovery, training, sampling, evaluators, scoring, artifacts, generator specs
    kit       the public task kit                 run     registry, harness, environment, results, executors
    report    pages, check, review                (kit and run never import each other)
    commands  cli, runner, verify, cache          testing: the conformance kit (api, kit, run)

`tests/test_layers.py` fails on an import against this order.
"""
from __future__ import annotations

import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("lvrbench")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]


def __getattr__(name: str) -> Any:
    if name == "hookimpl":  # 0.4's spelling, kept for one release
        warnings.warn("`from lvrbench import hookimpl` is deprecated since 0.5.0 and goes in 0.6.0: "
                      "use `from lvrbench.api import hookimpl`", DeprecationWarning, stacklevel=2)
        from .api.hookspecs import hookimpl

        return hookimpl
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
