"""Scoring sample sets the way `generation` scores them, shared by every task that scores samples: FID, precision
and recall in the evaluator's features, mode coverage on the mixtures; and the metrics behind them
(`lvrbench.engine.scoring`), re-exported for task authors."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..api.contracts import Environment
from ..base.hashing import derive_seed
from ..engine.scoring import (fid, fid_bootstrap, fid_difference_bootstrap, in_manifold, knn_radii,  # noqa: F401
                              mode_coverage, mode_labels, paired_modes_difference, precision_recall,
                              precision_recall_outcomes)
from ..api.estimates import items_generator, proportion
from ..kit.figures import encode_images
from . import mixtures


@dataclass
class Scored:
    """A sample set's metrics and extra (as a result records them), and its per-item outcomes for paired comparisons
    with another set scored against the same real samples: `in_real` per fake (precision's items), `in_fake` per
    real (recall's), the fakes' `features`, and on the mixtures each fake's mode `labels` (`mode_labels`)."""

    metrics: dict
    extra: dict
    features: torch.Tensor
    in_real: torch.Tensor
    in_fake: torch.Tensor
    labels: torch.Tensor | None = None


class Scorer:
    """Generation's scoring of sample sets against one cell's real test samples (drawn by the cell's seed), shared
    by the tasks that score samples: FID, precision and recall in the evaluator's features, mode coverage on the
    mixtures. The real features and k-NN radii are computed once for every set scored."""

    def __init__(self, c: dict, env: Environment):
        s = c["settings"]
        self.settings, self.data, self.device = s, env.dataset(c["dataset"]), env.device
        x_test, _ = env.split(c["dataset"], "test")
        pick = torch.randperm(x_test.shape[0], generator=torch.Generator().manual_seed(derive_seed(c["seed"], "real")))
        self.real = x_test[pick[: s["n_real"]]]
        #: The test samples never scored against (the sampling task's held-out real split), in a seeded order.
        self.unscored = x_test[pick[s["n_real"]:]]
        self.evaluator = env.evaluator(s["evaluator"])
        # k-NN manifolds of 10 000 x 10 000 features are the slow part: compute them where the networks run
        self.f_real = self.evaluator.features(self.real).to(env.device)
        self.real_radii = knn_radii(self.f_real, s["k"])
        self.items = {"dataset": c["dataset"], "seed": c["seed"], "n_samples": s["n_samples"], "n_real": s["n_real"]}

    def score(self, fake: torch.Tensor) -> Scored:
        """The scores of samples `fake` ([n_samples, ...] on the CPU)."""
        s = self.settings
        f_fake = self.evaluator.features(fake).to(self.device)
        # precision and recall are shares of points inside the other set's k-NN balls: Wilson intervals
        in_real, in_fake = precision_recall_outcomes(self.f_real, f_fake, s["k"], real_radii=self.real_radii)
        metrics = {"fid": fid_bootstrap(self.f_real, f_fake, items_generator({**self.items, "score": "fid"}),
                                        n_boot=s["n_boot_fid"]).to_dict(),
                   "precision": proportion(in_real).to_dict(), "recall": proportion(in_fake).to_dict()}
        labels = None
        if self.data.modality == "points":
            coverage, extra = mixtures.score(fake, self.data, self.items)
            metrics.update(coverage)
            extra["samples"] = mixtures.samples_payload(fake)
            labels, _ = mode_labels(fake, torch.tensor(self.data.centers), self.data.std)
        else:
            extra = {"samples": encode_images(fake[:64])}
        return Scored(metrics, extra, f_fake, in_real, in_fake, labels)
