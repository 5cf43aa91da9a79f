"""`lvrbench leaderboard migrate`: 0.4 results (identity by distribution versions) re-keyed to the revisions of the
code that computed them, numbers untouched, the 0.4 files moved byte for byte to `archive/<version>/`."""
from __future__ import annotations

import json
import shutil

import pytest

from conftest import REPO, run_cli

from lvrbench.base.errors import UsageError
from lvrbench.base.identity import cell_id
from lvrbench.report.migrate import as_computed_by_04, identity_free, migrate, retire
from lvrbench.report.pages import build
from lvrbench.report.check import check
from lvrbench.run.harness import PlanRequest
from lvrbench.run.store import ResultStore

#: Real results of the published 0.4.0 standard profile (mode coverage on ring8: cheap to re-plan).
PUBLISHED = REPO / "leaderboards" / "standard" / "archive" / "0.4.0" / "results" / "mode-coverage"


@pytest.fixture
def old_root(tmp_path):
    root = tmp_path / "root"
    (root / "results" / "mode-coverage").mkdir(parents=True)
    # 0.4's own files (config.plugins); their migrated forms, retired beside them, are 0.5 results
    files = [p for p in sorted(PUBLISHED.glob("*.json")) if "plugins" in json.loads(p.read_text())["config"]][:4]
    assert len(files) == 4, "the published 0.4.0 results are missing from the archive"
    for path in files:
        shutil.copy(path, root / "results" / "mode-coverage" / path.name)
    return root, files


def test_a_04_root_is_rekeyed_with_its_numbers_untouched(registry, old_root):
    root, files = old_root
    lines = migrate(registry, root)
    assert len(lines) == 4 and all(line.startswith("moved results/mode-coverage/") for line in lines)
    new, problems = ResultStore(root).load()
    assert problems == [] and len(new) == 4
    old = [json.loads(p.read_text()) for p in files]
    for before in old:
        archived = root / "archive" / "0.4.0" / "results" / "mode-coverage" / f"{before['id']}.json"
        assert archived.read_bytes() == (PUBLISHED / f"{before['id']}.json").read_bytes()
        assert not (root / "results" / "mode-coverage" / f"{before['id']}.json").exists()
        (after,) = [r for r in new if identity_free(r["config"]) == identity_free(before["config"])]
        assert after["metrics"] == before["metrics"] and after["extra"] == before["extra"]
        assert after["id"] == cell_id(after["config"]) != before["id"]
        assert "plugins" not in after["config"] and after["config"]["code"]["task"] == {"distribution": "lvrbench",
                                                                                       "revision": 1}
    # the re-keyed configs are exactly what the installed planner gives for those cells
    c = new[0]["config"]
    request = PlanRequest(registry, "standard", datasets=("ring8",), families=(c["family"],), priors=(c["prior"],),
                          seeds=(c["seed"],))
    (job,) = registry.get("tasks", "mode-coverage").plan(request)
    assert c == as_computed_by_04(job.cells[0].config) and c["code"]["core"]["training"] == 2
    build(registry, root)
    assert "_4 result files computed by other revisions of the code are not shown" in (root / "mode-coverage.md").read_text()
    assert check(registry, root) == []
    assert migrate(registry, root) == [f"nothing to migrate: no 0.4 result (config.plugins) under {root / 'results'}"]


def test_a_result_of_other_training_code_is_refused_and_nothing_changes(registry, old_root):
    root, files = old_root
    path = root / "results" / "mode-coverage" / files[0].name
    data = json.loads(path.read_text())
    data["config"]["settings"]["gan"]["training_revision"] = 1
    data["id"] = cell_id(data["config"])
    path.unlink()
    (root / "results" / "mode-coverage" / f"{data['id']}.json").write_text(json.dumps(data))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    with pytest.raises(UsageError, match=r"cannot be migrated: its training_revision is 1, not 0.4.0's 2; nothing was "
                                         r"changed$"):
        migrate(registry, root)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before


def test_the_command_migrates_and_rebuilds_the_pages(old_root):
    root, _ = old_root
    done = run_cli("leaderboard", "migrate", "--out", str(root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == f"wrote {root / 'mode-coverage.md'}"
    assert run_cli("leaderboard", "check", "--out", str(root)).returncode == 0


def test_retire_moves_the_cells_of_other_revisions_to_the_archive_byte_for_byte(registry, old_root):
    root, _ = old_root
    migrate(registry, root)
    migrated = {p.name: p.read_bytes() for p in (root / "results" / "mode-coverage").glob("*.json")}
    assert len(migrated) == 4
    lines = retire(registry, root)
    assert sorted(lines) == sorted(f"moved results/mode-coverage/{name} to archive/0.4.0/results/mode-coverage/{name} "
                                   "(computed by another revision of lvrbench's core)" for name in migrated)
    assert list((root / "results" / "mode-coverage").glob("*.json")) == []
    for name, text in migrated.items():
        assert (root / "archive" / "0.4.0" / "results" / "mode-coverage" / name).read_bytes() == text
    assert retire(registry, root) == [f"nothing to retire: every result under {root / 'results'} was computed by the "
                                      "installed code"]


def test_retire_refuses_to_overwrite_an_archived_file_and_moves_nothing(registry, old_root):
    root, _ = old_root
    migrate(registry, root)
    name = sorted(p.name for p in (root / "results" / "mode-coverage").glob("*.json"))[0]
    clash = root / "archive" / "0.4.0" / "results" / "mode-coverage" / name
    clash.write_text("{}")
    before = {p: p.read_bytes() for p in root.rglob("*.json")}
    with pytest.raises(UsageError, match=rf"^archive/0.4.0/results/mode-coverage/{name} exists with other bytes than "
                                         rf"results/mode-coverage/{name}; nothing was moved$"):
        retire(registry, root)
    assert {p: p.read_bytes() for p in root.rglob("*.json")} == before


def test_the_retire_command_rebuilds_the_pages_and_the_root_checks(old_root):
    root, _ = old_root
    assert run_cli("leaderboard", "migrate", "--out", str(root)).returncode == 0
    assert "not shown" in (root / "mode-coverage.md").read_text()
    done = run_cli("leaderboard", "retire", "--out", str(root))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("moved results/mode-coverage/") == 4
    assert run_cli("leaderboard", "check", "--out", str(root)).returncode == 0


def test_retire_refuses_a_version_that_names_no_archive_folder_and_moves_nothing(registry, old_root):
    root, _ = old_root
    migrate(registry, root)
    path = sorted((root / "results" / "mode-coverage").glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["provenance"]["lvrbench"] = "."
    path.write_text(json.dumps(data))
    before = {p: p.read_bytes() for p in root.rglob("*.json")}
    with pytest.raises(UsageError, match=rf"^results/mode-coverage/{path.name}: its provenance.lvrbench '.' cannot name "
                                         r"an archive/ folder; nothing was moved$"):
        retire(registry, root)
    assert {p: p.read_bytes() for p in root.rglob("*.json")} == before
