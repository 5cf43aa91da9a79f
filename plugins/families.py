"""Generator families with one discriminator on x: vanilla, LSGAN, hinge and SAN (their losses for the shared loop)."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from lvrbench import hookimpl
from lvrbench.kinds import AdversarialFamily, Batch, DataInfo
from lvrbench.networks import SANDiscriminator, build_generator


class Vanilla(AdversarialFamily):
    """Goodfellow et al.'s GAN: binary cross-entropy on D's logits, non-saturating generator loss."""

    name = "vanilla"
    source = "Goodfellow et al. 2014; paper 002 §1"
    capabilities = frozenset({"realness", "log_density_ratio"})

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()

    def g_loss(self, d_fake: Tensor) -> Tensor:
        # -log sigmoid(D(G(z))). Also the family's `realness`, so its trick-discriminator loss is this
        # non-saturating form rather than Yeh et al.'s log(1 - D(G(z))): same minimiser, no vanishing gradient.
        return F.softplus(-d_fake)

    def log_density_ratio(self, nets: nn.ModuleDict, x: Tensor, z: Tensor | None) -> Tensor:
        # The BCE-optimal discriminator is sigmoid(log p_data/p_G): its logit is the ratio (methods.md §12). D reads
        # x alone, so z is not used.
        return nets["D"](x).flatten()


class LSGAN(AdversarialFamily):
    """Mao et al.'s least-squares GAN (targets 0/1), the family paper 000 recovers latents from."""

    name = "lsgan"
    source = "Mao et al. 2017; paper 000 §2"

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return 0.5 * (d_real - 1).square().mean() + 0.5 * d_fake.square().mean()

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return 0.5 * (d_fake - 1).square()

    def realness(self, nets: nn.ModuleDict, x: Tensor) -> Tensor:
        # (D(x) - 1)^2 without the 1/2: the scale of paper 000's trick-discriminator loss, so its
        # weight grid (Table 8) means the same here as there.
        return (nets["D"](x).flatten() - 1).square()


def hinge_d_loss(d_real: Tensor, d_fake: Tensor) -> Tensor:
    """E[relu(1 - D(x))] + E[relu(1 + D(G(z)))], the hinge loss the discriminator minimises."""
    return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()


class Hinge(AdversarialFamily):
    """The hinge GAN: relu(1 - D(x)) + relu(1 + D(G(z))) for D, -D(G(z)) for G."""

    name = "hinge"
    # Paper 002 §2.2 prints the hinge as sup E_P[max(0, 1 + f)] + E_Pg[max(0, 1 - f)]: signs swapped, and unbounded
    # as a sup. This is the standard minimisation form (sony/san simple-san `compute_loss_gan`).
    source = "Lim & Ye 2017; paper 002 §2.2 (signs corrected)"

    def d_loss(self, d_real: Tensor, d_fake: Tensor) -> Tensor:
        return hinge_d_loss(d_real, d_fake)

    def g_loss(self, d_fake: Tensor) -> Tensor:
        return -d_fake  # linear, not a hinge; also `realness`: low where D finds x real


class SAN(Hinge):
    """Slicing adversarial network: hinge on the body h with the direction detached, Wasserstein on the direction."""

    name = "san"
    source = "Takida et al. 2024 (ICLR); paper 002 §3; sony/san simple-san"
    # simple-san hparams/params.json: Adam 1e-3, betas (0, 0.99); lambda = 1 (implicit there, paper 002 §3.5).
    training = {"lr": 1e-3, "betas": [0.0, 0.99], "direction_weight": 1.0}
    networks = {"G": "generator", "D": "SAN: body h(x), bias-free unit direction normalised in the forward pass"}

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        return nn.ModuleDict({"G": build_generator(data, latent_dim, arch), "D": SANDiscriminator(data, arch)})

    def discriminator_loss(self, batch: Batch) -> Tensor:
        # sony/san after commit b50c34d: `fun` trains h (and the scale) with the direction detached, `dir` trains
        # the direction with h detached; the commit before it had the two detaches swapped.
        D = batch.nets["D"]
        fun_real, dir_real = D.split(batch.real)
        fun_fake, dir_fake = D.split(batch.fake.detach())
        hinge = hinge_d_loss(fun_real, fun_fake)
        direction = dir_fake.mean() - dir_real.mean()
        batch.terms.update(hinge=hinge.detach(), direction=direction.detach())
        return hinge + batch.settings.options["direction_weight"] * direction

    # generator_loss and realness: -f(x) with the undetached f (SANDiscriminator.forward), as AdversarialFamily has it.


@hookimpl
def lvrbench_families():
    return [Vanilla(), LSGAN(), Hinge(), SAN()]
