"""The one guard around plugin code: call it, and hand back what happened as a value (as pluggy's `_multicall`
returns a `Result`), so no caller writes its own `except BaseException`.

Plugin code may raise anything, `SystemExit` included (a plugin must never end the process); only
`KeyboardInterrupt` passes through, so Ctrl-C still stops a run.
"""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

#: How much of a failure's stack an outcome keeps: its innermost frames, where the error was raised.
TRACEBACK_LIMIT = 20000


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """What a guarded call gave: its `value`, or the `error` it raised with the stack (`traceback`) it raised from."""

    value: T | None = None
    error: BaseException | None = None
    traceback: str = ""

    @property
    def ok(self) -> bool:
        """Whether the call returned."""
        return self.error is None


def guarded(fn: Callable[..., T], *args: Any, **kwargs: Any) -> Outcome[T]:
    """`fn(*args, **kwargs)` as an `Outcome`; everything but KeyboardInterrupt is caught."""
    try:
        return Outcome(fn(*args, **kwargs))
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # the one place plugin failures are caught (SystemExit too)
        return Outcome(None, exc, traceback.format_exc()[-TRACEBACK_LIMIT:])
