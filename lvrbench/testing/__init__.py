"""`lvrbench.testing`: a pytest plugin for plugin authors: fixtures and the conformance kit.

Registered in the `pytest11` entry-point group, so pytest loads it wherever lvrbench is installed; it
stays inert until used. Importing it imports neither torch nor any plugin: the fixtures do that when
a test asks for them, and the conformance checks (`lvrbench.testing.conformance`) are generated only
in a module that imports them or under `--lvrbench-dist`. An author's package runs the kit with

    lvrbench test my-distribution

or, inside its own suite, a module `tests/plugins/test_conformance.py` holding

    from lvrbench.testing.conformance import *  # noqa: F401,F403
    LVRBENCH_DISTRIBUTION = "my-distribution"
"""
from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from ..api.contracts import TrainedGAN
    from ..run.registry import Registry

OPTION = "--lvrbench-dist"
#: The module attribute naming the distribution(s) whose plugins a conformance module checks.
MODULE_ATTRIBUTE = "LVRBENCH_DISTRIBUTION"
_REGISTRY: list = []  # the session's registry, loaded on first use


def normalize(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503): case and runs of '-', '_', '.' do not matter."""
    return re.sub(r"[-_.]+", "-", name).lower()


def registry() -> Registry:
    """The registry of every installed plugin, loaded once per process (leniently: broken entry points are checked)."""
    if not _REGISTRY:
        from ..run.registry import load_registry

        _REGISTRY.append(load_registry(strict=False))
    return _REGISTRY[0]


def distributions(reg: Registry) -> set[str]:
    """The distributions that register lvrbench plugins (the ones that failed to load too)."""
    from ..api.contracts import KINDS

    return {e.distribution for kind in KINDS for e in reg.entries(kind)} | {x.distribution for x in reg.errors}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lvrbench", "lvrbench conformance kit")
    group.addoption(OPTION, action="append", default=[], metavar="DIST",
                    help="Run the conformance checks on the plugins of this installed distribution (repeatable).")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "lvrbench_conformance(*kinds): a conformance check of lvrbench plugins of these kinds")


def selected(metafunc: pytest.Metafunc) -> list[str] | None:
    """The distributions a conformance module checks: `--lvrbench-dist`, else its LVRBENCH_DISTRIBUTION; None: all."""
    chosen = list(metafunc.config.getoption(OPTION) or [])
    if not chosen:
        named = getattr(metafunc.module, MODULE_ATTRIBUTE, None)
        chosen = [named] if isinstance(named, str) else list(named or [])
    return chosen or None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Each conformance check runs once per plugin of its kinds in the selected distributions (skipped where none is)."""
    kinds = getattr(metafunc.function, "lvrbench_kinds", None)
    if kinds is None:
        return
    reg = registry()
    wanted = selected(metafunc)
    names = None if wanted is None else {normalize(d) for d in wanted}

    def mine(distribution: str) -> bool:
        return names is None or normalize(distribution) in names

    if kinds == ("entry points",):
        dists = sorted(d for d in distributions(reg) if mine(d)) or sorted(wanted or [])
        metafunc.parametrize("lvrbench_distribution", dists, ids=dists)
        return
    entries = [e for kind in kinds for e in reg.entries(kind) if mine(e.distribution)]
    if not entries:
        where = ", ".join(wanted) if wanted else "the installed distributions"
        reason = f"{where} {'has' if wanted and len(wanted) == 1 else 'have'} no {' or '.join(kinds)}"
        metafunc.parametrize("lvrbench_plugin", [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["none"])
        return
    metafunc.parametrize("lvrbench_plugin", entries, ids=[e.name if wanted else f"{e.distribution}:{e.name}" for e in entries])


# -- fixtures (each imports torch and the plugins only when a test uses it) ------------------------------------

@pytest.fixture(scope="session")
def lvrbench_registry() -> Registry:
    """Every installed lvrbench plugin (`lvrbench.run.registry.load_registry`), loaded once per session."""
    return registry()


@pytest.fixture(scope="session")
def lvrbench_data(lvrbench_registry) -> Callable[..., Any]:
    """data(dataset, split="train", n=None) -> (x, y): a registered dataset's split (its first n rows), loaded once."""
    cache: dict = {}

    def data(dataset: str, split: str = "train", n: int | None = None):
        if (dataset, split) not in cache:
            cache[(dataset, split)] = lvrbench_registry.get("datasets", dataset).load(split, None)
        x, y = cache[(dataset, split)]
        return (x, y) if n is None else (x[:n], y[:n])

    return data


@pytest.fixture(scope="session")
def lvrbench_gan(lvrbench_registry, lvrbench_data) -> Callable[..., TrainedGAN]:
    """gan(family, dataset=None, seed=0) -> a `lvrbench.api.TrainedGAN` trained for a few seeded iterations.

    On `dataset`, or the first registered dataset the family takes (point mixtures first: ring8 trains in
    milliseconds); an mlp of d_z = 8 on a small subset. Cached per session: treat it as read-only.
    """
    from .tiny import tiny_gan

    cache: dict = {}

    def gan(family: str, dataset: str | None = None, seed: int = 0) -> TrainedGAN:
        key = (family, dataset, seed)
        if key not in cache:
            cache[key] = tiny_gan(lvrbench_registry, family, dataset, seed, lvrbench_data)
        return cache[key]

    return gan
