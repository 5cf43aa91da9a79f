"""What a leaderboard pull request does to a root's results, against a git revision (`leaderboard check --against`).

New cells are fine. A changed or deleted existing cell, a result of a profile or lvrbench version the root does not
hold, and one computed from a dirty tree are refused. The base is read with `git ls-tree` and `git cat-file`, never
checked out; the change is the working tree (what `leaderboard check` reads). Results are data: parsed as JSON only.
"""
from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import CORE
from .errors import UsageError
from .results import parse_result


@dataclass
class Review:
    """The change to `<root>/results/` against a base: one line per new cell, one per refused file."""

    new: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    unchanged: int = 0


def _git(cwd: Path, *args: str, stdin: bytes | None = None) -> bytes | None:
    """git's stdout, or None when it fails (not a repository, an unknown revision, no git at all)."""
    try:
        done = subprocess.run(["git", "-C", str(cwd), *args], input=stdin, capture_output=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def base_files(root: Path, ref: str) -> dict[str, bytes]:
    """The files under `<root>/results/` at revision `ref`, by path relative to root ("results/<task>/<id>.json").

    A root outside a git repository, or a `ref` that names no commit there, is a one-line UsageError.
    """
    top = _git(root, "rev-parse", "--show-toplevel")
    if top is None:
        raise UsageError(f"--against {ref}: {root} is not inside a git repository")
    top_dir = Path(top.decode().strip())
    if _git(top_dir, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}") is None:
        raise UsageError(f"--against {ref}: no such commit in {top_dir}")
    prefix = PurePosixPath(root.resolve().relative_to(top_dir.resolve()).as_posix())
    listing = _git(top_dir, "ls-tree", "-r", "-z", "--full-tree", ref, "--", str(prefix / "results"))
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
    """The files under `<root>/results/` in the working tree, by path relative to root; links are never followed."""
    out: dict[str, bytes] = {}
    base = root / "results"
    if base.is_symlink() or not base.is_dir():
        return out
    pending = [base]
    while pending:
        for path in sorted(pending.pop().iterdir()):
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                out[rel] = f"link {path.readlink()}".encode()
            elif path.is_dir():
                pending.append(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
    return out


def _held(files: dict[str, bytes]) -> tuple[set[str], set[str]]:
    """The profiles and lvrbench versions of the results among `files` that parse (invalid ones hold nothing)."""
    profiles, versions = set(), set()
    for text in files.values():
        try:
            data = parse_result(text.decode())
        except (UnicodeDecodeError, ValueError):
            continue
        config = data.get("config") if isinstance(data, dict) else None
        if isinstance(config, dict):
            profiles.add(str(config.get("profile")))
            if isinstance(config.get("plugins"), dict):
                versions.add(str(config["plugins"].get("core")))
    return profiles, versions


def review(root: Path, ref: str) -> Review:
    """What the working tree's `<root>/results/` does against revision `ref` (see the module docstring)."""
    base, now = base_files(root, ref), current_files(root)
    profiles, versions = _held(base)
    versions.add(CORE)  # the installed version's cells are what the tables show: always welcome
    out = Review()
    for rel in sorted(base.keys() - now.keys()):
        out.refused.append(f"{rel}: deletes an existing cell of {ref} (published results are never removed)")
    for rel in sorted(now):
        if rel in base:
            if base[rel] == now[rel]:
                out.unchanged += 1
            else:
                out.refused.append(f"{rel}: changes an existing cell of {ref} (published results are never edited; "
                                   "a new computation is a new cell)")
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
        core = config.get("plugins", {}).get("core") if isinstance(config.get("plugins"), dict) else None
        if profiles and config.get("profile") not in profiles:
            out.refused.append(f"{rel}: a {config.get('profile')}-profile result; this root holds "
                               f"{' and '.join(sorted(profiles))} results only")
        if core not in versions:
            out.refused.append(f"{rel}: a result of {core}; this root holds {', '.join(sorted(versions))} results only")
        if prov.get("git_dirty") is True:
            out.refused.append(f"{rel}: computed from a dirty tree (uncommitted changes on top of lvrbench commit "
                               f"{prov.get('git_commit')}): commit, then run the cell again")
    return out


def review_roots(roots: list[Path], against: str) -> list[str]:
    """`leaderboard check --against`: print each root's new files and counts; return the refused files under their root."""
    from .progress import count

    refused = []
    for root in roots:
        found = review(root, against)
        for rel in found.new:
            print(f"new {root}/{rel}")
        print(f"{root}/results against {against}: {count(len(found.new), 'new file')}, {found.unchanged} unchanged, "
              f"{len(found.refused)} refused")
        refused += [f"{root}/{line}" for line in found.refused]
    return refused
