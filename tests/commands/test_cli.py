"""The `lvrbench` command: bad input is one line on stderr and exit code 2, never a traceback.

Every command here is refused before any work or is a `--dry-run`; nothing trains. Output goes to
per-test temporary directories (`--out`, LVRBENCH_CACHE_DIR, XDG_CACHE_HOME, LVRBENCH_DATA_DIR).

Starting Python and importing torch costs seconds per process, so the many refusals of `run` go
through `lvrbench.commands.cli.main` (the console-script entry point) in ONE fresh interpreter, each call's
stdout, stderr and exit status captured separately; the CLI's own behaviour (the real
`python -m lvrbench` exit status, plugins found on PYTHONPATH, strict mode, --help) runs as real
subprocesses.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

SYSTEM_MNIST = Path("/usr/share/datasets/mnist")
KIND_KEYS = {"regularizers", "resamplers", "families", "samplers", "tasks", "datasets", "generators", "errors"}


def assert_one_line_error(code, stdout: str, stderr: str, message: str | re.Pattern) -> str:
    """Exit 2, nothing on stdout, exactly one `lvrbench: error:` line containing `message`, no traceback."""
    assert "Traceback" not in stderr and "Traceback" not in stdout, stderr
    assert code == 2, (code, stderr)
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1 and stderr.endswith("\n"), stderr
    line = lines[0]
    assert line.startswith("lvrbench: error: "), line
    if isinstance(message, re.Pattern):
        assert message.search(line), line
    else:
        assert message in line, line
    return line


@pytest.fixture
def dirs(tmp_path):
    """Empty directories for a CLI run and the environment that points at them."""
    d = {name: tmp_path / name for name in ("cache", "xdg", "data", "work")}
    for path in d.values():
        path.mkdir()
    d["out"] = tmp_path / "out"  # must never be created by a refused command
    return d, isolated_env(d["cache"], d["xdg"], d["data"])


#: Any download is refused at once (a closed local port as the proxy), wherever the tests run.
NO_NETWORK = {"http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9",
              "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}


def isolated_env(cache: Path, xdg: Path, data: Path) -> dict:
    """os.environ with the caches and data dir in temporary directories, lenient plugins and no network.

    (run_cli merges this into os.environ, so variables are overridden, never removed.)
    """
    return {"LVRBENCH_CACHE_DIR": str(cache), "XDG_CACHE_HOME": str(xdg), "LVRBENCH_DATA_DIR": str(data),
            "LVRBENCH_STRICT_PLUGINS": "0", "no_proxy": "", "NO_PROXY": "", **NO_NETWORK}


# -- many refusals, one interpreter ----------------------------------------------------------------

BATCH = r"""
import contextlib, io, json, sys, traceback
from lvrbench.commands.cli import main

cases = json.loads(sys.argv[1])
results = {}
for cid, argv in cases.items():
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
            code = "returned"  # main() must always exit
        except SystemExit as exc:
            code = exc.code
        except BaseException:
            traceback.print_exc()
            code = "raised"
    results[cid] = {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}
with open(sys.argv[2], "w") as f:
    json.dump(results, f)
"""

RUN = ["run", "--dry-run"]
RR = ["--task", "recovery-real"]
#: id -> (arguments after `lvrbench`, the specific part of the one-line error).
REFUSALS = {
    "unknown-task-near": (RUN + ["--task", "recovery-rael"], "unknown task 'recovery-rael'; did you mean 'recovery-real'?"),
    "unknown-task-far": (RUN + ["--task", "xyzzy"], re.compile(r"unknown task 'xyzzy' \(known: .*\brecovery-real\b.*\)$")),
    "unknown-dataset-near": (RUN + ["--task", "generation", "--dataset", "fashion-mnsit"],
                             "unknown dataset 'fashion-mnsit'; did you mean 'fashion-mnist'?"),
    "unknown-dataset-far": (RUN + ["--task", "generation", "--dataset", "imagenet-1k"],
                            re.compile(r"unknown dataset 'imagenet-1k' \(known: .*\bmnist\b.*\)$")),
    "unknown-family-near": (RUN + ["--task", "generation", "--family", "vanila"], "unknown family 'vanila'; did you mean 'vanilla'?"),
    "unknown-family-far": (RUN + ["--task", "generation", "--family", "xyzzy"],
                           re.compile(r"unknown family 'xyzzy' \(known: .*\blsgan\b.*\)$")),
    "unknown-method-near": (RUN + RR + ["--method", "bhattacharya"], "unknown method 'bhattacharya'; did you mean 'bhattacharyya'?"),
    "unknown-method-far": (RUN + RR + ["--method", "xyzzy"],
                           re.compile(r"unknown method 'xyzzy' \(known: .*\bbhattacharyya\b.*\bhard-cutoff\b.*\)$")),
    "no-task": (RUN, "say what to run: --all, or --task NAME (see `lvrbench list --kind tasks`)"),
    "all-and-task": (RUN + ["--all", "--task", "generation"], "--all and --task cannot be combined"),
    "set-no-value": (RUN + RR + ["--set", "weight"], "--set 'weight': expected NAME=VALUE[,VALUE...], e.g. --set weight=0.1,1"),
    "set-empty-name": (RUN + RR + ["--set", "=1"], "--set '=1': expected NAME=VALUE[,VALUE...]"),
    "set-not-a-number": (RUN + RR + ["--set", "weight=abc"], "--set 'weight=abc': values must be numbers"),
    "set-trailing-comma": (RUN + RR + ["--set", "weight=1,"], "--set 'weight=1,': values must be numbers"),
    "set-nan": (RUN + RR + ["--set", "weight=nan"], "--set 'weight=nan': weight must be finite, got nan"),
    "set-inf": (RUN + RR + ["--set", "lr=1e999"], "--set 'lr=1e999': lr must be finite, got inf"),
    "set-param-of-no-selected-method": (
        RUN + RR + ["--method", "hard-cutoff", "--set", "weight=1"],
        "--set weight: no selected task or method has a hyper-parameter 'weight' (they have: c, lr)"),
    "set-param-of-no-method": (
        RUN + ["--task", "recovery-synthetic", "--set", "momentum=0.9"],
        "--set momentum: no selected task or method has a hyper-parameter 'momentum'"),
    "set-negative-weight": (RUN + RR + ["--method", "bhattacharyya", "--set", "weight=0.1,-1"],
                            "bhattacharyya: weight must be >= 0, got -1"),
    "set-zero-cutoff": (RUN + RR + ["--method", "hard-cutoff", "--set", "c=0"], "hard-cutoff: c must be > 0, got 0"),
    "set-zero-lr": (RUN + RR + ["--method", "bhattacharyya", "--set", "lr=0"], "bhattacharyya: lr must be a finite number > 0, got 0"),
    "set-negative-lr-synthetic": (RUN + ["--task", "recovery-synthetic", "--method", "none", "--set", "lr=-0.1"],
                                  "none: lr must be a finite number > 0, got -0.1"),
    "unsupported-prior": (RUN + RR + ["--method", "bhattacharyya", "--prior", "uniform"],
                          "bhattacharyya is defined for the normal prior, not the uniform prior"),
    "unsupported-prior-resampler": (RUN + ["--task", "recovery-synthetic", "--method", "boundary", "--prior", "normal"],
                                    "boundary is defined for the uniform prior, not the normal prior"),
    "points-dataset-for-recovery": (RUN + RR + ["--method", "none", "--dataset", "ring8"],
                                    "task recovery-real does not run on ring8 (points), which --dataset names; the tasks "
                                    "that do: generation, mode-coverage, reconstruction, sampling"),
    "set-twice": (RUN + RR + ["--set", "lr=0.1", "--set", "lr=0.2"],
                  "--set lr is given twice; list every value in one --set lr=V1,V2"),
    "empty-out": (RUN + RR + ["--out", ""], "--out: empty path"),
    "out-under-a-file-dry-run": (RUN + RR + ["--out", "{tmp}/a-file/out"],
                                 "--out {tmp}/a-file/out: cannot write there ({tmp}/a-file is not a directory)"),
    "out-results-in-the-way": (RUN + ["--task", "generation", "--dataset", "ring8", "--out", "{tmp}/blocked"],
                               "{tmp}/blocked: results/generation: is not a result file: results/ holds only results/<task>/<cell id>.json"),
    "out-page-is-a-link": (RUN + ["--task", "generation", "--dataset", "ring8", "--out", "{tmp}/linked"],
                           "{tmp}/linked/generation.md: is a link; leaderboards are never written through links"),
    "out-name-too-long": (RUN + ["--task", "generation", "--dataset", "ring8", "--out", "{tmp}/" + "a" * 300],
                          re.compile(r"File name too long")),
    "data-dir-name-too-long": (RUN + ["--task", "generation", "--dataset", "fashion-mnist", "--data-dir", "{tmp}/" + "d" * 300],
                               re.compile(r"dataset 'fashion-mnist': cannot look in \S+ \(File name too long\)$")),
    "dataset-no-selected-task-uses": (RUN + ["--task", "recovery-synthetic", "--method", "none", "--dataset", "ring8",
                                             "--dataset", "fashion-mnist"],
                                      "--dataset ring8: none of the selected tasks has a cell for it "
                                      "(their dataset choices here: fashion-mnist)"),
    "data-dir-missing": (RUN + ["--task", "generation", "--dataset", "ring8", "--data-dir", "{tmp}/nowhere"],
                         "--data-dir {tmp}/nowhere: no such directory"),
    "data-dir-is-a-file": (RUN + ["--task", "generation", "--dataset", "ring8", "--data-dir", "{tmp}/a-file"],
                           "--data-dir {tmp}/a-file: not a directory"),
    "cuda-unavailable": (RUN + ["--task", "generation", "--dataset", "ring8", "--device", "cuda"],
                         "--device cuda: no CUDA device is available here (use --device cpu or auto)"),
    "pasted-megabyte": (RUN + ["--task", "x" * 100_000], re.compile(r"^lvrbench: error: unknown task 'x{900,}\.\.\.$")),
    "cache-dir-under-a-file": (["run", "--task", "generation", "--dataset", "ring8", "--cache-dir", "{tmp}/a-file/cache"],
                               "--cache-dir {tmp}/a-file/cache: cannot write there ({tmp}/a-file is not a directory)"),
    "method-of-another-task": (RUN + ["--task", "generation", "--method", "bhattacharyya"],
                               "lvrbench: error: bhattacharyya is not a method of task generation (its methods: direct)"),
}
#: Refused without --dry-run, so only run where mnist cannot be found (no /usr/share/datasets/mnist, empty
#: data and cache dirs, downloads refused): should the refusal under test be missing, the command still
#: stops at the missing files before any training.
NEEDS_NO_MNIST = {
    "missing-dataset": (["run", "--task", "generation", "--dataset", "mnist"],
                        re.compile(r"dataset 'mnist' not found: looked in \S+/mnist, ")),
    "missing-dataset-dry-run": (RUN + ["--task", "generation", "--dataset", "mnist"],
                                re.compile(r"dataset 'mnist' not found: looked in \S+/mnist, ")),
}
REFUSALS |= NEEDS_NO_MNIST
#: Repeated options and values must be harmless (or a one-line refusal), never a traceback.
REPEATS = {
    "repeated-dataset": RUN + ["--task", "generation", "--dataset", "ring8", "--dataset", "ring8"],
    "repeated-method": RUN + RR + ["--method", "none", "--method", "none"],
    "repeated-value": RUN + RR + ["--method", "bhattacharyya", "--set", "weight=0.1,0.1"],
}
#: Each repeat said once: the repeated command must plan exactly these cells.
ONCE = {
    "repeated-dataset-once": RUN + ["--task", "generation", "--dataset", "ring8"],
    "repeated-method-once": RUN + RR + ["--method", "none"],
    "repeated-value-once": RUN + RR + ["--method", "bhattacharyya", "--set", "weight=0.1"],
}
OTHER = {
    "generation-set": RUN + ["--task", "generation", "--dataset", "ring8", "--set", "weight=1"],
    "list-tasks": ["list", "--kind", "tasks", "--json"],
    "leaderboard-check-missing-root": ["leaderboard", "check", "--out", "{tmp}/nonexistent"],
    "leaderboard-build-missing-root": ["leaderboard", "build", "--out", "{tmp}/nonexistent"],
    "leaderboard-build-empty-out": ["leaderboard", "build", "--out", ""],
    "leaderboard-check-empty-out": ["leaderboard", "check", "--out", ""],
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Run every case above through lvrbench.commands.cli.main in one interpreter; id -> {code, stdout, stderr, out}."""
    tmp = tmp_path_factory.mktemp("cli-batch")
    for name in ("cache", "xdg", "data", "work"):
        (tmp / name).mkdir()
    (tmp / "a-file").write_text("not a directory\n")
    (tmp / "blocked" / "results").mkdir(parents=True)
    (tmp / "blocked" / "results" / "generation").write_text("a file where results go\n")
    (tmp / "linked").mkdir()
    (tmp / "linked" / "generation.md").symlink_to(tmp / "a-file")
    cases, outs = {}, {}
    for cid, argv in ({k: v[0] for k, v in REFUSALS.items()} | REPEATS | ONCE | OTHER).items():
        if cid in NEEDS_NO_MNIST and SYSTEM_MNIST.exists():
            continue
        argv = [a.replace("{tmp}", str(tmp)) for a in argv]
        if argv[0] == "run" and "--out" not in argv:
            outs[cid] = tmp / f"out-{cid}"
            argv = argv + ["--out", str(outs[cid])]
        cases[cid] = argv
    env = {**os.environ, **isolated_env(tmp / "cache", tmp / "xdg", tmp / "data")}
    report = tmp / "report.json"
    proc = subprocess.run([sys.executable, "-c", BATCH, json.dumps(cases), str(report)], cwd=tmp / "work", env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    results = json.loads(report.read_text())
    for cid, result in results.items():
        result["out"] = outs.get(cid)
    results["_tmp"] = tmp
    return results


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_bad_run_input_is_one_line_exit_2_and_writes_nothing(batch, case):
    if case in NEEDS_NO_MNIST and SYSTEM_MNIST.exists():
        pytest.skip(f"{SYSTEM_MNIST} exists: mnist cannot be made missing")
    if case == "cuda-unavailable":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA device")
    result = batch[case]
    message = REFUSALS[case][1]
    if isinstance(message, str):
        message = message.replace("{tmp}", str(batch["_tmp"]))
    line = assert_one_line_error(result["code"], result["stdout"], result["stderr"], message)
    assert result["out"] is None or not result["out"].exists(), f"{case} created {result['out']}"
    assert list((batch["_tmp"] / "cache").iterdir()) == []
    if case == "missing-dataset":
        tmp = batch["_tmp"]
        assert f"looked in {tmp / 'data' / 'mnist'}, {tmp / 'xdg' / 'lvrbench' / 'data' / 'mnist'}, " in line
        assert "given by --data-dir or LVRBENCH_DATA_DIR" in line


@pytest.mark.parametrize("case", sorted(REPEATS))
def test_repeated_options_are_harmless(batch, case):
    result, once = batch[case], batch[f"{case}-once"]
    assert result["code"] == 0 and once["code"] == 0, result["stderr"][-500:]
    assert result["stdout"] == once["stdout"] and len(result["stdout"].splitlines()) > 1  # the same cells, once each
    assert not result["out"].exists()


def test_set_for_a_task_without_that_parameter_is_refused(batch):
    result = batch["generation-set"]
    assert_one_line_error(result["code"], result["stdout"], result["stderr"], re.compile(r"--set weight\b.*'weight'"))


def test_list_kind_narrows_the_json(batch):
    result = batch["list-tasks"]
    assert result["code"] == 0 and result["stderr"] == ""
    doc = json.loads(result["stdout"])
    assert set(doc) == {"tasks", "errors"}
    assert {"generation", "recovery-real", "recovery-synthetic"} <= {r["name"] for r in doc["tasks"]}
    assert doc["errors"] == []


@pytest.mark.parametrize("case", ["leaderboard-check-empty-out", "leaderboard-build-empty-out"])
def test_leaderboard_refuses_an_empty_out_like_run(batch, case):
    result = batch[case]
    assert_one_line_error(result["code"], result["stdout"], result["stderr"], "lvrbench: error: --out: empty path")


@pytest.mark.parametrize("case", ["leaderboard-check-missing-root", "leaderboard-build-missing-root"])
def test_leaderboard_with_a_missing_root_is_one_line(batch, case):
    result = batch[case]
    missing = batch["_tmp"] / "nonexistent"
    assert_one_line_error(result["code"], result["stdout"], result["stderr"], f"lvrbench: error: --out {missing}: no such directory")
    assert not missing.exists()


# -- the real command ------------------------------------------------------------------------------

def test_the_command_exits_2_with_one_line(cli, dirs):
    d, env = dirs
    r = cli("run", "--task", "recovery-rael", "--out", str(d["out"]), cwd=d["work"], env=env)
    assert_one_line_error(r.returncode, r.stdout, r.stderr, "lvrbench: error: unknown task 'recovery-rael'; did you mean 'recovery-real'?")
    assert not d["out"].exists()


@pytest.mark.parametrize("args, message", [
    (["run", "--all", "--bogus"], "No such option"),
    (["run", "--all", "--profile", "fast"], "Invalid value for '--profile': 'fast' is not one of 'quick', 'standard', 'full'."),
    (["run", "--all", "--seed", "abc"], "Invalid value for '--seed': 'abc' is not a valid integer range."),
    (["run", "--all", "--seed", "-1"], "Invalid value for '--seed': -1 is not in the range 0<=x<=9223372036854775807."),
    (["list", "--kind", "plugins"], "Invalid value for '--kind': 'plugins' is not one of"),
    (["run", "--all", "--profile", "qiuck"], "Invalid value for '--profile': 'qiuck' is not one of 'quick', 'standard', 'full'; "
                                             "did you mean 'quick'?"),
    (["list", "--kind", "task"], "is not one of 'regularizers', 'resamplers', 'families', 'samplers', 'tasks', "
                                 "'datasets', 'generators'; did you mean 'tasks'?"),
    (["frobnicate"], "No such command 'frobnicate'"),
], ids=["unknown-option", "bad-profile", "bad-seed", "negative-seed", "bad-kind", "near-profile", "near-kind",
        "unknown-command"])
def test_click_usage_errors_are_one_line(cli, dirs, args, message):
    d, env = dirs
    if args[0] == "run":
        args = args + ["--out", str(d["out"])]
    r = cli(*args, cwd=d["work"], env=env)
    line = assert_one_line_error(r.returncode, r.stdout, r.stderr, message)
    if args[:3] == ["run", "--all", "--bogus"]:
        assert "--bogus" in line
    assert not d["out"].exists()


def test_no_arguments_shows_the_help_not_an_error(cli, dirs):
    d, env = dirs
    r = cli(cwd=d["work"], env=env)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("Usage: lvrbench [OPTIONS] COMMAND")


HELP = r"""
import json, sys
from lvrbench.commands.cli import main

codes = []
for argv in (["--help"], ["run", "--help"], ["list", "-h"], ["leaderboard"]):
    try:
        main(argv)
    except SystemExit as exc:
        codes.append(exc.code)
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith(("torch.", "lvrbench_plugins", "torchvision")))
print("RESULT " + json.dumps({"codes": codes, "heavy": heavy}))
"""


def test_help_exits_0_without_importing_torch_or_plugins(dirs):
    d, env = dirs
    r = subprocess.run([sys.executable, "-c", HELP], cwd=d["work"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    *help_text, result = r.stdout.rstrip("\n").split("\n")
    assert json.loads(result.removeprefix("RESULT ")) == {"codes": [0, 0, 0, 0], "heavy": []}
    text = "\n".join(help_text)
    assert "Usage: lvrbench [OPTIONS] COMMAND [ARGS]..." in text
    assert "Usage: lvrbench run [OPTIONS]" in text and "--dry-run" in text and "--set PARAM=V1,V2" in text
    assert "Usage: lvrbench list [OPTIONS]" in text
    assert "Usage: lvrbench leaderboard [OPTIONS] COMMAND [ARGS]..." in text and "lvrbench: error" not in r.stderr


def test_help_from_the_command_line(cli, dirs):
    d, env = dirs
    r = cli("run", "--help", cwd=d["work"], env=env)
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.startswith("Usage: lvrbench run [OPTIONS]")


def test_list_json_has_every_kind_with_provenance_and_summaries(cli, dirs):
    d, env = dirs
    r = cli("list", "--json", cwd=d["work"], env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    doc = json.loads(r.stdout)
    assert set(doc) == KIND_KEYS
    assert doc["errors"] == []
    for kind in KIND_KEYS - {"errors"}:
        for row in doc[kind]:
            assert {"name", "plugin", "summary"} <= set(row), row
            assert row["plugin"] == "lvrbench" and isinstance(row["summary"], str) and row["summary"].strip(), row
    assert {r["name"] for r in doc["regularizers"]} >= {"none", "bhattacharyya", "wasserstein", "trick-discriminator"}
    assert {r["name"] for r in doc["resamplers"]} >= {"boundary", "hard-cutoff"}
    assert {r["name"] for r in doc["datasets"]} >= {"fashion-mnist", "mnist", "ring8", "grid25"}
    row = next(r for r in doc["regularizers"] if r["name"] == "bhattacharyya")
    assert row["requires"] == "normal" and row["params"] == {"weight": [0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0]}
    text = cli("list", cwd=d["work"], env=env).stdout.splitlines()
    assert re.match(r"^name +requires +params +plugin +summary$", text[1])  # methods: their prior and --set names
    assert re.match(r"^logistic-cutoff +normal +a, b +lvrbench \S+ +Resampling probability", next(
        line for line in text if line.startswith("logistic-cutoff")))
    assert re.match(r"^name +plugin +summary$", text[text.index("tasks:") + 1])  # other kinds: no empty columns


@pytest.fixture
def broken_site(plugin_dist):
    """A third-party distribution, on a site dir, whose only entry point cannot be imported."""
    site = plugin_dist("acme-broken-cli", {"lvrt_cli_broken": "raise ImportError('needs the frobnicate package')\n"},
                       {"broken": "lvrt_cli_broken"})
    line = ("plugin entry point 'broken' (acme-broken-cli 1.0): "
            "cannot load 'lvrt_cli_broken': ImportError: needs the frobnicate package")
    return site, line


def test_list_reports_a_broken_plugin_and_lists_the_rest(cli, dirs, broken_site):
    d, env = dirs
    site, line = broken_site
    r = cli("list", "--json", cwd=d["work"], env=env, pythonpath=site)
    assert r.returncode == 0 and "Traceback" not in r.stderr
    assert r.stderr.splitlines() == [f"lvrbench: warning: skipped {line}"]
    doc = json.loads(r.stdout)
    assert set(doc) == KIND_KEYS
    assert doc["errors"] == [{"entry_point": "broken", "plugin": "acme-broken-cli", "version": "1.0",
                              "message": "cannot load 'lvrt_cli_broken': ImportError: needs the frobnicate package"}]
    assert {"bhattacharyya", "none"} <= {r["name"] for r in doc["regularizers"]}
    assert {"recovery-real", "generation"} <= {r["name"] for r in doc["tasks"]}


def test_strict_plugins_turn_the_warning_into_a_one_line_error(cli, dirs, broken_site):
    d, env = dirs
    site, line = broken_site
    r = cli("list", "--json", cwd=d["work"], env=env | {"LVRBENCH_STRICT_PLUGINS": "1"}, pythonpath=site)
    # a broken plugin is not bad input: exit code 3, not 2, and its own words
    assert (r.returncode, r.stdout) == (3, "")
    assert r.stderr == f"lvrbench: plugin error: {line} (LVRBENCH_STRICT_PLUGINS=1)\n"


def test_dry_run_lists_every_cell_as_pending_and_writes_nothing(cli, dirs, registry):
    from lvrbench.run.harness import PlanRequest, make_plan
    from lvrbench.run.store import ResultStore

    d, env = dirs
    r = cli("run", "--all", "--dry-run", "--out", str(d["out"]), cwd=d["work"], env=env)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    *rows, summary = r.stdout.rstrip("\n").split("\n")
    n = len(rows)
    assert summary == f"{n} cells: 0 done, 0 failed, {n} pending; {n} to compute"
    listed = {}
    for row in rows:
        m = re.fullmatch(r"pending  ([0-9a-f]{16})  (\S+) (.+)", row)
        assert m, row
        listed[m.group(1)] = m.group(2)
    assert len(listed) == n  # no cell twice
    tasks = [e.obj for e in registry.entries("tasks")]
    plan = make_plan(tasks, PlanRequest(registry, "quick", seeds=(0,)), ResultStore(d["work"] / "empty"))
    assert listed == {c.id: c.task for c in plan.cells}
    assert set(listed.values()) == set(registry.names("tasks"))
    assert not d["out"].exists()
    assert list(d["cache"].iterdir()) == [] and list(d["data"].iterdir()) == []


def test_a_reader_that_goes_away_is_not_a_failed_run():
    """`lvrbench list | head -1`: click's broken-pipe exit becomes 141 (a SIGPIPE's status), never 1 ("cells failed")."""
    child = subprocess.Popen([sys.executable, "-m", "lvrbench", "list"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    child.stdout.close()  # before the interpreter has even started: every write meets a closed pipe
    _, err = child.communicate(timeout=120)
    assert child.returncode == 141 and err == b""


def test_a_data_dir_from_the_environment_is_named_as_such(cli, tmp_path):
    done = cli("run", "--task", "generation", "--dataset", "ring8", "--dry-run", "--out", str(tmp_path / "out"),
                   env={"LVRBENCH_DATA_DIR": str(tmp_path / "gone")})
    assert_one_line_error(done.returncode, done.stdout, done.stderr, f"LVRBENCH_DATA_DIR={tmp_path / 'gone'}: no such directory")
