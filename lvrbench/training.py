"""The shared adversarial training loop: every family is trained by this one loop with its own losses."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .kinds import Batch, Family
from .priors import Prior
from .progress import bar

#: Part of every generator artifact's identity: bump it when a change to this loop, or to the networks it
#: trains (`lvrbench/networks.py`: layers, activations, initialisation), changes the weights it produces, so
#: caches retrain instead of serving networks the current code would not produce.
REVISION = 1


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of a GAN training run (Adam for both players)."""

    epochs: int
    batch_size: int
    lr: float
    betas: tuple[float, float] = (0.5, 0.999)

    @classmethod
    def from_config(cls, config: dict) -> TrainSettings:
        """The settings of a profile's training config (`plugins/protocols.py`); betas default as above."""
        betas = tuple(config["betas"]) if "betas" in config else cls.betas
        return cls(int(config["epochs"]), int(config["batch_size"]), float(config["lr"]), betas)


def _set_requires_grad(params: list[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def train_gan(family: Family, nets: nn.ModuleDict, data: torch.Tensor, prior: Prior, latent_dim: int,
              settings: TrainSettings, generator: torch.Generator, device: torch.device, desc: str) -> dict:
    """Train `nets` in place on `data` (real samples); every random draw comes from `generator`.

    Each iteration takes one real batch and updates the discriminator; every `critic_steps`-th
    iteration also updates the generator. Returns the last losses. A non-finite loss raises.
    """
    d_params, g_params = family.player_parameters(nets)
    opt_d = torch.optim.Adam(d_params, lr=settings.lr, betas=settings.betas)
    opt_g = torch.optim.Adam(g_params, lr=settings.lr, betas=settings.betas)
    data = data.to(device)
    n, b = data.shape[0], settings.batch_size
    steps = n // b
    if steps == 0:
        raise ValueError(f"{desc}: batch size {b} is larger than the {n} training samples")
    nets.train()
    loss_d = loss_g = torch.zeros(())
    with bar(settings.epochs * steps, desc) as progress:
        for epoch in range(settings.epochs):
            order = torch.randperm(n, generator=generator).to(device)
            for i in range(steps):
                real = data[order[i * b:(i + 1) * b]]
                z = family.sample_latent(nets, prior, b, latent_dim, generator, device)
                batch = Batch(real, z, nets)
                loss_d = family.discriminator_loss(batch)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                family.after_discriminator_step(nets)
                if (i + 1) % family.critic_steps == 0:
                    _set_requires_grad(d_params, False)
                    loss_g = family.generator_loss(batch)
                    opt_g.zero_grad(set_to_none=True)
                    loss_g.backward()
                    opt_g.step()
                    _set_requires_grad(d_params, True)
                progress.update()
            ld, lg = loss_d.item(), loss_g.item()
            if not (math.isfinite(ld) and math.isfinite(lg)):
                raise FloatingPointError(f"{desc}: training diverged in epoch {epoch + 1} (D loss {ld}, G loss {lg})")
    nets.eval()
    return {"final_d_loss": ld, "final_g_loss": lg, "iterations": settings.epochs * steps}
