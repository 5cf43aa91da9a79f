"""The failures a user sees, each with its own exit code, and the one line every failure is reported as.

- `UsageError`: bad input (a name, a value, a path, a result file): one line on stderr, exit code 2, nothing written.
- `PluginError`: a plugin broke its contract (its hook raised, it returned the wrong thing): exit code 3, naming the
  plugin and its distribution, so a broken plugin never looks like a mistake of the user's.
"""
from __future__ import annotations

#: Exit codes of every lvrbench command.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PLUGIN, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


def squash(text: str, limit: int | None = None) -> str:
    """`text` on one line, cut to `limit` characters."""
    text = " ".join(text.split())
    return text if limit is None or len(text) <= limit else text[: limit - 3] + "..."


def one_line(exc: BaseException, limit: int | None = None) -> str:
    """"Type: message" on one line, cut to `limit` characters: how failures are reported everywhere."""
    try:
        text = squash(str(exc), limit)
    except Exception:  # a plugin's exception whose __str__ itself fails
        text = "(its message cannot be printed)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr, exit code 2, nothing written."""


class PluginError(Exception):
    """A plugin broke its contract: one line naming it, exit code 3 (a warning instead where a broken plugin is
    skipped, unless LVRBENCH_STRICT_PLUGINS=1)."""
