"""Leaderboards: markdown (and figures) generated from result JSON (`report.check` says whether a root matches).

A leaderboard root holds `results/<task>/*.json`; `build` writes `<root>/<task>.md` and figures
under `<root>/images/<task>/`. One root holds one profile: published tables are the `standard` and `full`
profiles' (each in its own root), and quick-profile output lives in its own root, labelled as smoke-level.
"""
from __future__ import annotations

import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable


from ..base.errors import UsageError, one_line
from ..base.guard import guarded
from ..base.files import inside, move_into, path_problem, refuse, write_text_atomic
from ..base.identity import PROFILES
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
#: The prefix of the folder `build` draws a root's figures in, inside the root (removed when it ends).
SCRATCH = ".lvrbench-build-"
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
            except OSError as exc:  # a full disk: the file it was drawing is the one that cannot be written
                problems.append(f"{rel}: cannot be written ({exc.strerror or one_line(exc)})")
            except Exception as exc:  # results are data from anywhere: a bad payload is a problem, not a crash
                problems.append(f"{rel}: cannot be drawn ({one_line(exc)})")
        return problems


def refusal(root: Path, problems: list[str]) -> UsageError:
    """The one-line error for a root with problems: the first, and how many more."""
    more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
    return UsageError(f"{root}: {problems[0]}{more}")


def root_problems(registry, root: Path, profile: str | None = None) -> list[str]:
    """What stops `root` from being built (or run into with `profile`): invalid results, unknown tasks, mixed profiles."""
    return load(registry, root, profile)[1]


def load(registry, root: Path, profile: str | None = None) -> tuple[dict[str, list[dict]], list[str]]:
    """The valid results of `root` by task (the installed code's and others'), and one problem line per invalid file,
    unknown task or mixed profile (with `profile`, a root holding another)."""
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
    if root.name in PROFILES and held and held != [root.name]:
        problems.append(f"holds {' and '.join(held)}-profile results; a root named {root.name}/ holds {root.name}-profile "
                        "results only: profiles never mix")
    elif len(held) > 1:
        problems.append(f"holds results of profiles {' and '.join(held)}; profiles never mix: keep each in its "
                        "own leaderboard root (--out)")
    elif profile and held and held != [profile]:
        problems.append(f"holds {held[0]}-profile results; a {profile}-profile run goes to its own leaderboard root "
                        "(--out): profiles never mix")
    return dict(by_task), problems


def current_results(registry, root: Path) -> tuple[dict[str, list[dict]], list[str]]:
    """Per task, the results its page shows (the installed code's cells, ok or failed), and the problems that stop
    `root` from being built: what `render` reads, and what the README's *Results* table is generated from."""
    by_task, problems = load(registry, root)
    return _current(registry, by_task), problems


def _current(registry, by_task: dict[str, list[dict]]) -> dict[str, list[dict]]:
    # numbers are comparable within one core version only: older cells stay on disk, out of the tables
    return {name: [r for r in rows if stale(r["config"], registry) is None] for name, rows in by_task.items()}


def render(registry, root: Path) -> tuple[dict[Path, str], dict[str, Page], list[str]]:
    """The markdown every task's results produce, their figures, and the problems found on the way."""
    return render_loaded(registry, root, *load(registry, root))


def render_loaded(registry, root: Path, by_task: dict[str, list[dict]], problems: list[str]
                  ) -> tuple[dict[Path, str], dict[str, Page], list[str]]:
    """`render` of results already `load`ed."""
    problems = list(problems)
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


def target_problem(root: Path, rel: str) -> tuple[str, str] | None:
    """Why `build` must not write the file root/rel: (the part of `rel` at fault, what is wrong with it), or None."""
    problem = path_problem(root, rel)
    if not problem and (root / rel).exists() and not (root / rel).is_file():
        problem = rel, "not a regular file"
    return problem


def refuse_target(root: Path, rel: str) -> None:
    """A one-line UsageError when `build` (or a run) must not write the file root/rel."""
    refuse(root, target_problem(root, rel))


def build(registry, root: Path) -> list[Path]:
    """Write every task's markdown and figures under `root`; returns the markdown paths."""
    files, pages, problems = render(registry, root)
    if problems:
        raise refusal(root, problems)
    figures = [rel for page in pages.values() for rel in page.figures]
    files_by_name = {path.name: text for path, text in files.items()}
    for rel in [path.name for path in files] + figures:  # refuse a link anywhere before writing anything
        refuse_target(root, rel)
    # drawn beside the root's files (on their file system: a full disk names the root's file, and each figure moves
    # into place in one rename); a killed build leaves this dot-folder, which `check` reports
    try:
        drawing = tempfile.TemporaryDirectory(dir=root, prefix=SCRATCH)
    except OSError as exc:
        raise UsageError(f"{root}: cannot be written ({exc.strerror or exc})") from None
    with drawing as scratch:
        problems = [p for page in pages.values() for p in page.draw(Path(scratch))]
        if problems:
            raise refusal(root, problems)
        for rel in [*figures, *(path.name for path in files)]:  # figures first: no page links a figure not yet there
            try:
                if rel in files_by_name:
                    write_text_atomic(root / rel, files_by_name[rel])
                else:
                    move_into(Path(scratch) / rel, root / rel)
            except OSError as exc:
                raise UsageError(f"{root / rel}: cannot be written ({exc.strerror or exc})") from None
    for path in _orphans(registry, root, [path.name for path in files] + figures):
        path.unlink()
    return sorted(files)


def _orphans(registry, root: Path, written: Iterable[str]) -> list[Path]:
    """What an earlier build wrote that this one did not (`written`, paths under root), for an installed task: the page
    of a task whose results all left (retired to archive/) and PNG files under images/<task>/ no page links any more
    (a renamed or removed cell). Regular files only, never through a link."""
    keep, found = set(written), []
    for name in registry.names("tasks"):
        candidates = [root / f"{name}.md"]
        try:
            candidates += sorted(inside(root, f"images/{name}").glob("*.png"))
        except UsageError:
            pass
        found += [path for path in candidates if path.relative_to(root).as_posix() not in keep and path.is_file()
                  and not path.is_symlink()]
    return found
