"""What a post-hoc sampler is handed and what it returns, and the density ratio it reads (methods.md §§8-12).

The core, not the sampler, measures the cost: a sampler evaluates the networks only through its context's
`generate(z)` and `log_ratio(x, z)`, which count the samples they see, and `run_sampler` times `sample`. Every
random draw comes from the context's seeded CPU generator, so a sampler gives the same numbers for the same seed.
"""
from __future__ import annotations

import hashlib
import math
import random
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
from torch import Tensor, nn

from ..api.contracts import Cost, SampleOutput, Sampler, SamplerContext, SamplerError, TrainedGAN
from ..api.estimates import Estimate
from ..base.errors import UsageError, one_line
from ..base.guard import guarded
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
            batch: int = 500, score: Callable[[Tensor, Tensor | None], Tensor] | None = None) -> Tensor:
    """`score(x, z)` (default: the critic's score) of real samples x (on the CPU, z None), or of n fresh generated
    samples drawn from `generator` (with their latents), as float64 on the CPU."""
    if score is None:
        score = lambda xb, z: gan.family.critic_score(gan.nets, xb, z)  # noqa: E731
    out = []
    for start in range(0, n if x is None else x.shape[0], batch):
        if x is None:
            z = gan.prior.sample(min(batch, n - start), generator, device)
            xb = gan.nets["G"](z)
        else:
            z, xb = None, x[start: start + batch].to(device)
        out.append(score(xb, z).double().cpu())
    return torch.cat(out)


def ratio_scores(ratio: DensityRatio, gan: TrainedGAN, real: Tensor, generator: torch.Generator, device: torch.device,
                 batch: int = 500) -> tuple[Tensor, Tensor]:
    """(log ratios of the real samples `real`, log ratios of as many fresh generated samples drawn from
    `generator`): the logits of P(real | x) a ratio implies, for scoring it on data it was not fitted on."""
    gan.nets.eval()
    return (_scores(gan, real, 0, None, device, batch, ratio),
            _scores(gan, None, real.shape[0], generator, device, batch, ratio))


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

#: What a sampler is told to draw from instead of a global RNG.
DRAW_FROM_CTX = "draw every random number through ctx (ctx.latents, ctx.normal, ctx.uniform, ctx.integers)"


class GlobalRNGs:
    """The global random states a sampler must leave alone (torch's on the CPU and on the device, numpy's legacy one,
    Python's), captured before it runs: comparing them after is exact and costs a few kilobytes of copying."""

    def __init__(self, device: torch.device):
        self.device = device
        self.saved = self._states()

    def _states(self) -> dict[str, object]:
        states = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "random": random.getstate()}
        if self.device.type == "cuda":
            states["torch.cuda"] = torch.cuda.get_rng_state(self.device)
        return states

    @staticmethod
    def _same(a: object, b: object) -> bool:
        if isinstance(a, Tensor):
            return torch.equal(a, b)
        if isinstance(a, tuple) and len(a) > 1 and isinstance(a[1], np.ndarray):  # numpy's: (name, keys, pos, ...)
            return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]
        return a == b

    def touched(self) -> list[str]:
        """The global RNGs whose state moved since capture, each restored to what it was."""
        now = self._states()
        moved = [name for name in self.saved if not self._same(self.saved[name], now[name])]
        restore = {"torch": torch.set_rng_state, "numpy": np.random.set_state, "random": random.setstate,
                   "torch.cuda": lambda state: torch.cuda.set_rng_state(state, self.device)}
        for name in moved:
            restore[name](self.saved[name])
        return moved


def _reference(gan: TrainedGAN, device: torch.device) -> Tensor:
    """G's output on one latent of its prior, drawn from a generator of its own: the shape and dtype every sample must
    have (the dataset's), found without touching the sampler's draws or its counted cost."""
    with torch.no_grad():
        return gan.nets["G"](gan.prior.sample(1, torch.Generator().manual_seed(0), device))


def output_problem(out: object, n: int, like: Tensor, latent_dim: int) -> str | None:
    """What is wrong with a sampler's output (the part of its one-line failure after its name), or None: n finite
    samples shaped and typed as `like` (one sample of G), latents [n, latent_dim] or None, Estimate stats, finite info."""
    if not isinstance(out, SampleOutput):
        return f"returned {type(out).__name__}, not a lvrbench.api.SampleOutput: return SampleOutput(samples, latents, stats)"
    want = (n, *like.shape[1:])
    if not isinstance(out.samples, Tensor):
        return f"returned samples of type {type(out.samples).__name__}: return a tensor [n, ...] of {n} samples"
    if tuple(out.samples.shape) != want:
        return (f"returned samples of shape {list(out.samples.shape)}, not [n, *G's sample shape] = {list(want)}: "
                f"return {n} samples shaped as G(z)")
    if out.samples.dtype != like.dtype:
        return f"returned {out.samples.dtype} samples, not G's {like.dtype}: return them in G's dtype"
    if bad := int((~torch.isfinite(out.samples)).sum()):
        return (f"returned {bad} non-finite values among its samples: return finite samples, or raise "
                "lvrbench.api.SamplerError when it cannot")
    if out.latents is not None:
        if not isinstance(out.latents, Tensor) or tuple(out.latents.shape) != (n, latent_dim):
            got = list(out.latents.shape) if isinstance(out.latents, Tensor) else type(out.latents).__name__
            return f"returned latents {got}, not [n, d] = {[n, latent_dim]}: return each sample's latent, or None"
        if not bool(torch.isfinite(out.latents).all()):
            return "returned non-finite latents: return each sample's finite latent, or None"
    if not isinstance(out.stats, dict) or not all(isinstance(v, Estimate) for v in out.stats.values()):
        return "returned stats that are not lvrbench.api.Estimates: give each with its interval (e.g. wilson_interval)"
    if not isinstance(out.info, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in out.info.values()):
        return "returned info values that are not finite numbers: put plain finite numbers in info"
    return None


def run_sampler(sampler: Sampler, gan: TrainedGAN, n: int, params: dict[str, float], generator: torch.Generator,
                device: torch.device, held_out: Tensor | None = None, cache: ArtifactCache | None = None,
                batch: int = 500) -> SampleOutput:
    """n samples of `gan` by `sampler`, its parameters checked before any work, its cost counted and timed here.

    Networks run in eval mode (batch norm must not couple samples). A refusal (a parameter out of range, a prior the
    sampler does not declare in `requires`, a generator without what it reads) is a one-line UsageError. Whatever goes
    wrong inside `sample` is a one-line SamplerError naming the sampler, so its cell fails alone: it raised, it cannot
    finish, it drew from a global RNG (torch's, numpy's or Python's: restored, then refused), or its output is not n
    finite samples of G's shape and dtype with latents [n, d] or None (`output_problem`).
    """
    sampler.check_params(params)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise UsageError(f"{sampler.name}: the number of samples must be a whole number >= 1, got {n!r}")
    if not sampler.supports(gan.prior):
        raise UsageError(sampler.unsupported([gan.prior.kind]))
    gan.nets.eval()
    ratio = density_ratio(sampler, gan, held_out, device, cache) if sampler.needs_ratio else None
    ctx = SamplerContext(generator, device, dict(params), gan, held_out, ratio, batch)
    like = _reference(gan, device)
    rngs = GlobalRNGs(device)
    start = time.perf_counter()
    with torch.no_grad():  # a sampler that follows gradients turns them on for its own steps
        ran = guarded(sampler.sample, gan, n, ctx)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    seconds = time.perf_counter() - start
    if moved := rngs.touched():
        raise SamplerError(f"sampler {sampler.name} drew from the global {' and '.join(moved)} RNG, so its numbers "
                           f"depend on what ran before: {DRAW_FROM_CTX}")
    if not ran.ok:
        if isinstance(ran.error, (UsageError, SamplerError)):
            raise ran.error
        raise SamplerError(f"sampler {sampler.name} failed: {one_line(ran.error, 300)}")
    out = ran.value
    if problem := output_problem(out, n, like, gan.latent_dim):
        raise SamplerError(f"sampler {sampler.name} {problem}")
    out.samples = out.samples.detach().cpu()
    out.latents = None if out.latents is None else out.latents.detach().cpu()
    out.cost = Cost(ctx.generator_evals, ctx.discriminator_evals, seconds)
    out.ratio = None if ratio is None else ratio.describe()
    return out
