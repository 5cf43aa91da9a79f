"""Scoring sample sets the way `generation` scores them, shared by every task that scores samples: FID, precision
and recall in the features of two independently trained evaluators, mode coverage on the mixtures; the differences of
two sample sets (paired where one refines the other's draws, two-sample where they are independent); and the metrics
behind them (`lvrbench.engine.scoring`), re-exported for task authors."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..api.contracts import Environment, Request, TrainedGAN
from ..api.estimates import items_generator, paired_proportion_difference, proportion
from ..api.fields import METRIC, check_fields, is_number
from ..base.hashing import derive_seed
from ..engine.evaluator import Evaluator
from ..engine.sampling import DensityRatio, ratio_scores
from ..engine.scoring import (covered_modes, fid, fid_bootstrap, fid_difference_bootstrap, fid_resampled,  # noqa: F401
                              in_manifold, knn_radii, mode_coverage, mode_labels, paired_modes_difference,
                              precision_recall, precision_recall_outcomes)
from ..engine.specs import evaluator_spec
from .figures import encode_images
from . import inference, mixtures
from .protocols import CLASSIFIER_TRAINING, EVALUATORS

#: The suffix of the metrics the second evaluator scores (`fid_alt`, `precision_alt`, `recall_alt`, `accuracy_alt`).
ALT_SUFFIX = "_alt"


def evaluator_settings(request: Request, dataset: str) -> dict:
    """A cell's two evaluators, as full identities: "evaluator" (the profile's CNN, `protocols.EVALUATORS["main"]`)
    and "evaluator_alt" (a classifier of another architecture and seed, trained the same way); None on points, whose
    features are the points themselves (there is no second evaluator of them)."""
    training = CLASSIFIER_TRAINING[request.profile]
    return {name: evaluator_spec(request, dataset, {**training, **EVALUATORS[which]})
            for name, which in (("evaluator", "main"), ("evaluator_alt", "alt"))}


@dataclass
class Scored:
    """A sample set's metrics and extra (as a result records them), and its per-item outcomes for comparisons with
    another set scored against the same real samples: `in_real` per fake (precision's items), `in_fake` per real
    (recall's), the fakes' `features`, and on the mixtures each fake's mode `labels` (`mode_labels`). `alt` holds the
    same outcomes in the second evaluator's features (None where there is none)."""

    metrics: dict
    extra: dict
    features: torch.Tensor
    in_real: torch.Tensor
    in_fake: torch.Tensor
    labels: torch.Tensor | None = None
    alt: Scored | None = None


class _Space:
    """One evaluator's features of the real samples, and their k-NN radii."""

    def __init__(self, evaluator: Evaluator, real: torch.Tensor, k: int, device: torch.device):
        self.evaluator = evaluator
        # k-NN manifolds of 10 000 x 10 000 features are the slow part: compute them where the networks run
        self.f_real = evaluator.features(real).to(device)
        self.radii = knn_radii(self.f_real, k)


class Scorer:
    """Generation's scoring of sample sets against one cell's real test samples (drawn by the cell's seed), shared
    by the tasks that score samples: FID, precision and recall in the evaluator's features (and in the second
    evaluator's where the cell names one, as the `_alt` metrics), mode coverage on the mixtures. The real features and
    k-NN radii are computed once for every set scored."""

    def __init__(self, c: dict, env: Environment):
        s = c["settings"]
        self.settings, self.data, self.device = s, env.dataset(c["dataset"]), env.device
        x_test, _ = env.split(c["dataset"], "test")
        pick = torch.randperm(x_test.shape[0], generator=torch.Generator().manual_seed(derive_seed(c["seed"], "real")))
        self.real = x_test[pick[: s["n_real"]]]
        #: The test samples never scored against (the sampling task's held-out real split), in a seeded order.
        self.unscored = x_test[pick[s["n_real"]:]]
        main = _Space(env.evaluator(s["evaluator"]), self.real, s["k"], env.device)
        self.evaluator, self.f_real, self.real_radii = main.evaluator, main.f_real, main.radii
        self.spaces = {"": main}
        if s.get("evaluator_alt") is not None:
            self.spaces[ALT_SUFFIX] = _Space(env.evaluator(s["evaluator_alt"]), self.real, s["k"], env.device)
        self.items = {"dataset": c["dataset"], "seed": c["seed"], "n_samples": s["n_samples"], "n_real": s["n_real"]}

    @property
    def evaluator_alt(self) -> Evaluator | None:
        """The second evaluator, or None."""
        return self.spaces[ALT_SUFFIX].evaluator if ALT_SUFFIX in self.spaces else None

    def artifacts(self) -> dict:
        """What a result records of its evaluators: `artifacts.evaluator` (and `artifacts.evaluator_alt`)."""
        return {f"evaluator{suffix}": space.evaluator.describe() for suffix, space in self.spaces.items()}

    def _in(self, space: _Space, fake: torch.Tensor) -> Scored:
        s = self.settings
        f_fake = space.evaluator.features(fake).to(self.device)
        # precision and recall are shares of points inside the other set's k-NN balls: Wilson intervals
        in_real, in_fake = precision_recall_outcomes(space.f_real, f_fake, s["k"], real_radii=space.radii)
        metrics = {"fid": fid_bootstrap(space.f_real, f_fake, items_generator({**self.items, "score": "fid"}),
                                        n_boot=s["n_boot_fid"]).to_dict(),
                   "precision": proportion(in_real).to_dict(), "recall": proportion(in_fake).to_dict()}
        return Scored(metrics, {}, f_fake, in_real, in_fake)

    def score(self, fake: torch.Tensor) -> Scored:
        """The scores of samples `fake` ([n_samples, ...] on the CPU)."""
        scored = self._in(self.spaces[""], fake)
        if ALT_SUFFIX in self.spaces:
            scored.alt = self._in(self.spaces[ALT_SUFFIX], fake)
            scored.metrics.update({f"{name}{ALT_SUFFIX}": value for name, value in scored.alt.metrics.items()})
        if self.data.modality == "points":
            coverage, scored.extra = mixtures.score(fake, self.data, self.items)
            scored.metrics.update(coverage)
            scored.extra["samples"] = mixtures.samples_payload(fake)
            scored.labels, _ = mode_labels(fake, torch.tensor(self.data.centers), self.data.std)
        else:
            scored.extra = {"samples": encode_images(fake[:64])}
        return scored

    def differences(self, a: Scored, b: Scored, paired: bool) -> dict[str, dict]:
        """Every metric of `a` minus `b` (two sets scored here), with its 95% interval, keyed as the metrics are.

        paired: a's i-th sample refines b's i-th draw (a latent-space sampler against `direct` on one seed), so what
        they share cancels: FID and modes covered by paired bootstraps (the same positions of both), precision, recall
        and the high-quality share by Newcombe's paired interval. Otherwise the sets are independent draws: FID and
        modes covered by an independent bootstrap of each (`inference.bootstrap_difference`), the shares by
        Newcombe's two-sample interval. Recall's items are the real samples, which both sets share; its outcomes also
        depend on each fake set's manifold, which a paired interval over the reals leaves out, so an unpaired pair
        gets the two-sample interval there too (wider: it drops the reals' positive correlation)."""
        n_boot, items = self.settings["n_boot_fid"], {**self.items, "paired with": "direct"}
        out = {}
        for suffix in self.spaces:
            x, y = (a, b) if not suffix else (a.alt, b.alt)
            f_real = self.spaces[suffix].f_real
            if paired:
                fid_diff = fid_difference_bootstrap(f_real, x.features, y.features,
                                                    items_generator({**items, "score": "fid"}), n_boot).to_dict()
            else:
                fid_diff, _ = inference.bootstrap_difference(
                    fid_resampled(f_real, x.features), x.features.shape[0], fid_resampled(f_real, y.features),
                    y.features.shape[0], derive_seed({**items, "score": "fid"}, "two-sample"), n_boot=n_boot)
            out[f"fid{suffix}"] = fid_diff
            out[f"precision{suffix}"] = share_difference(x.in_real, y.in_real, paired)
            out[f"recall{suffix}"] = share_difference(x.in_fake, y.in_fake, paired)
        if a.labels is not None and b.labels is not None:
            k = len(self.data.centers)
            if paired:
                out["modes_covered"] = paired_modes_difference(a.labels, b.labels, k,
                                                               items_generator({**items, "score": "modes"})).to_dict()
            else:
                out["modes_covered"], _ = inference.bootstrap_difference(
                    _modes_statistic(a.labels, k), a.labels.numel(), _modes_statistic(b.labels, k), b.labels.numel(),
                    derive_seed({**items, "score": "modes"}, "two-sample"))
            out["high_quality"] = share_difference(a.labels < k, b.labels < k, paired)
        return out


def share_difference(a: torch.Tensor, b: torch.Tensor, paired: bool) -> dict:
    """The share of True in a minus in b, with Newcombe's paired interval (the same items) or his two-sample one."""
    if paired:
        return paired_proportion_difference(a, b).to_dict()
    return inference.newcombe_difference(int(a.sum()), a.numel(), int(b.sum()), b.numel())


def _modes_statistic(labels: torch.Tensor, n_modes: int):
    """Modes covered by labels[idx[r]] for each row r of an index array [B, n] (`covered_modes`)."""
    labels = labels.cpu()
    return lambda idx: covered_modes(labels[torch.as_tensor(np.asarray(idx), dtype=torch.long)], n_modes).numpy()


#: What `artifacts.evaluator.description` (and `artifacts.evaluator_alt.description`) holds.
DESCRIPTION = {"arch": str, "epochs": int, "seed": (int, type(None))}


def evaluator_problems(result: dict, metrics: tuple[str, ...]) -> list[str]:
    """What is wrong with a result's evaluators beyond `artifacts.evaluator.key`: each one's description where it has
    one, and, where the cell was scored by the second evaluator too (`artifacts.evaluator_alt`, or any `*_alt` of
    `metrics`), that evaluator's key, accuracy and description and every metric of `metrics` with the `_alt` suffix."""
    artifacts, scored = result.get("artifacts", {}), result.get("metrics", {})
    fields: dict = {}
    if "evaluator_alt" in artifacts or any(f"{m}{ALT_SUFFIX}" in scored for m in metrics):
        fields = {"artifacts.evaluator_alt.key": str, "artifacts.evaluator_alt.test_accuracy": METRIC,
                  "artifacts.evaluator_alt.description": dict, **{f"metrics.{m}{ALT_SUFFIX}": METRIC for m in metrics}}
    for name in ("evaluator", "evaluator_alt"):
        if isinstance(artifacts.get(name), dict) and "description" in artifacts[name]:
            fields.update({f"artifacts.{name}.description.{k}": kind for k, kind in DESCRIPTION.items()})
    return check_fields(result, fields)


# -- the density ratio a sampler reads, scored on data it was not fitted on -----------------------------------------

#: What `extra.ratio.heldout` holds (`ratio_quality`), beside its reliability bins and counts.
HELDOUT_FIELDS = {"accuracy": METRIC, "log_loss": METRIC, "auc": METRIC, "ece": (int, float), "reliability": list,
                  "at_chance": bool, "n_real": int, "n_fake": int}


def ratio_quality(ratio: DensityRatio, gan: TrainedGAN, real: torch.Tensor, generator: torch.Generator,
                  device: torch.device, seed: int) -> dict:
    """How well a density ratio tells real from generated on held-out data: `real` samples it was not fitted on
    against as many fresh generated ones (drawn from `generator`), its log ratio read as the logit of P(real | x)
    (`inference.calibration`: accuracy, log-loss, AUC, ECE, the reliability diagram's non-empty bins, and whether
    it is at chance). `seed` seeds the log-loss bootstrap."""
    s_real, s_fake = ratio_scores(ratio, gan, real, generator, device)
    labels = np.concatenate([np.ones(s_real.numel(), dtype=int), np.zeros(s_fake.numel(), dtype=int)])
    q = inference.calibration(torch.cat([s_real, s_fake]).numpy(), labels, seed)
    bins = [{k: b[k] for k in ("low", "high", "count", "mean_predicted", "observed")} for b in q["reliability"] if b["count"]]
    return {**{k: q[k] for k in ("accuracy", "log_loss", "auc", "ece", "at_chance")}, "reliability": bins,
            "n_real": s_real.numel(), "n_fake": s_fake.numel()}


def ratio_problems(heldout: object, path: str = "extra.ratio.heldout") -> list[str]:
    """What is wrong with a result's held-out scores of its density ratio (`ratio_quality`'s shape)."""
    if not isinstance(heldout, dict):
        return [f"{path} must be an object"]
    problems = check_fields({"heldout": heldout}, {f"heldout.{k}": kind for k, kind in HELDOUT_FIELDS.items()})
    if problems:
        return [f"{path}{p.removeprefix('heldout')}" for p in problems]
    if not 0 <= heldout["ece"] <= 1:
        problems.append(f"{path}.ece must lie in [0, 1]")
    good = all(isinstance(b, dict) and isinstance(b.get("count"), int) and not isinstance(b.get("count"), bool)
               and b["count"] > 0 and all(is_number(b.get(k)) and 0 <= b[k] <= 1
                                          for k in ("low", "high", "mean_predicted", "observed"))
               for b in heldout["reliability"])
    if not good or sum(b["count"] for b in heldout["reliability"]) != heldout["n_real"] + heldout["n_fake"]:
        problems.append(f"{path}.reliability must hold non-empty bins {{low, high, count, mean_predicted, observed}} "
                        "(numbers in [0, 1]) whose counts add up to n_real + n_fake")
    return problems
