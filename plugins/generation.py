"""The `generation` task: train each family, then score its samples (papers 002 and 004, Table 1)."""
from __future__ import annotations

import torch

from lvrbench import hookimpl
from lvrbench.figures import encode_images, encode_points, image_grid, payload_problem, scatter
from lvrbench.env import RunEnv, evaluator_spec, gan_spec
from lvrbench.harness import Cell, CellOutcome, Job, PlanRequest, make_config
from lvrbench.hashing import derive_seed
from lvrbench.kinds import Task
from lvrbench.leaderboard import evaluator_lines, group, summarize, table, without_seed
from lvrbench.metrics import fid_bootstrap, mode_coverage, precision_recall
from lvrbench.results import METRIC, OPTIONAL_METRIC, check_fields

from .protocols import CLASSIFIER_TRAINING, gan_config

SCORING = {
    "quick": {"n_samples": 2000, "n_real": 2000, "n_boot": 1000, "n_boot_fid": 100, "k": 3},
    "full": {"n_samples": 10000, "n_real": 10000, "n_boot": 1000, "n_boot_fid": 200, "k": 3},
}
DATASETS = {"quick": ("fashion-mnist", "ring8"), "full": ("mnist", "fashion-mnist", "ring8", "grid25")}
METHOD = "direct"  # samples straight from G; post-hoc samplers will be the other methods


class Generation(Task):
    """Train each generator family, then score its samples: FID, precision and recall (and mode coverage on mixtures)."""

    name = "generation"
    source = ("papers 002 and 004 (FID / precision / recall of each family on MNIST), paper 003 §4.1 "
              "(the 8-Gaussian ring); FID, precision and recall (k=3) in the evaluator's feature space; on the "
              "mixtures, mode coverage as VEEGAN and PacGAN (§5) count it")

    def plan(self, request: PlanRequest) -> list[Job]:
        reg = request.registry
        if request.methods and METHOD not in request.methods:
            return []
        jobs = []
        for dataset in request.datasets or DATASETS[request.profile]:
            data = reg.get("datasets", dataset)
            for family_name in request.families or reg.names("families"):
                family = reg.get("families", family_name)
                for prior in request.priors or ("normal",):
                    if prior not in family.priors:
                        continue
                    for seed in request.seeds:
                        gan = gan_config(data.modality, request.profile, family=family_name, dataset=dataset, prior=prior, seed=seed)
                        settings = {"gan": gan_spec(request, gan),
                                    "evaluator": evaluator_spec(request, dataset, CLASSIFIER_TRAINING[request.profile]),
                                    **SCORING[request.profile]}
                        config = make_config(request, self, dataset=dataset, family=family_name, prior=prior, method=METHOD,
                                             hparams={}, seed=seed, settings=settings, plugins={"dataset": data, "family": family})
                        jobs.append(Job(self.name, f"generation {dataset} {family_name} {prior} seed={seed}", [Cell(config)]))
        return jobs

    def method_names(self, registry) -> set[str]:
        return {METHOD}

    def validate(self, result: dict) -> list[str]:
        fields = {"metrics.fid": METRIC, "metrics.precision": METRIC, "metrics.recall": METRIC,
                  "extra.samples": dict, "artifacts.evaluator.key": str, "artifacts.evaluator.test_accuracy": OPTIONAL_METRIC}
        if "centers" in result.get("extra", {}):
            fields.update({"metrics.modes_covered": METRIC, "metrics.high_quality": METRIC, "extra.centers": list})
        problems = check_fields(result, fields)
        if problems:
            return problems
        payloads = {"samples": result["extra"]["samples"]}
        if "centers" in result["extra"]:
            payloads["centers"] = {"kind": "points", "data": result["extra"]["centers"]}
        return [f"extra.{field}: {bad}" for field, payload in payloads.items() if (bad := payload_problem(payload))]

    def run(self, job: Job, env: RunEnv) -> list[CellOutcome]:
        return [self._score(cell, env) for cell in job.cells]

    def _score(self, cell: Cell, env: RunEnv) -> CellOutcome:
        c, s = cell.config, cell.config["settings"]
        gan = env.gan(s["gan"])
        data = env.dataset(c["dataset"])
        fake = gan.sample(s["n_samples"], torch.Generator().manual_seed(derive_seed(c["seed"], "samples")), env.device)
        x_test, _ = env.split(c["dataset"], "test")
        pick = torch.randperm(x_test.shape[0], generator=torch.Generator().manual_seed(derive_seed(c["seed"], "real")))
        real = x_test[pick[: s["n_real"]]]
        evaluator = env.evaluator(s["evaluator"])
        # k-NN manifolds of 10 000 x 10 000 features are the slow part: compute them where the networks run
        f_real, f_fake = evaluator.features(real).to(env.device), evaluator.features(fake).to(env.device)
        boot = torch.Generator().manual_seed(derive_seed(cell.id, "bootstrap"))
        precision, recall = precision_recall(f_real, f_fake, boot, k=s["k"], n_boot=s["n_boot"])
        metrics = {"fid": fid_bootstrap(f_real, f_fake, boot, n_boot=s["n_boot_fid"]).to_dict(),
                   "precision": precision.to_dict(), "recall": recall.to_dict()}
        if data.modality == "points":
            coverage = mode_coverage(fake, torch.tensor(data.centers), data.std, boot)
            metrics["modes_covered"] = coverage["coverage"].to_dict()
            metrics["high_quality"] = coverage["high_quality"].to_dict()
            extra = {"samples": encode_points(fake[:1000]), "centers": [list(c) for c in data.centers]}
        else:
            extra = {"samples": encode_images(fake[:64])}
        return CellOutcome(metrics=metrics, extra=extra,
                           artifacts={"generator": gan.describe(), "evaluator": evaluator.describe()})

    def render(self, results: list[dict], page) -> str:
        out = ["How the intervals are made: FID's is FID ± 1.96 bootstrap standard errors over the generated samples, "
               "the test split's statistics fixed (FID is biased upward in small samples, so a percentile interval "
               "would lie above the value); precision's and recall's resample which points fall inside the k-NN balls, "
               "both sets' radii fixed (a resample repeats points, which would shrink the radii to 0). On the "
               "mixtures a sample is high quality within 3 std of its nearest centre, and a mode is covered when it "
               "holds at least 1/5 of the expected n/K high-quality samples (PacGAN §5: 20 of 2500 on the 25-mode grid).",
               ""]
        for (dataset,), rows in group(results, lambda r: (r["config"]["dataset"],)).items():
            rows.sort(key=lambda r: (r["config"]["family"], r["config"]["prior"], r["config"]["seed"], r["id"]))
            points = "modes_covered" in rows[0]["metrics"]
            out += [f"## {dataset}", ""]
            out += [*evaluator_lines(rows), ""]
            headers = ["family", "prior", "FID ↓", "precision ↑", "recall ↑"] + (["modes covered", "high quality ↑"] if points else []) + ["samples"]
            body = []
            for cells in sorted(group(rows, without_seed).values(), key=lambda g: (g[0]["config"]["family"], g[0]["config"]["prior"])):
                first = cells[0]
                c = first["config"]
                link = page.figure(f"{dataset}-{c['family']}-{c['prior']}-{first['id']}", self._drawer(first, dataset))
                m = [r["metrics"] for r in cells]
                row = [c["family"], c["prior"], summarize([x["fid"] for x in m], 4), summarize([x["precision"] for x in m]),
                       summarize([x["recall"] for x in m])]
                if points:
                    row += [summarize([x["modes_covered"] for x in m], 2) + f" of {len(first['extra']['centers'])}",
                            summarize([x["high_quality"] for x in m])]
                body.append(row + [f"[seed {c['seed']}]({link})"])
            out += [table(body, headers), ""]
        return "\n".join(out)

    def _drawer(self, result: dict, dataset: str):
        samples = result["extra"]["samples"]
        title = f"{result['config']['family']} on {dataset}"
        if samples["kind"] == "points":
            return lambda path: scatter(samples, result["extra"]["centers"], path, title)
        return lambda path: image_grid(samples, path)


@hookimpl
def lvrbench_tasks():
    return [Generation()]
