"""Generator families: the GAN losses the shared training loop minimises."""
from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from lvrbench import hookimpl
from lvrbench.kinds import AdversarialFamily


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

    def log_density_ratio(self, nets: nn.ModuleDict, x: Tensor) -> Tensor:
        # The BCE-optimal discriminator is sigmoid(log p_data/p_G): its logit is the ratio (methods.md §12).
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


@hookimpl
def lvrbench_families():
    return [Vanilla(), LSGAN()]
