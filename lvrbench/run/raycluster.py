"""A Ray head and worker nodes on 127.0.0.1, for tests and the docs: started, used, and always stopped in bounded time.

Each node is `ray start --block` in a process group of its own, so it is stopped by signalling that group (and any
process left with this cluster's temporary directory on its command line): never `ray stop`, which ends every Ray
process of the user on the machine, other people's clusters included. Every port is chosen free, not Ray's fixed
defaults (10001 for the client server, 52365 for the dashboard agent), so clusters of several users can share a
machine. The temporary directory is short (/tmp/rXXXXXX): Ray's Unix socket paths must fit in 107 bytes.

What was measured with Ray 2.60.0 (`pip install ray`, the minimal install: no client server, so no
--ray-client-server-port) on this 2-core machine, useful to an executor:

- start: both nodes listening in 4-6.5 s, the driver connected with both nodes alive in 5-8 s; stop: 1.2 s
  (SIGTERM, then SIGKILL after a 1 s grace: raylet and `ray start --block` outlive SIGTERM by over 10 s).
- threads: a worker process inherits its node's environment; Ray sets OMP_NUM_THREADS to the task's num_cpus
  (1 by default, `num_cpus=0.5` gives 1 too) only where the node's environment has none (a node started with
  OMP_NUM_THREADS=3 gave its workers 3). Workers are reused across tasks: a num_cpus=2 task on a worker whose
  torch was imported at 1 thread computed with 1 thread, so the count a task gets depends on the worker's history.
  `runtime_env={"env_vars": {...}}` starts dedicated workers with those variables (they override Ray's
  OMP_NUM_THREADS), so OpenMP's wait policy takes effect there; the task must still set torch's count itself.
- retries: `max_retries` (default 3) re-runs a task whose worker process or node died, not one that raised
  (that needs `retry_exceptions`). A task pinned with a soft NodeAffinitySchedulingStrategy to a node that was
  killed ran again on the other node once the GCS declared the node dead: about 20 s with Ray's default health
  checks, under 3 s with RAY_health_check_period_ms=500, RAY_health_check_timeout_ms=500 and
  RAY_health_check_failure_threshold=3 in the nodes' environment. With max_retries=0 a killed worker process
  raised WorkerCrashedError at once.
- killing a node mid-run: `LoopbackCluster.kill_worker()` (SIGKILL to that node's process group).

Imports nothing of lvrbench; `ray` itself only where a caller uses it (the CLI is found beside this interpreter).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

#: Ports each node needs besides the head's GCS port (one free port each).
NODE_PORTS = ("node-manager-port", "object-manager-port", "dashboard-agent-listen-port", "dashboard-agent-grpc-port",
              "runtime-env-agent-port", "metrics-export-port")
#: What a driver connecting to a loopback cluster needs in its environment. Token authentication is off on loopback,
#: explicitly: with RAY_AUTH_MODE unset, Ray 2.60 turns it on in a node (or driver) that finds ~/.ray/auth_token (which
#: a local `ray.init()` writes) and leaves it off in one that does not, and a head and worker so started cannot talk.
DRIVER_ENV = {"RAY_AUTH_MODE": "disabled"}
#: Worker processes' ports: a range of this many free-looking ports per node.
WORKER_PORTS = 20


def ray_cli() -> str:
    """The `ray` command of this interpreter's environment (else the one on PATH)."""
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise RuntimeError("the ray command is not installed: pip install ray")
    return found


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (the OS's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_range(n: int) -> tuple[int, int]:
    """`n` consecutive ports that are free now, starting at one the OS picks."""
    for _ in range(100):
        start = free_port()
        if start + n > 65535:
            continue
        try:
            probes = []
            for port in range(start, start + n):
                s = socket.socket()
                probes.append(s)
                s.bind(("127.0.0.1", port))
            return start, start + n - 1
        except OSError:
            continue
        finally:
            for s in probes:
                s.close()
    raise RuntimeError(f"found no {n} consecutive free ports")


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Node:
    """One `ray start --block` process (the leader of its process group) and the ports it listens on."""

    proc: subprocess.Popen
    ports: dict[str, int]
    log: Path

    def signal(self, sig: int) -> None:
        """Send `sig` to the node's whole process group (raylet, GCS, workers)."""
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class LoopbackCluster:
    """A running loopback cluster: `address` for `ray.init(address=...)`, its nodes, and how long it took to start."""

    address: str
    temp_dir: Path
    head: Node
    workers: list[Node] = field(default_factory=list)
    start_s: float = 0.0
    stop_s: float | None = None

    def kill_worker(self, index: int = 0) -> None:
        """Kill a worker node at once (SIGKILL to its process group), as a machine failing mid-run would."""
        self.workers[index].signal(signal.SIGKILL)
        self.workers[index].proc.wait(10)


def _start_node(args: list[str], temp_dir: Path, name: str, env: dict[str, str]) -> Node:
    ports = {flag: free_port() for flag in NODE_PORTS}
    low, high = free_range(WORKER_PORTS)
    command = [ray_cli(), "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats",
               f"--min-worker-port={low}", f"--max-worker-port={high}", "--object-store-memory=100000000",
               *(f"--{flag}={port}" for flag, port in ports.items()), *args]
    log = temp_dir / f"{name}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
    return Node(proc, ports, log)


def _wait_ready(node: Node, port: int, deadline: float) -> None:
    """Wait for the node to listen on `port`; a node that exits or runs past the deadline is an error naming its log."""
    while not port_open(port):
        if node.proc.poll() is not None or time.monotonic() > deadline:
            tail = node.log.read_text(errors="replace")[-2000:] if node.log.exists() else ""
            why = f"exited with {node.proc.returncode}" if node.proc.poll() is not None else "did not start in time"
            raise RuntimeError(f"ray node {why} (log {node.log}):\n{tail}")
        time.sleep(0.1)


def leftovers(marker: str) -> list[int]:
    """Pids of processes whose command line names this cluster's temporary directory (ours, by construction)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


def stop(cluster: LoopbackCluster, grace: float = 1.0) -> float:
    """Stop every node (workers first): SIGTERM to each group, SIGKILL after `grace` s (as `ray stop --force` does:
    measured, raylet and `ray start --block` outlive SIGTERM by more than 10 s), then any process left that names the
    cluster's temporary directory; returns the seconds it took."""
    started = time.monotonic()
    nodes = [*cluster.workers, cluster.head]
    for node in nodes:
        node.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for node in nodes:
        try:
            node.proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            pass
        node.signal(signal.SIGKILL)  # the group's stragglers too, even when the leader has exited
        try:
            node.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    if os.path.isdir("/proc"):
        for pid in leftovers(str(cluster.temp_dir)):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    shutil.rmtree(cluster.temp_dir, ignore_errors=True)
    cluster.stop_s = time.monotonic() - started
    return cluster.stop_s


@contextmanager
def loopback_cluster(workers: int = 1, num_cpus: int = 1, timeout: float = 90.0,
                     env: dict[str, str] | None = None) -> Iterator[LoopbackCluster]:
    """A head and `workers` worker nodes on 127.0.0.1 with `num_cpus` CPUs each; stopped on exit, whatever happens.

    `env` is the nodes' environment (default: this process's), which their worker processes inherit. Raises
    RuntimeError, with the node's log, when a node does not start within `timeout` seconds.
    """
    started = time.monotonic()
    deadline = started + timeout
    temp_dir = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    env = dict(os.environ if env is None else env)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    env.setdefault("RAY_AUTH_MODE", DRIVER_ENV["RAY_AUTH_MODE"])
    gcs = free_port()
    head = _start_node(["--head", f"--port={gcs}", f"--num-cpus={num_cpus}", "--include-dashboard=false",
                        f"--dashboard-port={free_port()}", f"--temp-dir={temp_dir}"], temp_dir, "head", env)
    cluster = LoopbackCluster(f"127.0.0.1:{gcs}", temp_dir, head)
    try:
        _wait_ready(head, gcs, deadline)
        for i in range(workers):
            node = _start_node([f"--address={cluster.address}", f"--num-cpus={num_cpus}"], temp_dir, f"worker{i}", env)
            cluster.workers.append(node)
        for node in [head, *cluster.workers]:
            _wait_ready(node, node.ports["node-manager-port"], deadline)
        cluster.start_s = time.monotonic() - started
        yield cluster
    finally:
        stop(cluster)
