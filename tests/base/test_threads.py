"""The thread policy: the same bits whatever the inherited thread settings, and when its variables take effect.

Each case runs in its own interpreter, since OpenMP reads its environment once per process.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from lvrbench.base import threads

#: Thread-sensitive work, measured on torch 2.14.1 (AVX512, MKL): each part gives other bits at 2 threads than at 1.
SENSITIVE = r"""
import hashlib, torch
def digest(t):
    return hashlib.sha256(t.detach().contiguous().numpy().tobytes()).hexdigest()
g = torch.Generator().manual_seed(0)
a = torch.randn(128, 128, generator=g, dtype=torch.float64)
parts = {"eigvalsh": digest(torch.linalg.eigvalsh(a + a.T))}
net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.BatchNorm1d(256), torch.nn.ReLU(), torch.nn.Linear(256, 1))
with torch.no_grad():
    for p in net.parameters():
        p.copy_(torch.randn(p.shape, generator=g) * 0.1)
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x = torch.randn(512, 64, generator=g)
for _ in range(20):
    opt.zero_grad()
    net(x).pow(2).mean().backward()
    opt.step()
parts["batchnorm"] = digest(torch.cat([p.flatten() for p in net.parameters()]))
parts["sum"] = digest(torch.randn(10_000_000, generator=g).sum())
"""

#: The variables the policy sets, cleared from a child's environment unless the case sets them.
POLICY_VARS = tuple(threads.environment(1)) + ("GOMP_SPINCOUNT",)


def child(code: str, env: dict[str, str] | None = None, timeout: float = 120) -> dict:
    """Run `code` in a fresh interpreter whose thread variables are only `env`; it prints one JSON line."""
    base = {k: v for k, v in os.environ.items() if k not in POLICY_VARS}
    out = subprocess.run([sys.executable, "-c", code], env={**base, **(env or {})}, capture_output=True, text=True,
                         timeout=timeout)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def sensitive(prelude: str = "", env: dict[str, str] | None = None) -> dict:
    """The thread-sensitive digests and the threads they ran with, after `prelude` (run after `import torch`)."""
    code = ("import json, torch\n" + prelude + "\n" + SENSITIVE
            + "\nprint(json.dumps({'parts': parts, 'threads': torch.get_num_threads()}))")
    return child(code, env)


APPLY = "from lvrbench.base import threads\nthreads.apply()"


@pytest.fixture(scope="module")
def reference() -> dict:
    """The bits of a process started under the policy (its variables in the environment, no call)."""
    ref = sensitive(env=threads.environment(threads.THREADS_PER_JOB))
    assert ref["threads"] == 1
    return ref["parts"]


@pytest.mark.parametrize("inherited,prelude", [
    ({}, ""),  # torch's default: one thread per core
    ({"OMP_NUM_THREADS": "8", "MKL_NUM_THREADS": "8"}, "torch.set_num_threads(2)\ntorch.ones(1).sum()\n"),
], ids=["default", "inherited-8-then-2"])
def test_policy_gives_the_reference_bits_whatever_is_inherited(reference, inherited, prelude):
    got = sensitive(prelude + APPLY, inherited)
    assert got["threads"] == threads.THREADS_PER_JOB
    assert got["parts"] == reference


def test_without_the_policy_the_bits_differ(reference):
    """The reason for the policy: torch's default, one thread per core (2 on the machine measured), gives other bits
    (each part differs there); on a 1-core machine, where the default is 1 thread, 2 threads are asked for."""
    got = sensitive("if torch.get_num_threads() < 2:\n    torch.set_num_threads(2)")
    assert got["threads"] >= 2
    assert got["parts"] != reference


def test_environment_is_what_workers_start_with():
    env = threads.environment(3)
    assert env["OMP_NUM_THREADS"] == env["MKL_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == "3"
    assert env["OMP_WAIT_POLICY"] == "PASSIVE" and env["KMP_BLOCKTIME"] == "0"
    with pytest.raises(ValueError):
        threads.environment(0)


#: A 2-thread parallel `sum`, then 5 ms of serial Python, repeatedly: how much CPU do the OpenMP workers burn
#: while the main thread works alone? (Spinning idle workers is what slows a job on shared cores.)
SPIN = r"""
import os, time
def cpu_by_thread():
    out = {}
    for tid in os.listdir("/proc/self/task"):
        fields = open(f"/proc/self/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        out[tid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return out
torch.set_num_threads(2)
x = torch.randn(4_000_000)
x.sum()
before, start = cpu_by_thread(), time.perf_counter()
for _ in range(60):
    x.sum()
    end = time.perf_counter() + 0.005
    while time.perf_counter() < end:
        pass
after, wall = cpu_by_thread(), time.perf_counter() - start
me = str(os.getpid())
workers = sum(after[t] - before.get(t, 0.0) for t in after if t != me)
print(json.dumps({"workers": workers, "wall": wall, "current": threads.current()}))
"""


def spin(prelude: str, env: dict[str, str]) -> dict:
    return child("import json, os\n" + prelude + "\nfrom lvrbench.base import threads\n" + SPIN, env)


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads per-thread CPU time from /proc")
def test_wait_policy_takes_effect_only_before_torch_is_imported():
    """libgomp reads OMP_WAIT_POLICY when torch loads: `apply` first, the idle worker sleeps; `apply` after
    `import torch` (even before any parallel region) leaves it spinning, and `current` says so."""
    early = spin("from lvrbench.base import threads\nthreads.apply(2)\nimport torch", {})
    late = spin("import torch\nfrom lvrbench.base import threads\nthreads.apply(2)", {})
    assert early["current"]["wait_policy_effective"] is True
    assert late["current"]["wait_policy_effective"] is False
    assert late["current"]["wait_policy"] == early["current"]["wait_policy"] == "passive"
    # Measured: early ~0.03 s of worker CPU, late ~0.3 s (it spins through most of the 0.3 s of serial work).
    assert early["workers"] < 0.1 * early["wall"] + 0.02
    assert late["workers"] > 3 * early["workers"] + 0.05


def test_current_and_code_path_describe_this_process():
    now = threads.current()
    assert set(now) == {"threads", "interop_threads", "wait_policy", "wait_policy_effective"}
    path = threads.cpu_code_path()
    assert set(path) == {"cpu_capability", "mkl", "onednn", "blas", "parallel_backend", "cpu", "vector_flags", "machine"}
    assert path["cpu_capability"] and path["cpu"] and path["machine"]
    json.dumps(path)  # provenance stores it as JSON
