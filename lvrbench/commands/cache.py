"""`lvrbench cache list|prune`: what the artifact cache and the leaderboard roots hold that this version cannot use.

Stale, and so removable, is exactly:
- an artifact under --cache-dir whose config names other revisions of the code that made it than the installed
  code's (generators/: the training loop, networks and priors; evaluators/: the classifier); one whose metadata is unreadable,
  lacks a field or the weights' sha256, or whose weights are missing or are not the recorded ones; weights without
  metadata. Each of these would be trained again rather than used. Besides the core's kinds, a folder's entries
  count only where their metadata names that folder's kind and their key (a plugin's artifacts, e.g. calibrators);
- a temporary file a killed writer left (a dot-file ending .tmp), in the cache or under a root's results/;
- with `--results`: a result file under a root's results/ that the tables leave out already because other code
  computed it: another revision of the core (config.code.core) or of an installed plugin, and a failed cell of a
  plugin that is not installed (its ok cells are kept: installing the plugin shows them again). Invalid result files
  are never removed: `leaderboard check` reports them.
Anything else (other folders in the cache, files that are not artifacts) is left alone. Links are never followed.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..base.identity import PROFILES
from ..run.harness import NOT_INSTALLED, core_revisions, stale
from ..run.store import parse_result

#: The artifact kinds the core caches, and the config keys whose values must be the installed ones to be used.
ARTIFACT_KINDS = ("generators", "evaluators")
META_KEYS = ("key", "kind", "config", "metrics", "provenance", "sha256")
TEMPORARY = "a killed writer's temporary file"


@dataclass
class Item:
    """One thing on disk: its files, their size, and why it is stale (None: it is current)."""

    name: str
    paths: list[Path]
    size: int
    stale: str | None = None


def revisions() -> dict[str, dict[str, object]]:
    """Per artifact kind, the revisions (by their place in its config) a usable artifact records: the installed code's."""
    core = core_revisions()
    return {"generators": {f"code.{m}": core[m] for m in ("training", "networks", "priors")},
            "evaluators": {"code.evaluator": core["evaluator"]}}


def _field(config: dict, dotted: str) -> object:
    """The value at a dotted path of a config (None where it has none)."""
    for part in dotted.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def _size(paths: list[Path]) -> int:
    return sum(p.lstat().st_size for p in paths)


def _temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp") and path.is_file() and not path.is_symlink()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.is_symlink()) if folder.is_dir() and not folder.is_symlink() else []


def artifact_items(cache_dir: Path) -> list[Item]:
    """Every artifact and temporary file in `cache_dir`, with why it is stale.

    The core's kinds (ARTIFACT_KINDS) are read whole; in another folder (a plugin's kind, e.g. a sampler's
    calibrators) only entries whose metadata names that kind and key are artifacts: anything else there is left alone.
    """
    from ..engine.artifacts import file_sha256

    wanted, items = revisions(), []
    folders = [f for f in sorted(cache_dir.iterdir()) if f.is_dir() and not f.is_symlink()] if cache_dir.is_dir() else []
    for folder in folders:
        kind, files = folder.name, _files(folder)
        keys = sorted({p.stem for p in files if p.suffix in (".pt", ".json") and not p.name.startswith(".")})
        if kind not in ARTIFACT_KINDS:
            keys = [key for key in keys if _names_itself(folder / f"{key}.json", kind, key)]
            if not keys:
                continue
        items += [Item(f"{kind}/{p.name}", [p], _size([p]), TEMPORARY) for p in files if _temporary(p)]
        for key in keys:
            weights, meta_path = folder / f"{key}.pt", folder / f"{key}.json"
            paths = [p for p in (weights, meta_path) if p.is_file() and not p.is_symlink()]
            items.append(Item(f"{kind}/{key}", paths, _size(paths),
                              _artifact_problem(weights, meta_path, wanted.get(kind, {}), file_sha256)))
    return items


def _names_itself(meta_path: Path, kind: str, key: str) -> bool:
    """Whether `meta_path` is an artifact's metadata of this kind and key (what ArtifactCache writes)."""
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") == kind and meta.get("key") == key


def _artifact_problem(weights: Path, meta_path: Path, wanted: dict, file_sha256) -> str | None:
    if not meta_path.is_file() or meta_path.is_symlink():
        return "weights without metadata"
    if not weights.is_file() or weights.is_symlink():
        return "metadata without weights"
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError) as exc:
        return f"unreadable metadata ({type(exc).__name__})"
    missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        return f"its metadata lacks {', '.join(missing)}"
    config = meta["config"] if isinstance(meta["config"], dict) else {}
    for field, value in wanted.items():
        if _field(config, field) != value:
            return f"{field} {_field(config, field)!r}, not the installed {value!r}"
    if file_sha256(weights) != meta["sha256"]:
        return "its weights are not the ones its metadata records (sha256)"
    return None


def result_items(root: Path, registry) -> list[Item]:
    """Result files under `root`/results/<task>/, each with why other code computed it (`_result_problem`), and
    temporary files (links never followed)."""
    items = []
    for folder in _files(root / "results"):
        for path in _files(folder):
            rel = str(path.relative_to(root))
            if _temporary(path):
                items.append(Item(rel, [path], _size([path]), TEMPORARY))
            elif path.suffix == ".json" and path.is_file():
                try:
                    data = parse_result(path.read_text())
                    problem = _result_problem(data, registry)
                except (OSError, ValueError, TypeError, KeyError, AttributeError):
                    continue  # invalid: `leaderboard check` reports it; never removed here
                items.append(Item(rel, [path], _size([path]), problem))
    return items


def _result_problem(result: dict, registry) -> str | None:
    """Why the tables leave a result out and `--results` removes it, or None (kept): another revision of the core or of
    an installed plugin; a failed cell of a plugin that is not installed (an ok one is kept for when it is)."""
    if result["config"]["code"]["core"] != core_revisions():
        return "a result of another revision of the core"
    why = stale(result["config"], registry)
    if why is None or (why.endswith(NOT_INSTALLED) and result["status"] != "failed"):
        return None
    return f"a failed cell: {why}" if why.endswith(NOT_INSTALLED) else f"a result {why}"


def size_text(n: int) -> str:
    """A size in bytes as people read it: "812 B", "3.4 kB", "12.1 MB", "2.0 GB" (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def _items(cache_dir: str | None, out: tuple[str, ...], load_registry) -> tuple[list[Item], list[tuple[Path, Item]]]:
    """(the cache's artifact items, (root, item) of the roots' results): --out roots, or the default ones that exist;
    `load_registry()` gives the installed plugins results are judged against."""
    from ..base.files import user_cache_dir
    from ..base.errors import UsageError
    from .runner import default_root

    roots = [Path(o) for o in out] or [r for r in map(default_root, PROFILES) if r.is_dir()]
    for root in roots:
        if not root.is_dir():
            raise UsageError(f"--out {root}: no such directory")
    folder = Path(cache_dir) if cache_dir else user_cache_dir() / "artifacts"
    registry = load_registry() if roots else None
    return artifact_items(folder), [(root, item) for root in roots for item in result_items(root, registry)]


def list_command(cache_dir: str | None, out: tuple[str, ...], load_registry) -> None:
    """`lvrbench cache list`: every artifact and every stale result file, then the totals."""
    from tabulate import tabulate

    artifacts, results = _items(cache_dir, out, load_registry)
    rows = [[i.name, size_text(i.size), i.stale or "current"] for i in artifacts]
    rows += [[f"{root}/{i.name}", size_text(i.size), i.stale] for root, i in results if i.stale]
    print(tabulate(rows, headers=["what", "size", "status"], tablefmt="simple") if rows else "nothing cached")
    stale, old = [i for i in artifacts if i.stale], [i for _, i in results if i.stale]
    print(f"{len(artifacts)} cached, {size_text(sum(i.size for i in artifacts))}; stale: {len(stale)} "
          f"({size_text(sum(i.size for i in stale))}); result files of other code or temporary: {len(old)} "
          f"({size_text(sum(i.size for i in old))}) of {len(results)}")


def prune_command(cache_dir: str | None, out: tuple[str, ...], with_results: bool, dry_run: bool, load_registry) -> None:
    """`lvrbench cache prune`: remove what is stale (results of other code only `with_results`, their pages then
    rebuilt), one line each, and say how much it frees. `load_registry()` gives the installed plugins."""
    artifacts, results = _items(cache_dir, out, load_registry)
    doomed: list[tuple[Path | None, Item]] = [(None, i) for i in artifacts if i.stale]
    doomed += [(root, i) for root, i in results if i.stale and (with_results or i.stale == TEMPORARY)]
    for root, item in doomed:
        print(f"{'would remove' if dry_run else 'removed'} {f'{root}/' if root else ''}{item.name} ({item.stale})")
        if not dry_run:
            for path in item.paths:
                path.unlink(missing_ok=True)
    print(f"{'would free' if dry_run else 'freed'} {size_text(sum(i.size for _, i in doomed))} "
          f"({len(doomed)} {'entry' if len(doomed) == 1 else 'entries'})")
    touched = sorted({root for root, i in doomed if root is not None and i.stale != TEMPORARY}, key=str)
    if touched and not dry_run:
        from ..report.pages import build

        registry = load_registry()
        for root in touched:
            for path in build(registry, root):
                print(f"wrote {path}")
