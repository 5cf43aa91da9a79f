"""The `generation` task: train each family, then score its samples (papers 002 and 004, Table 1)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from lvrbench import hookimpl
from lvrbench.env import RunEnv, evaluator_spec, gan_spec
from lvrbench.figures import encode_images, payload_problem, samples_drawer
from lvrbench.harness import CellOutcome, PlanRequest
from lvrbench.hashing import derive_seed
from lvrbench.leaderboard import evaluator_lines, group, summarize, table, without_seed
from lvrbench.pretrained import generator_label, is_pretrained, pretrained_lines
from lvrbench.metrics import fid_bootstrap, items_generator, knn_radii, mode_labels, precision_recall_outcomes, proportion
from lvrbench.results import METRIC, OPTIONAL_METRIC, check_fields

from . import mixtures, orderings
from .family_tasks import (FamilyTask, GAN_PROTOCOL, curve_drawer, gan_fields, generator_config, history_problem,
                           history_record, protocol_line)
from .protocols import CLASSIFIER_TRAINING

SCORING = {
    "quick": {"n_samples": 2000, "n_real": 2000, "n_boot_fid": 100, "k": 3},
    "standard": {"n_samples": 5000, "n_real": 5000, "n_boot_fid": 100, "k": 3},
    "full": {"n_samples": 10000, "n_real": 10000, "n_boot_fid": 200, "k": 3},
}
LABELS = {"fid": "FID", "precision": "precision", "recall": "recall"}
SCORED_BY = {"{} generated samples": "config.settings.n_samples", "{} test samples": "config.settings.n_real",
             "k-NN k = {}": "config.settings.k", "{} FID bootstraps": "config.settings.n_boot_fid"}


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

    def __init__(self, c: dict, env: RunEnv):
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


def headlines(dataset: str, fid: dict[str, list[dict]]) -> list[str]:
    """Papers 002's and 004's headlines on one image dataset, by interval separation of the families' FIDs (each
    family's generator is trained on its own: no pairs): hinge and SAN ahead of vanilla and WGAN, GM-GAN first."""
    def line(paper: str, claim: str, pairs: list[tuple[str, str]]) -> str:
        compared = [orderings.separated(a, b, fid, True, "FID") for a, b in pairs if a in fid and b in fid]
        return orderings.headline(paper, f"{dataset}: {claim}", compared)

    out = []
    if {"hinge", "san"} & set(fid) and {"vanilla", "wgan"} & set(fid):
        out.append(line("paper 002", "hinge and SAN reach a lower FID than vanilla and WGAN (Figs. 4, 6, 10 on MNIST: "
                        "hinge 22.08, SAN 19.04, vanilla 44.12, WGAN 89.84)",
                        [(a, b) for a in ("hinge", "san") for b in ("vanilla", "wgan")]))
    if "gm-gan" in fid and len(fid) > 1:
        out.append(line("paper 004", "GM-GAN has the lowest FID of the families (Table 1 on MNIST: GM-GAN 18.56, "
                        "W-GAN-GP 40.78, vanilla 63.99)", [("gm-gan", f) for f in sorted(fid) if f != "gm-gan"]))
    return out


class Generation(FamilyTask):
    """Train each generator family, then score its samples: FID, precision and recall (and mode coverage on mixtures)."""

    name = "generation"
    method = "direct"  # samples straight from G; post-hoc samplers will be the other methods
    datasets = {"quick": ("fashion-mnist", "ring8", "grid25"), "standard": ("fashion-mnist", "ring8", "grid25"),
                "full": ("mnist", "fashion-mnist", "ring8", "grid25")}
    source = ("papers 002 and 004 (FID / precision / recall of each family on MNIST, training curves), paper 003 §4.1 "
              "(the 8-Gaussian ring, uniform prior); FID, precision and recall (k=3) in the evaluator's feature space; "
              "on the mixtures, mode coverage as VEEGAN and PacGAN (§5) count it")

    protocol_fields = GAN_PROTOCOL + (("generated samples", "settings.n_samples"), ("test samples", "settings.n_real"),
                                      ("k-NN k", "settings.k"), ("FID bootstraps", "settings.n_boot_fid"))

    def settings(self, request: PlanRequest, dataset: str, family: str, prior: str, seed: int) -> dict:
        """A cell's settings: its generator's identity, its evaluator's, and the profile's scoring sizes."""
        return {"gan": gan_spec(request, generator_config(request, dataset, family, prior, seed)),
                "evaluator": evaluator_spec(request, dataset, CLASSIFIER_TRAINING[request.profile]),
                **SCORING[request.profile]}

    def validate(self, result: dict) -> list[str]:
        fields = {"metrics.fid": METRIC, "metrics.precision": METRIC, "metrics.recall": METRIC,
                  "extra.samples": dict, "extra.history": list, "artifacts.evaluator.key": str,
                  "artifacts.evaluator.test_accuracy": OPTIONAL_METRIC, **gan_fields(result),
                  **{path: int for path in SCORED_BY.values()}}
        points = "centers" in result.get("extra", {})
        if points:
            fields.update(mixtures.FIELDS)
        problems = check_fields(result, fields)
        if problems:
            return problems
        if bad := payload_problem(result["extra"]["samples"]):
            problems.append(f"extra.samples: {bad}")
        if is_pretrained(result["config"]):  # never trained here: no training curve
            if result["extra"]["history"] != []:
                problems.append("extra.history must be empty for a pretrained generator")
        elif bad := history_problem(result["extra"]["history"]):
            problems.append(f"extra.history {bad}")
        return problems + (mixtures.problems(result) if points else [])

    def score(self, c: dict, env: RunEnv) -> CellOutcome:
        s = c["settings"]
        gan = env.gan(s["gan"])
        fake = gan.sample(s["n_samples"], torch.Generator().manual_seed(derive_seed(c["seed"], "samples")), env.device)
        scorer = Scorer(c, env)
        scored = scorer.score(fake)
        return CellOutcome(metrics=scored.metrics, extra={"history": history_record(gan.history), **scored.extra},
                           artifacts={"generator": gan.describe(), "evaluator": scorer.evaluator.describe()})

    def render(self, results: list[dict], page) -> str:
        out = ["How the intervals are made: FID's is FID ± 1.96 bootstrap standard errors over the generated samples, "
               "the test split's statistics fixed (FID is biased upward in small samples, so a percentile interval "
               "would lie above the value); precision and recall are shares of points inside the other set's k-NN "
               "balls, with 95% Wilson intervals. Bootstraps are seeded by the samples they resample (dataset, seed, "
               "counts), so families scored on the same seed are resampled alike. " + mixtures.EXPLAINED,
               "", "Each row links its samples and its training curve (both players' losses per epoch, as papers 002 "
               "Fig. 2 and 004 Figs. 4-5 show them).", ""]
        claims = []
        for (dataset,), rows in group(results, lambda r: (r["config"]["dataset"],)).items():
            points = any("centers" in r["extra"] for r in rows)
            out += [f"## {dataset}", "", protocol_line(rows, SCORED_BY), "", *pretrained_lines(rows), *evaluator_lines(rows), ""]
            headers = ["family", "prior", "FID ↓", "precision ↑", "recall ↑"] + (mixtures.HEADERS if points else []) + \
                      ["samples", "training curve"]
            body, ours = [], {metric: {} for metric in LABELS}
            for cells in sorted(group(rows, without_seed).values(), key=lambda g: (g[0]["config"]["family"], g[0]["config"]["prior"])):
                first = cells[0]
                c = first["config"]
                name = f"{dataset}-{c['family']}-{c['prior']}-{first['id']}"
                link = page.figure(name, self._drawer(first, dataset))
                if is_pretrained(c):
                    curve = "-"  # never trained here
                else:
                    drawer = curve_drawer(first["extra"]["history"], f"{c['family']} on {dataset}: losses")
                    curve = f"[losses]({page.figure(f'{name}-curve', drawer)})"
                m = [r["metrics"] for r in cells]
                row = [generator_label(c), c["prior"], summarize([x["fid"] for x in m], 4),
                       summarize([x["precision"] for x in m]),
                       summarize([x["recall"] for x in m])]
                if points:
                    row += mixtures.cells(cells) if "centers" in first["extra"] else ["-", "-"]
                body.append(row + [f"[seed {c['seed']}]({link})", curve])
                for metric in LABELS:
                    ours[metric].setdefault(c["family"], []).extend(x[metric] for x in m)
            out += [table(body, headers), ""]
            if not points:
                out += self._orderings(dataset, ours)
                claims += headlines(dataset, ours["fid"])
        return "\n".join([*orderings.headline_section(claims, " (image datasets; the papers used MNIST)"), *out])

    @staticmethod
    def _orderings(dataset: str, ours: dict) -> list[str]:
        lines = orderings.compare(orderings.GENERATION, ours, LABELS)
        if not lines:
            return []
        return [f"### {dataset} beside the papers' orderings", "",
                f"The papers measured on {orderings.references_on(orderings.GENERATION)} with Inception features, "
                f"these rows on {dataset} with lvrbench's evaluator, so only orders are compared. " + orderings.EXPLAINED,
                "", *lines]

    @staticmethod
    def _drawer(result: dict, dataset: str):
        return samples_drawer(result["extra"]["samples"], result["extra"].get("centers"),
                              f"{result['config']['family']} on {dataset}")


@hookimpl
def lvrbench_tasks():
    return [Generation()]
