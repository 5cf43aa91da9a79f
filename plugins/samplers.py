"""Post-hoc samplers over a trained generator: direct sampling, DRS, DG-flow, DDLS and MH-GAN (paper 004 §5, methods.md
§§8-11). Each evaluates the networks only through its context (so the core counts the cost) and draws every random
number from the context's seeded generator, in batches fixed by n and `ctx.batch`, never by the device.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from lvrbench.api import (Estimate, Param, SampleOutput, Sampler, SamplerContext, SamplerError, TrainedGAN,
                          UsageError, hookimpl, wilson_interval)

#: DRS's ε in F = Δ - log(1 - exp(Δ - ε)): keeps the arg-max sample finite (uber-research mh.py; methods.md §8).
DRS_EPSILON = 1e-6


def exact(value: float, n: int) -> Estimate:
    """A count the sampler fixed (steps taken): its interval is the value itself."""
    return Estimate(float(value), float(value), float(value), n)


def _generate(ctx: SamplerContext, z: Tensor) -> Tensor:
    return torch.cat([ctx.generate(part) for part in z.split(ctx.batch)])


class Direct(Sampler):
    """Plain G(z) with z from the generator's prior: the baseline every sampler is compared with."""

    name = "direct"
    source = "the generator alone (paper 004 Table 1's baselines)"
    needs_ratio = False
    paired = True  # its i-th sample is G of the i-th latent drawn

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        z = ctx.latents(n)  # the same latents a latent-space sampler starts from on this seed
        return SampleOutput(_generate(ctx, z), z)


class DRS(Sampler):
    """Discriminator rejection sampling: accept G(z) with probability sigmoid(F - γ), F the log ratio against log M."""

    name = "drs"
    source = ("Azadi et al. 2019; paper 004 §5.1 Algorithms 1-2 and eq. (5); the percentile rule of "
              "uber-research/metropolis-hastings-gans mh.py (methods.md §8)")
    params = (
        Param("burn_in", (10000.0,), minimum=1.0, integer=True, doc="generated samples that estimate log M first (Algorithm 2)"),
        Param("gamma", (0.0,), doc="γ shift, added to the percentile rule's (alone when percentile = 0); γ < 0 accepts more"),
        Param("percentile", (95.0,), minimum=0.0, maximum=100.0,
              doc="γ at this percentile of each batch's F (the reference's rule); 0 keeps γ fixed (paper 004's γ = -5, -8)"),
        Param("max_attempts", (100.0,), minimum=1.0, integer=True,
              doc="proposals per requested sample before the sampler gives up and the cell fails"),
    )

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        p = ctx.params
        log_m = -math.inf  # Algorithm 2 in log space: log M = max log r over the burn-in
        for b in ctx.chunks(int(p["burn_in"])):
            z = ctx.latents(b)
            log_m = max(log_m, float(ctx.log_ratio(ctx.generate(z), z).max()))
        cap, proposed, accepted = int(p["max_attempts"]) * n, 0, 0
        xs, zs, gammas = [], [], []
        while accepted < n:
            if proposed >= cap:
                raise SamplerError(f"drs: accepted {accepted} of {n} samples in {proposed} proposals, the cap "
                                   f"(max_attempts={int(p['max_attempts'])} per sample); lower gamma or percentile, or "
                                   "raise max_attempts")
            b = min(ctx.batch, cap - proposed)
            z = ctx.latents(b)
            x = ctx.generate(z)
            log_r = ctx.log_ratio(x, z)
            log_m = max(log_m, float(log_r.max()))  # M is raised whenever a larger ratio appears (methods.md §8.4)
            delta = log_r - log_m
            f = delta - torch.log1p(-torch.exp(delta - DRS_EPSILON))  # logit(r / M), finite at the maximum
            gamma = p["gamma"] + (float(torch.quantile(f, p["percentile"] / 100)) if p["percentile"] > 0 else 0.0)
            keep = ctx.uniform((b,)).double() <= torch.sigmoid(f - gamma)  # eq. (5): r / (r (1 - e^γ) + M e^γ)
            xs.append(x[keep])
            zs.append(z[keep])
            gammas.append(gamma)
            proposed += b
            accepted += int(keep.sum())
        stats = {"acceptance": wilson_interval(accepted / proposed, proposed)}
        return SampleOutput(torch.cat(xs)[:n], torch.cat(zs)[:n], stats,
                            {"log_m": log_m, "gamma_mean": sum(gammas) / len(gammas), "proposals": float(proposed)})


def _gradient_of(value: Tensor, z: Tensor) -> Tensor:
    """∇_z of value.sum(), taken wrt z only (nothing accumulates in the networks' .grad); 0 where value is constant."""
    if not value.requires_grad:
        return torch.zeros_like(z)
    (grad,) = torch.autograd.grad(value.sum(), z, allow_unused=True)
    return torch.zeros_like(z) if grad is None else grad


class DGFlow(Sampler):
    """Discriminator gradient flow (KL) in latent space: z += η ∇_z d(G(z)) + √(2ηγ) ξ, no prior term."""

    name = "dg-flow"
    source = "Ansari, Ang & Soh 2021 (ICLR); paper 004 §5.2; clear-nus/DGflow dgflow.py (methods.md §9)"
    paired = True  # it moves each of the latents `direct` draws
    params = (
        Param("eta", (0.1,), minimum=0.0, exclusive_minimum=True, doc="Euler-Maruyama step η"),
        Param("diffusion", (0.01,), minimum=0.0, doc="γ, the entropy regulariser: the noise is √(2ηγ)"),
        Param("steps", (25.0,), minimum=1.0, integer=True, doc="Euler-Maruyama steps"),
    )

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        p = ctx.params
        eta, steps, noise = p["eta"], int(p["steps"]), math.sqrt(2 * p["eta"] * p["diffusion"])
        # The flow's latent target p_Z e^d lives on the prior's support: on a bounded prior z is reflected into it
        # (the reference runs on N(0, I) only, where nothing is needed).
        bounds = box(gan.prior, self.name)
        out = []
        for z in ctx.latents(n).split(ctx.batch):  # every latent first: the ones `direct` draws on this seed
            for _ in range(steps):
                z = z.detach().requires_grad_(True)
                with torch.enable_grad():
                    drift = _gradient_of(ctx.log_ratio(ctx.generate(z), z), z)  # KL: s = 1 (methods.md §9)
                z = z.detach() + eta * drift + noise * ctx.normal(tuple(z.shape))
                if bounds is not None:
                    z = reflect(z, *bounds)
            out.append(z)
        z = torch.cat(out)
        return SampleOutput(_generate(ctx, z), z, {"steps": exact(steps, n)})


def box(prior, sampler: str) -> tuple[float, float] | None:
    """A bounded prior's (low, high), where a latent-space sampler must keep z by reflection; None if unbounded."""
    if "bounded" not in prior.capabilities:
        return None
    bounds = getattr(prior, "low", None), getattr(prior, "high", None)
    if not all(isinstance(v, (int, float)) for v in bounds):
        raise UsageError(f"{sampler}: the {prior.kind} prior is bounded but does not give its bounds (low, high)")
    return bounds


def reflect(z: Tensor, low: float, high: float) -> Tensor:
    """z folded back into [low, high] by reflection at the walls (any distance outside: a triangle wave)."""
    width = high - low
    y = torch.remainder(z - low, 2 * width)
    return low + torch.where(y > width, 2 * width - y, y)


class DDLS(Sampler):
    """Discriminator-driven latent sampling: Langevin dynamics on E(z) = -log p0(z) - d(G(z)), step ε, noise √ε."""

    name = "ddls"
    source = ("Che et al. 2020 (NeurIPS); paper 004 §5.3 and Fig. 9; steps as the unofficial implementations "
              "(no official code, methods.md §10)")
    paired = True  # it moves each of the latents `direct` draws
    params = (
        Param("epsilon", (0.01,), minimum=0.0, exclusive_minimum=True, doc="Langevin step ε: z -= ε/2 ∇E + √ε ξ"),
        Param("steps", (1000.0,), minimum=1.0, integer=True, doc="Langevin steps"),
    )

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        prior, eps, steps = gan.prior, ctx.params["epsilon"], int(ctx.params["steps"])
        bounds = box(prior, self.name)  # -log p0 is infinite outside a bounded prior's box: reflect at its walls (§10.5)
        out = []
        for z in ctx.latents(n).split(ctx.batch):
            for _ in range(steps):
                z = z.detach().requires_grad_(True)
                with torch.enable_grad():
                    energy = -prior.log_prob(z) - ctx.log_ratio(ctx.generate(z), z)
                    grad = _gradient_of(energy, z)
                z = z.detach() - eps / 2 * grad + math.sqrt(eps) * ctx.normal(tuple(z.shape))
                if bounds is not None:
                    z = reflect(z, *bounds)
            out.append(z)
        z = torch.cat(out)
        return SampleOutput(_generate(ctx, z), z, {"steps": exact(steps, n)})


class MHGAN(Sampler):
    """Independence Metropolis-Hastings over generator samples with the ratio's odds, K proposals per output."""

    name = "mh-gan"
    source = ("Turner et al. 2019 (ICML); uber-research/metropolis-hastings-gans mh.py and demo_mhgan.py "
              "(methods.md §11); in none of the papers")
    params = (Param("proposals", (640.0,), minimum=1.0, integer=True, doc="K, proposals per output (the chain's length)"),)

    def sample(self, gan: TrainedGAN, n: int, ctx: SamplerContext) -> SampleOutput:
        real = ctx.held_out
        if real is None or real.shape[0] == 0:
            raise UsageError("mh-gan: no held-out real split to start its chains from")
        k_steps = int(ctx.params["proposals"])
        xs, zs, accepted, stuck = [], [], 0, 0
        for b in ctx.chunks(n):
            # each chain starts at a random held-out real sample (no burn-in), which is never emitted
            x = real[ctx.integers(real.shape[0], (b,))].to(ctx.device)
            log_r = ctx.log_ratio(x, None)
            left = torch.zeros(b, dtype=torch.bool, device=ctx.device)
            for k in range(k_steps):
                z_new = ctx.latents(b)
                x_new = ctx.generate(z_new)
                log_new = ctx.log_ratio(x_new, z_new)
                # α = min(1, r(x') / r(x_k)): the current state's odds in the denominator (methods.md §11.2)
                take = torch.log(ctx.uniform((b,)).double()) <= log_new - log_r
                if k == 0:  # the rerun on the fakes alone, started at the first proposal, for chains that never move
                    alt_x, alt_z, alt_log = x_new, z_new, log_new
                    z = torch.zeros_like(z_new)  # a real start has no latent; a chain that keeps it emits alt_z
                else:
                    alt_take = torch.log(ctx.uniform((b,)).double()) <= log_new - alt_log
                    alt_x, alt_z = _where(alt_take, x_new, alt_x), _where(alt_take, z_new, alt_z)
                    alt_log = torch.where(alt_take, log_new, alt_log)
                x, z, log_r = _where(take, x_new, x), _where(take, z_new, z), torch.where(take, log_new, log_r)
                left |= take
                accepted += int(take.sum())
            stuck += int((~left).sum())
            xs.append(_where(left, x, alt_x))
            zs.append(_where(left, z, alt_z))
        stats = {"acceptance": wilson_interval(accepted / (n * k_steps), n * k_steps),
                 "cap_out": wilson_interval(stuck / n, n)}
        return SampleOutput(torch.cat(xs), torch.cat(zs), stats)


def _where(mask: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """a where mask (one flag per sample), else b."""
    return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)


@hookimpl
def lvrbench_samplers():
    return [Direct(), DRS(), DGFlow(), DDLS(), MHGAN()]
