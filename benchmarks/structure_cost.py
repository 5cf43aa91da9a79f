"""What the standard profile's structural choices cost, each timed beside `profile_cost.py`'s reference on one thread.

`profile_cost.py` estimates a whole profile; this times the pieces its structure is chosen from, so that a choice
(which d_z trains, which evaluators score) is priced before the profile is sized:
- a generator iteration of the standard LSGAN on Fashion-MNIST at d_z = 256 (recovery-real's) and at d_z = 16
  (recovery-synthetic's own generator), and what 15 epochs of it take;
- 40 training iterations of each evaluator architecture (`protocols.EVALUATORS`), their test predictions included;
- scoring one set of 5000 samples against 5000 real ones (generation's standard sizes) with one evaluator and with both.
Figures are given as measured and divided by the machine's slow-down (the reference's time over its idle time).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/structure_cost.py
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

from profile_cost import slow_down
from lvrbench.kit import Generator, Scorer, evaluator_settings, gan_spec, generator_config
from lvrbench.run.env import RunEnv
from lvrbench.run.harness import PlanRequest
from lvrbench.run.registry import load_registry

ITERATIONS = 40
#: Iterations of 15 epochs and of 5 epochs on Fashion-MNIST's 60 000 images in batches of 128.
GAN_ITERATIONS, CLASSIFIER_ITERATIONS = 15 * 468, 5 * 468


def clock(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    torch.set_num_threads(1)
    registry = load_registry()
    factor = slow_down(registry)
    print(f"reference: {factor:.2f} times slower than an idle machine now (idle figures divide by it)", flush=True)
    env = RunEnv(registry, torch.device("cpu"), Path(tempfile.mkdtemp(prefix="lvrbench-structure-")))
    request = PlanRequest(registry, "standard")
    x, y = env.split("fashion-mnist", "train")
    probe = (x[: ITERATIONS * 128], y[: ITERATIONS * 128])
    lsgan = Generator("lsgan", "normal", registry.get("families", "lsgan"))
    for latent_dim in (256, 16):
        config = {**generator_config(request, "fashion-mnist", lsgan, 0), "latent_dim": latent_dim}
        spec = gan_spec(request, config)
        spec["train"]["epochs"] = 1
        env._memo[("split", "fashion-mnist", "train")] = probe
        seconds = clock(lambda: env.gan(spec)) / ITERATIONS
        print(f"LSGAN d_z = {latent_dim}: {seconds * 1000:.1f} ms per iteration ({seconds / factor * 1000:.1f} idle); "
              f"15 epochs {seconds * GAN_ITERATIONS / factor / 60:.1f} idle min", flush=True)
    specs = evaluator_settings(request, "fashion-mnist")
    for name, spec in specs.items():
        env._memo[("split", "fashion-mnist", "train")] = probe
        seconds = clock(lambda: env.evaluator({**spec, "epochs": 1})) / ITERATIONS
        print(f"{name} ({spec['arch']}): {seconds * 1000:.1f} ms per iteration with its 10 000 test predictions "
              f"({seconds / factor * 1000:.1f} idle); 5 epochs at most {seconds * CLASSIFIER_ITERATIONS / factor / 60:.1f} "
              "idle min", flush=True)
    env._memo[("split", "fashion-mnist", "train")] = (x, y)
    fake = x[:5000]  # what is scored does not change the cost
    for alt in (False, True):
        settings = {"n_samples": 5000, "n_real": 5000, "n_boot_fid": 100, "k": 3,
                    "evaluator": {**specs["evaluator"], "epochs": 1},
                    "evaluator_alt": {**specs["evaluator_alt"], "epochs": 1} if alt else None}
        made: list[Scorer] = []
        set_up = clock(lambda: made.append(Scorer({"dataset": "fashion-mnist", "seed": 0, "settings": settings}, env)))
        one = clock(lambda: made[0].score(fake))
        print(f"scoring 5000 samples, {'both evaluators' if alt else 'one evaluator'}: set-up {set_up:.1f} s and "
              f"{one:.1f} s per set ({set_up / factor:.1f} s and {one / factor:.1f} s idle)", flush=True)


if __name__ == "__main__":
    main()
