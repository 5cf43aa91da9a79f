"""Leaderboards: markdown (and figures) generated from result JSON, and the check that they match.

A leaderboard root holds `results/<task>/*.json`; `build` writes `<root>/<task>.md` and figures
under `<root>/images/<task>/`. One root holds one profile: published tables are the `standard` and `full`
profiles' (each in its own root), and quick-profile output lives in its own root, labelled as smoke-level.
"""
from __future__ import annotations

import re
import shutil
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable


from ..base.errors import UsageError, one_line
from ..base.guard import guarded
from ..base.files import atomic_write, inside, path_problem, refuse, write_text_atomic
from ..base.progress import count
from ..base.text import hparams_text, table
from ..run.harness import stale
from ..run.store import ResultStore

QUICK_BANNER = (
    "> **Smoke-level numbers.** These come from the `quick` profile: small data subsets, few epochs, "
    "reduced grids, a small architecture and latent, on a CPU. They show that every method runs end to end; "
    "they are not the papers' protocols and must not be compared with published figures (see the `full` profile). "
    "They train one network per seed and run one seed, so no page ranks or issues a verdict: both compare trained "
    "networks, which needs at least two per arm."
)
FULL_NOTE = "Profile `full`: the papers' protocols (grids, image counts, step counts)."
STANDARD_NOTE = ("Profile `standard`: the papers' protocols at a size one 2-core CPU computes in under two hours "
                 "(smaller networks, fewer epochs, images and steps than the papers; the protocol line states them), "
                 "so that anyone can reproduce and extend these tables without a GPU.")
PROFILE_NOTES = {"quick": QUICK_BANNER, "standard": STANDARD_NOTE, "full": FULL_NOTE}
INTERVALS = (
    "Every number carries its uncertainty: `value [low, high]` is a 95% interval, Wilson's score interval for a "
    "share of items (an accuracy, a share under a threshold, wins; an evaluator's test accuracy) and a bootstrap "
    "over the evaluated items for a mean, unless a table says otherwise; a comparison on the same items is their "
    "paired difference, otherwise a two-sample one (the table says which). One seed's interval covers that network's "
    "evaluation noise only; `mean [low, high] (k seeds)` is the mean over training seeds with a t interval over the "
    "seeds' values, the trained network being the replicate (the protocol says what a seed sets)."
)


class Page:
    """Handed to a task's `render`: collects the figures its markdown links to."""

    def __init__(self, root: Path, task: str):
        self.root, self.task = Path(root), task
        self.figures: dict[str, Callable[[Path], None]] = {}

    def figure(self, name: str, draw: Callable[[Path], None]) -> str:
        """Register a PNG drawn by `draw(path)`; returns its link relative to the markdown file."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "-", name)
        rel = f"images/{self.task}/{safe}.png"
        self.figures[rel] = draw
        return rel

    def draw(self, scratch: Path) -> list[str]:
        """Draw every figure under `scratch` (nothing in the root yet); one problem line per failure."""
        problems = []
        for rel, draw in self.figures.items():
            try:
                draw(scratch / rel)
            except Exception as exc:  # results are data from anywhere: a bad payload is a problem, not a crash
                problems.append(f"{rel}: cannot be drawn ({one_line(exc)})")
        return problems


def refusal(root: Path, problems: list[str]) -> UsageError:
    """The one-line error for a root with problems: the first, and how many more."""
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return UsageError(f"{root}: {problems[0]}{more}")


def root_problems(registry, root: Path, profile: str | None = None) -> list[str]:
    """What stops `root` from being built (or run into with `profile`): invalid results, unknown tasks, mixed profiles."""
    return _load(registry, root, profile)[1]


def _load(registry, root: Path, profile: str | None = None) -> tuple[dict[str, list[dict]], list[str]]:
    results, problems = ResultStore(root).load()
    by_task: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        name = r["config"]["task"]
        if name not in registry.names("tasks"):
            problems.append(f"results/{name}/: no installed task is called {name!r} (is its plugin installed?)")
            continue
        # what a task's page reads: only the installed code's cells are rendered, older ones keep their own shape
        current = stale(r["config"], registry) is None
        checked = guarded(registry.get("tasks", name).validate, r) if r["status"] == "ok" and current else None
        errors = [] if checked is None else checked.value if checked.ok else [f"cannot be validated ({one_line(checked.error)})"]
        if errors:
            problems.append(f"results/{name}/{r['id']}.json: {'; '.join(errors)}")
        else:
            by_task[name].append(r)
    held = sorted({r["config"]["profile"] for r in results})
    if len(held) > 1:
        problems.append(f"holds results of profiles {' and '.join(held)}; profiles never mix: keep each in its "
                        "own leaderboard root (--out)")
    elif profile and held and held != [profile]:
        problems.append(f"holds {held[0]}-profile results; a {profile}-profile run goes to its own leaderboard root "
                        "(--out): profiles never mix")
    return dict(by_task), problems


def current_results(registry, root: Path) -> tuple[dict[str, list[dict]], list[str]]:
    """Per task, the results its page shows (the installed code's cells, ok or failed), and the problems that stop
    `root` from being built: what `render` reads, and what the README's *Results* table is generated from."""
    by_task, problems = _load(registry, root)
    return _current(registry, by_task), problems


def _current(registry, by_task: dict[str, list[dict]]) -> dict[str, list[dict]]:
    # numbers are comparable within one core version only: older cells stay on disk, out of the tables
    return {name: [r for r in rows if stale(r["config"], registry) is None] for name, rows in by_task.items()}


def render(registry, root: Path) -> tuple[dict[Path, str], dict[str, Page], list[str]]:
    """The markdown every task's results produce, their figures, and the problems found on the way."""
    by_task, problems = _load(registry, root)
    if problems:
        return {}, {}, problems
    shown = _current(registry, by_task)
    profile = next(r["config"]["profile"] for rows in by_task.values() for r in rows) if by_task else None
    pages, files = {}, {}
    for name in sorted(by_task):
        task = registry.get("tasks", name)
        current = shown[name]
        others = len(by_task[name]) - len(current)
        ok = [r for r in current if r["status"] == "ok"]
        failed = [r for r in current if r["status"] == "failed"]
        page = Page(root, name)
        parts = [f"# {name}", "", f"{task.summary}", "",
                 f"_Generated by `lvrbench leaderboard build` from `results/{name}/` ({count(len(ok), 'cell')}); "
                 "do not edit by hand: `lvrbench leaderboard check` fails when this file differs._", "",
                 PROFILE_NOTES.get(profile, FULL_NOTE), ""]
        if others:
            parts += [f"_{others} result files computed by other revisions of the code are not shown: numbers are "
                      "compared within one revision of the code that computes them; `lvrbench run` recomputes their "
                      "cells._", ""]
        written = guarded(_page_text, task, ok, page)  # results are data from anywhere: a failure is a problem
        if not written.ok:
            problems.append(f"results/{name}/: cannot be rendered ({one_line(written.error)})")
            continue
        protocol, body = written.value
        if body is not None:
            parts += [body, ""]
        if protocol:
            parts += ["## Protocol", "", *[f"- {item.rstrip('.')}" for item in protocol], ""]
        parts += [INTERVALS, ""]
        if failed:
            parts += ["## Failed cells", "", table(
                [[r["config"]["dataset"], r["config"]["family"], r["config"]["prior"], r["config"]["method"],
                  hparams_text(r["config"]["hparams"]), r["config"]["seed"], r["error"]]
                 for r in sorted(failed, key=lambda r: r["id"])],
                ["dataset", "family", "prior", "method", "hparams", "seed", "error"]), ""]
        parts += ["## Provenance", "", table(_provenance_rows(current), ["lvrbench", "torch", "device", "cells"]), ""]
        files[root / f"{name}.md"] = "\n".join(parts)
        pages[name] = page
    return files, pages, problems


def _page_text(task, ok: list[dict], page: Page) -> tuple[list[str], str | None]:
    """A task's protocol items (one line each) and the body of its page (None without ok cells)."""
    protocol = task.protocol(ok)
    items = [protocol] if isinstance(protocol, str) else protocol
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise TypeError(f"protocol() returned {type(protocol).__name__}, not a list of str")
    return [" ".join(item.split()) for item in items if item.strip()], task.render(ok, page).rstrip() if ok else None


def _provenance_rows(results: list[dict]) -> list[list]:
    counts: dict[tuple, int] = defaultdict(int)
    for r in results:
        p = r["provenance"]
        counts[(str(p.get("lvrbench")), str(p.get("torch")), str(p.get("device")))] += 1
    return [[*k, n] for k, n in sorted(counts.items())]


def _target_problem(root: Path, rel: str) -> tuple[str, str] | None:
    """Why `build` must not write the file root/rel: (the part of `rel` at fault, what is wrong with it), or None."""
    problem = path_problem(root, rel)
    if not problem and (root / rel).exists() and not (root / rel).is_file():
        problem = rel, "not a regular file"
    return problem


def refuse_target(root: Path, rel: str) -> None:
    """A one-line UsageError when `build` (or a run) must not write the file root/rel."""
    refuse(root, _target_problem(root, rel))


def build(registry, root: Path) -> list[Path]:
    """Write every task's markdown and figures under `root`; returns the markdown paths."""
    files, pages, problems = render(registry, root)
    if problems:
        raise refusal(root, problems)
    figures = [rel for page in pages.values() for rel in page.figures]
    for rel in [path.name for path in files] + figures:  # refuse a link anywhere before writing anything
        refuse_target(root, rel)
    with tempfile.TemporaryDirectory() as scratch:
        problems = [p for page in pages.values() for p in page.draw(Path(scratch))]
        if problems:
            raise refusal(root, problems)
        for rel in figures:  # figures first: a page is never written before the figures it links
            atomic_write(root / rel, lambda tmp, rel=rel: shutil.copyfile(Path(scratch) / rel, tmp))
        for path, text in files.items():
            write_text_atomic(path, text)
    for path in _orphan_figures(registry, root, figures):
        path.unlink()  # generated files no table links any more (a renamed or removed cell)
    return sorted(files)


def _orphan_figures(registry, root: Path, linked: Iterable[str]) -> list[Path]:
    """PNG files under images/<task>/ of an installed task that no leaderboard links to (never through a link)."""
    keep, orphans = set(linked), []
    for name in registry.names("tasks"):
        try:
            folder = inside(root, f"images/{name}")
        except UsageError:
            continue
        for path in sorted(folder.glob("*.png")):
            rel = f"images/{name}/{path.name}"
            if rel not in keep and path.is_file() and not path.is_symlink():
                orphans.append(path)
    return orphans


def check(registry, root: Path) -> list[str]:
    """Every way `root` differs from what `build` would write (or what stops it), plus invalid result files."""
    from ..kit.figures import png_problem

    files, pages, problems = render(registry, root)
    rendered = not problems

    def writable(rel: str) -> bool:
        problem = _target_problem(root, rel)
        line = problem and f"{problem[0]}: {problem[1]}"
        if line and line not in problems:  # a linked folder is one line, not one per figure in it
            problems.append(line)
        return not problem

    for path, text in sorted(files.items()):
        if not writable(path.name):
            continue
        if not path.exists():
            problems.append(f"{path.name}: missing (run `lvrbench leaderboard build`)")
            continue
        try:
            same = path.read_bytes() == text.encode("utf-8")  # bytes: undecodable text or other line ends differ too
        except OSError as exc:
            problems.append(f"{path.name}: cannot be read ({exc.strerror or exc})")
            continue
        if not same:
            problems.append(f"{path.name}: differs from what `lvrbench leaderboard build` writes")
    for page in pages.values():
        for rel in page.figures:
            if not writable(rel):
                continue
            if not (root / rel).exists():
                problems.append(f"{rel}: linked figure is missing")
            elif problem := png_problem(root / rel):
                problems.append(f"{rel}: {problem} (run `lvrbench leaderboard build`)")
    if rendered:  # with a result problem nothing was rendered: every figure and page would look unbacked
        linked = [rel for page in pages.values() for rel in page.figures]
        problems += [f"{p.relative_to(root)}: no leaderboard links to it (run `lvrbench leaderboard build`)"
                     for p in _orphan_figures(registry, root, linked)]
        problems += [f"{path.relative_to(root)}: no results back this leaderboard" for path in sorted(root.glob("*.md"))
                     if path not in files and path.stem in registry.names("tasks")]
    return problems
