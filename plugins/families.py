"""Generator families with one discriminator on x: vanilla, LSGAN, hinge, SAN and GM-GAN (their losses for the shared
loop).

GM-GAN (dynamic): a learned Gaussian-mixture latent prior trained by the generator's loss (paper 004 §4).

Ben-Yosef & Weinshall 2018: p(z) = Σ_k (1/K) N(μ_k, diag(σ_k²)), drawn as k ~ Cat(1/K),
ε ~ N(0, I), z = μ_k + σ_k ε. The "dynamic" variant trains μ and σ by back-propagating the
generator's loss through that reparameterisation (the discriminator's loss sees G(z) detached,
so it never moves them). σ is a standard deviation, parameterised by its log so it stays
positive. The mixture is the generator's prior: every task draws from it and recovery checks
methods against it, so a GM-GAN is never recovered against N(0, I).
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lvrbench.api import AdversarialFamily, Batch, DataInfo, Prior, SANDiscriminator, build_generator, hookimpl


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


class GaussianMixture(nn.Module, Prior):
    """A Gaussian mixture over latents with equal weights and learned means and diagonal standard deviations."""

    kind: ClassVar[str] = "gaussian-mixture"
    iid: ClassVar[bool] = False

    def __init__(self, dim: int, components: int, spread: float, std: float):
        super().__init__()
        self.dim, self.components, self.spread, self.init_std = int(dim), int(components), float(spread), float(std)
        self.means = nn.Parameter(torch.zeros(self.components, self.dim))
        self.log_std = nn.Parameter(torch.full((self.components, self.dim), math.log(self.init_std)))

    def init_parameters_from(self, generator: torch.Generator) -> None:
        """μ_k ~ U[-c, c]^d and σ_k = the initial std (GM-GAN's static initialisation, which training then moves)."""
        with torch.no_grad():
            self.means.copy_((torch.rand(self.means.shape, generator=generator) * 2 - 1) * self.spread)
            self.log_std.fill_(math.log(self.init_std))

    def sample(self, n: int, generator: torch.Generator, device: str | torch.device = "cpu") -> Tensor:
        """z = μ_k + σ_k ε with k ~ Cat(1/K), ε ~ N(0, I) drawn on the CPU; differentiable in μ and σ."""
        k = torch.randint(self.components, (n,), generator=generator)
        eps = torch.randn(n, self.dim, generator=generator)
        at = self.means.device
        k, eps = k.to(at), eps.to(at, self.means.dtype)
        return (self.means[k] + self.log_std[k].exp() * eps).to(device)

    def log_prob(self, z: Tensor) -> Tensor:
        u = (z.unsqueeze(-2) - self.means) / self.log_std.exp()  # [..., K, d]
        per_component = (-0.5 * u.square() - self.log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        return torch.logsumexp(per_component, dim=-1) - math.log(self.components)

    def to_config(self) -> dict:
        return {"kind": self.kind, "components": self.components, "init_spread": self.spread, "init_std": self.init_std}

    def describe(self) -> dict:
        """The mixture's learned values: equal weights, the means and the standard deviations ([K][d] lists)."""
        return {**super().describe(), "weights": [1 / self.components] * self.components,
                "means": self.means.detach().cpu().tolist(), "stds": self.log_std.detach().exp().cpu().tolist()}


class GMGAN(Vanilla):
    """Dynamic GM-GAN: the vanilla GAN losses with a learned Gaussian-mixture latent prior (K = 10)."""

    name = "gm-gan"
    source = "Ben-Yosef & Weinshall 2018 (arXiv 1808.10356); paper 004 §4"
    priors = ("normal",)  # the base prior is the mixture's noise ε ~ N(0, I)
    #: K = 10 (paper 004 §4, for the 10 classes of MNIST; used on every dataset), and μ ~ U[-0.1, 0.1],
    #: σ = 0.15 at the start: the defaults cited for GM-GAN in methods.md §5 ([paper-mem]).
    components, spread, init_std = 10, 0.1, 0.15
    networks = {"G": "generator", "D": "discriminator",
                "prior": f"gaussian mixture: K={components}, means U[-{spread}, {spread}], std {init_std}, log-std parameters"}

    def build(self, data: DataInfo, latent_dim: int, arch: str) -> nn.ModuleDict:
        nets = super().build(data, latent_dim, arch)
        nets["prior"] = GaussianMixture(latent_dim, self.components, self.spread, self.init_std)
        return nets

    def latent_prior(self, base: Prior, nets: nn.ModuleDict | None = None) -> Prior:
        if nets is None:
            return GaussianMixture(base.dim, self.components, self.spread, self.init_std)
        return nets["prior"]


@hookimpl
def lvrbench_families():
    return [Vanilla(), LSGAN(), Hinge(), SAN(), GMGAN()]
