"""Where and how a result or an artifact was computed: versions, commit, device, threads, CPU code path, times.

Provenance explains a difference; it never decides a cell's identity (`lvrbench.base.identity`).
"""
from __future__ import annotations

import functools
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

from . import threads

#: What `git_dirty` leaves out: the leaderboards are data that runs write, not the code that computed them.
NOT_CODE = ("leaderboards",)
_HERE = Path(__file__).resolve().parent


def _git(here: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state(here: Path = _HERE) -> dict:
    """The commit lvrbench runs from and whether its code has uncommitted changes (None outside its repo).

    Changes under the leaderboards (pages a run rebuilds, results it writes) are data and leave the tree clean.
    """
    if _git(here, "ls-files", "--error-unmatch", Path(__file__).name) is None:  # an install, or another repo
        return {"git_commit": None, "git_dirty": None}
    status = _git(here, "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                  *(f":(top,exclude){path}" for path in NOT_CODE))
    return {"git_commit": _git(here, "rev-parse", "HEAD"), "git_dirty": None if status is None else bool(status)}


@functools.cache
def code_state() -> dict:
    """`git_state()` as this process first read it: the state of the code it computes with. A run's driver reads it
    when the run starts and each worker when it starts, as they import the code; an edit or a commit while the run
    goes on changes the tree, not the modules already loaded, so every result of the run records that first state."""
    return git_state()


def tree_moved() -> dict | None:
    """The tree's `git_state()` now, where it differs from `code_state()` (an edit or a commit since this process
    started computing); None where it does not."""
    now = git_state()
    return None if now == code_state() else now


def device_name(device: Any) -> str:
    """The device in words for provenance: the GPU's name, or the CPU's with its thread count."""
    import torch

    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def provenance(device: Any, wall_time: float, job_time: float | None = None, versions: dict | None = None) -> dict:
    """Where and how a result or artifact was computed: versions, commit, device, the threads it computed with and
    the CPU code path (what `verify` compares before it asks for equal bits), wall times, date."""
    import torch

    from .. import __version__

    return {
        "lvrbench": __version__, **({"versions": versions} if versions else {}), **code_state(), "torch": torch.__version__,
        "python": platform.python_version(), "device": device_name(device), "threads": threads.current(),
        "cpu_code_path": threads.cpu_code_path(),
        "wall_time_s": round(wall_time, 3), **({} if job_time is None else {"job_wall_time_s": round(job_time, 3)}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
