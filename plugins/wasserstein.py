"""Wasserstein families: WGAN (weight clipping) and WGAN-GP (gradient penalty on a critic without batch norm).

Sign convention (igul222/improved_wgan_training, paper 004 §5.3): the critic D is high on real
data; it minimises E[D(G(z))] - E[D(x)] and G minimises -E[D(G(z))]. martinarjovsky's PyTorch
code trains the negative of this critic; anything reusing the critic as a realness score must
use this sign, which `realness` does (-D(x): low where D finds x real).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from lvrbench.api import AdversarialFamily, Batch, DataInfo, build_discriminator, build_generator, hookimpl


class Wasserstein(AdversarialFamily):
    """The Wasserstein losses both families share: E[D(G(z))] - E[D(x)] for the critic, -E[D(G(z))] for G."""

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return d_fake.mean() - d_real.mean()

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake


class WGAN(Wasserstein):
    """Arjovsky et al.'s Wasserstein GAN: a weight-clipped critic trained by RMSprop, 5 critic steps per G step."""

    name = "wgan"
    source = "Arjovsky et al. 2017; martinarjovsky/WassersteinGAN; papers 002 §2.1 and 004 §3"
    # The reference's defaults: RMSprop 5e-5, c = 0.01, 5 critic steps, and 100 critic steps for the first 25
    # generator steps and at every 500th (its warm-up; warmup_generator_steps = warmup_every = 0 turns it off).
    training = {"optimizer": "rmsprop", "lr": 5e-5, "critic_steps": 5, "clip": 0.01,
                "warmup_critic_steps": 100, "warmup_generator_steps": 25, "warmup_every": 500}

    def critic_steps(self, settings, generator_steps: int) -> int:
        o = settings.options
        every = o["warmup_every"]
        if generator_steps < o["warmup_generator_steps"] or (every and generator_steps % every == 0):
            return o["warmup_critic_steps"]
        return settings.critic_steps

    @torch.no_grad()
    def after_discriminator_step(self, batch: Batch) -> None:
        # After each critic step (igul222), so G and the saved critic always see clipped weights; the
        # Arjovsky code clamps before each critic step instead, which differs only in when the clamp lands.
        c = batch.settings.options["clip"]
        for p in batch.nets["D"].parameters():
            p.clamp_(-c, c)


def gradient_penalty(D: nn.Module, real: Tensor, fake: Tensor, generator: torch.Generator) -> Tensor:
    """E[(||∇D(x̂)|| - 1)^2] at x̂ = x + α (G(z) - x), one α ~ U(0, 1) per sample, the norm per sample (Gulrajani et al.)."""
    alpha = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), generator=generator).to(real.device, real.dtype)
    mixed = (real + alpha * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(mixed).sum(), mixed, create_graph=True)  # create_graph: the penalty trains D
    return (grad.flatten(1).norm(dim=1) - 1).square().mean()


class WGANGP(Wasserstein):
    """Gulrajani et al.'s WGAN-GP: the Wasserstein critic with a gradient penalty at interpolates, no clipping."""

    name = "wgan-gp"
    source = "Gulrajani et al. 2017; igul222/improved_wgan_training gan_mnist.py"
    # gan_mnist.py: Adam 1e-4, betas (0.5, 0.9), 5 critic steps, lambda = 10.
    training = {"optimizer": "adam", "lr": 1e-4, "betas": [0.5, 0.9], "critic_steps": 5, "penalty": 10.0}
    # A per-sample gradient penalty is wrong under batch norm, which couples the samples of a batch.
    networks = {"G": "generator", "D": "critic without batch norm"}

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_generator(data, latent_dim, arch),
                              "D": build_discriminator(data, arch, batch_norm=False)})

    def discriminator_loss(self, batch: Batch) -> Tensor:
        D, fake = batch.nets["D"], batch.fake.detach()
        wasserstein = self.d_loss(D(batch.real).flatten(), D(fake).flatten())
        penalty = gradient_penalty(D, batch.real, fake, batch.generator)
        batch.terms.update(wasserstein=wasserstein.detach(), gradient_penalty=penalty.detach())
        return wasserstein + batch.settings.options["penalty"] * penalty


@hookimpl
def lvrbench_families():
    return [WGAN(), WGANGP()]
