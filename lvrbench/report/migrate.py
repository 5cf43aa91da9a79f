"""`lvrbench leaderboard migrate`: re-key a root's results of lvrbench 0.4 to 0.5's identity, numbers untouched.

0.4 named the code behind a cell by distribution versions (`config.plugins`, and versions inside the generator's and
evaluator's specs), so every release re-keyed every cell. 0.5 names the revisions of the code that computed it
(`config.code`). Where 0.5's planner plans what 0.4 computed (the same cell configs but for those identity fields,
with the training and classifier revisions 0.4 recorded), a 0.4 result becomes a 0.5 result of that planned cell,
naming the revisions 0.4.0's code has in 0.5's terms (`as_computed_by_04`): its config and id are those, the keys of
the artifacts it names follow, and its metrics and extra stay byte for byte. The 0.4 file moves, unchanged, to
`archive/<its version>/results/<task>/`, which is how `leaderboard check --against` accepts its removal from
`results/`.

`lvrbench leaderboard retire` is the other half of a republication: once a root holds the installed code's cells,
the cells other revisions computed (migrated 0.4 cells included) move, byte for byte, to `archive/<the lvrbench
version that computed them>/results/<task>/`, so a page never mixes them and no published file is lost.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..base.errors import UsageError
from ..base.files import inside, read_limited, write_json_atomic
from ..base.hashing import canonical_json
from ..base.identity import artifact_keys, cell_id
from ..base.text import inert
from ..run.harness import stale
from ..run.replan import replan
from ..run.store import parse_result
from .check import ARCHIVED

#: The fields 0.4 identified code by, anywhere in a config, and 0.5's equivalent.
IDENTITY_FIELDS = {"plugins", "code", "core", "family_version", "dataset_version", "generator_version",
                   "training_revision", "revision"}
#: What 0.4.0's code recorded for the training loop and the classifier: the revisions 0.5 starts from.
REVISIONS_04 = {"training_revision": 2, "revision": 2}
#: The revisions 0.4.0's code has in 0.5's terms where 0.5 has moved on: core modules (in `code.core` and in the
#: code blocks of the generator's and evaluator's specs) and lvrbench's own tasks. A migrated cell names the code that
#: computed it, not the installed code, which computes other numbers (0.5's task revision 2 adds a generator check,
#: a second evaluator and three seeds); its page counts it among the cells other revisions computed.
CORE_04 = {"training": 2, "evaluator": 2, "scoring": 1}
TASK_04 = {"distribution": "lvrbench", "revision": 1}


def as_computed_by_04(config: dict) -> dict:
    """`config` (a 0.5 plan of a 0.4 cell) naming 0.4.0's revisions where the installed code's differ."""
    def walk(value: Any, key: str = "") -> Any:
        if isinstance(value, dict):
            out = {k: walk(v, k) for k, v in value.items()}
            if key == "code":
                core = out.get("core") if isinstance(out.get("core"), dict) else out
                core.update({k: v for k, v in CORE_04.items() if k in core})
                if isinstance(out.get("task"), dict) and out["task"].get("distribution") == TASK_04["distribution"]:
                    out["task"] = dict(TASK_04)
            return out
        return [walk(v) for v in value] if isinstance(value, list) else value
    return walk(config)


def identity_free(value: Any) -> Any:
    """A config without the fields that name the code that computed it: what stays when only identity changes."""
    if isinstance(value, dict):
        return {k: identity_free(v) for k, v in value.items() if k not in IDENTITY_FIELDS}
    return [identity_free(v) for v in value] if isinstance(value, list) else value


def _old_revisions(config: dict) -> str | None:
    """Why a 0.4 config was computed by other training or classifier code than 0.5 starts from, or None."""
    settings = config.get("settings", {})
    for spec in (settings.get("gan"), settings.get("evaluator")):
        if isinstance(spec, dict):
            for field, value in REVISIONS_04.items():
                if field in spec and spec[field] != value:
                    return f"its {field} is {spec[field]}, not 0.4.0's {value}"
    return None


def _readable(root: Path) -> Iterator[tuple[Path, bytes, dict]]:
    """Each result file under `root/results/` that parses, with its bytes and its config checked to be a dict (the
    others `leaderboard check` names; moving or re-keying touches only results it can read)."""
    for path in sorted((root / "results").glob("*/*.json")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = read_limited(path)
            data = parse_result(text.decode())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("config"), dict):
            yield path, text, data


def migrate(registry: Any, root: Path, data_dir: str | None = None, dry_run: bool = False) -> list[str]:
    """Re-key every 0.4 result under `root` (see the module docstring); one line per file, refusals included."""
    results = [(path, data) for path, _, data in _readable(root) if "plugins" in data["config"]]
    if not results:
        return ["nothing to migrate: no 0.4 result (config.plugins) under " + str(root / "results")]
    match = lambda planned, given: canonical_json(identity_free(planned)) == canonical_json(identity_free(given))  # noqa: E731
    planned = replan(registry, [data["config"] for _, data in results], data_dir, match)
    lines, moves = [], []
    for (path, data), found in zip(results, planned):
        rel = path.relative_to(root)
        why = _old_revisions(data["config"]) or (None if found.config else found.why)
        if why:
            raise UsageError(f"{rel}: cannot be migrated: {why}; nothing was changed")
        config = as_computed_by_04(found.config)
        new = {**data, "config": config, "id": cell_id(config)}
        keys = artifact_keys(config)
        new["artifacts"] = {name: {**a, "key": keys[name]} if name in keys and isinstance(a, dict) else a
                            for name, a in data.get("artifacts", {}).items()} if "artifacts" in data else None
        if new["artifacts"] is None:
            del new["artifacts"]
        version = str(data.get("provenance", {}).get("lvrbench", "0.4"))
        moves.append((path, root / "archive" / version / rel, new))
        lines.append(f"{'would move' if dry_run else 'moved'} {rel} to archive/{version}/{rel}; "
                     f"{'would write' if dry_run else 'wrote'} results/{config['task']}/{new['id']}.json")
    if not dry_run:
        for old, archived, new in moves:
            archived = inside(root, str(archived.relative_to(root)))
            archived.parent.mkdir(parents=True, exist_ok=True)
            archived.write_bytes(old.read_bytes())
            write_json_atomic(inside(root, f"results/{new['config']['task']}/{new['id']}.json"), new)
            if old.name != f"{new['id']}.json":
                old.unlink()
    return lines


def retire(registry: Any, root: Path, dry_run: bool = False) -> list[str]:
    """Move every result under `root/results/` that the installed code did not compute (`harness.stale`: other
    revisions, or a plugin not installed) to `archive/<the lvrbench version that computed it>/`, byte for byte: how a
    republished profile replaces the cells of a release (`leaderboard check --against` accepts a removal only when the
    file lies under archive/ unchanged). An archive file of the same name with other bytes stops it before anything
    moves. One line per file."""
    moves, lines = [], []
    for path, text, data in _readable(root):
        if not (why := stale(data["config"], registry)):
            continue
        prov = data.get("provenance")
        version = str(prov.get("lvrbench", "unknown") if isinstance(prov, dict) else "unknown")
        rel = path.relative_to(root)
        if not ARCHIVED.fullmatch(f"archive/{version}/{rel}"):  # what `check` accepts under archive/
            raise UsageError(f"{rel}: its provenance.lvrbench {inert(version)!r} cannot name an archive/ folder; "
                             "nothing was moved")
        archived = inside(root, f"archive/{version}/{rel}")
        if archived.exists() and archived.read_bytes() != text:
            raise UsageError(f"archive/{version}/{rel} exists with other bytes than {rel}; nothing was moved")
        moves.append((path, archived, text))
        lines.append(f"{'would move' if dry_run else 'moved'} {rel} to archive/{version}/{rel} ({why})")
    if not dry_run:
        for path, archived, text in moves:
            archived.parent.mkdir(parents=True, exist_ok=True)
            archived.write_bytes(text)
            path.unlink()
    return lines or ["nothing to retire: every result under " + str(root / "results") + " was computed by the installed code"]
