"""The truncation trick as a post-hoc sampler, registered through the `lvrbench` entry-point group.

Each latent element farther than c prior standard deviations from the prior's mean is redrawn from the prior until it
lies inside (Brock et al. 2019, BigGAN §3.1): each element then follows the prior truncated to [μ - cσ, μ + cσ], and a
proposed element is accepted with probability P(|Z| <= c) = erf(c / √2). Closed forms that `tests/test_truncation.py`
checks without training a GAN.
"""
from __future__ import annotations

import torch

from lvrbench.api import Param, SampleOutput, Sampler, SamplerContext, SamplerError, TrainedGAN, hookimpl, wilson_interval


class Truncation(Sampler):
    """The truncation trick: latent elements beyond c prior standard deviations are redrawn from the prior, then G(z)."""

    name = "truncation"
    source = "Brock, Donahue & Simonyan 2019 (BigGAN §3.1); lvrbench's example sampler package"
    requires = "normal"  # its threshold is in the normal prior's standard deviations
    needs_ratio = False  # it reads no discriminator
    params = (
        Param("threshold", (1.0, 2.0), minimum=0.0, exclusive_minimum=True,
              doc="c: latent elements beyond c prior standard deviations are redrawn"),
        Param("max_rounds", (100.0,), minimum=1.0, integer=True, doc="redraw rounds before the sampler gives up"),
    )

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        prior, c, rounds = gan.prior, ctx.params["threshold"], int(ctx.params["max_rounds"])
        z = ctx.latents(n)  # the latents direct draws on this seed: inside elements pair one to one with its samples

        def outside(latents: torch.Tensor) -> torch.Tensor:
            return (latents - prior.mean).abs() > c * prior.std

        proposed = z.numel()
        for _ in range(rounds):
            far = outside(z)
            if not far.any():
                break
            z = torch.where(far, ctx.latents(n), z)  # a whole fresh batch each round: draws fixed by n, not by luck
            proposed += int(far.sum())
        if outside(z).any():
            raise SamplerError(f"truncation: {int(outside(z).sum())} latent elements still beyond {c:g} standard "
                               f"deviations after {rounds} rounds; raise threshold or max_rounds")
        x = torch.cat([ctx.generate(part) for part in z.split(ctx.batch)])
        return SampleOutput(x, z, {"acceptance": wilson_interval(z.numel() / proposed, proposed)},
                            {"proposed_elements": float(proposed)})


@hookimpl
def lvrbench_samplers():
    return [Truncation()]
