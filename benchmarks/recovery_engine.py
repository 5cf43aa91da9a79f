"""Speed of the recovery engine against a per-cell loop on the same work, in the same run.

The engine optimises one method's whole grid (lr x weight) over N images as a single batch;
the per-cell loop runs each grid cell on its own with torch.optim.Adam (batched over images
only), the way a recovery experiment is usually written. Both do identical arithmetic (the
test suite checks that their latents agree); the figure of merit is sample-iterations per
second: grid cells x images x steps / wall time.

    python benchmarks/recovery_engine.py [--device cpu|cuda] [--arch mlp|dcgan] [--images 64] [--steps 50]

Generator weights are freshly initialised (seeded), not trained: speed does not depend on them.
"""
from __future__ import annotations

import argparse
import itertools
import time

import torch

from lvrbench.kinds import DataInfo
from lvrbench.networks import build_generator, init_parameters
from lvrbench.priors import NormalPrior
from lvrbench.recovery import DIFFS, RecoveryContext, flush_denormals, frozen, recover
from lvrbench.registry import load_registry

LRS = (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0)
WEIGHTS = (0.0, 0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)


def per_cell_loop(G, targets, prior, method, grid, steps, latent_dim, seed):
    """Each grid cell on its own: torch.optim.Adam on z [N, d], as a hand-written experiment would."""
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
                loss = loss + weight * method.loss(z, prior, ctx)
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
        out.append(z.detach())
    return torch.cat(out)


def timed(fn, device):
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--arch", default="mlp", choices=("mlp", "dcgan"))
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--methods", default="bhattacharyya,lukaszyk-karmowski")
    args = parser.parse_args()
    device = torch.device(args.device)
    registry = load_registry()
    data = DataInfo("bench", "image", (1, 28, 28), 10)
    G = build_generator(data, 256, args.arch)
    init_parameters(G, torch.Generator().manual_seed(0))
    G = G.to(device).eval()
    targets = (torch.rand(args.images, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1).to(device)
    prior = NormalPrior()
    grid = [{"lr": lr, "weight": w} for lr, w in itertools.product(LRS, WEIGHTS)]
    work = len(grid) * args.images * args.steps
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    print(f"device {name}, arch {args.arch}, grid {len(LRS)} lr x {len(WEIGHTS)} weights = {len(grid)} cells, "
          f"{args.images} images, {args.steps} steps, torch {torch.__version__}")
    print(f"{'method':20} {'engine it/s':>14} {'per-cell it/s':>14} {'speed-up':>9} {'cells equal':>11}")
    for method_name in args.methods.split(","):
        method = registry.method(method_name)
        fast, t_fast = timed(lambda: recover(G, targets, prior, method, grid, steps=args.steps, init=None, latent_dim=256,
                                             seed=0, desc=method_name).z, device)
        with frozen(G), torch.enable_grad(), flush_denormals():
            slow, t_slow = timed(lambda: per_cell_loop(G, targets, prior, method, grid, args.steps, 256, 0), device)
        # float32 rounding differs between the two (exact agreement is checked in float64 by the tests);
        # at the largest learning rates recovery amplifies it, so report how many cells agree closely.
        agree = int(((fast - slow).abs().amax((1, 2)) < 1e-3).sum())
        print(f"{method_name:20} {work / t_fast:14,.0f} {work / t_slow:14,.0f} {t_slow / t_fast:8.1f}x {agree:>5}/{len(grid)}")


if __name__ == "__main__":
    main()
