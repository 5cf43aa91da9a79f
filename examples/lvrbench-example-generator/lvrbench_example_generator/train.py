"""Train the example's weights with lvrbench's own training loop (vanilla GAN losses), seeded, and save them.

    python -m lvrbench_example_generator.train [OUT.pt]

writes a state dict keyed "G.*" and "D.*" (the networks' ModuleDict), by default `tiny_fmnist.pt` beside this file.
The same lvrbench, torch and seed on a CPU give the same weights.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch

from lvrbench.api import PRIORS, init_parameters
from lvrbench.kit import TrainSettings, train_gan
from lvrbench.testing import registry as installed_plugins

from .networks import LATENT_DIM, build_networks

SEED = 0
SETTINGS = TrainSettings(epochs=10, batch_size=64, lr=2e-3, betas=(0.5, 0.999))
WEIGHTS = Path(__file__).with_name("tiny_fmnist.pt")


def main(out: Path = WEIGHTS) -> None:
    """Train on Fashion-MNIST's training split and write the state dict to `out`."""
    torch.set_num_threads(1)
    registry = installed_plugins()
    data = registry.get("datasets", "fashion-mnist")
    x, _ = data.load("train", None)
    nets = build_networks(data.shape)
    init_parameters(nets, torch.Generator().manual_seed(SEED))
    metrics = train_gan(registry.get("families", "vanilla"), nets, x, PRIORS["normal"].with_dim(LATENT_DIM), SETTINGS,
                        torch.Generator().manual_seed(SEED + 1), torch.device("cpu"), "train tiny-fmnist")
    torch.save({k: v.detach().clone() for k, v in nets.state_dict().items()}, out)
    print(f"wrote {out}: last losses d {metrics['final_d_loss']:.3f}, g {metrics['final_g_loss']:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else WEIGHTS)
