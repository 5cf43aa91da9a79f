"""The shared adversarial training loop: every family is trained by this one loop with its own losses."""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..api.contracts import Batch, Family
from ..api.priors import Prior
from ..base.errors import UsageError
from ..base.progress import bar

#: Part of every generator artifact's identity: bump it when a change to this loop changes the weights it produces,
#: so caches retrain instead of serving networks the current code would not produce (`lvrbench.api.networks` has its
#: own revision for the layers, activations and initialisation).
#: 3: trained under the thread policy (one thread: BatchNorm's batch statistics reduce in another order than at 2).
REVISION = 3

OPTIMIZERS = ("adam", "rmsprop")
#: The settings the loop itself reads; every other key of a training config is a family option.
LOOP_KEYS = ("epochs", "batch_size", "lr", "betas", "optimizer", "critic_steps")


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation settings of a GAN training run: the same optimiser for both players, plus the family's options."""

    epochs: int
    batch_size: int
    lr: float
    betas: tuple[float, float] = (0.5, 0.999)
    optimizer: str = "adam"
    critic_steps: int = 1
    #: Family-specific settings its losses read (e.g. "clip", "penalty"), JSON values.
    options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: dict) -> TrainSettings:
        """The settings of a resolved training config (`resolve_training`); unset loop keys default as above."""
        optimizer = str(config.get("optimizer", cls.optimizer))
        if optimizer not in OPTIMIZERS:
            raise UsageError(f"unknown optimizer {optimizer!r} (known: {', '.join(OPTIMIZERS)})")
        critic_steps = int(config.get("critic_steps", cls.critic_steps))
        if critic_steps < 1:
            raise UsageError(f"critic_steps must be >= 1, got {critic_steps}")
        betas = tuple(float(b) for b in config["betas"]) if "betas" in config else cls.betas
        options = {k: v for k, v in config.items() if k not in LOOP_KEYS}
        return cls(int(config["epochs"]), int(config["batch_size"]), float(config["lr"]), betas, optimizer,
                   critic_steps, options)

    def make_optimizer(self, params: list[nn.Parameter]) -> torch.optim.Optimizer:
        """One player's optimiser (RMSprop with torch's defaults besides lr, as WGAN's reference uses it)."""
        if self.optimizer == "rmsprop":
            return torch.optim.RMSprop(params, lr=self.lr)
        return torch.optim.Adam(params, lr=self.lr, betas=self.betas)


def resolve_training(family: Family, train: dict, family_train: dict | None = None) -> dict:
    """A run's training config: the profile's `train`, the family's declaration over it, a protocol's `family_train` over both.

    Idempotent, so it may be applied to a config that is already resolved.
    """
    return {**train, **family.training, **(family_train or {})}


def _set_requires_grad(params: list[nn.Parameter], flag: bool) -> None:
    for p in params:
        p.requires_grad_(flag)


def _mean(values: list[torch.Tensor]) -> float | None:
    return torch.stack(values).double().mean().item() if values else None


def train_gan(family: Family, nets: nn.ModuleDict, data: torch.Tensor, prior: Prior, settings: TrainSettings,
              generator: torch.Generator, device: torch.device, desc: str) -> dict:
    """Train `nets` in place on `data` (real samples), latents from `prior`; every random draw comes from `generator`.

    Each iteration takes one real batch and updates the discriminator; after
    `family.critic_steps(...)` such updates, the generator (and encoder, and learned prior) is
    updated on the same batch, once per loss of `family.generator_losses`. Returns the last losses and the history: per epoch, the mean
    losses of both players and of any term a family put in `batch.terms`. A non-finite loss
    raises FloatingPointError naming the iteration and the losses (checked at each epoch's end).
    """
    d_params, g_params = family.player_parameters(nets)
    opt_d, opt_g = settings.make_optimizer(d_params), settings.make_optimizer(g_params)
    data = data.to(device)
    n, b = data.shape[0], settings.batch_size
    steps = n // b
    if steps == 0:
        raise ValueError(f"{desc}: batch size {b} is larger than the {n} training samples")
    nets.train()
    history: list[dict] = []
    generator_steps = since_generator = 0
    last_d = last_g = math.nan
    with bar(settings.epochs * steps, desc) as progress:
        for epoch in range(settings.epochs):
            order = torch.randperm(n, generator=generator).to(device)
            d_losses: list[torch.Tensor] = []
            g_losses: dict[int, torch.Tensor] = {}  # iteration -> loss, for the iterations that updated G
            terms: dict[str, list[torch.Tensor]] = defaultdict(list)
            for i in range(steps):
                real = data[order[i * b:(i + 1) * b]]
                batch = Batch(real, prior.sample(b, generator, device), nets, settings, generator)
                loss_d = family.discriminator_loss(batch)
                opt_d.zero_grad(set_to_none=True)
                loss_d.backward()
                opt_d.step()
                family.after_discriminator_step(batch)
                d_losses.append(loss_d.detach())
                since_generator += 1
                if since_generator >= family.critic_steps(settings, generator_steps):
                    _set_requires_grad(d_params, False)
                    for update, loss_g in enumerate(family.generator_losses(batch)):
                        opt_g.zero_grad(set_to_none=True)
                        loss_g.backward()
                        opt_g.step()
                        if update == 0:
                            g_losses[i] = loss_g.detach()
                    _set_requires_grad(d_params, True)
                    generator_steps += 1
                    since_generator = 0
                for key, value in batch.terms.items():
                    terms[key].append(value.detach())
                progress.update()
            d_values = torch.stack(d_losses).cpu()
            g_values = {i: v.item() for i, v in g_losses.items()}
            for i in range(steps):
                g = g_values.get(i, 0.0)
                if not (math.isfinite(d_values[i].item()) and math.isfinite(g)):
                    g_text = f", G loss {g}" if i in g_values else ""
                    raise FloatingPointError(f"{desc}: training diverged at iteration {epoch * steps + i + 1} (epoch "
                                             f"{epoch + 1}): D loss {d_values[i].item()}{g_text}")
            last_d = d_values[-1].item()
            last_g = g_values[max(g_values)] if g_values else last_g
            history.append({"epoch": epoch + 1, "d_loss": d_values.double().mean().item(),
                            "g_loss": _mean(list(g_losses.values())), "generator_steps": len(g_losses),
                            **{key: _mean(values) for key, values in sorted(terms.items())}})
    nets.eval()
    return {"final_d_loss": last_d, "final_g_loss": None if math.isnan(last_g) else last_g,
            "iterations": settings.epochs * steps, "generator_steps": generator_steps, "history": history}
