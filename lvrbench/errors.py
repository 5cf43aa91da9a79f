"""The two kinds of failure the user sees: bad input (exit 2) and a broken plugin."""
from __future__ import annotations


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr, exit code 2, nothing written."""


class PluginError(UsageError):
    """A plugin broke its contract (raised instead of a warning when LVRBENCH_STRICT_PLUGINS=1)."""
