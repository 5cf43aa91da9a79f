"""Progress bars and status lines on stderr; bars stay quiet when stderr is not a terminal."""
from __future__ import annotations

import sys

from tqdm import tqdm


#: Whether bars may show (on a terminal). A run's worker processes turn them off: their bars would overwrite one
#: another's; the driver's progress lines say what finished.
BARS = {"on": True}


def bar(total: int, desc: str) -> tqdm:
    """A progress bar for one phase of work (training epochs, recovery steps, ...)."""
    return tqdm(total=total, desc=desc, disable=None if BARS["on"] else True, leave=False, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


def say(message: str) -> None:
    """One status line on stderr."""
    print(message, file=sys.stderr, flush=True)


def count(n: int, noun: str) -> str:
    """"1 cell", "3 cells": a number with its noun, for status lines and pages."""
    return f"{n} {noun}{'' if n == 1 else 's'}"
