"""The two kinds of failure the user sees: bad input (exit 2) and a broken plugin."""
from __future__ import annotations


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


class PluginError(UsageError):
    """A plugin broke its contract (raised instead of a warning when LVRBENCH_STRICT_PLUGINS=1)."""
