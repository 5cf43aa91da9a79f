"""Bidirectional families: BiGAN (Donahue et al.) and LOGAN-B (paper 003), a generator, an encoder and a joint D(x, z)."""
from __future__ import annotations

from typing import Iterator

import torch.nn.functional as F
from torch import Tensor, nn

from lvrbench.api import Batch, DataInfo, Family, JointDiscriminator, build_encoder, build_generator, hookimpl


class BiGAN(Family):
    """Donahue et al.'s BiGAN: D tells real pairs (x, E(x)) from generated pairs (G(z), z); G and E fool it together."""

    name = "bigan"
    source = "Donahue et al. 2017 (ICLR); jeffdonahue/bigan; paper 003 eq. (4)"
    capabilities = frozenset({"encode", "realness", "log_density_ratio"})
    # jeffdonahue/bigan: Adam 2e-4 (beta1 0.5), batch 128.
    training = {"lr": 2e-4, "betas": [0.5, 0.999]}
    networks = {"G": "generator", "E": "encoder", "D": "joint discriminator D(x, z)"}

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_generator(data, latent_dim, arch), "E": build_encoder(data, latent_dim, arch),
                              "D": JointDiscriminator(data, latent_dim, arch)})

    def discriminator_loss(self, batch: Batch) -> Tensor:
        # L_D = 1/2 [BCE(D(x, E(x)), 1) + BCE(D(G(z), z), 0)], both players' outputs detached.
        D, E = batch.nets["D"], batch.nets["E"]
        real = D(batch.real, E(batch.real).detach()).flatten()
        fake = D(batch.fake.detach(), batch.z.detach()).flatten()
        return 0.5 * (F.softplus(-real).mean() + F.softplus(fake).mean())

    def adversarial_loss(self, batch: Batch) -> Tensor:
        """G's and E's adversarial loss, 1/2 [BCE(D(x, E(x)), 0) + BCE(D(G(z), z), 1)]: the encoder makes real pairs look fake."""
        D, E = batch.nets["D"], batch.nets["E"]
        real = D(batch.real, E(batch.real)).flatten()
        fake = D(batch.fake, batch.z).flatten()
        return 0.5 * (F.softplus(real).mean() + F.softplus(-fake).mean())

    def generator_loss(self, batch: Batch) -> Tensor:
        return self.adversarial_loss(batch)

    def encode(self, nets: nn.ModuleDict, x: Tensor) -> Tensor:
        return nets["E"](x)

    def log_density_ratio(self, nets: nn.ModuleDict, x: Tensor, z: Tensor | None) -> Tensor:
        # D(x, z) is BCE-trained on real pairs (x, E(x)) against generated pairs (G(z), z): its logit on a pair is the
        # joint log ratio, and accepting pairs (G(z), z) by it leaves x distributed as the data (methods.md §12). A
        # sample without its latent (real data) is paired with its encoding, as D saw real data in training.
        return nets["D"](x, nets["E"](x) if z is None else z).flatten()

    def critic_score(self, nets: nn.ModuleDict, x: Tensor, z: Tensor | None) -> Tensor:
        return self.log_density_ratio(nets, x, z)

    def realness(self, nets: nn.ModuleDict, x: Tensor) -> Tensor:
        # D scores pairs: x is paired with its encoding, and the score is G's loss on it (low where D finds it real).
        return F.softplus(-nets["D"](x, nets["E"](x)).flatten())


def l1_reconstruction(x: Tensor, reconstructed: Tensor) -> Tensor:
    """E_x ||x - G(E(x))||_1: per sample summed over coordinates, averaged over the batch (paper 003 eq. (8), ℓ = L1)."""
    return (x - reconstructed).abs().flatten(1).sum(1).mean()


class LOGANB(BiGAN):
    """LOGAN-B: BiGAN plus the surrogate reconstruction loss L_S = E_x ||x - G(E(x))||_1 on the encoder and generator."""

    name = "logan-b"
    source = "Ramkumar, paper 003 eqs. (5)-(8); sharath/logan-b"
    # Paper 003 eq. (6) gives the encoder L_E = E_x log D(x, E(x)) + L_S: E makes real pairs look fake, as in
    # Donahue's BiGAN. The public notebooks train E on BCE(D(x, E(x)), 1) instead, cooperating with D (methods.md
    # §7). lvrbench implements the paper's method: E's adversarial term is BiGAN's, in its non-saturating form
    # (as G's, and as the LOGAN-B MNIST notebook's G loss), the same minimiser as eqs. (5)-(6). As paper 003
    # Fig. 1 orders them, G and E first take their adversarial step, then a step on L_S with the same optimiser
    # (as the notebooks); L_S is reduced as eq. (8) reads (summed over coordinates, a mean over samples), not
    # summed over the batch as the notebooks do, and runs at every iteration (the synthetic notebook skips every
    # 5th, the MNIST one does not). Adam 2e-4 as the MNIST notebook.
    training = {"lr": 2e-4, "betas": [0.5, 0.999], "surrogate_weight": 1.0}

    def generator_losses(self, batch: Batch) -> Iterator[Tensor]:
        adversarial = self.adversarial_loss(batch)
        yield adversarial
        surrogate = self.surrogate_loss(batch)
        batch.terms.update(adversarial=adversarial.detach(), surrogate=surrogate.detach())
        yield batch.settings.options["surrogate_weight"] * surrogate

    def surrogate_loss(self, batch: Batch) -> Tensor:
        """L_S = E_x ||x - G(E(x))||_1 on this batch's real samples."""
        return l1_reconstruction(batch.real, batch.nets["G"](batch.nets["E"](batch.real)))


@hookimpl
def lvrbench_families():
    return [BiGAN(), LOGANB()]
