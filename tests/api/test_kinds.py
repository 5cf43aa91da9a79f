"""The kinds table: every kind has its hookspec, its CONTRIBUTING section and its conformance checks (datasette's pattern)."""
from __future__ import annotations

import re

import pytest

from conftest import REPO
from lvrbench.api import hookspecs
from lvrbench.api.contracts import HOOKS, KINDS, KIND_CLASSES, Kind, METHOD_KINDS, Plugin, RECOVERY_KINDS, SINGULAR, TABLE
from lvrbench.api.contracts import METHOD_KINDS as REGISTRY_METHOD_KINDS
from lvrbench.testing.conformance import CHECKS

CONTRIBUTING = (REPO / "CONTRIBUTING.md").read_text()


def missing(kind: Kind) -> list[str]:
    """What a kind lacks of the four places that make it: its hookspec, its CONTRIBUTING section, its checks."""
    problems = []
    spec = getattr(hookspecs, kind.hook, None)
    if spec is None or not hasattr(spec, f"{hookspecs.PROJECT}_spec"):
        problems.append(f"{kind.name}: no hookspec {kind.hook} in lvrbench/hookspecs.py")
    if not re.search(rf"^### `{re.escape(kind.name)}`", CONTRIBUTING, re.MULTILINE):
        problems.append(f"{kind.name}: no section '### `{kind.name}`' in CONTRIBUTING.md")
    if not CHECKS.get(kind.name):
        problems.append(f"{kind.name}: no conformance check in lvrbench/testing/conformance.py")
    return problems


@pytest.mark.parametrize("kind", TABLE, ids=[k.name for k in TABLE])
def test_every_kind_has_a_hookspec_a_contributing_section_and_conformance_checks(kind):
    assert missing(kind) == []


def test_a_kind_without_them_is_found():
    class Widget(Plugin):
        kind = "widgets"

    assert missing(Kind("widgets", Widget, "widget")) == [
        "widgets: no hookspec lvrbench_widgets in lvrbench/hookspecs.py",
        "widgets: no section '### `widgets`' in CONTRIBUTING.md",
        "widgets: no conformance check in lvrbench/testing/conformance.py",
    ]


def test_the_mappings_derive_from_the_table():
    assert KINDS == tuple(k.name for k in TABLE)
    assert {"regularizers", "resamplers", "families", "samplers", "tasks", "datasets", "generators"} <= set(KINDS)
    assert all(HOOKS[k] == f"lvrbench_{k}" for k in KINDS)
    assert all(KIND_CLASSES[k].kind == k for k in KINDS)  # each class names its own kind
    assert SINGULAR["families"] == "family" and SINGULAR["regularizers"] == "regularizer"
    assert REGISTRY_METHOD_KINDS is METHOD_KINDS and {"regularizers", "resamplers", "samplers"} <= set(METHOD_KINDS)
    assert RECOVERY_KINDS == ("regularizers", "resamplers")  # the Method subclasses


def test_every_hookspec_is_a_kind():
    specs = sorted(name for name in dir(hookspecs) if hasattr(getattr(hookspecs, name), f"{hookspecs.PROJECT}_spec"))
    assert specs == sorted(HOOKS.values())
