"""What a leaderboard root may hold: crafted result files, damaged pages and figures, links anywhere."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import ok_result, run_cli

from lvrbench.base.errors import UsageError
from lvrbench.report.pages import build
from lvrbench.report.check import check
from lvrbench.run.store import MAX_DEPTH, ResultStore, too_deep, validate_result

LINK = "is a link; leaderboards are never written through links"
RESULT_LINK = "is a link (links are refused)"


def figure(root: Path) -> str:
    (png,) = (root / "images" / "recovery-real").glob("*.png")
    return str(png.relative_to(root))


def snapshot(path: Path) -> dict[str, bytes | str]:
    return {str(p.relative_to(path)): p.read_bytes() if p.is_file() and not p.is_symlink() else "other"
            for p in sorted(path.rglob("*"))}


def nested(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = [value]
    return value


def test_a_deeply_nested_result_file_is_an_invalid_result_not_a_recursion_error(tmp_path):
    root = tmp_path / "root"
    crafted = root / "results" / "recovery-real" / "0000000000000000.json"
    crafted.parent.mkdir(parents=True)
    crafted.write_text("[" * 100000 + "]" * 100000)
    before = snapshot(root)
    line = "results/recovery-real/0000000000000000.json: not valid JSON (nested more than 100 levels deep)"
    checked = run_cli("leaderboard", "check", "--out", str(root))
    assert (checked.returncode, checked.stderr) == (1, f"lvrbench: {root}/{line}\n")
    for args in (("leaderboard", "build", "--out", str(root)),
                 ("run", "--task", "recovery-real", "--dry-run", "--out", str(root))):
        done = run_cli(*args, env={"LVRBENCH_CACHE_DIR": str(tmp_path / "cache")})
        assert (done.returncode, done.stderr) == (2, f"lvrbench: error: {root}: {line}\n")
    assert snapshot(root) == before
    assert ResultStore(root).status("recovery-real", "0000000000000000") == "pending"


def test_a_result_that_parses_but_nests_too_deeply_is_invalid(registry, tmp_path):
    assert MAX_DEPTH == 100
    assert not too_deep(nested(100)) and too_deep(nested(101)) and not too_deep(0) and not too_deep({})
    assert validate_result({"x": nested(100)}) == ["nested more than 100 levels deep"]
    ok = ok_result()
    ok["config"]["settings"]["deep"] = nested(98)  # the document, its config and its settings are 3 levels more
    assert validate_result(ok) == ["nested more than 100 levels deep"]
    path = ResultStore(tmp_path).path("recovery-real", ok["id"])
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(ok))
    assert check(registry, tmp_path) == [
        f"results/recovery-real/{ok['id']}.json: not valid JSON (nested more than 100 levels deep)"]
    assert ResultStore(tmp_path).status("recovery-real", ok["id"]) == "pending"


def test_a_page_that_is_not_utf8_or_has_other_line_ends_differs_from_what_build_writes(registry, built):
    page = built / "recovery-real.md"
    text = page.read_bytes()
    page.write_bytes(b"\xff")
    checked = run_cli("leaderboard", "check", "--out", str(built))
    assert (checked.returncode, checked.stderr) == (
        1, f"lvrbench: {built}/recovery-real.md: differs from what `lvrbench leaderboard build` writes\n")
    page.write_bytes(text.replace(b"\n", b"\r\n"))
    assert check(registry, built) == ["recovery-real.md: differs from what `lvrbench leaderboard build` writes"]
    build(registry, built)
    assert page.read_bytes() == text and check(registry, built) == []


@pytest.mark.parametrize("where", ["images", "images/recovery-real", "figure", "recovery-real.md"])
def test_check_reports_every_link_build_refuses_and_neither_goes_through_it(registry, built, tmp_path, where):
    rel = figure(built) if where == "figure" else where
    moved = tmp_path / "outside" / "moved"
    moved.parent.mkdir()
    (built / rel).rename(moved)
    (built / rel).symlink_to(moved)
    outside = snapshot(tmp_path / "outside")
    assert check(registry, built) == [f"{rel}: {LINK}"]
    with pytest.raises(UsageError, match=f"^{re.escape(f'{built / rel}: {LINK}')}$"):
        build(registry, built)
    assert snapshot(tmp_path / "outside") == outside


def test_a_linked_image_folder_fails_check_as_it_fails_build_on_the_command_line(built, tmp_path):
    folder = built / "images" / "recovery-real"
    folder.rename(tmp_path / "elsewhere")
    folder.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    checked = run_cli("leaderboard", "check", "--out", str(built))
    assert (checked.returncode, checked.stderr) == (1, f"lvrbench: {folder}: {LINK}\n")
    built_again = run_cli("leaderboard", "build", "--out", str(built))
    assert (built_again.returncode, built_again.stderr) == (2, f"lvrbench: error: {folder}: {LINK}\n")


def test_every_linked_figure_must_be_a_regular_file_holding_a_png_that_decodes(registry, built):
    rel = figure(built)
    png = (built / rel).read_bytes()
    (built / rel).write_text("not a png")
    assert check(registry, built) == [f"{rel}: not a PNG image (run `lvrbench leaderboard build`)"]
    (built / rel).write_bytes(png[:len(png) // 2])
    (problem,) = check(registry, built)
    assert problem.startswith(f"{rel}: not a PNG image that decodes (") and problem.endswith(
        ") (run `lvrbench leaderboard build`)")
    build(registry, built)
    assert (built / rel).read_bytes() == png and check(registry, built) == []
    (built / rel).unlink()
    (built / rel).mkdir()
    assert check(registry, built) == [f"{rel}: not a regular file"]
    with pytest.raises(UsageError, match=f"^{re.escape(f'{built / rel}: not a regular file')}$"):
        build(registry, built)


def test_a_linked_results_folder_is_refused_by_run_build_and_check_and_never_gone_through(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    ResultStore(outside).write(ok_result())
    root.mkdir()
    (root / "results").symlink_to(outside / "results", target_is_directory=True)
    before = snapshot(tmp_path)
    checked = run_cli("leaderboard", "check", "--out", str(root))
    assert (checked.returncode, checked.stderr) == (1, f"lvrbench: {root}/results: {RESULT_LINK}\n")
    for args in (("leaderboard", "build", "--out", str(root)), ("run", "--task", "recovery-real", "--out", str(root))):
        done = run_cli(*args, env={"LVRBENCH_CACHE_DIR": str(tmp_path / "cache")})
        assert (done.returncode, done.stderr) == (2, f"lvrbench: error: {root}: results: {RESULT_LINK}\n")
    assert snapshot(tmp_path) == before


def test_a_linked_task_folder_is_one_problem_and_is_never_written_through(registry, tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    ok = ok_result()
    ResultStore(outside).write(ok)
    (root / "results").mkdir(parents=True)
    (root / "results" / "recovery-real").symlink_to(outside / "results" / "recovery-real", target_is_directory=True)
    assert check(registry, root) == [f"results/recovery-real: {RESULT_LINK}"]
    with pytest.raises(UsageError, match=f"^{re.escape(f'{root}: results/recovery-real: {RESULT_LINK}')}$"):
        build(registry, root)
    store = ResultStore(root)
    assert store.status("recovery-real", ok["id"]) == "pending"
    with pytest.raises(UsageError, match=f"^{re.escape(f'{root}/results/recovery-real: {LINK}')}$"):
        store.write(ok)
    assert [p.name for p in (outside / "results" / "recovery-real").iterdir()] == [f"{ok['id']}.json"]


def test_files_that_are_not_results_under_results_are_reported(registry, built):
    """A pull request cannot slip unread files into results/; a killed writer's dot-file is reported as what it is."""
    (built / "results" / "stray.json").write_text("{}")
    (built / "results" / "recovery-real" / "x.JSON").write_text("garbage")
    (built / "results" / "recovery-real" / "sub").mkdir()
    (built / "results" / "recovery-real" / ".0123456789abcdef.json.k2_x9q0a.tmp").write_text("half a fi")
    stray = "is not a result file: results/ holds only results/<task>/<cell id>.json"
    assert check(registry, built) == [f"results/recovery-real/sub: {stray}", f"results/recovery-real/x.JSON: {stray}",
                                      f"results/stray.json: {stray}", "results/recovery-real/.0123456789abcdef.json."
                                      "k2_x9q0a.tmp: left by a killed writer: remove it"]
