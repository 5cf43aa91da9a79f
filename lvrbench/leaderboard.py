"""Leaderboards: markdown (and figures) generated from result JSON, and the check that they match.

A leaderboard root holds `results/<task>/*.json`; `build` writes `<root>/<task>.md` and figures
under `<root>/images/<task>/`. One root holds one profile: published tables are the `standard` and `full`
profiles' (each in its own root), and quick-profile output lives in its own root, labelled as smoke-level.
"""
from __future__ import annotations

import re
import shutil
import statistics
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable, Sequence

from tabulate import tabulate

from . import CORE
from .errors import UsageError, one_line
from .files import atomic_write, inside, path_problem, refuse, write_text_atomic
from .hashing import canonical_json
from .progress import count
from .results import ResultStore

QUICK_BANNER = (
    "> **Smoke-level numbers.** These come from the `quick` profile: small data subsets, few epochs, "
    "reduced grids, a small architecture and latent, on a CPU. They show that every method runs end to end; "
    "they are not the papers' protocols and must not be compared with published figures (see the `full` profile)."
)
FULL_NOTE = "Profile `full`: the papers' protocols (grids, image counts, step counts)."
STANDARD_NOTE = ("Profile `standard`: the papers' protocols at a size one 2-core CPU computes in under two hours "
                 "(smaller networks, fewer epochs, images and steps than the papers; the protocol line states them), "
                 "so that anyone can reproduce and extend these tables without a GPU.")
PROFILE_NOTES = {"quick": QUICK_BANNER, "standard": STANDARD_NOTE, "full": FULL_NOTE}
INTERVALS = (
    "Every number carries its uncertainty: `value [low, high]` is a 95% interval, Wilson's score interval for a "
    "share of items (an accuracy, a share under a threshold, wins; an evaluator's test accuracy) and a bootstrap "
    "over the evaluated items for a mean, unless a table says otherwise; a comparison of two methods is their "
    "difference on the same items, with a paired interval. `mean ± sd (k seeds)` summarises cells run under "
    "several seeds: the spread over seeds of everything a seed sets (the protocol line says what that is)."
)


def fmt_number(x: float, digits: int = 3, scale: float = 1.0) -> str:
    """`digits` significant figures, trailing zeros kept (0.750, 99.1, 0.0235)."""
    text = f"{x * scale:#.{digits}g}"
    return text[:-1] if text.endswith(".") else text


def fmt_estimate(e: dict, digits: int = 3, scale: float = 1.0) -> str:
    """"value [low, high]" for a {value, low, high, n} estimate with its 95% interval."""
    return f"{fmt_number(e['value'], digits, scale)} [{fmt_number(e['low'], digits, scale)}, {fmt_number(e['high'], digits, scale)}]"


def summarize(values: Sequence[dict], digits: int = 3, scale: float = 1.0, note: str = "") -> str:
    """One cell: its estimate with interval. Several seeds: mean ± standard deviation over seeds. `note` joins the
    parenthesis ("(k/n)", or "(2 seeds; k/n)")."""
    if len(values) == 1:
        return fmt_estimate(values[0], digits, scale) + (f" ({note})" if note else "")
    points = [v["value"] for v in values]
    return (f"{fmt_number(statistics.fmean(points), digits, scale)} ± "
            f"{fmt_number(statistics.stdev(points), digits, scale)} ({len(points)} seeds{'; ' + note if note else ''})")


def count_text(counts: Sequence[tuple[int, int]], digits: int = 3, scale: float = 100.0) -> str:
    """k of n items (one pair per seed) as a share with its Wilson interval and "(k/n)": the n behind it shows.

    Several seeds: the mean ± sd of the seeds' shares, then the pooled k/n. Seeds with n = 0 add nothing.
    """
    from .metrics import wilson_interval  # torch: only when a page shows shares

    k_all, n_all = sum(k for k, _ in counts), sum(n for _, n in counts)
    shares = [wilson_interval(k / n, n).to_dict() for k, n in counts if n]
    if not shares:
        return f"- ({k_all}/{n_all})"
    return summarize(shares, digits, scale, f"{k_all}/{n_all}{' pooled' if len(shares) > 1 else ''}")


def evaluator_lines(results: Iterable[dict]) -> list[str]:
    """One line per evaluator behind `results`: its key and its classifier's test accuracy with the interval."""
    found = {r["artifacts"]["evaluator"]["key"]: r["artifacts"]["evaluator"]["test_accuracy"] for r in results}
    return [f"Evaluator `{key}`: " + ("the points themselves" if acc is None else f"classifier test accuracy {fmt_estimate(acc, 4)}")
            for key, acc in sorted(found.items())]


def mean_over_seeds(values: Sequence[dict]) -> float:
    """The mean of the estimates' values: what ranks a cell run under several seeds."""
    return statistics.fmean(v["value"] for v in values)


def group(results: Iterable[dict], key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    """Results grouped by `key`, groups and members in a stable order."""
    out: dict[tuple, list[dict]] = defaultdict(list)
    for r in sorted(results, key=lambda r: (r["config"]["seed"], r["id"])):
        out[key(r)].append(r)
    return dict(sorted(out.items(), key=lambda kv: tuple(str(x) for x in kv[0])))


def seedless(value: object) -> object:
    """`value` (a config or part of one) without any "seed" key at any depth: the seed axis wherever it appears
    (a cell's seed, and the training seed of the generator it sets in `settings.gan`)."""
    if isinstance(value, dict):
        return {k: seedless(v) for k, v in value.items() if k != "seed"}
    return [seedless(v) for v in value] if isinstance(value, list) else value


def without_seed(r: dict) -> tuple:
    """Everything that identifies a cell except its seed: cells that differ only in seed aggregate."""
    return (canonical_json(seedless(r["config"])),)


def config_values(results: Iterable[dict], path: str) -> list:
    """The distinct values of the config field at the dotted `path` (e.g. "settings.gan.latent_dim") across
    `results`, in first-seen order; results without the field add nothing."""
    out: list = []
    for r in results:
        value = r["config"]
        for part in path.split("."):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            if value not in out:
                out.append(value)
    return out


def value_text(value: object) -> str:
    """A config value in a page's prose: numbers as tables write them, anything else as one-line code (results are data)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return number_text(value) if isinstance(value, float) else str(value)
    text = value if isinstance(value, str) else canonical_json(value)
    return "`" + " ".join(text.split()).replace("`", "'") + "`"


def values_text(values: Sequence) -> str:
    """Distinct values as "a" or "a, b or c", numbers in increasing order."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values = sorted(values)
    texts = [value_text(v) for v in values]
    return texts[0] if len(texts) == 1 else f"{', '.join(texts[:-1])} or {texts[-1]}"


def grid_text(results: Iterable[dict]) -> str:
    """The hyper-parameter grid the results cover: "lr 0.01, 0.032 or 0.1; weight 0 or 1" ("" when there is none)."""
    results = list(results)
    names = sorted({k for r in results for k in r["config"]["hparams"]})
    return "; ".join(f"{name} {values_text(config_values(results, f'hparams.{name}'))}" for name in names)


def protocol_text(source: str, results: Sequence[dict], fields: Sequence[tuple[str, str]]) -> str:
    """A page's protocol line: "after `source`", then each field's values in these results' configs, and their grid.

    `fields` are (label, dotted config path) pairs; a field none of the results has is left out, so the
    line states only what the numbers below came from.
    """
    run = [f"{label} {values_text(values)}" for label, path in fields if (values := config_values(results, path))]
    if grid := grid_text(results):
        run.append(f"grid: {grid}")
    parts = [f"after {source}" if source else "", f"As run for the numbers on this page: {'; '.join(run)}" if run else ""]
    return ". ".join(p for p in parts if p)


def number_text(value: float) -> str:
    """The shortest text that reads back as `value` ("3", "0.0032", "1.0000001"): distinct values never look alike."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def hparams_text(hparams: dict, skip: Sequence[str] = ()) -> str:
    """"a=2, b=2.5" for a cell's hyper-parameters ("-" when there are none)."""
    return ", ".join(f"{k}={number_text(v)}" for k, v in sorted(hparams.items()) if k not in skip) or "-"


def _cell(value) -> str:
    # Result files may come from pull requests: a '|' or a newline must not break the table.
    return " ".join(str(value).split()).replace("|", "\\|")


def table(rows: list[list], headers: Sequence[str]) -> str:
    """A GitHub markdown table; cells are flattened to one line with '|' escaped (results are data)."""
    return tabulate([[_cell(v) for v in row] for row in rows], headers=list(headers), tablefmt="github",
                    disable_numparse=True)


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
        try:  # what a task's page reads: only this version's cells are rendered, older ones keep their own shape
            current = r["config"]["plugins"].get("core") == CORE
            errors = registry.get("tasks", name).validate(r) if r["status"] == "ok" and current else []
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a crafted file must not crash the check, nor a plugin's sys.exit end it
            errors = [f"cannot be validated ({one_line(exc)})"]
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


def render(registry, root: Path) -> tuple[dict[Path, str], dict[str, Page], list[str]]:
    """The markdown every task's results produce, their figures, and the problems found on the way."""
    by_task, problems = _load(registry, root)
    if problems:
        return {}, {}, problems
    profile = next(r["config"]["profile"] for rows in by_task.values() for r in rows) if by_task else None
    pages, files = {}, {}
    for name in sorted(by_task):
        task = registry.get("tasks", name)
        # numbers are comparable within one core version only: older cells stay on disk, out of the tables
        current = [r for r in by_task[name] if r["config"]["plugins"].get("core") == CORE]
        stale = len(by_task[name]) - len(current)
        ok = [r for r in current if r["status"] == "ok"]
        failed = [r for r in current if r["status"] == "failed"]
        page = Page(root, name)
        parts = [f"# {name}", "", f"{task.summary}", "",
                 f"_Generated by `lvrbench leaderboard build` from `results/{name}/` ({count(len(ok), 'cell')}); "
                 "do not edit by hand: `lvrbench leaderboard check` fails when this file differs._", "",
                 PROFILE_NOTES.get(profile, FULL_NOTE), ""]
        if stale:
            parts += [f"_{stale} result files of other lvrbench versions are not shown: numbers are compared within "
                      f"one version ({CORE}); `lvrbench run` recomputes their cells._", ""]
        try:
            protocol = task.protocol(ok)
            if not isinstance(protocol, str):
                raise TypeError(f"protocol() returned {type(protocol).__name__}, not a str")
            body = task.render(ok, page).rstrip() if ok else None
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # results are data from anywhere: a render failure (sys.exit too) is a problem
            problems.append(f"results/{name}/: cannot be rendered ({one_line(exc)})")
            continue
        if protocol:
            parts += [f"Protocol: {protocol.rstrip('.')}.", ""]
        parts += [INTERVALS, ""]
        if body is not None:
            parts += [body, ""]
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
    from .figures import png_problem  # numpy: only when checking

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
