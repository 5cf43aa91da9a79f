"""`lvrbench cache list|prune`: what the artifact cache and the leaderboard roots hold that this version cannot use.

Only what is provably lvrbench's is ever removed. In the cache, an artifact is a `<key>.pt` / `<key>.json` pair whose
name is an artifact key (16 hex digits) and whose metadata, when it is there, names that folder's kind and that key, as
`ArtifactCache` writes it; anything else (a `mymodel.pt`, a `notes.json`, a `config.json`, another folder's files) is
left alone and not even listed. Stale, and so removable, is exactly:
- an artifact whose config names other revisions of the code that made it than the installed code's (generators/:
  the training loop, networks and priors; evaluators/: the classifier); one whose weights are missing or are not
  the recorded ones; key-named weights without metadata (what a writer killed between the two files leaves). Each
  of these would be trained again rather than used;
- a temporary file a killed writer left (`.<name>.<8 characters>.tmp`, as `atomic_write` names it), in the cache or
  under a root's results/;
- a build's claim (`<artifact>.pt.claim`, `.claim.lock`) whose holder is gone or stopped renewing it, and the record of
  a failed build (`<artifact>.pt.failed`), which only its own run reads (`lvrbench.base.claims`); a live claim is a
  build in progress, listed and left alone;
- with `--results`: a valid result file (what `leaderboard check` accepts: the schema, stored under its own id) that
  the tables leave out already because other code computed it: another revision of the core (config.code.core) or of
  an installed plugin, and a failed cell of a plugin that is not installed (its ok cells are kept: installing the
  plugin shows them again). A result that `check` calls invalid is never removed: `leaderboard check` reports it.
Links are never followed.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..base.identity import PROFILES
from ..base.files import read_limited
from ..run.harness import NOT_INSTALLED, core_revisions, stale
from ..run.store import parse_result, validate_result

#: The artifact kinds the core caches, and the config keys whose values must be the installed ones to be used.
ARTIFACT_KINDS = ("generators", "evaluators")
META_KEYS = ("key", "kind", "config", "metrics", "provenance", "sha256")
TEMPORARY = "a killed writer's temporary file"
#: An artifact's file name (its key, `artifact_key`'s 16 hex digits) and a killed `atomic_write`'s temporary file.
KEY_NAME = re.compile(r"[0-9a-f]{16}\.(pt|json)")
TEMPORARY_NAME = re.compile(r"\.(?P<name>[^/]+)\.[a-z0-9_]{8}\.tmp")


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


def _temporary(path: Path, named=KEY_NAME) -> bool:
    """Whether `path` is the temporary file a killed `atomic_write` left for a file of a name `named` matches."""
    found = TEMPORARY_NAME.fullmatch(path.name)
    return bool(found and named.fullmatch(found["name"])) and path.is_file() and not path.is_symlink()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.is_symlink()) if folder.is_dir() and not folder.is_symlink() else []


def artifact_items(cache_dir: Path) -> list[Item]:
    """Every artifact and killed writer's temporary file in `cache_dir`, with why it is stale: key-named files whose
    metadata names their folder's kind and key (in a core kind's folder, key-named weights without metadata too);
    anything else is not lvrbench's to list or remove."""
    from ..engine.artifacts import file_sha256

    wanted, items = revisions(), []
    folders = [f for f in sorted(cache_dir.iterdir()) if f.is_dir() and not f.is_symlink()] if cache_dir.is_dir() else []
    for folder in folders:
        kind, files = folder.name, _files(folder)
        keys = sorted({p.stem for p in files if KEY_NAME.fullmatch(p.name)})
        # an artifact's metadata names its kind and key; key-named weights alone are the core's kinds' only
        keys = [key for key in keys if _names_itself(folder / f"{key}.json", kind, key)
                or kind in ARTIFACT_KINDS and not (folder / f"{key}.json").exists()]
        if kind not in ARTIFACT_KINDS and not keys:
            continue
        items += [Item(f"{kind}/{p.name}", [p], _size([p]), TEMPORARY) for p in files if _temporary(p)]
        items += _build_items(kind, files)
        for key in keys:
            weights, meta_path = folder / f"{key}.pt", folder / f"{key}.json"
            paths = [p for p in (weights, meta_path) if p.is_file() and not p.is_symlink()]
            items.append(Item(f"{kind}/{key}", paths, _size(paths),
                              _artifact_problem(weights, meta_path, wanted.get(kind, {}), file_sha256)))
    return items


#: A failed build's record: what `cache` says of it.
FAILED_BUILD = "the record of a failed build: only its own run reads it, a later one trains the artifact again"


def _build_items(kind: str, files: list[Path]) -> list[Item]:
    """The claims and failure records of builds (`lvrbench.base.claims`) among a cache folder's files."""
    from ..base.claims import claim_state, recorded_failure

    items = []
    for path in files:
        if path.name.endswith((".pt.claim", ".pt.claim.lock")) and path.is_file():
            stale = claim_state(path)
            name = f"{kind}/{path.name}" if stale else f"{kind}/{path.name} (a build in progress)"
            items.append(Item(name, [path], _size([path]), stale))
        elif path.name.endswith(".pt.failed") and path.is_file():
            error = recorded_failure(path.with_name(path.name[: -len(".failed")]))
            items.append(Item(f"{kind}/{path.name}", [path], _size([path]), f"{FAILED_BUILD} ({error})"))
    return items


def _names_itself(meta_path: Path, kind: str, key: str) -> bool:
    """Whether `meta_path` is an artifact's metadata of this kind and key (what ArtifactCache writes)."""
    if meta_path.is_symlink():
        return False
    try:
        meta = json.loads(read_limited(meta_path))
    except (OSError, ValueError):
        return False
    return isinstance(meta, dict) and meta.get("kind") == kind and meta.get("key") == key


def _artifact_problem(weights: Path, meta_path: Path, wanted: dict, file_sha256) -> str | None:
    if not meta_path.is_file() or meta_path.is_symlink():
        return "weights without metadata"
    if not weights.is_file() or weights.is_symlink():
        return "metadata without weights"
    try:
        meta = json.loads(read_limited(meta_path))
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
    """Valid result files under `root`/results/<task>/, each with why other code computed it (`_result_problem`), and
    killed writers' temporary files there (links never followed). Invalid results are not items: nothing removes them."""
    items = []
    for folder in _files(root / "results"):
        for path in _files(folder):
            rel = str(path.relative_to(root))
            if _temporary(path, re.compile(r"[0-9a-f]{16}\.json")):
                items.append(Item(rel, [path], _size([path]), TEMPORARY))
            elif path.suffix == ".json" and path.is_file():
                try:
                    data = parse_result(read_limited(path).decode())
                except (OSError, ValueError):
                    continue
                if validate_result(data) or path.name != f"{data['id']}.json" or folder.name != data["config"]["task"]:
                    continue  # invalid: `leaderboard check` reports it; never removed here
                items.append(Item(rel, [path], _size([path]), _result_problem(data, registry)))
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
