"""Claims on a shared cache: one build per artifact across processes, stale claims taken over, failures shared."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lvrbench.base import claims

#: A worker process: waits for the go file, then needs the artifact; `build` counts itself and takes a while.
WORKER = r"""
import os, sys, time
from pathlib import Path
from lvrbench.base.claims import ArtifactFailed, build_once
root, name, fail = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "fail"
artifact = root / "artifact.pt"
while not (root / "go").exists():
    time.sleep(0.005)
def build():
    with open(root / "builds", "a") as f:
        f.write(f"{name}\n")
    (root / f"started-{name}").touch()
    time.sleep(0.8)
    if fail:
        raise ValueError("training diverged at epoch 3\nnan in the discriminator loss")
    tmp = root / f".artifact.{name}.tmp"
    tmp.write_text(name)
    os.replace(tmp, artifact)
try:
    built = build_once(artifact.exists, artifact, build, lease=5, poll=0.02, run="r1", timeout=60)
except ArtifactFailed as exc:
    print(f"failed: {exc}")
else:
    print("built" if built else "waited")
"""


def start(root: Path, name: str, fail: bool = False) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WORKER, str(root), name, "fail" if fail else "ok"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 or "ValueError" in err, err
    return out.strip()


@pytest.mark.parametrize("stale", [False, True], ids=["cold", "stale-claim"])
def test_three_processes_racing_on_a_cold_artifact_build_it_once(tmp_path, stale):
    """Three real processes need one missing artifact at once (left by a dead holder's claim, too): one builds."""
    if stale:
        plant(tmp_path / "artifact.pt", "elsewhere", 1, 1000.0)
    procs = [start(tmp_path, f"w{i}") for i in range(3)]
    time.sleep(1.5)  # all three interpreters up and polling for the go file
    (tmp_path / "go").touch()
    outs = sorted(finish(p) for p in procs)
    assert (tmp_path / "builds").read_text().count("\n") == 1
    assert outs == ["built", "waited", "waited"]
    assert (tmp_path / "artifact.pt").read_text() == (tmp_path / "builds").read_text().strip()
    assert not claims.claim_path(tmp_path / "artifact.pt").exists()
    assert [p.name for p in tmp_path.iterdir() if ".aside" in p.name or ".clock" in p.name] == []


def test_a_holder_that_raises_makes_the_waiter_fail_with_its_error(tmp_path):
    (tmp_path / "go").touch()
    holder = start(tmp_path, "holder", fail=True)
    while not (tmp_path / "started-holder").exists():
        assert holder.poll() is None, holder.communicate()
        time.sleep(0.01)
    waiter = start(tmp_path, "waiter")
    assert finish(waiter) == "failed: ValueError: nan in the discriminator loss"
    holder.communicate(timeout=60)
    assert holder.returncode != 0  # the holder raises its own error
    assert (tmp_path / "builds").read_text() == "holder\n"  # the waiter never retried
    assert not claims.claim_path(tmp_path / "artifact.pt").exists()


def test_a_failure_of_another_run_is_built_again(tmp_path):
    artifact = tmp_path / "a.pt"
    claims.failed_path(artifact).write_text(json.dumps({"error": "old: boom", "run": "r0"}))
    assert claims.recorded_failure(artifact) == "old: boom"
    assert claims.recorded_failure(artifact, "r1") is None
    with pytest.raises(claims.ArtifactFailed, match="old: boom"):
        claims.build_once(artifact.exists, artifact, artifact.touch, poll=0.01, run="r0")
    assert claims.build_once(artifact.exists, artifact, artifact.touch, poll=0.01, run="r1") is True
    assert not claims.failed_path(artifact).exists()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def plant(artifact: Path, host: str, pid: int, age: float) -> Path:
    """A claim file of someone else, `age` seconds old."""
    path = claims.claim_path(artifact)
    path.write_text(json.dumps({"host": host, "pid": pid, "time": time.time() - age, "token": "theirs"}))
    os.utime(path, (time.time() - age, time.time() - age))
    return path


@pytest.mark.parametrize("host,age", [(socket.gethostname(), 1000.0), ("elsewhere", 1000.0), (socket.gethostname(), 0.0)],
                         ids=["old-dead-here", "old-elsewhere", "fresh-dead-here"])
def test_a_stale_claim_is_taken_over(tmp_path, host, age):
    """Stale: older than the lease (any host), or its holder is a dead process of this host (no need to wait)."""
    artifact = tmp_path / "a.pt"
    path = plant(artifact, host, dead_pid(), age)
    taken = claims.claim(artifact, lease=30)
    assert taken is not None and taken.held()
    assert json.loads(path.read_text())["token"] == taken.token
    taken.release()
    assert not path.exists()


@pytest.mark.parametrize("host,pid", [("elsewhere", 12345), (socket.gethostname(), os.getppid())], ids=["elsewhere", "alive-here"])
def test_a_live_claim_is_not_taken(tmp_path, host, pid):
    artifact = tmp_path / "a.pt"
    path = plant(artifact, host, pid, 1.0)
    assert claims.claim(artifact, lease=30) is None
    assert json.loads(path.read_text())["token"] == "theirs"


def test_release_never_deletes_another_claim(tmp_path):
    artifact = tmp_path / "a.pt"
    first = claims.claim(artifact, lease=30)
    assert first is not None and claims.claim(artifact, lease=30) is None
    path = claims.claim_path(artifact)
    os.utime(path, (time.time() - 100, time.time() - 100))  # the first holder stalled past its lease
    second = claims.claim(artifact, lease=30)
    assert second is not None
    assert not first.renew() and first.lost
    first.release()
    assert path.exists() and second.held()
    second.release()
    assert not path.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_the_heartbeat_keeps_a_claim_alive_past_its_lease(tmp_path):
    artifact = tmp_path / "a.pt"
    held = claims.claim(artifact, lease=0.4)
    assert held is not None
    with held:
        time.sleep(1.0)  # 2.5 leases: only the heartbeat keeps it fresh
        assert claims.claim(artifact, lease=0.4) is None
        assert held.held() and not held.lost
    assert not claims.claim_path(artifact).exists()
    # Not entered: no heartbeat, so it goes stale and is taken over.
    idle = claims.claim(artifact, lease=0.2)
    time.sleep(0.5)
    assert claims.claim(artifact, lease=0.2) is not None
    assert not idle.held()


def test_threads_of_one_process_build_once_too(tmp_path):
    artifact, built = tmp_path / "a.pt", []

    def build() -> None:
        built.append(1)
        time.sleep(0.3)
        artifact.touch()

    results: list[bool] = []
    workers = [threading.Thread(target=lambda: results.append(claims.build_once(artifact.exists, artifact, build,
                                                                                 lease=5, poll=0.01)))
               for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert len(built) == 1 and sorted(results) == [False, False, False, True]


def test_waiting_is_bounded(tmp_path):
    artifact = tmp_path / "a.pt"
    held = claims.claim(artifact, lease=30)
    with held, pytest.raises(TimeoutError, match="still claimed"):
        claims.build_once(artifact.exists, artifact, artifact.touch, poll=0.01, timeout=0.1)


#: Trials of four forked processes taking over one stale claim at once; each holds what it won until all have tried.
TAKEOVER_RACE = r"""
import json, multiprocessing as mp, os, sys, tempfile, time
from pathlib import Path
from lvrbench.base import claims

def worker(root, q):
    root = Path(root)
    while not (root / "go").exists():
        pass
    q.put(claims.claim(root / "a.pt", lease=30) is not None)
    while not (root / "done").exists():
        time.sleep(0.005)

if __name__ == "__main__":
    ctx, winners = mp.get_context("fork"), []
    for trial in range(int(sys.argv[1])):
        root = Path(tempfile.mkdtemp(dir=sys.argv[2]))
        stale = claims.claim_path(root / "a.pt")
        stale.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "old"}))
        os.utime(stale, (0, 0))
        q = ctx.Queue()
        procs = [ctx.Process(target=worker, args=(str(root), q)) for _ in range(4)]
        for p in procs:
            p.start()
        time.sleep(0.05)
        (root / "go").touch()
        winners.append(sum(q.get(timeout=30) for _ in procs))
        (root / "done").touch()
        for p in procs:
            p.join(30)
    print(json.dumps(winners))
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="forks its racers")
def test_four_processes_taking_over_one_stale_claim_make_one_winner(tmp_path):
    out = subprocess.run([sys.executable, "-c", TAKEOVER_RACE, "20", str(tmp_path)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == [1] * 20


def test_a_guard_left_by_a_dead_process_is_broken(tmp_path):
    """A worker killed inside a takeover leaves `<claim>.lock`: the next taker breaks it rather than wait forever."""
    artifact = tmp_path / "a.pt"
    plant(artifact, "elsewhere", 1, 1000.0)
    guard = claims.claim_path(artifact).with_name("a.pt.claim.lock")
    guard.write_text(json.dumps({"host": socket.gethostname(), "pid": dead_pid(), "token": "g"}))
    taken = claims.claim(artifact, lease=30)
    assert taken is not None and taken.held() and not guard.exists()
    guard.write_text(json.dumps({"host": "elsewhere", "pid": 1, "token": "g"}))
    os.utime(guard, (time.time() - 100, time.time() - 100))  # older than GUARD_STALE
    taken.release()
    assert sorted(p.name for p in tmp_path.iterdir()) == []
