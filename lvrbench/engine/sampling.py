"""What a post-hoc sampler is handed and what it returns, and the density ratio it reads (methods.md §§8-12).

The core, not the sampler, measures the cost: a sampler evaluates the networks only through its context's
`generate(z)` and `log_ratio(x, z)`, which count the samples they see, and `run_sampler` times `sample`. Every
random draw comes from the context's seeded CPU generator, so a sampler gives the same numbers for the same seed.
"""
from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import torch
from torch import Tensor, nn

from ..api.contracts import Cost, SampleOutput, Sampler, SamplerContext, SamplerError, TrainedGAN
from ..api.estimates import Estimate
from ..base.errors import UsageError
from ..base.hashing import derive_seed

if TYPE_CHECKING:
    from .artifacts import ArtifactCache

#: Part of the identity of every cell: bump it when a change here changes a sample, a ratio or a calibration.
REVISION = 1
EXACT = "exact: BCE logit"
CALIBRATED = "calibrated: logistic on the critic's score"
#: The calibrator's fit: what its artifact's identity names, so a changed fit refits.
CALIBRATOR = {"model": "P(real | s) = sigmoid(a s + b)", "fit": "Newton on the mean log loss, ridge 1e-4 on a and b",
              "data": "held-out real against as many generated samples", "revision": 1}
RIDGE = 1e-4


@dataclass(frozen=True)
class DensityRatio:
    """log p_data(x)/p_G(x) as samplers read it: the family's exact ratio, or a logistic calibration of its critic.

    `text` says which ("exact: BCE logit" or "calibrated: logistic on the critic's score"); pages state it.
    `calibrator` holds the calibration's coefficients, artifact key and fit statistics (None when exact).
    """

    text: str
    score: Callable[[Tensor, Tensor | None], Tensor]
    calibrator: dict | None = None

    def __call__(self, x: Tensor, z: Tensor | None) -> Tensor:
        return self.score(x, z)

    def describe(self) -> dict:
        """What a result records of the ratio: which it is, and the calibrator where there is one."""
        return {"text": self.text, **({"calibrator": self.calibrator} if self.calibrator else {})}


# -- the density ratio: exact or calibrated ------------------------------------------------------------------

class Calibrator(nn.Module):
    """The logistic calibrator's two coefficients (a, b), held as a buffer so the artifact cache stores them."""

    def __init__(self):
        super().__init__()
        self.register_buffer("coef", torch.zeros(2, dtype=torch.float64))


def fit_logistic(real: Tensor, fake: Tensor) -> tuple[float, float, dict]:
    """(a, b, fit statistics) of P(real | s) = sigmoid(a s + b) fitted to scores of real (label 1) and generated
    (label 0) samples by Newton's method on the mean log loss with a small ridge (separable scores stay finite)."""
    s = torch.cat([real, fake]).detach().to("cpu", torch.float64)
    y = torch.cat([torch.ones(real.numel()), torch.zeros(fake.numel())]).double()
    centre, scale = s.mean(), s.std().clamp_min(1e-12)
    X = torch.stack([(s - centre) / scale, torch.ones_like(s)], 1)  # standardised: Newton is well conditioned
    w = torch.zeros(2, dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.float64)
    for _ in range(100):
        p = torch.sigmoid(X @ w)
        grad = X.T @ (p - y) / s.numel() + RIDGE * w
        hess = (X.T * (p * (1 - p))) @ X / s.numel() + RIDGE * eye
        step = torch.linalg.solve(hess, grad)
        w = w - step
        if float(step.abs().max()) < 1e-12:
            break
    a, b = float(w[0] / scale), float(w[1] - w[0] * centre / scale)
    logits = a * s + b
    log_loss = float(torch.nn.functional.binary_cross_entropy_with_logits(logits, y))
    accuracy = float(((logits > 0).double() == y).double().mean())
    return a, b, {"log_loss": log_loss, "accuracy": accuracy, "n_real": real.numel(), "n_fake": fake.numel()}


def _digest(x: Tensor) -> str:
    h = hashlib.sha256(f"{x.dtype} {tuple(x.shape)};".encode())
    h.update(x.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def _scores(gan: TrainedGAN, x: Tensor | None, n: int, generator: torch.Generator | None, device: torch.device,
            batch: int = 500) -> Tensor:
    """The critic's scores of real samples x (on the CPU), or of n fresh generated samples drawn from `generator`."""
    out = []
    for start in range(0, n if x is None else x.shape[0], batch):
        if x is None:
            z = gan.prior.sample(min(batch, n - start), generator, device)
            xb = gan.nets["G"](z)
        else:
            z, xb = None, x[start: start + batch].to(device)
        out.append(gan.family.critic_score(gan.nets, xb, z).double().cpu())
    return torch.cat(out)


def calibrate(gan: TrainedGAN, held_out: Tensor, device: torch.device, cache: ArtifactCache | None = None) -> DensityRatio:
    """The logistic calibration of the critic's score (methods.md §8 pitfall 7b, §11), fitted on `held_out` real
    against as many generated samples and cached as an artifact whose identity includes the generator's key."""
    config = {"generator": gan.key, "family": gan.family.name, "held_out": _digest(held_out), "n": int(held_out.shape[0]),
              "calibrator": CALIBRATOR}
    fakes_from = torch.Generator().manual_seed(derive_seed(config, "calibration samples"))

    def train(module: Calibrator) -> dict:
        a, b, fit = fit_logistic(_scores(gan, held_out, 0, None, device),
                                 _scores(gan, None, held_out.shape[0], fakes_from, device))
        module.coef.copy_(torch.tensor([a, b], dtype=torch.float64))
        return {"a": a, "b": b, **fit}

    if cache is None:
        module, key = Calibrator(), None
        metrics = train(module)
    else:
        module, meta = cache.get("calibrators", config, Calibrator, train, device)
        metrics, key = meta["metrics"], meta["key"]
    a, b = (float(v) for v in module.coef.cpu())
    family, nets = gan.family, gan.nets

    def score(x: Tensor, z: Tensor | None) -> Tensor:
        return a * family.critic_score(nets, x, z) + b  # equal class counts: the calibrated log odds is the log ratio

    return DensityRatio(CALIBRATED, score, {**metrics, "a": a, "b": b, "key": key})


def density_ratio(sampler: Sampler, gan: TrainedGAN, held_out: Tensor | None, device: torch.device,
                  cache: ArtifactCache | None = None) -> DensityRatio:
    """The ratio `sampler` reads from `gan`: its family's exact one where it has it, else a calibrated critic; a
    one-line UsageError where the generator offers neither (no "D" in its networks, or nothing to calibrate on)."""
    family = gan.family
    if "D" not in gan.nets:
        raise UsageError(f"{sampler.name}: the {family.name} generator has no discriminator (its networks: "
                         f"{', '.join(gan.nets.keys())}), so it gives no density ratio")
    if "log_density_ratio" in family.capabilities:
        return DensityRatio(EXACT, lambda x, z: family.log_density_ratio(gan.nets, x, z))
    if held_out is None or held_out.shape[0] < 2:
        raise UsageError(f"{sampler.name}: family {family.name}'s critic is no density-ratio estimator and no held-out "
                         "real split was given to calibrate it on")
    return calibrate(gan, held_out, device, cache)


# -- running a sampler ------------------------------------------------------------------------------------------

def run_sampler(sampler: Sampler, gan: TrainedGAN, n: int, params: dict[str, float], generator: torch.Generator,
                device: torch.device, held_out: Tensor | None = None, cache: ArtifactCache | None = None,
                batch: int = 500) -> SampleOutput:
    """n samples of `gan` by `sampler`, its parameters checked before any work, its cost counted and timed here.

    Networks run in eval mode (batch norm must not couple samples). A refusal is a one-line UsageError; a sampler
    that cannot finish raises SamplerError.
    """
    sampler.check_params(params)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"{sampler.name}: the number of samples must be a whole number >= 1, got {n!r}")
    gan.nets.eval()
    ratio = density_ratio(sampler, gan, held_out, device, cache) if sampler.needs_ratio else None
    ctx = SamplerContext(generator, device, dict(params), gan, held_out, ratio, batch)
    start = time.perf_counter()
    with torch.no_grad():  # a sampler that follows gradients turns them on for its own steps
        out = sampler.sample(gan, n, ctx)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if not isinstance(out, SampleOutput) or not isinstance(out.samples, Tensor) or out.samples.shape[:1] != (n,):
        got = tuple(out.samples.shape) if isinstance(out, SampleOutput) and isinstance(out.samples, Tensor) else type(out).__name__
        raise SamplerError(f"sampler {sampler.name} returned {got}, not a SampleOutput of {n} samples")
    if not all(isinstance(v, Estimate) for v in out.stats.values()) or not all(
            isinstance(v, (int, float)) and math.isfinite(v) for v in out.info.values()):
        raise SamplerError(f"sampler {sampler.name}: stats must be Estimates and info finite numbers")
    out.samples = out.samples.detach().cpu()
    out.latents = None if out.latents is None else out.latents.detach().cpu()
    out.cost = Cost(ctx.generator_evals, ctx.discriminator_evals, seconds)
    out.ratio = None if ratio is None else ratio.describe()
    return out
