"""`lvrbench test DIST`: the conformance kit on one installed distribution's plugins, through pytest in this process."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..base.errors import UsageError
from . import OPTION, _REGISTRY, distributions, normalize


def run_kit(distribution: str, pytest_args: Sequence[str] = ()) -> int:
    """pytest's exit code for the kit on `distribution`'s plugins; a UsageError when no installed distribution has that name."""
    import pytest

    from ..run.registry import load_registry, unknown_name

    if not distribution.strip():
        raise UsageError("lvrbench test: the distribution name is empty")
    registry = load_registry(strict=False)  # lenient: a broken entry point is the kit's finding, not a crash
    known = sorted(distributions(registry))
    if normalize(distribution) not in {normalize(d) for d in known}:
        raise unknown_name("plugin distribution", distribution, known)
    _REGISTRY[:] = [registry]
    checks = Path(__file__).with_name("conformance.py")
    # This module imported lvrbench.testing before pytest could rewrite its asserts (it has none to rewrite).
    args = [str(checks), OPTION, distribution, "-p", "lvrbench.testing", "-p", "no:cacheprovider",
            "-W", "ignore::pytest.PytestAssertRewriteWarning", *pytest_args]
    return int(pytest.main(args))
