"""Progress bars and status lines on stderr; bars stay quiet when stderr is not a terminal."""
from __future__ import annotations

import sys

from tqdm import tqdm


def bar(total: int, desc: str) -> tqdm:
    """A progress bar for one phase of work (training epochs, recovery steps, ...)."""
    return tqdm(total=total, desc=desc, disable=None, leave=False, file=sys.stderr, dynamic_ncols=True, mininterval=0.5)


def say(message: str) -> None:
    """One status line on stderr."""
    print(message, file=sys.stderr, flush=True)
