"""Writing files safely: atomically (a reader never sees half a file) and never through a link."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Callable

from .errors import UsageError


def user_cache_dir() -> Path:
    """~/.cache/lvrbench (or $XDG_CACHE_HOME/lvrbench): trained artifacts and downloaded data."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lvrbench"


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call `write(tmp)` on a temporary file beside `path`, then rename it over `path`.

    The rename replaces a symbolic link at `path` rather than writing through it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; results and tables are for everyone
        _sync(tmp)  # on disk before the rename: a power cut leaves the old file or the new one, never an empty one
        os.replace(tmp, path)
        _sync(path.parent)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _sync(path: str | Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # a file system without fsync for directories
        pass
    finally:
        os.close(fd)


def _read_umask() -> int:
    mask = os.umask(0)  # the only way to read it; done once, at import, before any thread writes files
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def write_json_atomic(path: Path, data: dict) -> None:
    """Write JSON so that a reader never sees half a file, even if the process is killed."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=1, sort_keys=True, allow_nan=False)
            f.write("\n")
    atomic_write(path, write)


def write_text_atomic(path: Path, text: str) -> None:
    """Write UTF-8 text so that a reader never sees half a file (markdown pages)."""
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def path_problem(root: Path, rel: str) -> tuple[str, str] | None:
    """Why root/rel must not be written: (the part of `rel` at fault, what is wrong with it), or None.

    A path that leaves root, a link anywhere on it, or a non-directory where a directory is needed
    (files from pull requests are data: nothing is ever written through them).
    """
    parts = Path(rel).parts
    if ".." in parts or Path(rel).is_absolute():
        return rel, f"not a path inside {root}"
    for i in range(1, len(parts) + 1):
        path = root.joinpath(*parts[:i])
        if path.is_symlink():
            return str(Path(*parts[:i])), "is a link; leaderboards are never written through links"
        if i < len(parts) and path.exists() and not path.is_dir():
            return str(Path(*parts[:i])), "not a directory"
    return None


def refuse(root: Path, problem: tuple[str, str] | None) -> None:
    """Raise a `path_problem`-style (part, what is wrong) as the one-line UsageError naming root/part."""
    if problem:
        raise UsageError(f"{root / problem[0]}: {problem[1]}")


def inside(root: Path, rel: str) -> Path:
    """root/rel, refused with a one-line UsageError when `path_problem` finds something wrong with it."""
    refuse(root, path_problem(root, rel))
    return root / rel
