"""The `generation` task: train each family, then score its samples (papers 002 and 004, Table 1)."""
from __future__ import annotations

import math

import torch

from lvrbench.api import METRIC, OPTIONAL_METRIC, CellOutcome, Environment, Request, check_fields, derive_seed, hookimpl
from lvrbench.kit import (FID_ON_POINTS, GAN_PROTOCOL, MIXTURE_COLUMNS, SAME_GENERATORS, TRAINED_NOTE, Column,
                          FamilyTask, Generator, Markdown, Scorer, config_text, curve_drawer, dataset_details,
                          evaluator_problems, evaluator_settings, fmt_estimate, gan_fields, gan_spec,
                          generator_check_problems, generator_config, group, has_second_evaluator, headlines,
                          history_problem, history_record, is_pretrained, left_out_lines, link, mixtures,
                          payload_problem, ranking_table, samples_drawer, table, trained_text, unit_label, unit_means,
                          units_of)


SCORING = {
    "quick": {"n_samples": 1000, "n_real": 1000, "n_boot_fid": 50, "k": 3},
    "standard": {"n_samples": 5000, "n_real": 5000, "n_boot_fid": 100, "k": 3},
    "full": {"n_samples": 10000, "n_real": 10000, "n_boot_fid": 200, "k": 3},
}
LABELS = {"fid": "FID", "precision": "precision", "recall": "recall"}
SCORED_BY = {"{} generated samples": "config.settings.n_samples", "{} test samples": "config.settings.n_real",
             "k-NN k = {}": "config.settings.k", "{} FID bootstraps": "config.settings.n_boot_fid"}


#: How this task's configs state our protocol beside a paper's.
OURS = {"{}": "dataset", "arch {}": "settings.gan.arch", "d_z {}": "settings.gan.latent_dim",
        "{} epochs": "settings.gan.train.epochs", "{} samples": "settings.n_samples"}


def paper_headlines(dataset: str, units: dict[str, dict[int, dict]], left: dict[str, list[str]],
                    ours: str) -> list[headlines.Headline]:
    """Papers 002's and 004's headlines on one image dataset, each family's generator trained on its own (so Welch
    over seeds): hinge and SAN ahead of vanilla and WGAN (paper 002), GM-GAN first (paper 004); then each of their
    tables' orderings as a chain. FID is compared by direction only: the papers' feature networks are not ours."""
    present = set(units) | set(left)
    out = []
    if {"hinge", "san"} & present and {"vanilla", "wgan"} & present:
        out.append(headlines.between_claim(
            "generation", "paper 002", dataset, "hinge and SAN reach a lower FID than vanilla and WGAN",
            "hinge 22.08, SAN 19.04, vanilla 44.12, WGAN 89.84 (Figs. 4, 6, 10, MNIST)", ours, units,
            [(a, b) for a in ("hinge", "san") for b in ("vanilla", "wgan")], ("fid", "fid_alt"), True, left))
    if "gm-gan" in present and len(present) > 1:
        out.append(headlines.between_claim(
            "generation", "paper 004", dataset, "GM-GAN has the lowest FID of the families",
            "GM-GAN 18.56, W-GAN-GP 40.78, vanilla 63.99 (Table 1, MNIST)", ours, units,
            [("gm-gan", f) for f in sorted(present - {"gm-gan"})], ("fid", "fid_alt"), True, left))
    return out + headlines.ordering_claims("generation", headlines.GENERATION, dataset, ours, units, LABELS, left)


class Generation(FamilyTask):
    """Train each generator family, then score its samples: FID, precision and recall (and mode coverage on mixtures)."""

    name = "generation"
    revision = 2  # 2: the generator's check, the second evaluator's scores (issue 20)
    method = "direct"  # samples straight from G; post-hoc samplers will be the other methods
    datasets = {"quick": ("fashion-mnist", "ring8"), "standard": ("fashion-mnist", "ring8", "grid25"),
                "full": ("mnist", "fashion-mnist", "ring8", "grid25")}
    source = ("papers 002 and 004 (FID / precision / recall of each family on MNIST, training curves), paper 003 §4.1 "
              "(the 8-Gaussian ring, uniform prior); FID, precision and recall (k=3) in the evaluator's feature space; "
              "on the mixtures, mode coverage as VEEGAN and PacGAN (§5) count it")

    protocol_fields = GAN_PROTOCOL + (("generated samples", "settings.n_samples"), ("test samples", "settings.n_real"),
                                      ("k-NN k", "settings.k"), ("FID bootstraps", "settings.n_boot_fid"))

    def settings(self, request: Request, dataset: str, generator: Generator, seed: int) -> dict:
        """A cell's settings: its generator's identity, its two evaluators', and the profile's scoring sizes."""
        return {"gan": gan_spec(request, generator_config(request, dataset, generator, seed)),
                **evaluator_settings(request, dataset), **SCORING[request.profile]}

    def validate(self, result: dict) -> list[str]:
        fields = {"metrics.fid": METRIC, "metrics.precision": METRIC, "metrics.recall": METRIC,
                  "extra.samples": dict, "extra.history": list, "artifacts.evaluator.key": str,
                  "artifacts.evaluator.test_accuracy": OPTIONAL_METRIC, **gan_fields(result),
                  **{path: int for path in SCORED_BY.values()}}
        points = "centers" in result.get("extra", {})
        if points:
            fields.update(mixtures.FIELDS)
        problems = (check_fields(result, fields) or evaluator_problems(result, ("fid", "precision", "recall"))
                    or generator_check_problems(result))
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

    def score(self, c: dict, env: Environment) -> CellOutcome:
        s = c["settings"]
        gan = env.gan(s["gan"])
        fake = gan.sample(s["n_samples"], torch.Generator().manual_seed(derive_seed(c["seed"], "samples")), env.device)
        scorer = Scorer(c, env)
        scored = scorer.score(fake)
        return CellOutcome(metrics=scored.metrics, extra={"history": history_record(gan.history), **scored.extra},
                           artifacts={"generator": gan.describe(), **scorer.artifacts()})

    def headlines(self, results: list[dict]) -> list[headlines.Headline]:
        out = []
        for (dataset,), rows in group(results, lambda r: (r["config"]["dataset"],)).items():
            if not any("centers" in r["extra"] for r in rows):
                units, left = units_of(rows, unit_label(rows))
                out += paper_headlines(dataset, units, left, config_text(rows, OURS))
        return out

    def render(self, results: list[dict], page) -> str:
        by_dataset = group(results, lambda r: (r["config"]["dataset"],))
        out = ["## Ranking", ""]
        for (dataset,), rows in by_dataset.items():
            points = any("centers" in r["extra"] for r in rows)
            units, left = units_of(rows, unit_label(rows))
            if points:
                columns = [*MIXTURE_COLUMNS, Column("fid", "FID (unranked)", True, 4, bounds=(0, math.inf))]
            else:
                columns = [Column("fid", "FID ↓", True, 4, ranked=True, bounds=(0, math.inf)),
                           Column("precision", "precision ↑", bounds=(0, 1)), Column("recall", "recall ↑", bounds=(0, 1))]
                if has_second_evaluator(rows, "fid_alt"):
                    columns.append(Column("fid_alt", "FID ↓, evaluator B", True, 4, bounds=(0, math.inf)))
            out += [f"### {dataset}", "", *ranking_table(units, columns, paired=False)]
            if points:
                out += ["", FID_ON_POINTS]
            elif line := headlines.agreement(unit_means(units, "fid"), unit_means(units, "fid_alt"), "families' FIDs",
                                             dataset):
                out += ["", line]
            out += [*left_out_lines(left), ""]
        out += headlines.section(self.headlines(results), " (image datasets; the papers used MNIST)")
        out += ["## Details", "", "How a network's own intervals are made: FID's is FID ± 1.96 bootstrap standard errors "
                "over the generated samples, the test split's statistics fixed (FID is biased upward in small "
                "samples, so a percentile interval would lie above the value); precision and recall are shares of "
                "points inside the other set's k-NN balls, with 95% Wilson intervals. Bootstraps are seeded by the "
                "samples they resample (dataset, seed, counts), so families scored on the same seed are resampled "
                "alike. " + mixtures.EXPLAINED, "", SAME_GENERATORS, "", "Each row links its samples and its training curve (both players' "
                "losses per epoch, as papers 002 Fig. 2 and 004 Figs. 4-5 show them). " + TRAINED_NOTE, ""]
        for (dataset,), rows in by_dataset.items():
            points = any("centers" in r["extra"] for r in rows)
            lines, networks = dataset_details(dataset, rows, SCORED_BY, evaluators=True)
            out += lines
            headers = ["family", "seed", "FID ↓", "precision ↑", "recall ↑"] + (mixtures.HEADERS if points else []) + \
                      ["trained", "figures"]
            body = []
            for name, r in networks:
                c, m = r["config"], r["metrics"]
                figure = f"{dataset}-{c['family']}-{c['prior']}-{r['id']}"
                links = link("samples", page.figure(figure, self._drawer(r, dataset)))
                if not is_pretrained(c):  # a pretrained generator was never trained here: no curve
                    drawer = curve_drawer(r["extra"]["history"], f"{c['family']} on {dataset}: losses")
                    links = Markdown(f"{links} · {link('losses', page.figure(f'{figure}-curve', drawer))}")
                row = [name, c["seed"], fmt_estimate(m["fid"], 4), fmt_estimate(m["precision"]),
                       fmt_estimate(m["recall"])]
                if points:
                    row += mixtures.cells([r]) if "centers" in r["extra"] else ["-", "-"]
                body.append(row + [trained_text(r), links])
            out += ["Each network's own numbers (intervals: its evaluation noise, not the variation between trained "
                    "networks):", "", table(body, headers), ""]
        return "\n".join(out)

    @staticmethod
    def _drawer(result: dict, dataset: str):
        return samples_drawer(result["extra"]["samples"], result["extra"].get("centers"),
                              f"{result['config']['family']} on {dataset}")


@hookimpl
def lvrbench_tasks():
    return [Generation()]
