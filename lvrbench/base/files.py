"""Writing files safely: atomically (a reader never sees half a file) and never through a link."""
from __future__ import annotations

import json
import os
import stat
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

    The rename replaces a symbolic link at `path` rather than writing through it. An OSError (a full disk, a
    permission) names `path`, the file the user asked for, never the temporary one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes files private; results and tables are for everyone
        _sync(tmp)  # on disk before the rename: a power cut leaves the old file or the new one, never an empty one
        os.replace(tmp, path)
        _sync(path.parent)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError) and exc.errno is not None:  # a full disk names the file being written, not tmp
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise


def move_into(source: Path, path: Path) -> None:
    """Move a finished file over `path` in one rename (the two on one file system), synced as `atomic_write` does."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _sync(source)
    os.replace(source, path)
    _sync(path.parent)


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


#: The largest result file lvrbench reads: far beyond any task's (the published standard results are under 250 kB),
#: far below what would exhaust memory.
MAX_RESULT_BYTES = 64 * 2**20


def read_limited(path: str | Path, limit: int = MAX_RESULT_BYTES) -> bytes:
    """The bytes of the regular file at `path`, of at most `limit` bytes; anything else (a FIFO, a device such as
    /dev/zero, a folder, a larger file) is a ValueError saying what it is, found before reading it (a FIFO never blocks)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file" + (" (a folder)" if stat.S_ISDIR(info.st_mode) else ""))
        if info.st_size > limit:
            raise ValueError(f"{info.st_size} bytes, more than the {limit} a result may have")
        chunks, size = [], 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):  # a growing file stops too
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise ValueError(f"more than the {limit} bytes a result may have")
        return b"".join(chunks)
    finally:
        os.close(fd)


def path_text(path: str | Path) -> str:
    """A file name on one line of output: characters that are not printable (a newline in a name) as Python escapes
    them ("\\n"), so that no name can split or fake a line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


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
