"""The `mode-coverage` task: how many of a 2-D mixture's modes each family's generator captures (VEEGAN §5,
PacGAN §5; the ring of paper 003 §4.1 and the grid of paper 004 Fig. 9), with a scatter of samples over the modes."""
from __future__ import annotations

import torch

from lvrbench.api import CellOutcome, Environment, Request, check_fields, derive_seed, hookimpl
from lvrbench.kit import (GAN_PROTOCOL, MIXTURE_COLUMNS, SAME_GENERATORS, TRAINED_NOTE, FamilyTask, Generator,
                          dataset_details, gan_fields, gan_spec, generator_check_problems, generator_config, group,
                          left_out_lines, link, mixtures, payload_problem, ranking_table, scatter, table,
                          trained_text, unit_label, units_of)


SCORING = {"quick": {"n_samples": 2500}, "standard": {"n_samples": 2500}, "full": {"n_samples": 2500}}  # PacGAN §5 and VEEGAN score 2500 samples
SCORED_BY = {"{} generated samples": "config.settings.n_samples"}


class ModeCoverage(FamilyTask):
    """Modes captured and share of high-quality samples of each family on the 2-D Gaussian mixtures."""

    name = "mode-coverage"
    revision = 2  # 2: the generator's check (issue 20)
    method = "direct"
    datasets = {"quick": ("ring8",), "standard": ("ring8", "grid25"), "full": ("ring8", "grid25")}

    source = ("VEEGAN (Srivastava et al. 2017) §5 and PacGAN (Lin et al. 2018) §5: 2500 samples, a sample is high "
              "quality within 3 std of a mode, a mode is captured with at least 1/5 of its expected share of them; "
              "datasets: the 8-Gaussian ring (paper 003 §4.1, uniform prior) and the 25-Gaussian grid (paper 004 Fig. 9)")

    protocol_fields = GAN_PROTOCOL + (("generated samples", "settings.n_samples"),)

    def accepts(self, data) -> bool:
        return data.modality == "points"

    def settings(self, request: Request, dataset: str, generator: Generator, seed: int) -> dict:
        """A cell's settings: its generator's identity (the one `generation` trains) and the sample count."""
        return {"gan": gan_spec(request, generator_config(request, dataset, generator, seed)), **SCORING[request.profile]}

    def validate(self, result: dict) -> list[str]:
        problems = check_fields(result, {**mixtures.FIELDS, **gan_fields(result), "extra.samples": dict,
                                         **{path: int for path in SCORED_BY.values()}})
        if problems:
            return problems
        if bad := payload_problem(result["extra"]["samples"]):
            problems.append(f"extra.samples: {bad}")
        return problems + mixtures.problems(result) + generator_check_problems(result)

    def score(self, c: dict, env: Environment) -> CellOutcome:
        n = c["settings"]["n_samples"]
        gan = env.gan(c["settings"]["gan"])
        fake = gan.sample(n, torch.Generator().manual_seed(derive_seed(c["seed"], "mode-coverage samples")), env.device)
        metrics, extra = mixtures.score(fake, env.dataset(c["dataset"]), {"dataset": c["dataset"], "seed": c["seed"], "n_samples": n})
        return CellOutcome(metrics=metrics, extra={**extra, "samples": mixtures.samples_payload(fake)},
                           artifacts={"generator": gan.describe()})

    def render(self, results: list[dict], page) -> str:
        by_dataset = group(results, lambda r: (r["config"]["dataset"],))
        out = ["## Ranking", "", mixtures.EXPLAINED, "", SAME_GENERATORS, ""]
        for (dataset,), rows in by_dataset.items():
            units, left = units_of(rows, unit_label(rows))
            out += [f"### {dataset}", "", *ranking_table(units, MIXTURE_COLUMNS, paired=False), *left_out_lines(left), ""]
        out += ["## Details", "", "Per mode: the high-quality samples nearest each centre, in the dataset's order of "
                "centres. The scatter plots show 1000 of the samples (blue) over the true modes (red). " + TRAINED_NOTE, ""]
        for (dataset,), rows in by_dataset.items():
            lines, networks = dataset_details(dataset, rows, SCORED_BY)
            out += lines
            body = []
            for name, r in networks:
                c, centers = r["config"], r["extra"]["centers"]
                title = f"{c['family']} on {dataset}: {r['metrics']['modes_covered']['value']:g} of {len(centers)} modes"
                figure = page.figure(f"{dataset}-{c['family']}-{c['prior']}-{r['id']}",
                                     lambda path, s=r["extra"]["samples"], k=centers, t=title: scatter(s, k, path, t))
                body.append([name, c["seed"], *mixtures.cells([r]), " ".join(map(str, r["extra"]["per_mode"])),
                             trained_text(r), link("scatter", figure)])
            out += ["Each network's own numbers (intervals: its evaluation noise):", "",
                    table(body, ["family", "seed", *mixtures.HEADERS, "per mode", "trained", "scatter"]), ""]
        return "\n".join(out)


@hookimpl
def lvrbench_tasks():
    return [ModeCoverage()]
