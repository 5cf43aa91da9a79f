"""A real Ray head and worker node on loopback: both run tasks, thread variables reach workers, a killed node's task is
retried elsewhere, and nothing is left running afterwards. Skipped without `ray` (pip install ray)."""
from __future__ import annotations

import os
import time

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install ray): the loopback cluster tests need it")

from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

from lvrbench.run import raycluster  # noqa: E402

#: Thread variables are left out of the nodes' environment, so that what Ray itself sets is seen.
THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_WAIT_POLICY", "KMP_BLOCKTIME")
#: The GCS declares a node dead after 3 missed health checks 0.5 s apart (Ray's default takes about 20 s).
FAST_FAILURE = {"RAY_health_check_period_ms": "500", "RAY_health_check_timeout_ms": "500",
                "RAY_health_check_failure_threshold": "3"}


def node_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in THREAD_VARS} | FAST_FAILURE


def alive_nodes(want: int, timeout: float = 30) -> list[str]:
    """The ids of the alive nodes, once there are `want` of them."""
    deadline = time.monotonic() + timeout
    while True:
        alive = [n["NodeID"] for n in ray.nodes() if n["Alive"]]
        if len(alive) == want or time.monotonic() > deadline:
            return alive
        time.sleep(0.2)


@pytest.fixture
def cluster(monkeypatch):
    """A head and one worker node with a CPU each, the driver connected; stopped and checked clean afterwards."""
    for key, value in raycluster.DRIVER_ENV.items():
        monkeypatch.setenv(key, value)
    with raycluster.loopback_cluster(workers=1, num_cpus=1, timeout=120, env=node_env()) as running:
        ray.init(address=running.address, log_to_driver=False)
        try:
            yield running
        finally:
            ray.shutdown()
    assert running.stop_s is not None and running.stop_s < 15
    assert raycluster.leftovers(str(running.temp_dir)) == []
    assert not running.temp_dir.exists()


def test_a_task_runs_on_each_node_and_sees_the_thread_settings(cluster):
    assert cluster.start_s < 60
    nodes = alive_nodes(2)
    assert len(nodes) == 2

    @ray.remote
    def where() -> dict:
        return {"node": ray.get_runtime_context().get_node_id(), "omp": os.environ.get("OMP_NUM_THREADS"),
                "wait": os.environ.get("OMP_WAIT_POLICY")}

    policy = {"OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    for node in nodes:
        pinned = NodeAffinitySchedulingStrategy(node, soft=False)
        plain = ray.get(where.options(scheduling_strategy=pinned).remote(), timeout=60)
        assert plain == {"node": node, "omp": "1", "wait": None}  # Ray sets OMP_NUM_THREADS to num_cpus (1), no more
        env = ray.get(where.options(scheduling_strategy=pinned, runtime_env={"env_vars": policy}).remote(), timeout=60)
        assert env == {"node": node, "omp": "1", "wait": "PASSIVE"}  # a worker started with the policy's variables


def test_a_task_on_a_killed_node_is_retried_on_the_other(cluster, tmp_path):
    head = ray.get_runtime_context().get_node_id()
    worker = next(n for n in alive_nodes(2) if n != head)
    started = tmp_path / "started"

    @ray.remote
    def work(seconds: float) -> str:
        retried = started.exists()
        with open(started, "a") as f:
            f.write(ray.get_runtime_context().get_node_id() + "\n")
        time.sleep(0 if retried else seconds)  # the first try outlasts the kill, however slowly a loaded node dies
        return ray.get_runtime_context().get_node_id()

    ref = work.options(scheduling_strategy=NodeAffinitySchedulingStrategy(worker, soft=True), max_retries=1).remote(60.0)
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cluster.kill_worker()
    assert ray.get(ref, timeout=90) == head
    assert started.read_text().split() == [worker, head]
    assert alive_nodes(1) == [head]
