"""What a leaderboard pull request does to a root's results, against a git revision (`leaderboard check --against`).

New cells are fine. A changed or deleted existing cell, a result of a profile the root does not hold or of other
code than the installed, and one computed from a dirty tree are refused. The one way to retire published cells is
the documented migration: they move, byte for byte, to `archive/<version>/results/<task>/<id>.json` (what
`lvrbench leaderboard migrate` does), so no old cell is silently mixed with a new one nor lost. The base is read with
`git ls-tree` and `git cat-file`, never checked out; the change is the working tree (what `leaderboard check`
reads). Results are data: parsed as JSON only.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from typing import Any

from ..base.errors import UsageError
from ..base.files import read_limited
from ..base.identity import PROFILES
from ..run.harness import stale
from ..run.store import parse_result

#: Where a root keeps results and retired results, the two folders a review compares.
FOLDERS = ("results", "archive")


@dataclass
class Review:
    """The change to `<root>/results/` against a base: one line per new cell, one per refused file."""

    new: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unchanged: int = 0
    archived: int = 0


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    """git's stdout, or None when it fails (not a repository, an unknown revision, no git at all)."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], input=stdin, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def base_files(root: Path, ref: str) -> dict[str, bytes]:
    """The files under `<root>/results/` and `<root>/archive/` at revision `ref`, by path relative to root
    ("results/<task>/<id>.json").

    A root outside a git repository, or a `ref` that names no commit there, is a one-line UsageError.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(f"--against {ref}: {root} is not inside a git repository")
    top_dir = Path(top.decode().strip())
    if _git(top_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        raise UsageError(f"--against {ref}: no such commit in {top_dir}")
    prefix = PurePosixPath(root.resolve().relative_to(top_dir.resolve()).as_posix())
    listing = _git(top_dir, "ls-tree", "-r", "-z", "--full-tree", ref, "--", *(str(prefix / f) for f in FOLDERS))
    if listing is None:
        raise UsageError(f"--against {ref}: git cannot list {prefix / 'results'} at that commit")
    blobs: dict[str, str] = {}
    for entry in filter(None, listing.split(b"\0")):
        meta, path = entry.split(b"\t", 1)
        mode, kind, oid = meta.decode().split()
        rel = PurePosixPath(path.decode(errors="replace")).relative_to(prefix).as_posix() if str(prefix) != "." \
            else path.decode(errors="replace")
        blobs[rel] = oid if kind == "blob" and mode != "120000" else f"link {oid}"  # a link is compared by its target id
    return dict(zip(blobs, _contents(top_dir, list(blobs.values()))))


def _contents(top: Path, oids: list[str]) -> list[bytes]:
    """The blobs with these ids, read in one `git cat-file --batch`; a link entry stands for itself."""
    wanted = [oid for oid in oids if not oid.startswith("link ")]
    out = _git(top, "cat-file", "--batch", stdin="".join(f"{oid}\n" for oid in wanted).encode()) if wanted else b""
    if out is None:
        raise UsageError("git cat-file could not read the base's result files")
    found, pos = {}, 0
    for oid in wanted:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])
        found[oid] = out[header_end + 1:header_end + 1 + size]
        pos = header_end + 1 + size + 1
    return [found.get(oid, oid.encode()) for oid in oids]


def current_files(root: Path) -> dict[str, bytes]:
    """The files under `<root>/results/` and `<root>/archive/` in the working tree, by path relative to root; links
    are never followed."""
    out: dict[str, bytes] = {}
    pending = [root / f for f in FOLDERS if (root / f).is_dir() and not (root / f).is_symlink()]
    while pending:
        for path in sorted(pending.pop().iterdir()):
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = f"link {path.readlink()}".encode()
            elif path.is_dir():
                pending.append(path)
            elif path.is_file():
                try:
                    out[rel] = read_limited(path)
                except (OSError, ValueError) as exc:  # never equal to a published file's bytes
                    out[rel] = f"unreadable: {exc}".encode()
    return out


def _profiles(files: dict[str, bytes]) -> set[str]:
    """The profiles of the results among `files` that parse (invalid ones hold nothing)."""
    profiles = set()
    for text in files.values():
        try:
            data = parse_result(text.decode())
        except (UnicodeDecodeError, ValueError):
            continue
        config = data.get("config") if isinstance(data, dict) else None
        if isinstance(config, dict):
            profiles.add(str(config.get("profile")))
    return profiles


def review(root: Path, ref: str, registry: Any) -> Review:
    """What the working tree's results and archive do against revision `ref` (see the module docstring)."""
    base, now = base_files(root, ref), current_files(root)
    # a root named for a profile holds that profile only; another holds the profile its base holds
    profiles = {root.name} if root.name in PROFILES else _profiles({k: v for k, v in base.items() if k.startswith("results/")})
    archive = {path.split("/", 2)[2]: text for path, text in now.items() if path.startswith("archive/") and path.count("/") >= 2}
    out = Review()
    for rel in sorted(base.keys() - now.keys()):
        if rel.startswith("results/") and archive.get(rel) == base[rel]:
            out.archived += 1  # retired by the documented migration: kept, byte for byte, under archive/
            continue
        out.refused.append(f"{rel}: deletes an existing file of {ref} (published results are never removed; "
                           "`lvrbench leaderboard migrate` moves retired ones to archive/)")
    retired = {text for rel, text in base.items() if rel.startswith("results/")} | \
              {text for rel, text in base.items() if rel.startswith("archive/")}
    for rel in sorted(now):
        if rel in base:
            if base[rel] == now[rel]:
                out.unchanged += 1
            else:
                out.refused.append(f"{rel}: changes an existing file of {ref} (published results are never edited; "
                                   "a new computation is a new cell)")
            continue
        if rel.startswith("archive/"):
            if now[rel] not in retired:
                out.refused.append(f"{rel}: archive/ holds only results published before, byte for byte")
            continue
        out.new.append(rel)
        try:
            data = parse_result(now[rel].decode())
        except (UnicodeDecodeError, ValueError):
            continue  # `leaderboard check` reports it as an invalid result
        config = data.get("config") if isinstance(data, dict) else None
        prov = data.get("provenance") if isinstance(data, dict) else None
        if not isinstance(config, dict) or not isinstance(prov, dict):
            continue
        if profiles and config.get("profile") not in profiles:
            out.refused.append(f"{rel}: a {config.get('profile')}-profile result; this root holds "
                               f"{' and '.join(sorted(profiles))} results only")
        if why := stale(config, registry):
            out.refused.append(f"{rel}: {why}; a new cell must be computed by the installed code")
        if prov.get("git_dirty") is True:
            out.refused.append(f"{rel}: computed from a dirty tree (uncommitted changes on top of lvrbench commit "
                               f"{prov.get('git_commit')}): commit, then run the cell again")
    return out


def review_roots(roots: list[Path], against: str, registry: Any, verbose: bool = False) -> list[str]:
    """`leaderboard check --against`: print what each root's results do (new files counted per task, or listed with
    `verbose`); return the refused files under their root."""
    from ..base.files import path_text
    from ..base.progress import count

    refused = []
    for root in roots:
        found = review(root, against, registry)
        per_task: dict[str, int] = {}
        for rel in found.new:
            per_task[rel.split("/")[1]] = per_task.get(rel.split("/")[1], 0) + 1
            if verbose:
                print(f"new {path_text(root / rel)}")
        if not verbose:
            for task, n in sorted(per_task.items()):
                print(f"{path_text(root / 'results' / task)}: {count(n, 'new file')}")
        print(f"{root}/results against {against}: {count(len(found.new), 'new file')}, {found.unchanged} unchanged, "
              f"{found.archived} moved to archive/, {len(found.refused)} refused")
        refused += [f"{root}/{line}" for line in found.refused]
    return refused
