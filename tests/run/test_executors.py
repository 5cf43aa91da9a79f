"""Executors: the run's graph, the local process pool and Ray give the in-process run's bytes; each artifact is built
once before the jobs that need it; a lost worker fails its job alone; a dead driver leaves no worker behind; a worker
unlike the driver stops the run in one line; the thread policy, not the machine, decides a thread-sensitive cell."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO

from lvrbench.api import Artifact, Cell, Job
from lvrbench.base import threads
from lvrbench.base.errors import PluginError
from lvrbench.engine.artifacts import ArtifactCache
from lvrbench.run.executors import Schedule
from lvrbench.run.harness import PlanRequest, graph, make_plan
from lvrbench.run.store import ResultStore
from lvrbench.run.workers import mismatch

#: A third-party task whose cells read a ring8 generator trained in seconds and compute thread-sensitive numbers
#: (eigvalsh of a 128x128 matrix, the sum of 10M floats: each gives other bits at 2 threads than at 1 here), so a
#: worker computing with another thread count, or from other weights, shows in its results' bytes. A job may sleep
#: (to be killed mid-run) or kill its own process (a worker lost mid-job).
PROBE = '''
import hashlib, os, signal, time
import torch
from lvrbench.api import Cell, CellOutcome, Estimate, Job, Task, hookimpl
from lvrbench.kit import cell_config, summarize, table

GAN = {"family": "lsgan", "dataset": "ring8", "prior": "normal", "seed": 0, "arch": "mlp", "latent_dim": 4,
       "train": {"epochs": 2, "batch_size": 500, "lr": 1e-3, "betas": [0.5, 0.999]}}
JOBS = int(os.environ.get("PROBE_JOBS", "2"))
SLEEP = float(os.environ.get("PROBE_SLEEP", "0"))
DIE = int(os.environ.get("PROBE_DIE", "-1"))


def digest(t):
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()[:16]


class Probe(Task):
    """Thread-sensitive numbers from a trained ring8 generator."""

    name = "probe"

    def plan(self, request):
        jobs = []
        for family in ("lsgan", "vanilla"):
            for i in range(JOBS):
                settings = {"gan": dict(GAN, family=family), "sleep": SLEEP, "die": DIE == i and family == "vanilla"}
                config = cell_config(request, self, dataset="ring8", family=family, prior="normal", method="none",
                                     hparams={"i": float(i)}, seed=0, settings=settings, plugins={})
                jobs.append(Job(self.name, f"probe {family} {i}", [Cell(config)]))
        return jobs

    def run(self, job, env):
        c = job.cells[0].config
        s = c["settings"]
        if s["die"]:
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(s["sleep"])
        gan = env.gan(s["gan"])
        g = torch.Generator().manual_seed(int(c["hparams"]["i"]))
        with torch.no_grad():
            x = gan.nets["G"](gan.prior.sample(4096, g, env.device))
        a = torch.randn(128, 128, generator=g, dtype=torch.float64) + x[:128, :1].double()
        parts = {"samples": digest(x), "eigvalsh": digest(torch.linalg.eigvalsh(a + a.T)),
                 "sum": digest(torch.randn(10_000_000, generator=g).sum()), "threads": torch.get_num_threads()}
        value = float(x.mean())
        return [CellOutcome(metrics={"mean": Estimate(value, value, value, 4096).to_dict()}, extra=parts,
                            artifacts={"generator": {"key": gan.key}})]

    def render(self, results, page):
        return table([[r["config"]["family"], summarize([r["metrics"]["mean"]])] for r in results], ["family", "mean"])


@hookimpl
def lvrbench_tasks():
    return [Probe()]
'''
#: A plugin only the driver has (a worker without it is unlike the driver).
EXTRA = '''
from lvrbench.api import Regularizer, hookimpl


class Zero(Regularizer):
    """Nothing."""

    name = "zero-extra"
    requires = "any"

    def loss(self, z, ctx):
        return z.sum(-1) * 0


@hookimpl
def lvrbench_regularizers():
    return [Zero()]
'''
#: Provenance fields that measure the clock, which no two runs share.
TIMINGS = ("wall_time_s", "job_wall_time_s", "created")


def distribution(site: Path, dist: str, module: str, source: str, entry: str) -> Path:
    """A plugin distribution laid out as pip leaves it, in `site` (for PYTHONPATH)."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[lvrbench]\n{entry} = {module}\n")
    return site


@pytest.fixture(scope="module")
def probe_site(tmp_path_factory) -> Path:
    return distribution(tmp_path_factory.mktemp("site"), "lvrbench-probe", "lvrbench_probe", PROBE, "probe")


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the thread variables (the command sets them), with what a driver of a
    loopback Ray cluster needs, and `extra`."""
    from lvrbench.run.raycluster import DRIVER_ENV

    return {**{k: v for k, v in os.environ.items() if k not in threads.environment()}, **DRIVER_ENV, **extra}


def lvrbench(site: Path, *args: str, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """`lvrbench ARGS` with the probe plugin installed (PYTHONPATH) and the thread variables left to the command."""
    clean = clean_env()
    return subprocess.run([sys.executable, "-m", "lvrbench", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={**clean, "PYTHONPATH": str(site), **(env or {})})


def results(root: Path) -> dict[str, dict]:
    """Every result under `root` by file name, its provenance's clock readings left out."""
    out = {}
    for path in sorted((root / "results").glob("*/*.json")):
        doc = json.loads(path.read_text())
        for key in TIMINGS:
            doc["provenance"].pop(key, None)
        out[f"{path.parent.name}/{path.name}"] = doc
    return out


# -- the graph and its schedule -----------------------------------------------------------------------------------

def ring_jobs(registry, families=("lsgan", "vanilla"), seeds=(0, 1)) -> list[Job]:
    request = PlanRequest(registry, "quick", datasets=("ring8",), families=families, priors=("normal",), seeds=seeds)
    return make_plan([registry.get("tasks", "mode-coverage"), registry.get("tasks", "reconstruction")], request,
                     ResultStore(Path("/nonexistent")), explicit=True).jobs


def test_the_graph_builds_each_missing_artifact_once_before_every_job_that_needs_it(registry):
    jobs = ring_jobs(registry)  # 2 tasks x 2 families x 2 seeds: 8 jobs on 4 generators
    cold = graph(jobs, registry, ready=lambda artifact: artifact.spec["family"] == "vanilla")  # vanilla's are cached
    builds, computed = cold[:2], cold[2:]
    assert [s.artifact.label() for s in builds] == ["generator lsgan ring8 normal seed=0", "generator lsgan ring8 normal seed=1"]
    assert all(s.job is None and s.needs == () for s in builds) and all(s.artifact is None for s in computed)
    assert [s.job for s in computed] == jobs  # the jobs in plan order, after every build
    for step in computed:
        gan = step.job.cells[0].config["settings"]["gan"]
        assert step.needs == (f"generators/{ArtifactCache.key(gan)}",)  # what it uses, cached or built
    schedule = Schedule(cold)

    def startable() -> list:
        out = []
        while (step := schedule.next()) is not None:
            out.append(step)
        return out

    assert startable() == [*builds, *(s for s in computed if s.job.cells[0].config["family"] == "vanilla")]  # cached
    schedule.finish(builds[1])
    assert startable() == [s for s in computed if s.needs == (builds[1].name,)] != []
    schedule.finish(builds[0])  # done, or failed: its jobs then fail at once with its recorded error
    assert startable() == [s for s in computed if s.needs == (builds[0].name,)] != [] and not schedule


def test_a_task_declares_artifacts_as_data_or_is_a_plugin_error(registry, monkeypatch):
    jobs = ring_jobs(registry, families=("lsgan",), seeds=(0,))
    (job, _) = jobs
    declared = registry.get("tasks", "mode-coverage").artifacts(job)
    assert [(a.kind, a.key) for a in declared] == [("generators", ArtifactCache.key(job.cells[0].config["settings"]["gan"]))]
    with pytest.raises(ValueError, match="an artifact's kind is one of generators, evaluators, not 'calibrators'"):
        Artifact("calibrators", {})
    monkeypatch.setattr(type(registry.get("tasks", "mode-coverage")), "artifacts", lambda self, job: {"gan": 1})
    with pytest.raises(PluginError, match=r"^task mode-coverage \(lvrbench [^)]+\) returned dict from artifacts, not a list"):
        graph(jobs, registry, ready=lambda artifact: False)


def test_a_pretrained_generator_is_no_artifact_to_build_and_a_point_dataset_has_no_classifier():
    task = __import__("lvrbench.api", fromlist=["Task"]).Task()
    config = {"settings": {"gan": {"pretrained": "my-gan", "weights": "abc"}, "evaluator": None}}
    assert task.artifacts(Job("t", "j", [Cell(config)])) == []
    spec = {"dataset": "fashion-mnist", "arch": "cnn-2x-128"}
    found = task.artifacts(Job("t", "j", [Cell({"settings": {"evaluator": spec}}), Cell({"settings": {"evaluator": spec}})]))
    assert [(a.kind, a.label()) for a in found] == [("evaluators", "classifier fashion-mnist")]  # once for two cells


def test_a_worker_unlike_the_driver_is_named_in_one_line_with_both():
    driver = {"lvrbench": "0.5.0", "torch": "2.14.1", "plugins": ["tasks probe: p 1.0 revision 1"],
              "threads": {"threads": 1, "wait_policy": "passive"}}
    assert mismatch(driver, json.loads(json.dumps(driver)), "worker 7") is None
    assert mismatch(driver, {**driver, "torch": "2.13.0"}, "worker 7") == (
        "worker 7 runs torch 2.13.0, the driver 2.14.1: install the same on every node")
    assert mismatch(driver, {**driver, "threads": {"threads": 4, "wait_policy": "default"}}, "worker 7").startswith(
        "worker 7 runs threads {'threads': 4, 'wait_policy': 'default'}, the driver {'threads': 1, 'wait_policy': 'passive'}")
    assert mismatch(driver, {**driver, "plugins": ["tasks probe: p 1.1 revision 2"]}, "worker 7") == (
        "worker 7 has other plugins than the driver (the driver: tasks probe: p 1.0 revision 1; the worker: tasks probe: "
        "p 1.1 revision 2): install the same on every node")


def test_shipped_artifacts_are_installed_only_with_their_recorded_weights(registry, tmp_path):
    import torch

    from lvrbench.run.env import RunEnv

    spec = {"family": "lsgan", "dataset": "ring8", "prior": "normal", "seed": 0, "arch": "mlp", "latent_dim": 4,
            "train": {"epochs": 1, "batch_size": 500, "lr": 1e-3, "betas": [0.5, 0.999]}}
    built = RunEnv(registry, torch.device("cpu"), tmp_path / "a").gan(spec)
    payload = ArtifactCache(tmp_path / "a").export("generators", built.key)
    assert ArtifactCache(tmp_path / "a").export("generators", "0" * 16) is None
    other = ArtifactCache(tmp_path / "b")
    with pytest.raises(ValueError, match="the shipped weights are not the ones its metadata records"):
        tampered = bytearray(payload["weights"])
        tampered[len(tampered) // 2] ^= 1
        other.install({**payload, "weights": bytes(tampered)})
    with pytest.raises(ValueError, match="the shipped metadata is of another artifact"):
        other.install({**payload, "key": "0" * 16})
    assert not (tmp_path / "b" / "generators").exists()
    assert other.install(payload) and not other.install(payload)  # written once; then it is there
    again = RunEnv(registry, torch.device("cpu"), tmp_path / "b").gan(spec)  # loaded, not trained
    assert all(torch.equal(v, again.nets.state_dict()[k]) for k, v in built.nets.state_dict().items())


def test_executor_options_that_cannot_work_are_refused_before_any_work(cli_here, tmp_path, monkeypatch):
    out = str(tmp_path / "lb")
    code, _, err = cli_here("run", "--task", "mode-coverage", "--out", out, "--ray-address", "127.0.0.1:1")
    assert (code, err) == (2, "lvrbench: error: --ray-address is for --executor ray\n")
    code, _, err = cli_here("run", "--task", "mode-coverage", "--out", out, "--executor", "inprocess", "--jobs", "2")
    assert (code, err) == (2, "lvrbench: error: --jobs: the inprocess executor computes one job at a time (use --executor local)\n")
    code, _, err = cli_here("run", "--task", "mode-coverage", "--out", out, "--jobs", "0")
    assert code == 2 and "--jobs" in err and err.count("\n") == 1
    monkeypatch.setitem(sys.modules, "ray", None)  # as where Ray is not installed
    code, _, err = cli_here("run", "--task", "mode-coverage", "--out", out, "--executor", "ray")
    assert (code, err) == (2, "lvrbench: error: --executor ray needs Ray, which is not installed here: "
                              "pip install 'lvrbench[ray]'\n")
    assert not (tmp_path / "lb").exists()


# -- real runs -----------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_the_local_pool_gives_the_in_process_bytes_and_the_policy_decides_a_thread_sensitive_cell(probe_site, tmp_path):
    """The same command through `inprocess` and `local` (2 workers, each training its generators from an empty cache)
    writes the same bytes; so does a process that inherited 8 threads. Computed without the policy, at torch's
    default thread count (2 or more), the same cells give other bits: the policy, not the machine, decides them."""
    args = ["run", "--task", "probe", "--task", "mode-coverage", "--dataset", "ring8", "--family", "lsgan",
            "--family", "vanilla"]
    runs = {}
    for name, extra, env in (("inprocess", ["--executor", "inprocess"], {"OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "8"}),
                             ("local", ["--executor", "local", "--jobs", "2"], {})):
        done = lvrbench(probe_site, *args, *extra, "--out", str(tmp_path / name), "--cache-dir", str(tmp_path / f"cache-{name}"),
                        env=env)
        assert done.returncode == 0, done.stderr
        runs[name] = results(tmp_path / name)
    assert "with 2 local worker processes" in done.stderr
    assert "[build generator lsgan ring8 normal seed=0]: ready" in done.stderr  # built once, as a step of its own
    assert len(runs["local"]) == 2 * 2 + 2 and runs["local"] == runs["inprocess"]
    probe = [doc for name, doc in runs["local"].items() if name.startswith("probe/")]
    assert {doc["extra"]["threads"] for doc in probe} == {1} and {doc["provenance"]["threads"]["threads"] for doc in probe} == {1}
    unpolicied = textwrap.dedent(f"""
        import json, sys, torch
        if torch.get_num_threads() < 2:
            torch.set_num_threads(2)
        from lvrbench.api import Cell, Job
        from lvrbench.run.env import RunEnv
        from lvrbench.run.harness import execute_job
        from lvrbench.run.registry import load_registry
        configs = json.loads(sys.stdin.read())
        env = RunEnv(load_registry(), torch.device("cpu"), {str(tmp_path / "cache-local")!r})
        print(json.dumps([execute_job(Job("probe", "again", [Cell(c)]), env)[0]["extra"] for c in configs]))
    """)
    clean = clean_env()
    again = subprocess.run([sys.executable, "-c", unpolicied], input=json.dumps([doc["config"] for doc in probe]),
                           capture_output=True, text=True, timeout=600, env={**clean, "PYTHONPATH": str(probe_site)})
    assert again.returncode == 0, again.stderr
    for doc, extra in zip(probe, json.loads(again.stdout)):
        assert extra["threads"] >= 2 and extra["samples"] == doc["extra"]["samples"]  # the generator is not sensitive
        assert extra["eigvalsh"] != doc["extra"]["eigvalsh"] and extra["sum"] != doc["extra"]["sum"]


@pytest.mark.slow
def test_a_lost_worker_fails_its_job_alone_and_is_replaced(probe_site, tmp_path):
    done = lvrbench(probe_site, "run", "--task", "probe", "--out", str(tmp_path / "lb"), "--cache-dir", str(tmp_path / "c"),
                    "--jobs", "2", env={"PROBE_JOBS": "3", "PROBE_DIE": "1"})
    assert done.returncode == 1, done.stderr
    docs = results(tmp_path / "lb")
    failed = [d for d in docs.values() if d["status"] == "failed"]
    assert len(docs) == 6 and [d["config"]["hparams"]["i"] for d in failed] == [1.0]
    assert failed[0]["error"] == "the worker process computing it died (exit code -9)"
    assert f"{failed[0]['id']}: the worker process computing it died (exit code -9)" in done.stderr


def children(pid: int) -> list[int]:
    """The pids of the processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/stat") as f:
                if entry.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc"), reason="finds the workers in /proc")
def test_a_killed_driver_leaves_no_worker_computing(probe_site, tmp_path):
    clean = clean_env()
    driver = subprocess.Popen([sys.executable, "-m", "lvrbench", "run", "--task", "probe", "--out", str(tmp_path / "lb"),
                               "--cache-dir", str(tmp_path / "c"), "--jobs", "2"], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, env={**clean, "PYTHONPATH": str(probe_site), "PROBE_SLEEP": "60"})
    deadline = time.monotonic() + 120
    while len(workers := children(driver.pid)) < 2:
        assert time.monotonic() < deadline and driver.poll() is None
        time.sleep(0.1)
    time.sleep(5)  # both are computing (sleeping inside a job)
    driver.send_signal(signal.SIGKILL)
    driver.wait(10)
    deadline = time.monotonic() + 10
    while any(os.path.exists(f"/proc/{pid}") for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}")]
    assert not (tmp_path / "lb" / "results").exists() or not list((tmp_path / "lb" / "results").rglob("*.json"))


# -- Ray: a real head and worker node on loopback -------------------------------------------------------------------

#: The GCS declares a node dead after 3 missed health checks 0.5 s apart (Ray's default takes about 20 s).
FAST_FAILURE = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
                "RAY_health_check_failure_threshold": "3"}


@pytest.fixture(scope="module")
def cluster(probe_site):
    """A head and a worker node with a CPU each, whose workers have the probe plugin; stopped and checked clean."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'lvrbench[ray]')")
    from lvrbench.run import raycluster

    with raycluster.loopback_cluster(workers=1, num_cpus=1, timeout=120,
                                     env=clean_env(**FAST_FAILURE, PYTHONPATH=str(probe_site))) as running:
        yield running
    assert raycluster.leftovers(str(running.temp_dir)) == []


@pytest.mark.slow
def test_ray_gives_the_local_bytes(cluster, probe_site, tmp_path):
    args = ["run", "--task", "probe", "--task", "mode-coverage", "--dataset", "ring8", "--family", "lsgan"]
    local = lvrbench(probe_site, *args, "--out", str(tmp_path / "local"), "--cache-dir", str(tmp_path / "c1"), "--jobs", "2")
    assert local.returncode == 0, local.stderr
    ray = lvrbench(probe_site, *args, "--out", str(tmp_path / "ray"), "--cache-dir", str(tmp_path / "c2"),
                   "--executor", "ray", "--ray-address", cluster.address)
    assert ray.returncode == 0, ray.stderr
    assert f"with Ray at {cluster.address}" in ray.stderr
    assert results(tmp_path / "ray") == results(tmp_path / "local") and len(results(tmp_path / "local")) == 2 * 2 + 1


@pytest.mark.slow
def test_a_ray_worker_unlike_the_driver_stops_the_run_in_one_line(cluster, probe_site, tmp_path):
    site = distribution(tmp_path / "extra", "lvrbench-extra", "lvrbench_extra", EXTRA, "extra")
    done = lvrbench(probe_site, "run", "--task", "probe", "--out", str(tmp_path / "lb"), "--cache-dir", str(tmp_path / "c"),
                    "--executor", "ray", "--ray-address", cluster.address,
                    env={"PYTHONPATH": f"{probe_site}{os.pathsep}{site}"})
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1] == (
        "lvrbench: error: the Ray worker on " + os.uname().nodename + " has other plugins than the driver (the driver: "
        "regularizers zero-extra: lvrbench-extra 1.0 revision 1; the worker: nothing more): install the same on every node")
    assert not list((tmp_path / "lb").rglob("*.json"))


@pytest.mark.slow
def test_killing_the_ray_worker_node_mid_run_leaves_no_corrupt_file_and_a_rerun_completes(cluster, probe_site, tmp_path):
    """Last of the Ray tests: it kills the cluster's worker node."""
    args = ["run", "--task", "probe", "--out", str(tmp_path / "lb"), "--cache-dir", str(tmp_path / "c"), "--executor", "ray",
            "--ray-address", cluster.address]
    env = clean_env(PYTHONPATH=str(probe_site), PROBE_JOBS="4", PROBE_SLEEP="3")
    driver = subprocess.Popen([sys.executable, "-m", "lvrbench", *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    store = ResultStore(tmp_path / "lb")
    deadline = time.monotonic() + 300
    while not list(store.dir.glob("probe/*.json")):  # a first job is done: the others are in flight or waiting
        assert time.monotonic() < deadline and driver.poll() is None, driver.stderr.read() if driver.poll() else ""
        time.sleep(0.1)
    cluster.kill_worker()
    _, err = driver.communicate(timeout=300)
    loaded, problems = store.load()
    assert problems == []  # every file there is a whole, valid result
    assert driver.returncode in (0, 1), err  # its tasks ran again on the head, or failed as lost: never a crash
    again = subprocess.run([sys.executable, "-m", "lvrbench", *args], cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=600)
    assert again.returncode == 0, again.stderr
    final, problems = store.load()
    assert problems == [] and len(final) == 8 and all(r["status"] == "ok" for r in final)
