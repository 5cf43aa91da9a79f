"""A third-party regularizer, registered through the `lvrbench` entry-point group."""
from __future__ import annotations

from lvrbench.api import RecoveryContext, Regularizer, hookimpl


class KLGaussian(Regularizer):
    """KL divergence from the normal fitted to the latent's elements to the normal prior."""

    name = "kl-gaussian"
    requires = "normal"
    source = "example plugin; KL(N(m, s^2) || N(mu, sigma^2)) in closed form"

    def loss(self, z, ctx: RecoveryContext):
        # z: [H, N, d] -> one value per latent, [H, N]
        prior = ctx.prior
        mean, var = z.mean(-1), z.var(-1, unbiased=False).clamp_min(1e-12)
        ratio = var / prior.std ** 2
        return 0.5 * (ratio + (mean - prior.mean) ** 2 / prior.std ** 2 - 1 - ratio.log())


@hookimpl
def lvrbench_regularizers():
    return [KLGaussian()]
