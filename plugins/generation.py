"""The `generation` task: train each family, then score its samples (papers 002 and 004, Table 1)."""
from __future__ import annotations


import torch

from lvrbench.api import METRIC, OPTIONAL_METRIC, CellOutcome, Environment, Request, check_fields, derive_seed, hookimpl
from lvrbench.kit import (GAN_PROTOCOL, FamilyTask, Generator, Scorer, curve_drawer, evaluator_lines,
                          evaluator_problems, evaluator_settings, gan_fields, gan_spec, generator_check_problems,
                          generator_config, generator_label, group, headlines, history_problem, history_record,
                          is_pretrained, link, mixtures, payload_problem, pretrained_lines, protocol_line,
                          samples_drawer, summarize, table, without_seed)


SCORING = {
    "quick": {"n_samples": 2000, "n_real": 2000, "n_boot_fid": 100, "k": 3},
    "standard": {"n_samples": 5000, "n_real": 5000, "n_boot_fid": 100, "k": 3},
    "full": {"n_samples": 10000, "n_real": 10000, "n_boot_fid": 200, "k": 3},
}
LABELS = {"fid": "FID", "precision": "precision", "recall": "recall"}
SCORED_BY = {"{} generated samples": "config.settings.n_samples", "{} test samples": "config.settings.n_real",
             "k-NN k = {}": "config.settings.k", "{} FID bootstraps": "config.settings.n_boot_fid"}


def paper_headlines(dataset: str, fid: dict[str, list[dict]]) -> list[str]:
    """Papers 002's and 004's headlines on one image dataset, by interval separation of the families' FIDs (each
    family's generator is trained on its own: no pairs): hinge and SAN ahead of vanilla and WGAN, GM-GAN first."""
    def line(paper: str, claim: str, pairs: list[tuple[str, str]]) -> str:
        compared = [headlines.separated(a, b, fid, True, "FID") for a, b in pairs if a in fid and b in fid]
        return headlines.headline(paper, f"{dataset}: {claim}", compared)

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
    revision = 2  # 2: the generator's check, the second evaluator's scores (issue 20)
    method = "direct"  # samples straight from G; post-hoc samplers will be the other methods
    datasets = {"quick": ("fashion-mnist", "ring8", "grid25"), "standard": ("fashion-mnist", "ring8", "grid25"),
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
                samples = page.figure(name, self._drawer(first, dataset))
                if is_pretrained(c):
                    curve = "-"  # never trained here
                else:
                    drawer = curve_drawer(first["extra"]["history"], f"{c['family']} on {dataset}: losses")
                    curve = link("losses", page.figure(f"{name}-curve", drawer))
                m = [r["metrics"] for r in cells]
                row = [generator_label(c), c["prior"], summarize([x["fid"] for x in m], 4),
                       summarize([x["precision"] for x in m]),
                       summarize([x["recall"] for x in m])]
                if points:
                    row += mixtures.cells(cells) if "centers" in first["extra"] else ["-", "-"]
                body.append(row + [link(f"seed {c['seed']}", samples), curve])
                for metric in LABELS:
                    ours[metric].setdefault(c["family"], []).extend(x[metric] for x in m)
            out += [table(body, headers), ""]
            if not points:
                out += self._orderings(dataset, ours)
                claims += paper_headlines(dataset, ours["fid"])
        return "\n".join([*headlines.headline_section(claims, " (image datasets; the papers used MNIST)"), *out])

    @staticmethod
    def _orderings(dataset: str, ours: dict) -> list[str]:
        lines = headlines.compare(headlines.GENERATION, ours, LABELS)
        if not lines:
            return []
        return [f"### {dataset} beside the papers' orderings", "",
                f"The papers measured on {headlines.references_on(headlines.GENERATION)} with Inception features, "
                f"these rows on {dataset} with lvrbench's evaluator, so only orders are compared. " + headlines.EXPLAINED,
                "", *lines]

    @staticmethod
    def _drawer(result: dict, dataset: str):
        return samples_drawer(result["extra"]["samples"], result["extra"].get("centers"),
                              f"{result['config']['family']} on {dataset}")


@hookimpl
def lvrbench_tasks():
    return [Generation()]
