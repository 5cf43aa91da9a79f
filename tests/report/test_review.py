"""Reviewing a leaderboard pull request: `leaderboard check --against REF` reads the base with git, never checks it out."""
from __future__ import annotations

import json

import pytest

from conftest import git, real_outcome, recovery_config

from lvrbench.base.errors import UsageError
from lvrbench.api.contracts import Cell
from lvrbench.run.harness import to_result
from lvrbench.report.pages import build
from lvrbench.run.store import ResultStore
from lvrbench.report.review import review


def result(weight: float, provenance: dict | None = None, **config) -> dict:
    cfg = recovery_config("recovery-real", "bhattacharyya", {"lr": 0.01, "weight": weight}) | config
    return to_result(Cell(cfg), real_outcome([1, 0] * 16), provenance or {"git_commit": "c0ffee", "git_dirty": False})


@pytest.fixture
def repo(registry, tmp_path) -> dict:
    """A git repository whose leaderboards/ root holds one committed result and its page; `base` is that commit."""
    repo = tmp_path / "repo"
    root = repo / "leaderboards"
    git(tmp_path, "init", "-q", str(repo))
    first = ResultStore(root).write(result(1.0))
    build(registry, root)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    return {"repo": repo, "root": root, "base": git(repo, "rev-parse", "HEAD"), "first": first}


def test_a_new_cell_is_fine_and_an_unchanged_root_has_nothing_to_say(registry, repo, cli_here):
    root = repo["root"]
    assert (review(root, repo["base"], registry).new, review(root, repo["base"], registry).refused) == ([], [])
    added = ResultStore(root).write(result(0.1))
    build(registry, root)
    found = review(root, "HEAD", registry)  # any revision git knows: a branch name too
    assert (found.new, found.refused, found.unchanged) == ([str(added.relative_to(root))], [], 1)
    code, out, err = cli_here("leaderboard", "check", "--out", str(root), "--against", repo["base"])
    assert code == 0, err
    assert out.splitlines() == [f"{root}/results/recovery-real: 1 new file", f"{root}/results against {repo['base']}: "
                                "1 new file, 1 unchanged, 0 moved to archive/, 0 refused", "leaderboards match their results"]
    code, out, err = cli_here("leaderboard", "check", "--out", str(root), "--against", repo["base"], "--verbose")
    assert (code, out.splitlines()[0]) == (0, f"new {added}")


def test_a_changed_or_deleted_cell_is_refused_with_its_file_named(registry, repo, cli_here):
    root, first = repo["root"], repo["first"]
    rel = str(first.relative_to(root))
    edited = json.loads(first.read_text())
    edited["provenance"]["created"] = "2030-01-01T00:00:00Z"  # a valid result still, only not the one published
    first.write_text(json.dumps(edited))
    assert review(root, repo["base"], registry).refused == [
        f"{rel}: changes an existing file of {repo['base']} (published results are never edited; a new computation is a new cell)"]
    code, _, err = cli_here("leaderboard", "check", "--out", str(root), "--against", repo["base"])
    assert code == 1 and err == (
        f"lvrbench: {root}/{rel}: changes an existing file of {repo['base']} (published results are never edited; "
        "a new computation is a new cell)\n")
    first.unlink()
    build(registry, root)
    assert review(root, repo["base"], registry).refused == [
        f"{rel}: deletes an existing file of {repo['base']} (published results are never removed; "
        "`lvrbench leaderboard migrate` moves retired ones to archive/)"]


def test_retired_cells_pass_only_moved_byte_for_byte_to_the_archive(registry, repo):
    root, first = repo["root"], repo["first"]
    rel = str(first.relative_to(root))
    text = first.read_bytes()
    first.unlink()
    build(registry, root)
    archived = root / "archive" / "0.4.0" / rel
    archived.parent.mkdir(parents=True)
    archived.write_bytes(text)
    found = review(root, repo["base"], registry)
    assert (found.refused, found.archived, found.new) == ([], 1, [])
    archived.write_bytes(text.replace(b'"ok"', b'"ok" '))  # not the published bytes: not a move
    assert review(root, repo["base"], registry).refused == [
        f"{rel}: deletes an existing file of {repo['base']} (published results are never removed; "
        "`lvrbench leaderboard migrate` moves retired ones to archive/)",
        f"archive/0.4.0/{rel}: archive/ holds only results published before, byte for byte"]


def test_results_of_another_profile_or_code_or_from_a_dirty_tree_are_refused(registry, repo):
    root, base = repo["root"], repo["base"]
    store = ResultStore(root)
    full = store.write(result(0.1, profile="full"))
    old = store.write(result(3.2, code={"core": {"recovery": 99}}))
    dirty = store.write(result(0.0, {"git_commit": "c0ffee", "git_dirty": True}))
    rel = lambda p: str(p.relative_to(root))  # noqa: E731
    assert review(root, base, registry).refused == sorted([
        f"{rel(full)}: a full-profile result; this root holds quick results only",
        f"{rel(old)}: computed by another revision of lvrbench's core; a new cell must be computed by the installed code",
        f"{rel(dirty)}: computed from a dirty tree (uncommitted changes on top of lvrbench commit c0ffee): commit, "
        "then run the cell again"])


def test_a_bad_revision_or_a_root_outside_git_is_one_line(registry, repo, tmp_path, cli_here):
    with pytest.raises(UsageError, match=r"^--against nope: no such commit in .*repo$"):
        review(repo["root"], "nope", registry)
    outside = tmp_path / "plain"
    ResultStore(outside).write(result(1.0))
    code, _, err = cli_here("leaderboard", "check", "--out", str(outside), "--against", "HEAD")
    assert (code, err) == (2, f"lvrbench: error: --against HEAD: {outside} is not inside a git repository\n")


def test_a_tree_is_dirty_when_code_changed_not_when_a_run_rebuilt_its_leaderboards(tmp_path):
    from lvrbench.base.provenance import git_state

    repo = tmp_path / "clone"
    code = repo / "lvrbench" / "base"
    code.mkdir(parents=True)
    (code / "provenance.py").write_text("code\n")
    (repo / "leaderboards").mkdir()
    (repo / "leaderboards" / "generation.md").write_text("page\n")
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    head = git(repo, "rev-parse", "HEAD")
    assert git_state(code) == {"git_commit": head, "git_dirty": False}
    (repo / "leaderboards" / "generation.md").write_text("page, rebuilt\n")  # what every run into leaderboards/ does
    (repo / "leaderboards" / "results").mkdir()
    (repo / "leaderboards" / "results" / "new.json").write_text("{}")
    assert git_state(code) == {"git_commit": head, "git_dirty": False}
    (code / "provenance.py").write_text("code, changed\n")
    assert git_state(code) == {"git_commit": head, "git_dirty": True}
    assert git_state(tmp_path) == {"git_commit": None, "git_dirty": None}  # not lvrbench's repository
