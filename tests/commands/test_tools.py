"""`lvrbench list` shows hyper-parameters with their ranges; `lvrbench cache list|prune` shows and removes what is stale."""
from __future__ import annotations

import json
import re
from pathlib import Path

from conftest import ok_result

from lvrbench.engine.artifacts import file_sha256
from lvrbench.commands.cache import FAILED_BUILD, size_text
from lvrbench.report.pages import build
from lvrbench.base.identity import cell_id
from lvrbench.run.store import ResultStore
from lvrbench.engine.training import REVISION as TRAINING_REVISION
from lvrbench.run.harness import core_revisions


def test_list_shows_each_hyper_parameter_with_its_range_grid_and_doc(cli_here):
    text = cli_here("list", "--kind", "resamplers")[1].splitlines()
    start = text.index("resamplers hyper-parameters (`--set NAME=V1,V2` replaces a grid, within the range):")
    assert re.match(r"^resampler +parameter +range +grid +doc$", text[start + 1])
    assert any(re.fullmatch(r"hard-cutoff +c +> 0 +2\.5, 3, 3\.5 +cutoff in prior standard deviations", line) for line in text)
    assert any(re.fullmatch(r"logistic-cutoff +b +> 0 +2, 2\.5, 3 +midpoint, where P = 1/2", line) for line in text)
    doc = json.loads(cli_here("list", "--kind", "regularizers", "--json")[1])
    row = next(r for r in doc["regularizers"] if r["name"] == "bhattacharyya")
    assert row["hyperparameters"] == {"weight": {"grid": [0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0], "minimum": 0.0,
                                                 "exclusive_minimum": False, "maximum": None,
                                                 "doc": "latent regulation loss weight λ"}}


def artifact(cache: Path, kind: str, key: str, weights: bytes = b"w" * 1000, **config) -> list[Path]:
    """A cache entry as ArtifactCache writes it; `config` replaces the installed versions it records."""
    folder = cache / kind
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{key}.pt").write_bytes(weights)
    core = core_revisions()
    revision = {"generators": {"code": {m: core[m] for m in ("training", "networks", "priors")}},
                "evaluators": {"code": {"evaluator": core["evaluator"]}}}.get(kind, {"generator": "k"})
    meta = {"key": key, "kind": kind, "config": {**revision, **config}, "metrics": {}, "provenance": {},
            "sha256": file_sha256(folder / f"{key}.pt")}
    (folder / f"{key}.json").write_text(json.dumps(meta))
    return [folder / f"{key}.pt", folder / f"{key}.json"]


def test_cache_prune_removes_exactly_what_is_stale_and_says_how_much_it_frees(registry, tmp_path, cli_here):
    cache, root = tmp_path / "cache", tmp_path / "root"
    current = artifact(cache, "generators", "a" * 16) + artifact(cache, "evaluators", "b" * 16)
    stale = {
        "generators/" + "c" * 16: (artifact(cache, "generators", "c" * 16, code={}, core="lvrbench 0.4.0", training_revision=2),
                                   f"code.training None, not the installed {TRAINING_REVISION}"),
        "generators/" + "d" * 16: (artifact(cache, "generators", "d" * 16,
                                            code={"training": TRAINING_REVISION - 1, "networks": 1, "priors": 1}),
                                   f"code.training {TRAINING_REVISION - 1}, not the installed {TRAINING_REVISION}"),
        "evaluators/" + "e" * 16: (artifact(cache, "evaluators", "e" * 16), "its weights are not the ones its metadata records (sha256)"),
    }
    stale["evaluators/" + "e" * 16][0][0].write_bytes(b"x" * 1000)  # weights swapped after the hash was recorded
    orphan = cache / "generators" / ("f" * 16 + ".pt")
    orphan.write_bytes(b"o" * 10)
    stale["generators/" + "f" * 16] = ([orphan], "weights without metadata")
    tmp = cache / "generators" / f".{'c' * 16}.pt.k2_x9q0a.tmp"  # as atomic_write names it
    tmp.write_bytes(b"t" * 5)
    stale[f"generators/.{'c' * 16}.pt.k2_x9q0a.tmp"] = ([tmp], "a killed writer's temporary file")
    mine = cache / "mine" / "notes.json"  # not an artifact: left alone, even named like one
    mine.parent.mkdir()
    mine.write_text("{}")
    # files that are not lvrbench's artifacts, in its own folders: never listed, never removed
    theirs = [cache / "generators" / "mymodel.pt", cache / "generators" / "notes.json", cache / "evaluators" / "config.json",
              cache / "generators" / ".notes.tmp", cache / "evaluators" / ("9" * 16 + ".json")]
    for path in theirs:
        path.write_text('{"kind": "generators"}')
    current += artifact(cache, "calibrators", "1" * 16)  # a plugin's kind, with no core version of its own: current
    stale["calibrators/" + "2" * 16] = (artifact(cache, "calibrators", "2" * 16), "its weights are not the ones its metadata records (sha256)")
    stale["calibrators/" + "2" * 16][0][0].write_bytes(b"y" * 1000)
    store = ResultStore(root)
    kept = store.write(ok_result())
    old = ok_result()
    old["config"]["code"]["core"]["recovery"] = 99
    old["id"] = cell_id(old["config"])
    old_path = store.write(old)
    build(registry, root)
    invalid = json.loads(json.dumps(old))  # of another revision too, but not a valid result: `check` reports it
    invalid["metrics"]["accuracy"]["low"] = 2.0
    invalid_path = root / "results" / "recovery-real" / f"{'e' * 16}.json"
    invalid_path.write_text(json.dumps(invalid))
    assert "_1 result files computed by other revisions of the code are not shown" in (root / "recovery-real.md").read_text()

    code, out, err = cli_here("cache", "list", "--cache-dir", str(cache), "--out", str(root))
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[2:-1]}
    assert all(rows[name].endswith(why) for name, (_, why) in stale.items())
    assert rows["generators/" + "a" * 16].endswith("current") and rows[f"{root}/{old_path.relative_to(root)}"].endswith(
        "a result of another revision of the core")
    freed = sum(p.stat().st_size for paths, _ in stale.values() for p in paths)

    code, out, _ = cli_here("cache", "prune", "--dry-run", "--cache-dir", str(cache), "--out", str(root))
    assert code == 0 and out.splitlines()[-1] == f"would free {size_text(freed)} ({len(stale)} entries)"
    assert all(p.exists() for paths, _ in stale.values() for p in paths)

    code, out, err = cli_here("cache", "prune", "--cache-dir", str(cache), "--out", str(root))
    assert code == 0, err
    assert out.splitlines()[-1] == f"freed {size_text(freed)} ({len(stale)} entries)"
    assert not any(p.exists() for paths, _ in stale.values() for p in paths)
    assert all(p.exists() for p in current) and mine.exists() and old_path.exists()  # results stay without --results

    code, out, err = cli_here("cache", "prune", "--results", "--dry-run", "--cache-dir", str(cache), "--out", str(root))
    assert code == 0 and out.splitlines() == [f"would remove {root}/{old_path.relative_to(root)} (a result of another "
                                              "revision of the core)", f"would free {size_text(old_path.stat().st_size)} (1 entry)"]
    invalid_path.unlink()  # (a root holding it could not have its pages rebuilt)
    code, out, err = cli_here("cache", "prune", "--results", "--cache-dir", str(cache), "--out", str(root))
    assert code == 0, err
    assert out.splitlines()[0] == f"removed {root}/{old_path.relative_to(root)} (a result of another revision of the core)"
    assert not old_path.exists() and kept.exists()
    assert all(p.exists() for p in theirs) and not any(str(p.name) in out for p in theirs)
    assert "other revisions of the code" not in (root / "recovery-real.md").read_text()  # its page rebuilt
    assert cli_here("leaderboard", "check", "--out", str(root))[0] == 0


def test_prune_results_removes_what_pages_leave_out_but_keeps_an_uninstalled_plugins_numbers(registry, tmp_path, cli_here):
    """A failed cell of a plugin that is no longer installed, and a result of another revision of an installed plugin,
    are left off the pages and removed by `cache prune --results`; an ok result of an uninstalled plugin is kept, so
    installing its package shows it again."""
    from lvrbench.api.contracts import Cell, CellOutcome
    from lvrbench.run.harness import to_result

    def result(method: str, code: dict, failed: bool = False) -> dict:
        r = ok_result()
        r["config"].update(method=method, seed=int(failed))  # a failed cell of the same method: another seed
        r["config"]["code"]["method"] = code
        r["id"] = cell_id(r["config"])
        return to_result(Cell(r["config"]), CellOutcome(error="sampler gone failed: boom"), {}) if failed else r

    root, store = tmp_path / "root", ResultStore(tmp_path / "root")
    installed = {"distribution": "lvrbench", "revision": registry.get("regularizers", "bhattacharyya").revision}
    kept = [store.write(result("bhattacharyya", installed)), store.write(result("gone", {"distribution": "acme", "revision": 1}))]
    failed = store.write(result("gone", {"distribution": "acme", "revision": 1}, failed=True))
    older = store.write(result("bhattacharyya", {**installed, "revision": installed["revision"] + 1}))
    build(registry, root)
    assert "_3 result files computed by other revisions of the code are not shown" in (root / "recovery-real.md").read_text()
    code, out, err = cli_here("cache", "list", "--cache-dir", str(tmp_path / "cache"), "--out", str(root))
    assert code == 0, err
    assert out.splitlines()[-1].endswith("result files of other code or temporary: 2 (" + size_text(
        failed.stat().st_size + older.stat().st_size) + ") of 4")
    code, out, err = cli_here("cache", "prune", "--results", "--cache-dir", str(tmp_path / "cache"), "--out", str(root))
    assert code == 0, err
    assert sorted(out.splitlines()[:2]) == sorted([
        f"removed {root}/{failed.relative_to(root)} (a failed cell: its method gone is not installed)",
        f"removed {root}/{older.relative_to(root)} (a result computed by method bhattacharyya revision "
        f"{installed['revision'] + 1} of lvrbench)"])
    assert all(p.exists() for p in kept) and not failed.exists() and not older.exists()
    assert "_1 result files computed by other revisions of the code are not shown" in (root / "recovery-real.md").read_text()


def test_list_shows_samplers_requires_and_each_datasets_default_prior(cli_here):
    code, out, err = cli_here("list", "--kind", "samplers")
    assert code == 0, err
    assert re.match(r"^name +requires +params +plugin +summary$", out.splitlines()[1])
    assert re.match(r"^drs +any +burn_in, gamma, percentile, max_attempts +lvrbench ", next(
        line for line in out.splitlines() if line.startswith("drs ")))
    code, out, err = cli_here("list", "--kind", "datasets")
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines()[3:7]}
    assert rows == {"fashion-mnist": "normal", "grid25": "normal", "mnist": "normal", "ring8": "uniform"}
    assert out.splitlines()[-2] == (
        "default prior: the base prior a family is trained with on the dataset when --prior is not given, the same in "
        "every profile (a family that cannot take it: N(0, 1), or its own, as GM-GAN's learned mixture); the recovery "
        "tasks run both priors.")
    doc = json.loads(cli_here("list", "--kind", "datasets", "--json")[1])
    assert {r["name"]: r["default_prior"] for r in doc["datasets"]} == rows


def test_run_help_says_method_selects_samplers_too(cli_here):
    code, out, _ = cli_here("run", "--help")
    assert code == 0
    assert "Only these methods: regularizers and resamplers (the recovery tasks), samplers (sampling)." in " ".join(out.split())


def test_cache_prune_removes_dead_claims_and_failure_records_and_leaves_a_build_in_progress(tmp_path, cli_here):
    import os
    import socket
    import subprocess

    from lvrbench.base import claims

    cache = tmp_path / "cache"
    folder = cache / "generators"
    current = artifact(cache, "generators", "a" * 16)
    live = claims.claim(folder / ("b" * 16 + ".pt"))  # held by this process: a build in progress
    gone = folder / ("c" * 16 + ".pt.claim")
    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists
    gone.write_text(json.dumps({"host": socket.gethostname(), "pid": dead.pid, "time": 0, "token": "t", "run": None}))
    old = folder / ("d" * 16 + ".pt.claim")
    old.write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": 0, "token": "t", "run": None}))
    os.utime(old, (1000.0, 1000.0))  # not renewed for decades
    failed = folder / ("e" * 16 + ".pt.failed")
    failed.write_text(json.dumps({"error": "RuntimeError: diverged", "run": "r1"}))

    code, out, err = cli_here("cache", "list", "--cache-dir", str(cache), "--out", str(tmp_path))
    assert code == 0, err
    rows = {line.split()[0]: line for line in out.splitlines()[2:-1]}
    assert f"generators/{'b' * 16}.pt.claim (a build in progress)" in out
    assert rows[f"generators/{gone.name}"].endswith(f"a claim whose holder (pid {dead.pid} on this host) is gone")
    assert "a claim not renewed for" in rows[f"generators/{old.name}"] and rows[f"generators/{old.name}"].endswith(
        "(its lease is 60 s)")
    assert rows[f"generators/{failed.name}"].endswith(f"{FAILED_BUILD} (RuntimeError: diverged)")
    code, out, err = cli_here("cache", "prune", "--cache-dir", str(cache), "--out", str(tmp_path))
    assert code == 0, err
    assert not gone.exists() and not old.exists() and not failed.exists()
    assert live.held() and all(p.exists() for p in current)
    live.release()
