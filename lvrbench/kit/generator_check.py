"""Whether a generator failed to train: the check every result that names a generator records beside it
(`artifacts.generator.check = {"failed": bool, "why": str}`), so pages flag it wherever it appears and leave it out
of every verdict (issue 20). A failed generator's numbers measure the failure, not its family: the published standard
WGANs on ring8 and grid25 never trained (their critic loss sat at -0.0002 for 55 of 60 epochs, 0.5% of their samples
high quality), yet had the second-best FID of their page.

A generator failed when (the first that holds is the reason):
- its output is not finite, for some of `N_SAMPLES` latents of its prior;
- its discriminator's (critic's) mean loss sat at 0 (|loss| <= `FLAT_LOSS`) in each of its last epochs (a quarter of
  them, 1 to 10): the discriminator no longer tells real from generated, or wins outright, and G gets no signal;
- its output collapsed: the spread of its samples (root mean per-coordinate variance) is under `COLLAPSED` (1%) of the
  real data's, less than one mode of the mixtures;
- on a Gaussian mixture, under `MIN_HIGH_QUALITY` (10%) of its samples are high quality (`mixtures`), where a
  structureless blob over the modes scores about 1-2%.
The samples are drawn from a seed derived from the generator's key, so the check is a function of the generator alone:
every task computes the same answer for it.
"""
from __future__ import annotations

import math

import torch

from ..api.contracts import Environment, TrainedGAN
from ..api.fields import check_fields
from ..base.hashing import derive_seed
from ..engine.scoring import mode_labels

#: Samples drawn per check, by modality (the mixtures' as many as mode coverage scores).
N_SAMPLES = {"points": 2500, "image": 1000}
FLAT_LOSS = 1e-3
COLLAPSED = 0.01
MIN_HIGH_QUALITY = 0.10
#: The fields `artifacts.generator.check` holds (a task's `validate` adds them).
FIELDS = {"artifacts.generator.check.failed": bool, "artifacts.generator.check.why": str}

_checked: dict[tuple[str, str], dict] = {}  # (generator key, dataset) -> check: a process checks each generator once


def flat_loss(history: list[dict]) -> str | None:
    """Why a training history shows a discriminator that stopped training (its loss at 0 over the last epochs), or
    None. The last quarter of the epochs is read, at least 1 and at most 10."""
    if not history:
        return None
    last = history[-max(1, min(10, len(history) // 4)):]
    losses = [float(h["d_loss"]) for h in last]
    if all(abs(v) <= FLAT_LOSS for v in losses):
        return (f"its discriminator's loss sat at 0 over its last {len(last)} epochs (|mean loss| <= {FLAT_LOSS:g}, "
                f"last {losses[-1]:.4f}): it stopped training")
    return None


def output_problem(fake: torch.Tensor, real: torch.Tensor) -> str | None:
    """Why samples `fake` show a failed generator against real samples of its data (non-finite, or collapsed), or None."""
    finite = torch.isfinite(fake.flatten(1)).all(1)
    if not bool(finite.all()):
        return f"its output is not finite for {int((~finite).sum())} of {fake.shape[0]} latents"
    spread, reference = (math.sqrt(float(x.flatten(1).double().var(0).mean())) for x in (fake, real))
    if spread < COLLAPSED * reference:
        return (f"its output collapsed: the spread of its samples is {spread:.3g}, under {COLLAPSED:.0%} of the "
                f"data's {reference:.3g}")
    return None


def mixture_problem(fake: torch.Tensor, centers: list, std: float) -> str | None:
    """Why samples `fake` of a Gaussian mixture show a failed generator (too few high-quality samples), or None."""
    _, high_quality = mode_labels(fake, torch.tensor(centers), std)
    share = float(high_quality.double().mean())
    if share < MIN_HIGH_QUALITY:
        return (f"only {share:.1%} of its samples are high quality (within 3 std of a mode), under "
                f"{MIN_HIGH_QUALITY:.0%}")
    return None


def check_generator(gan: TrainedGAN, env: Environment, dataset: str) -> dict:
    """{"failed", "why"} of a generator of `dataset` (see the module docstring); "why" is empty when it did not fail."""
    data = env.dataset(dataset)
    n = N_SAMPLES[data.modality]
    fake = gan.sample(n, torch.Generator().manual_seed(derive_seed(gan.key, "generator check")), env.device)
    real, _ = env.split(dataset, "test")
    why = output_problem(fake, real[:n]) or flat_loss(gan.history)
    if why is None and data.modality == "points":
        why = mixture_problem(fake, data.centers, data.std)
    return {"failed": why is not None, "why": f"{why[0].upper()}{why[1:]}." if why else ""}


def describe_generator(gan: TrainedGAN, env: Environment, dataset: str) -> dict:
    """What a result records of its generator: `gan.describe()` and its `check` (computed once per generator)."""
    key = (gan.key, dataset)
    if key not in _checked:
        _checked[key] = check_generator(gan, env, dataset)
    return {**gan.describe(), "check": dict(_checked[key])}


def generator_check_problems(result: dict) -> list[str]:
    """What is wrong with a result's `artifacts.generator.check`, where it has one: its two fields, and a reason
    exactly when it failed."""
    check = result.get("artifacts", {}).get("generator", {})
    if not isinstance(check, dict) or "check" not in check:
        return []
    problems = check_fields(result, FIELDS)
    if not problems and result["artifacts"]["generator"]["check"]["failed"] != bool(result["artifacts"]["generator"]["check"]["why"]):
        problems.append("artifacts.generator.check.why must say why exactly when the generator failed")
    return problems
