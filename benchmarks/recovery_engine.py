"""Speed of the recovery engine against a per-cell loop on the same work, in the same run.

The engine optimises one method's whole grid (lr x weight) over N images as one optimisation, its
generator pass row by row ("rows", the CPU default: a cell's bits never depend on its batch) or all
rows stacked ("stacked", the GPU default); the per-cell loop runs each grid cell on its own with torch.optim.Adam (batched over images
only), the way a recovery experiment is usually written. Both do identical arithmetic (the
test suite checks that their latents agree); the figure of merit is sample-iterations per
second: grid cells x images x steps / wall time.

    python benchmarks/recovery_engine.py [--device cpu|cuda] [--arch mlp,dcgan] [--latent-dim 256] [--images 64]
                                         [--steps 50] [--repeat 3] [--passes rows,stacked] [--threads N]

It prints the command, then one table per architecture: engine rows, engine stacked and the loop in
sample-iterations/s, and each pass's speed-up over the loop (after one untimed step of each, for one-time
set-up). The last columns are the floor of any exact engine: the generator's forward and backward passes alone,
one per grid row and step on that row's own [N, d] batch (no optimiser, no regularizer), and the loop's time over
it, the largest speed-up an exact engine could reach on this machine (exactness fixes those passes' shapes, so
only the work around them can be saved).

Generator weights are freshly initialised (seeded), not trained: speed does not depend on them.

On the CPU it also gives each pass's achieved FP32 FLOP/s against the CPU's peak for the threads torch uses. Work
counted: the generator's multiply-adds (every Linear, Conv2d and ConvTranspose2d, counted by hooks on one forward
pass) twice per grid row and step, forward and the backward pass to the latent (the weights are frozen: no weight
gradients), at 2 FLOP each; the regularizer, the difference, Adam and BatchNorm are left out, so the figure is a
floor. Peak: clock x FMA units per core x 16 FP32 lanes of AVX-512 x 2 FLOP per FMA x threads, with the clock
from /proc/cpuinfo ("cpu MHz", the base clock a VM reports; turbo may run higher, heavy AVX-512 code lower) and
two 512-bit FMA units per core (Intel's figure for Xeon Scalable Gold and Platinum, ports 0 and 5; --fma-units
for a CPU with one).
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time

import torch

from lvrbench.api import DataInfo
from lvrbench.api import ARCHS, build_generator, init_parameters
from lvrbench.api import NormalPrior
from lvrbench.api import RecoveryContext
from lvrbench.engine.recovery import DIFFS, PASSES, flush_denormals, frozen, recover
from lvrbench.run.registry import load_registry

LRS = (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0)
WEIGHTS = (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)


def per_cell_loop(G, targets, prior, method, grid, steps, latent_dim, seed):
    """Each grid cell on its own: torch.optim.Adam on z [N, d], as a hand-written experiment would, then the
    final reconstruction loss (what the engine returns besides z)."""
    out = []
    n = targets.shape[0]
    for row in grid:
        generator = torch.Generator().manual_seed(seed)
        z = torch.zeros(1, n, latent_dim, device=targets.device, requires_grad=True)
        opt = torch.optim.Adam([z], lr=row["lr"])
        weight = torch.tensor([[row["weight"]]], device=targets.device)
        for step in range(1, steps + 1):
            generated = G(z.reshape(n, latent_dim))
            loss = DIFFS["l1"](generated.reshape(1, n, -1), targets.reshape(1, n, -1))
            if row["weight"] > 0:
                ctx = RecoveryContext(prior, step, steps, generator, generated, {"weight": weight}, None)
                loss = loss + weight * method.loss(z, ctx)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        with torch.no_grad():  # the final reconstruction loss a task scores, as the engine returns it
            DIFFS["l1"](G(z.reshape(n, latent_dim)).reshape(1, n, -1), targets.reshape(1, n, -1))
        out.append(z.detach())
    return torch.cat(out)


def generator_floor(G, targets, grid, steps, latent_dim):
    """The work no exact engine can avoid: per step and grid row, G's forward and backward on that row's [N, d]."""
    n = targets.shape[0]
    z = torch.zeros(n, latent_dim, device=targets.device, requires_grad=True)
    flat = targets.reshape(1, n, -1)
    for _ in range(steps):
        for _ in grid:
            loss = DIFFS["l1"](G(z).reshape(1, n, -1), flat)
            torch.autograd.grad(loss.sum(), z)


def generator_macs(G, latent_dim: int, device) -> int:
    """Multiply-adds of one generator forward pass per sample: Linear, Conv2d and ConvTranspose2d (hooks on a batch
    of 2, halved)."""
    counted = []

    def hook(module, inputs, output):
        if isinstance(module, torch.nn.Linear):
            counted.append(output.numel() * module.in_features)
        elif isinstance(module, torch.nn.ConvTranspose2d):  # each input pixel meets a k x k x C_out kernel
            counted.append(inputs[0].numel() * module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                           // module.groups)
        elif isinstance(module, torch.nn.Conv2d):
            counted.append(output.numel() * module.in_channels * module.kernel_size[0] * module.kernel_size[1]
                           // module.groups)

    handles = [m.register_forward_hook(hook) for m in G.modules()]
    with torch.no_grad():
        G(torch.zeros(2, latent_dim, device=device))
    for h in handles:
        h.remove()
    return sum(counted) // 2


def cpu_peak(fma_units: int) -> tuple[float, str]:
    """The CPU's FP32 peak per thread in FLOP/s, and how it was computed (see the module docstring)."""
    mhz = None
    try:
        with open("/proc/cpuinfo") as f:
            mhz = next(float(line.split(":")[1]) for line in f if line.startswith("cpu MHz"))
    except (OSError, StopIteration, ValueError):
        pass
    if mhz is None:
        return float("nan"), "peak unknown (no clock in /proc/cpuinfo)"
    per_core = mhz * 1e6 * fma_units * 16 * 2
    return per_core, (f"peak {per_core / 1e9:.1f} GFLOP/s per thread = {mhz:.0f} MHz (/proc/cpuinfo) x {fma_units} "
                      "AVX-512 FMA units x 16 FP32 lanes x 2 FLOP")


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def bench_arch(args, arch: str, device: torch.device, registry) -> None:
    """One architecture's table: each method's engine passes and the per-cell loop, timed interleaved, best of repeats."""
    data = DataInfo("bench", "image", (1, 28, 28), 10)
    G = build_generator(data, args.latent_dim, arch)
    init_parameters(G, torch.Generator().manual_seed(0))
    G = G.to(device).eval()
    targets = (torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(device)
    prior = NormalPrior()
    grid = [{"lr": lr, "weight": w} for lr, w in itertools.product(LRS, WEIGHTS)]
    work = len(grid) * args.images * args.steps
    print(f"\narch {arch}, d_z {args.latent_dim}, grid {len(LRS)} lr x {len(WEIGHTS)} weights = {len(grid)} cells, "
          f"{args.images} images, {args.steps} steps; sample-iterations/s, best of {args.repeat} interleaved runs")
    passes = args.passes.split(",")
    macs = generator_macs(G, args.latent_dim, device)
    flops = 2 * 2 * macs * work  # forward + backward to z, 2 FLOP per multiply-add, per sample-iteration
    peak = args.peak * torch.get_num_threads() if device.type == "cpu" else float("nan")
    print(f"generator: {macs:,} multiply-adds per sample forward; {flops / work / 1e6:.2f} MFLOP per sample-iteration")
    print(f"{'method':20} " + " ".join(f"{'engine ' + p:>15}" for p in passes) + f" {'per-cell loop':>14} "
          + " ".join(f"{p + ' / loop':>15}" for p in passes) + f" {'cells equal':>11} {'G passes only':>14}"
          + f" {'bound':>7}" + " ".join(f"{p + ' GFLOP/s':>16} {'of peak':>7}" for p in passes))

    def run(variant: str, method, steps: int):
        """One variant's whole recovery: an engine pass, the per-cell loop or the generator passes alone."""
        if variant in passes:
            return recover(G, targets, prior, method, grid, steps=steps, init=None, latent_dim=args.latent_dim, seed=0,
                           generator_pass=variant, desc=method.name).z
        with frozen(G), torch.enable_grad(), flush_denormals():
            if variant == "loop":
                return per_cell_loop(G, targets, prior, method, grid, steps, args.latent_dim, 0)
            return generator_floor(G, targets, grid, steps, args.latent_dim)

    variants = passes + ["loop", "floor"]
    methods = [registry.method(name) for name in args.methods.split(",")]
    for variant in variants:  # one untimed step of each: one-time kernel set-up
        run(variant, methods[0], 1)
    for method in methods:
        times = {v: float("inf") for v in variants}
        latents = {}
        for _ in range(args.repeat):  # interleaved, best of each: robust to a machine that is busy now and then
            for variant in variants:
                latents[variant], t = timed(lambda: run(variant, method, args.steps), device)
                times[variant] = min(times[variant], t)
        t_slow = times["loop"]
        # float32 rounding differs between the engine and torch.optim.Adam (exact agreement is checked in float64
        # by the tests); at the largest learning rates recovery amplifies it, so report how many cells agree closely.
        agree = int(((latents[passes[0]] - latents["loop"]).abs().amax((1, 2)) < 1e-3).sum())
        print(f"{method.name:20} " + " ".join(f"{work / times[p]:15,.0f}" for p in passes) + f" {work / t_slow:14,.0f} "
              + " ".join(f"{t_slow / times[p]:14.2f}x" for p in passes) + f" {agree:>5}/{len(grid)}"
              + f" {work / times['floor']:14,.0f} {t_slow / times['floor']:6.2f}x"
              + "".join(f" {flops / times[p] / 1e9:16.1f} {flops / times[p] / peak:7.0%}" for p in passes), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="mlp", help="comma-separated: mlp, dcgan (one table each)")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--methods", default="z-score-square,bhattacharyya,lukaszyk-karmowski")
    parser.add_argument("--latent-dim", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each variant, interleaved; the best is shown")
    parser.add_argument("--passes", default=",".join(PASSES), help="generator passes to time (see lvrbench.recovery.PASSES)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--fma-units", type=int, default=2, help="AVX-512 FMA units per core, for the peak (default 2)")
    args = parser.parse_args()
    archs = args.arch.split(",")
    unknown = sorted(set(archs) - set(ARCHS))
    if unknown:
        parser.error(f"unknown architecture {', '.join(unknown)} (known: {', '.join(ARCHS)})")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.peak, peak_text = cpu_peak(args.fma_units)
    registry = load_registry()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} torch threads"
    print(f"$ python {' '.join(sys.argv)}")
    print(f"device {name}, torch {torch.__version__}" + (f"; {peak_text}" if device.type == "cpu" else ""))
    for arch in archs:
        bench_arch(args, arch, device, registry)


if __name__ == "__main__":
    main()
