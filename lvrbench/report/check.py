"""`lvrbench leaderboard check`: a root is exactly what `build` writes from its results, plus those results and the
archive the documented migration keeps.

- Every result file is valid (the result schema, its task's `validate`), and each cell of the installed code is the
  cell the installed planner produces for it (re-planned: its config field for field, its artifacts' keys), so no
  config can put on a page what its profile does not run.
- Every page and every figure a page links is, byte for byte, what `build` writes: figures are drawn again (they are
  reproducible to the byte) and compared.
- Nothing else is there: a file, folder, link or dot-file `build` never writes (an extra page, an SVG, a stray folder,
  a `.git`, a killed writer's temporary file) is a problem line naming it. Names are printed on one line each.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

from ..base.files import path_text
from ..run.harness import stale
from ..run.replan import unplanned
from .pages import SCRATCH, target_problem, load, render_loaded

#: What `build` writes and the migration keeps, besides results/ (which `ResultStore.load` checks) and the pages.
ARCHIVED = re.compile(r"archive/[^/.][^/]*/results/[^/.][^/]*/[^/.][^/]*\.json")
#: A temporary file `atomic_write` makes beside its target, and the folder `build` draws in: what a killed writer leaves.
KILLED = re.compile(r"\..+\.[a-z0-9_]{8}\.tmp|" + re.escape(SCRATCH) + r"[a-z0-9_]{8}")
NOT_BUILT = ("is not something `lvrbench leaderboard build` writes (a root holds results/, archive/<version>/results/, "
             "its pages and the figures they link only)")
BUILD = "(run `lvrbench leaderboard build`)"


def check(registry: Any, root: Path, data_dir: str | None = None) -> list[str]:
    """Every way `root` differs from what `build` would write from its results (or what stops it), every invalid or
    unplanned result, and everything else it holds; [] when it is exactly what `build` writes."""
    from ..kit.figures import png_problem

    by_task, problems = load(registry, root)
    files, pages, problems = render_loaded(registry, root, by_task, problems)
    rendered = not problems
    current = [r for rows in by_task.values() for r in rows if stale(r["config"], registry) is None]
    problems += [f"results/{r['config']['task']}/{r['id']}.json: {why}"
                 for r, why in zip(current, unplanned(registry, current, data_dir)) if why]

    def writable(rel: str) -> bool:
        problem = target_problem(root, rel)
        line = problem and f"{path_text(problem[0])}: {problem[1]}"
        if line and line not in problems:  # a linked folder is one line, not one per figure in it
            problems.append(line)
        return not problem

    for path, text in sorted(files.items()):
        if not writable(path.name):
            continue
        if not path.exists():
            problems.append(f"{path.name}: missing {BUILD}")
            continue
        try:
            wanted = text.encode("utf-8")  # bytes: undecodable text or other line ends differ too
            same = path.stat().st_size == len(wanted) and path.read_bytes() == wanted
        except OSError as exc:
            problems.append(f"{path.name}: cannot be read ({exc.strerror or exc})")
            continue
        if not same:
            problems.append(f"{path.name}: differs from what `lvrbench leaderboard build` writes")
    linked = [rel for page in pages.values() for rel in page.figures]
    present = [rel for rel in linked if writable(rel)]
    for rel in [rel for rel in present if not (root / rel).exists()]:
        problems.append(f"{rel}: linked figure is missing")
    present = [rel for rel in present if (root / rel).exists()]
    with tempfile.TemporaryDirectory() as scratch:  # drawn again, outside the root, and compared byte for byte
        problems += [p for page in pages.values() for p in page.draw(Path(scratch))]
        for rel in present:
            if problem := png_problem(root / rel):
                problems.append(f"{rel}: {problem} {BUILD}")
            elif (drawn := Path(scratch) / rel).is_file() and not _same_bytes(root / rel, drawn):
                problems.append(f"{rel}: differs from the figure `lvrbench leaderboard build` draws {BUILD}")
    tasks = set(registry.names("tasks"))
    pages_written = {path.name for path in files} if rendered else {f"{t}.md" for t in tasks}
    problems += _unbuilt(root, pages_written, set(linked) if rendered else None, tasks)
    return problems


def _same_bytes(a: Path, b: Path) -> bool:
    return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()


def _unbuilt(root: Path, pages: set[str], linked: set[str] | None, tasks: set[str]) -> list[str]:
    """One line per thing under `root` that `build` does not write and no result or archived result is: outside
    results/ (whose non-dot entries `ResultStore.load` judges) every entry, and dot-entries everywhere. `linked` None:
    the pages could not be rendered, so any PNG under images/<task>/ may be one."""
    out: list[str] = []
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            out.append(f"{path_text(prefix or '.')}: cannot be read ({exc.strerror or exc})")
            continue
        for entry in entries:
            rel = f"{prefix}{entry.name}"
            link, is_dir = entry.is_symlink(), entry.is_dir(follow_symlinks=False)
            if entry.name.startswith("."):
                why = "left by a killed writer: remove it" if KILLED.fullmatch(entry.name) else NOT_BUILT
                out.append(f"{path_text(rel)}: {why}")
                continue
            top, depth = rel.split("/")[0], rel.count("/")
            inside = is_dir and not link
            if top == "results":  # a link there is `ResultStore.load`'s to report
                if inside:
                    pending.append((Path(entry.path), rel + "/"))  # only its dot-entries are this function's
                continue
            if depth == 0 and (rel in pages or rel in ("images", "archive")):
                if inside:
                    pending.append((Path(entry.path), rel + "/"))
                continue  # a page, or a link where a page or folder goes: `target_problem` reports it
            if top == "images" and depth == 1 and entry.name in tasks:
                if inside:
                    pending.append((Path(entry.path), rel + "/"))
                continue
            if top == "images" and depth == 2 and linked is not None and rel in linked:
                continue  # a linked figure: `target_problem` reports a link or a folder there
            if top == "images" and depth == 2 and rel.endswith(".png") and not link and not is_dir:
                if linked is not None:
                    out.append(f"{path_text(rel)}: no leaderboard links to it {BUILD}")
                continue
            if top == "archive" and inside and (depth in (1, 3) or depth == 2 and entry.name == "results"):
                pending.append((Path(entry.path), rel + "/"))
                continue
            if top == "archive" and depth == 4 and ARCHIVED.fullmatch(rel) and entry.is_file(follow_symlinks=False):
                continue
            if depth == 0 and rel.endswith(".md") and rel[:-3] in tasks and not link:
                out.append(f"{path_text(rel)}: no results back this leaderboard")
                continue
            out.append(f"{path_text(rel)}: {'is a link (links are refused)' if link else NOT_BUILT}")
    return sorted(out)
