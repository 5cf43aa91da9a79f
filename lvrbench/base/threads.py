"""The thread policy: lvrbench, not the environment, sets how many threads every computation uses.

Why one thread per job (`THREADS_PER_JOB`): a cell's bits must not depend on the machine's core count,
which is no part of its identity. Several of torch's CPU kernels split a reduction among their threads
and add the partial results in a different order at 1 and at 2 threads: BatchNorm1d's batch statistics
(so GAN and classifier training), MKL's `eigvalsh` (the FID bootstraps) and large `sum`s. Measured on
torch 2.14.1 (AVX512, MKL 2024.2, libgomp): `eigvalsh` of a seeded symmetric 128x128 float64 matrix,
20 SGD steps of a Linear-BatchNorm1d-ReLU-Linear net and the sum of 10M floats each give other bits at
2 threads than at 1 (a 1M-float sum and a 1024x1024 matmul do not). torch defaults to one thread per
core, so without a policy a 16-core machine computes other numbers for the same cell ids. One thread
per job gives the same bits everywhere; parallelism comes from running jobs in parallel processes.

Why a passive wait policy: torch's OpenMP here is GNU libgomp, whose idle workers spin (300,000
iterations by default) after each parallel region. On cores shared with other processes that spinning
takes the cores the work needs: measured, a 2-thread loop of `sum`s between 5 ms of serial Python took
1.26 s with the default (its idle worker burning 0.61 s of CPU), 0.60 s with OMP_WAIT_POLICY=PASSIVE
(0.04 s) and the same with GOMP_SPINCOUNT=0. KMP_BLOCKTIME, Intel OpenMP's knob, changed nothing here
(libgomp ignores it); it is set for torch builds linked against libiomp5. With one thread there are no
workers to spin: the wait policy matters when a user gives a job more threads.

When each setting takes effect:
- the thread count: `torch.set_num_threads` at any time (it also sets MKL's count);
- the OpenMP variables (wait policy, OMP_NUM_THREADS): read by libgomp once, when torch is imported.
  Set after `import torch` they change nothing, even before the first parallel region (measured: the
  idle worker spins as with the default). So a worker process must get `environment(n)` in the
  environment it is started with (`subprocess`/`multiprocessing` env, Ray's runtime_env env_vars), or
  call `apply(n)` before anything imports torch;
- the inter-op pool's size: `torch.set_num_interop_threads` once per process, before any inter-op work;
  later calls raise RuntimeError, which `apply` absorbs (the pool is unused by lvrbench's computations).

Imports nothing of lvrbench; torch only inside functions.
"""
from __future__ import annotations

import os
import re
import sys
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Iterator

#: Threads each job computes with. One: the same bits on every machine (see the module docstring).
THREADS_PER_JOB = 1

#: The OpenMP wait policy lvrbench sets: idle threads sleep instead of spinning on shared cores.
WAIT_POLICY = "PASSIVE"

#: Whether the OpenMP variables were in the environment before torch was loaded in this process
#: (None: `apply` has not run). Only then does the wait policy take effect.
_policy_before_torch: bool | None = None


def environment(threads: int = THREADS_PER_JOB) -> dict[str, str]:
    """The environment variables a process computing with `threads` threads must start with.

    OMP/MKL/OPENBLAS_NUM_THREADS fix the thread count of each library (OpenBLAS is numpy's and scipy's BLAS),
    OMP_WAIT_POLICY=PASSIVE (libgomp, torch's OpenMP here) and KMP_BLOCKTIME=0 (Intel OpenMP, where a build
    uses it) make idle threads sleep rather than spin.
    """
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    n = str(threads)
    return {"OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n,
            "OMP_WAIT_POLICY": WAIT_POLICY, "KMP_BLOCKTIME": "0"}


def prepare(threads: int = THREADS_PER_JOB) -> None:
    """Put the policy's variables in this process's environment, importing nothing: what the command line does first,
    so that torch, loaded later, starts with `threads` threads and OpenMP's passive wait, and the processes it starts
    (a pool's workers, Ray's local nodes) inherit both."""
    global _policy_before_torch
    if _policy_before_torch is None:  # the first call decides: libgomp reads its environment once, when torch loads
        _policy_before_torch = "torch" not in sys.modules or _inherited()
    os.environ.update(environment(threads))


def apply(threads: int = THREADS_PER_JOB) -> dict[str, Any]:
    """Put this process under the policy: the environment variables, then torch's thread counts; returns `current()`.

    The thread count always takes effect. The OpenMP variables do only when torch was not imported yet: call this
    first thing in a worker, or start the worker with `environment(threads)` (see the module docstring).
    """
    prepare(threads)
    import torch

    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError:  # set already, or inter-op work has started: only once per process
        pass
    return current()


@contextmanager
def policy(threads: int = THREADS_PER_JOB) -> Iterator[dict[str, Any]]:
    """`apply(threads)` for the block, then torch's thread count and the variables as they were: how a caller that
    computes in its own process (the in-process executor, `verify`, a test) keeps the policy without changing its
    process for good. Yields `current()`."""
    import torch

    saved_threads, saved_env = torch.get_num_threads(), {k: os.environ.get(k) for k in environment(threads)}
    try:
        yield apply(threads)
    finally:
        torch.set_num_threads(saved_threads)
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _inherited() -> bool:
    """Whether the process started with the policy's wait variables (then libgomp read them when torch loaded)."""
    try:
        with open("/proc/self/environ", "rb") as f:  # the environment as it was at exec
            start = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
    except OSError:
        return False
    return start.get(b"OMP_WAIT_POLICY", b"").upper() == WAIT_POLICY.encode()


def current() -> dict[str, Any]:
    """What provenance records of the threads that computed: torch's intra- and inter-op counts and the wait policy.

    `wait_policy` is OMP_WAIT_POLICY as set ("default" when unset); `wait_policy_effective` says whether it was set
    before torch was loaded (None: unknown, `apply` has not run in this process).
    """
    import torch

    effective = _policy_before_torch
    if effective is None and os.environ.get("OMP_WAIT_POLICY"):
        effective = _inherited()
    return {"threads": torch.get_num_threads(), "interop_threads": torch.get_num_interop_threads(),
            "wait_policy": os.environ.get("OMP_WAIT_POLICY", "default").lower(),
            "wait_policy_effective": effective}


def _config_line(text: str, pattern: str) -> str | None:
    match = re.search(pattern, text)
    return match.group(1) if match else None


#: The /proc/cpuinfo flags of the vector extensions kernels dispatch on (MKL and oneDNN read CPUID themselves).
VECTOR_FLAGS = re.compile(r"^(avx\w*|amx\w*|fma\w*|f16c|sse4_\d|sse4a)$")


def cpu_info() -> tuple[str, list[str]]:
    """The CPU's model name and its vector extensions, from /proc/cpuinfo (platform's name and none elsewhere)."""
    model, flags = None, []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if model is None and key in ("model name", "Model", "cpu model"):
                    model = value.strip()
                elif not flags and key in ("flags", "Features"):
                    flags = sorted(flag for flag in value.split() if VECTOR_FLAGS.match(flag))
                if model is not None and flags:
                    break
    except OSError:
        pass
    if model is None:
        import platform

        model = platform.processor() or platform.machine()
    return model, flags


def cpu_code_path() -> dict[str, Any]:
    """Which CPU kernels computed: what `verify` compares to tell "other CPU code path, compared within tolerance"
    from "does not reproduce".

    The vector instructions torch dispatches to (`get_cpu_capability`, e.g. AVX512, AVX2, DEFAULT), the MKL and
    oneDNN versions and the parallel backend as torch reports them, the CPU model, its vector extensions (MKL and
    oneDNN pick kernels by them, beyond torch's capability) and the architecture. Two results
    whose code paths are equal must agree bit for bit under the thread policy; otherwise only within tolerance.
    Read once per process.
    """
    return dict(_code_path())


@lru_cache(maxsize=1)
def _code_path() -> tuple[tuple[str, Any], ...]:
    import platform

    import torch

    show = torch.__config__.show()
    parallel = torch.__config__.parallel_info()
    mkl = _config_line(show, r"Math Kernel Library Version ([\d.]+)") if torch.backends.mkl.is_available() else None
    model, flags = cpu_info()
    build = _config_line(show, r"Math Kernel Library Version [^\s]+-Product Build (\d+)")
    return tuple({
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkl": f"{mkl} ({build})" if mkl and build else mkl,
        "onednn": _config_line(show, r"MKL-DNN v([\d.]+)") if torch.backends.mkldnn.is_available() else None,
        "blas": _config_line(show, r"BLAS_INFO=(\w+)"),
        "parallel_backend": _config_line(parallel, r"ATen parallel backend: ([^\n]+)"),
        "cpu": model,
        "vector_flags": " ".join(flags),
        "machine": platform.machine(),
    }.items())
