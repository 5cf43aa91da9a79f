#!/usr/bin/env bash
# The GPU check of issue 23: on a machine with one NVIDIA GPU and this repository checked out, in under 10 minutes,
# unattended, it
#   1. records the machine (nvidia-smi, python, torch, CUDA, the CPU code path),
#   2. sets up a Python environment with lvrbench installed,
#   3. runs the tests that need CUDA (those that skip without it: `grep -rl cuda.is_available tests/`),
#   4. runs benchmarks/recovery_engine.py on CUDA and on the CPU and compares their speeds,
#   5. measures how far the `stacked` generator pass (the GPU default) strays from `rows` on CUDA, and CUDA's `rows`
#      from the CPU's,
#   6. runs a slice of the full profile on CUDA (default: mode-coverage and generation, ring8, lsgan: one full
#      200-epoch training; no recovery-real slice finishes in minutes cold, see FULL_SLICE below),
# and writes every figure and command to one report: $OUT/gpu_report.md when OUT is set, else ./gpu_report.md.
#
# Each step runs under its own time limit, inside an overall budget (GPU_CHECK_BUDGET seconds, default 540); a step
# that fails or times out is recorded and the script goes on. It never stops on an error (no set -e) and exits 0
# when the report was written.
#
#   benchmarks/gpu_check.sh                      # on the GPU machine
#   GPU_CHECK_DRY=1 benchmarks/gpu_check.sh      # anywhere: every step on the CPU at toy sizes, in a few minutes
#
# Settings (environment variables):
#   GPU_CHECK_DRY=1        CPU, toy sizes, quick profile: exercises every step without a GPU
#   GPU_CHECK_BUDGET=540   seconds for all steps together
#   GPU_CHECK_PYTHON=PATH  use this interpreter as it is (lvrbench must be importable)
#   GPU_CHECK_WORK=DIR     scratch directory (default: a new one under /tmp): venv, cache, leaderboards, logs
#   GPU_CHECK_SLICE="..."  the `lvrbench run` arguments of step 6 instead of the default slice
#   LVRBENCH_DATA_DIR=DIR  datasets (an offline machine needs MNIST/Fashion-MNIST here for an image slice)
#
# Python: an existing .venv where lvrbench imports (`make setup`'s); else, where python3 already has torch (GPU
# images, often offline), a venv over its site-packages with lvrbench installed editable without dependencies;
# else `make setup` (needs the network).
set -u
set -o pipefail

cd "$(dirname "$0")/.." || exit 1
REPO=$PWD
DRY=${GPU_CHECK_DRY:-0}
BUDGET=${GPU_CHECK_BUDGET:-540}
WORK=${GPU_CHECK_WORK:-$(mktemp -d /tmp/gpu_check.XXXXXX)}
mkdir -p "$WORK/logs"
if [ -n "${OUT:-}" ]; then REPORT=$OUT/gpu_report.md; else REPORT=$REPO/gpu_report.md; fi
BODY=$WORK/body.md
SUMMARY=$WORK/summary.md
: >"$BODY"
: >"$SUMMARY"
START=$(date +%s)
PY=python3

if [ "$DRY" = 1 ]; then
    DEVICE=cpu
    ENGINE_DEV=(--arch mlp --images 8 --steps 2 --repeat 1 --methods z-score-square)
    ENGINE_CPU_MLP=(--arch mlp --images 8 --steps 2 --repeat 1 --methods z-score-square)
    ENGINE_CPU_DCGAN=(--arch dcgan --images 4 --steps 1 --repeat 1 --methods z-score-square)
    # The shape of recovery-real's full slice below, on the quick profile (Fashion-MNIST; about a minute on one core).
    FULL_SLICE=${GPU_CHECK_SLICE:-"--task recovery-real --profile quick --set lr=0.1 --set weight=0,1 --method z-score-square --prior normal"}
    STACKED_SIZE="8 4"  # images, steps
    # A dry run is for shared machines: one thread per process, idle OpenMP threads asleep (lvrbench.base.threads).
    export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE
else
    DEVICE=cuda
    ENGINE_DEV=(--arch mlp,dcgan --steps 50 --repeat 2 --methods z-score-square,lukaszyk-karmowski)
    # The CPU runs the same configuration; dcgan at fewer steps (a 2-core CPU takes minutes per step count of 10).
    # The benchmark reports rates (sample-iterations/s), so the step count does not enter the comparison.
    ENGINE_CPU_MLP=(--arch mlp --steps 50 --repeat 1 --methods z-score-square,lukaszyk-karmowski)
    ENGINE_CPU_DCGAN=(--arch dcgan --steps 5 --repeat 1 --methods z-score-square,lukaszyk-karmowski)
    # A full-profile slice that finishes in minutes: ring8 with LSGAN trains one generator for the full profile's 200
    # epochs (20k points, batch 256: 15.6k steps) and scores it. recovery-real's full profile first trains a DCGAN
    # on MNIST for 200 epochs at batch 32 (375k steps) and a classifier for 50 (94k steps): run it with
    # GPU_CHECK_SLICE="--task recovery-real --profile full --set lr=0.1 --set weight=0,1 --method z-score-square
    # --prior normal" (and MNIST in LVRBENCH_DATA_DIR) when an hour is at hand.
    FULL_SLICE=${GPU_CHECK_SLICE:-"--task mode-coverage --task generation --dataset ring8 --family lsgan --profile full"}
    STACKED_SIZE="64 50"
fi

left() { echo $((BUDGET - ($(date +%s) - START))); }

# step NAME LIMIT COMMAND...: run COMMAND under min(LIMIT, budget left) seconds, log it, record it in the report.
step() {
    local name=$1 limit=$2
    shift 2
    local log=$WORK/logs/$name.log remaining status rc t0 t1
    remaining=$(left)
    if [ "$remaining" -lt 15 ]; then
        echo "| $name | skipped: budget spent | 0 |" >>"$SUMMARY"
        printf '## %s\n\nskipped: the %s s budget was spent\n\n' "$name" "$BUDGET" >>"$BODY"
        return 1
    fi
    [ "$limit" -gt $((remaining - 5)) ] && limit=$((remaining - 5))
    echo "[gpu_check] $name (limit ${limit}s)" >&2
    t0=$(date +%s.%N)
    timeout --kill-after=10 "$limit" "$@" >"$log" 2>&1 </dev/null  # nothing waits on a terminal
    rc=$?
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    case $rc in
        0) status=ok ;;
        124 | 137) status="timed out after ${limit}s" ;;
        *) status="failed (exit $rc)" ;;
    esac
    echo "| $name | $status | $secs |" >>"$SUMMARY"
    {
        printf '## %s\n\n%s in %s s\n\n```\n$ %s\n' "$name" "$status" "$secs" "$*"
        # Progress bars rewrite their line with \r: keep the last state of each line, and the last 200 lines.
        tr '\r' '\n' <"$log" | grep -v '^\s*$' | tail -n 200
        printf '```\n\n'
    } >>"$BODY"
    return $rc
}

write_report() {
    {
        printf '# GPU check\n\n'
        printf 'Written by `benchmarks/gpu_check.sh` on %s, %s, commit %s%s.\n\n' "$(hostname)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
            "$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
            "$([ "$DRY" = 1 ] && echo ', DRY RUN (GPU_CHECK_DRY=1: CPU, toy sizes; no figure here is a GPU figure)')"
        printf 'Device: %s. Budget %s s, used %s s. Scratch: %s.\n\n' "$DEVICE" "$BUDGET" $(($(date +%s) - START)) "$WORK"
        printf '| step | status | seconds |\n| --- | --- | --- |\n'
        cat "$SUMMARY"
        printf '\n'
        cat "$BODY"
    } >"$REPORT.tmp" && mv "$REPORT.tmp" "$REPORT"
    echo "[gpu_check] report: $REPORT" >&2
}
trap write_report EXIT

# --- 1. the machine -------------------------------------------------------------------------------------------------
step machine 60 bash -c 'nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1 || echo "no nvidia-smi";
    echo; uname -a; nproc; grep -m1 "model name" /proc/cpuinfo; echo; command -v python3; python3 --version'

# --- 2. Python with lvrbench -----------------------------------------------------------------------------------------
setup_python() {
    if [ -n "${GPU_CHECK_PYTHON:-}" ]; then
        PY=$GPU_CHECK_PYTHON
        echo "GPU_CHECK_PYTHON: $PY"
    elif [ -x .venv/bin/python ] && .venv/bin/python -c "import lvrbench, torch" 2>/dev/null; then
        PY=$REPO/.venv/bin/python
        echo "using the existing .venv"
    elif python3 -c "import torch" 2>/dev/null; then
        echo "python3 has torch $(python3 -c 'import torch; print(torch.__version__)'): a venv over its site-packages"
        timeout 120 python3 -m venv --system-site-packages "$WORK/venv" || return 1
        timeout 180 "$WORK/venv/bin/python" -m pip install -q --no-deps --no-build-isolation -e . || return 1
        PY=$WORK/venv/bin/python
        # Dependencies the image may lack: try the index (fails offline; the import check below says what is missing).
        "$PY" -c "import pluggy, click, tabulate, numpy, scipy, matplotlib, tqdm, pytest, hypothesis" 2>/dev/null \
            || timeout 180 "$PY" -m pip install -q -e '.[test]' || true
    else
        echo "no torch here: make setup"
        timeout 400 make setup || return 1
        PY=$REPO/.venv/bin/python
    fi
    "$PY" -c "import lvrbench, torch, pluggy, click, tabulate, numpy, scipy, matplotlib, tqdm, pytest
print('lvrbench', lvrbench.__version__, 'torch', torch.__version__, 'cuda', torch.version.cuda,
      'available', torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
}
# Run in this shell (PY must survive), with the step's bookkeeping done by hand.
t0=$(date +%s)
setup_python >"$WORK/logs/setup.log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then status=ok; else status="failed (exit $rc)"; fi
echo "| setup | $status | $(($(date +%s) - t0)) |" >>"$SUMMARY"
{
    printf '## setup\n\n%s; python: %s\n\n```\n' "$status" "$PY"
    tail -n 60 "$WORK/logs/setup.log"
    printf '```\n\n'
} >>"$BODY"

if [ "$DEVICE" = cuda ] && ! "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    printf '**No CUDA device is visible to %s: the CUDA steps below fail or skip.** Run with GPU_CHECK_DRY=1 to check the script on a CPU.\n\n' "$PY" >>"$BODY"
fi

step environment 60 "$PY" -c "
import json, torch
try:
    from lvrbench.base import threads
except ImportError:
    threads = None
info = {'torch': torch.__version__, 'cuda': torch.version.cuda, 'cudnn': torch.backends.cudnn.version(),
        'cuda_available': torch.cuda.is_available(), 'torch_threads': torch.get_num_threads()}
if torch.cuda.is_available():
    p = torch.cuda.get_device_properties(0)
    info.update(gpu=p.name, capability=f'{p.major}.{p.minor}', memory_gib=round(p.total_memory / 2**30, 1),
                multiprocessors=p.multi_processor_count, tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
                tf32_cudnn=torch.backends.cudnn.allow_tf32)
if threads is not None:
    info['cpu_code_path'] = threads.cpu_code_path()
print(json.dumps(info, indent=1))
"

# --- 3. the CUDA tests -----------------------------------------------------------------------------------------------
CUDA_TESTS=$(grep -rl "cuda.is_available" tests/ --include='test_*.py' | sort | tr '\n' ' ')
# -k cuda: the tests named for CUDA (the others in these files do not need a GPU); -rs lists what skipped and why.
# shellcheck disable=SC2086
step cuda-tests 180 "$PY" -m pytest -q -rs -p no:cacheprovider -k cuda $CUDA_TESTS

# --- 4. the recovery engine on CUDA against the CPU ------------------------------------------------------------------
step engine-$DEVICE 180 "$PY" benchmarks/recovery_engine.py --device "$DEVICE" "${ENGINE_DEV[@]}"
step engine-cpu-mlp 120 "$PY" benchmarks/recovery_engine.py --device cpu "${ENGINE_CPU_MLP[@]}"
step engine-cpu-dcgan 150 "$PY" benchmarks/recovery_engine.py --device cpu "${ENGINE_CPU_DCGAN[@]}"
cat >"$WORK/engine_compare.py" <<'PYEOF'
"""Each (arch, method, variant)'s rate on the device over the CPU's, read from the benchmark's tables."""
import re
import sys

def tables(paths):
    rates, arch = {}, None
    for path in paths:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            if line.startswith("arch "):
                arch = line.split()[1].rstrip(",")
            tok = line.split()
            if arch and len(tok) >= 8 and re.fullmatch(r"[\d,]+", tok[1] or "") and "/" in tok[6]:
                for variant, value in zip(("rows", "stacked", "loop"), tok[1:4]):
                    rates[(arch, tok[0], variant)] = float(value.replace(",", ""))
                rates[(arch, tok[0], "G passes")] = float(tok[7].replace(",", ""))
    return rates

device, cpu = tables(sys.argv[1:2]), tables(sys.argv[2:])
print("| arch | method | variant | device sample-it/s | cpu sample-it/s | device / cpu |")
print("| --- | --- | --- | --- | --- | --- |")
for key in sorted(device):
    if key in cpu:
        print(f"| {' | '.join(key)} | {device[key]:,.0f} | {cpu[key]:,.0f} | {device[key] / cpu[key]:.1f}x |")
if not device or not cpu:
    sys.exit("no table to compare (a benchmark step failed)")
PYEOF
step engine-compare 30 "$PY" "$WORK/engine_compare.py" "$WORK/logs/engine-$DEVICE.log" "$WORK/logs/engine-cpu-mlp.log" \
    "$WORK/logs/engine-cpu-dcgan.log"

# --- 5. the stacked pass's deviation from rows -----------------------------------------------------------------------
cat >"$WORK/stacked_deviation.py" <<'PYEOF'
"""Max |z_stacked - z_rows| (and of the final L1 difference) over a 56-cell grid on the device, per architecture and
method; and the device's rows against the CPU's rows (mlp). float32, freshly initialised generators, as the engine
benchmark. Imports are looked up where the package's layers may have moved them."""
import copy
import importlib
import itertools
import sys
import time

import torch

def find(name, *modules):
    for module in modules:
        try:
            return getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
    raise ImportError(f"{name} not found in {modules}")

recover = find("recover", "lvrbench.recovery", "lvrbench.engine.recovery")
DataInfo = find("DataInfo", "lvrbench.kinds", "lvrbench.api", "lvrbench.api.kinds")
build_generator = find("build_generator", "lvrbench.networks", "lvrbench.api", "lvrbench.api.networks")
init_parameters = find("init_parameters", "lvrbench.networks", "lvrbench.api", "lvrbench.api.networks")
NormalPrior = find("NormalPrior", "lvrbench.priors", "lvrbench.api", "lvrbench.api.priors")
load_registry = find("load_registry", "lvrbench.registry", "lvrbench.run.registry")

device = torch.device(sys.argv[1])
images, steps = int(sys.argv[2]), int(sys.argv[3])
registry = load_registry()
LRS, WEIGHTS = (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0), (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)
data = DataInfo("bench", "image", (1, 28, 28), 10)

def run(G, targets, method, generator_pass, grid):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    r = recover(G, targets, NormalPrior(), method, grid, steps=steps, init=None, latent_dim=256, seed=0,
                generator_pass=generator_pass, desc="deviation")
    if targets.device.type == "cuda":
        torch.cuda.synchronize()
    return r, time.perf_counter() - t

print(f"device {device}, 7 lrs x 8 weights (7 lrs for none), {images} images, {steps} steps, float32")
print("| arch | method | compared | max abs dz | median abs dz | cells with max dz < 1e-3 | max rel d(L1) | seconds |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for arch in ("mlp", "dcgan"):
    G = build_generator(data, 256, arch)
    init_parameters(G, torch.Generator().manual_seed(0))
    G = G.eval()
    targets = torch.rand(images, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    Gd, td = copy.deepcopy(G).to(device), targets.to(device)
    for name in ("none", "z-score-square", "lukaszyk-karmowski"):
        method = registry.method(name)
        weighted = "weight" in {p.name for p in method.params}
        grid = [{"lr": lr, "weight": w} for lr, w in itertools.product(LRS, WEIGHTS)] if weighted else [{"lr": lr} for lr in LRS]
        rows, t_rows = run(Gd, td, method, "rows", grid)
        pairs = [("stacked vs rows", run(Gd, td, method, "stacked", grid))]
        if arch == "mlp" and device.type != "cpu":
            pairs.append(("device rows vs cpu rows", run(G, targets, method, "rows", grid)))
        for label, (other, t_other) in pairs:
            dz = (other.z.cpu() - rows.z.cpu()).abs()
            per_cell = dz.amax(dim=tuple(range(1, dz.dim())))
            rel = ((other.diff.cpu() - rows.diff.cpu()).abs() / rows.diff.cpu().abs().clamp_min(1e-12)).max()
            print(f"| {arch} | {name} | {label} | {dz.max():.3g} | {dz.median():.3g} | {int((per_cell < 1e-3).sum())}/{len(grid)} "
                  f"| {rel:.3g} | {t_rows:.2f} / {t_other:.2f} |", flush=True)
PYEOF
# shellcheck disable=SC2086
step stacked-deviation 150 "$PY" "$WORK/stacked_deviation.py" "$DEVICE" $STACKED_SIZE

# --- 6. a slice of the full profile ------------------------------------------------------------------------------------
# shellcheck disable=SC2086
step full-slice-plan 120 "$PY" -m lvrbench run $FULL_SLICE --device "$DEVICE" --out "$WORK/leaderboards" \
    --cache-dir "$WORK/cache" --dry-run
# shellcheck disable=SC2086
step full-slice 300 "$PY" -m lvrbench run $FULL_SLICE --device "$DEVICE" --out "$WORK/leaderboards" \
    --cache-dir "$WORK/cache"
cat >"$WORK/slice_results.py" <<'PYEOF'
"""Each result the slice wrote: status, headline metrics, device and wall times; each artifact's training time."""
import json
import sys
from pathlib import Path

root, cache = Path(sys.argv[1]), Path(sys.argv[2])
print("| task | cell | status | device | cell s | job s | metrics |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for path in sorted(root.glob("results/*/*.json")):
    r = json.loads(path.read_text())
    p = r.get("provenance", {})
    metrics = ", ".join(f"{k} {v['value']:.4g}" for k, v in sorted(r.get("metrics", {}).items())
                        if isinstance(v, dict) and isinstance(v.get("value"), (int, float)))
    print(f"| {r['config']['task']} | {r['id']} | {r['status']} | {p.get('device')} | {p.get('wall_time_s')} "
          f"| {p.get('job_wall_time_s')} | {metrics or r.get('error', '')} |")
print("\n| artifact | kind | device | training s |\n| --- | --- | --- | --- |")
for path in sorted(cache.glob("*/*.json")):
    meta = json.loads(path.read_text())
    print(f"| {meta.get('key')} | {meta.get('kind')} | {meta['provenance'].get('device')} | {meta['provenance'].get('wall_time_s')} |")
PYEOF
step full-slice-results 30 "$PY" "$WORK/slice_results.py" "$WORK/leaderboards" "$WORK/cache"

exit 0
