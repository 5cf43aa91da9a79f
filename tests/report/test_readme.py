"""The README's *Results* table is what the published root gives, line for line (`scripts/readme_results.py`)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from lvrbench.report.readme import END, START, current_block, replace_block

REPO = Path(__file__).resolve().parents[2]


def script():
    spec = importlib.util.spec_from_file_location("readme_results", REPO / "scripts" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_results_table_is_what_the_published_root_gives(capsys):
    """Every figure the README quotes beside a paper's headline is recomputed from leaderboards/standard/: a
    republished root or a change to a verdict rule fails here until `scripts/readme_results.py` is run."""
    if not (REPO / "leaderboards" / "standard" / "results").is_dir():
        pytest.skip("no published standard root in this checkout")
    assert script().main(["--check"]) == 0, capsys.readouterr().err
    block = current_block((REPO / "README.md").read_text(encoding="utf-8"))
    lines = block.splitlines()
    if lines[0].startswith("_No headline"):  # a root whose cells all wait to be recomputed says so, in one line
        assert len(lines) == 1 and "](leaderboards/standard/)" in lines[0]
        return
    assert lines[0].startswith("| page ") and len(lines) > 3
    assert all(line.count("](leaderboards/standard/") == 1 for line in lines[2:])  # each row links its page


def test_the_block_is_replaced_between_its_markers_only():
    text = f"# title\n\nbefore\n{START}\n| old |\n{END}\nafter\n"
    assert replace_block(text, "| new |") == f"# title\n\nbefore\n{START}\n| new |\n{END}\nafter\n"
    assert current_block(replace_block(text, "| new |")) == "| new |"
    for broken in ("no markers", f"{END}\n{START}", f"{START}\n{START}\n{END}"):
        with pytest.raises(ValueError, match="markers once each, in order"):
            replace_block(broken, "| new |")


def test_the_script_says_in_one_line_when_the_readme_differs(tmp_path, monkeypatch, capsys):
    module = script()
    readme = tmp_path / "README.md"
    readme.write_text(f"x\n{START}\n| stale |\n{END}\n", encoding="utf-8")
    monkeypatch.setattr(module, "REPO", tmp_path)
    monkeypatch.setattr(module, "results_table", lambda registry, root, link: f"| page |\n|---|\n| [p]({link}/p.md) |")
    assert module.main(["--check"]) == 1
    assert capsys.readouterr().err == ("README.md: its Results table differs from what leaderboards/standard gives "
                                       "(run scripts/readme_results.py)\n")
    assert module.main([]) == 0 and module.main(["--check"]) == 0
    assert readme.read_text(encoding="utf-8") == f"x\n{START}\n| page |\n|---|\n| [p](leaderboards/standard/p.md) |\n{END}\n"


def test_a_root_without_results_is_refused_in_one_line(registry, tmp_path):
    from lvrbench.base.errors import UsageError
    from lvrbench.report.readme import results_table

    with pytest.raises(UsageError, match=r"holds no results/ folder \(not a leaderboard root\)$"):
        results_table(registry, tmp_path / "nowhere")
    module = script()
    assert module.main(["--root", str(tmp_path / "nowhere"), "--check"]) == 2


def test_a_root_with_no_cell_of_the_installed_code_says_so_in_one_line(registry, tmp_path):
    from lvrbench.report.readme import results_table

    (tmp_path / "root" / "results").mkdir(parents=True)
    assert results_table(registry, tmp_path / "root", link="leaderboards/standard") == (
        "_No headline is put to results of the installed code under [leaderboards/standard](leaderboards/standard/) "
        "yet: it holds none of their cells that a headline reads (cells of other revisions are counted on each page, or "
        "kept under archive/)._")
