"""The `sampling` task: post-hoc samplers on every family's trained generator, each scored as a paired difference
with direct sampling on the same seed, beside its acceptance rate and its cost (paper 004 §5 and Table 1).

A job is one generator (dataset x family x prior x seed, the generator `generation` trains) with a cell per sampler
and hyper-parameter row; `direct` is sampled once per job and every cell is compared with it on the same real test
samples. Calibration and MH-GAN's initial states use test samples the scores never see.
"""
from __future__ import annotations

import itertools
from typing import Any

import torch

from lvrbench.api import (METRIC, CellOutcome, Environment, Job, Request, SampleOutput, Sampler, SamplerError,
                          UsageError, check_fields, derive_seed, hookimpl, is_number)
from lvrbench.kit import (ALT_SUFFIX, CALIBRATED, EXACT, GAN_PROTOCOL, FamilyTask, Generator,
                          Scored, Scorer, density_ratio, describe_generator, evaluator_lines, evaluator_problems,
                          evaluator_settings, fmt_number, gan_fields,
                          gan_spec, generator_check_problems, generator_config, generator_label, group, headlines,
                          hparams_text, link, mixtures, payload_problem, pretrained_lines,
                          protocol_line, quality_cost_plot, ratio_problems, ratio_quality, run_sampler,
                          samples_drawer, summarize, table, without_seed)


#: Per profile: samples per cell, the real test samples they are scored against, the held-out real samples the
#: calibrator is fitted on and MH-GAN's chains start from, the held-out real samples (as many fresh generated ones
#: beside them) every density ratio is scored on, FID bootstraps, k of the k-NN manifolds, and how many samples one
#: network pass holds. The three sets of real samples are disjoint parts of the test split (10 000 on every dataset).
SCORING = {
    "quick": {"n_samples": 500, "n_real": 1000, "n_held_out": 1000, "n_ratio_test": 1000, "n_boot_fid": 50, "k": 3,
              "batch": 500},
    "standard": {"n_samples": 2000, "n_real": 4000, "n_held_out": 4000, "n_ratio_test": 2000, "n_boot_fid": 100, "k": 3,
                 "batch": 500},
    "full": {"n_samples": 5000, "n_real": 5000, "n_held_out": 2500, "n_ratio_test": 2500, "n_boot_fid": 200, "k": 3,
             "batch": 500},
}
#: Per profile and sampler: grids that replace a sampler's declared ones (the references' defaults, which `full`
#: keeps). `quick` keeps `run --all` within its budget: a shorter DRS burn-in, 50 DDLS steps, 20 MH-GAN proposals;
#: `standard` keeps DRS's and DG-flow's and cuts the two chains (250 DDLS steps of 1000, 160 MH-GAN proposals of
#: 640), which would otherwise take about as long as the whole rest of the profile.
GRIDS: dict[str, dict[str, dict[str, tuple[float, ...]]]] = {
    "quick": {"drs": {"burn_in": (2000.0,), "max_attempts": (50.0,)}, "ddls": {"steps": (50.0,)},
              "mh-gan": {"proposals": (20.0,)}},
    "standard": {"ddls": {"steps": (250.0,)}, "mh-gan": {"proposals": (160.0,)}},
    "full": {},
}
SCORED_BY = {"{} samples per sampler": "config.settings.n_samples", "{} test samples": "config.settings.n_real",
             "{} held-out real samples for calibration and MH-GAN's starts": "config.settings.n_held_out",
             "{} other held-out real samples scoring the density ratio": "config.settings.n_ratio_test",
             "k-NN k = {}": "config.settings.k", "{} FID bootstraps": "config.settings.n_boot_fid"}
LABELS = {"fid": "FID", "precision": "precision", "recall": "recall", "modes_covered": "modes covered",
          "high_quality": "high quality"}
COST_KEYS = ("generator_evals", "discriminator_evals", "seconds")
RATIO_TEXTS = (EXACT, CALIBRATED)


def _versus(metric: str) -> str:
    return f"{metric}_vs_direct"


def paper_headlines(dataset: str, ours: dict[tuple[str, str], dict[str, list[dict]]]) -> list[str]:
    """Paper 004's headline on one image dataset: DRS improves FID on direct sampling, judged by the paired
    difference (DRS minus direct, the same real samples and seed), for vanilla (Table 1) and for every family."""
    drs = {family: d["fid"] for (family, method), d in ours.items() if method == "drs" and d.get("fid")}
    if not drs:
        return []
    out = []
    if "vanilla" in drs:
        out.append(headlines.headline("paper 004", f"{dataset}: DRS improves vanilla's FID on direct sampling (Table 1 "
                                      "on MNIST: 63.99 → 38.49)", [headlines.paired("drs", "direct", drs["vanilla"], True,
                                                                                   "FID (vanilla)")]))
    out.append(headlines.headline("paper 004", f"{dataset}: DRS improves FID on direct sampling for every family run "
                                  "here (Table 1 reports it for vanilla, and greyed out for W-GAN-GP)",
                                  [headlines.paired("drs", "direct", drs[f], True, f"FID ({f})") for f in sorted(drs)]))
    return out


class Sampling(FamilyTask):
    """Post-hoc samplers (DRS, DG-flow, DDLS, MH-GAN) on each family's generator, paired with direct sampling."""

    name = "sampling"
    revision = 2  # 2: held-out ratio scores, two-sample intervals for unpaired samplers, the check, the second evaluator
    method = "direct"
    datasets = {"quick": ("fashion-mnist", "ring8", "grid25"), "standard": ("fashion-mnist", "ring8", "grid25"),
                "full": ("mnist", "fashion-mnist", "ring8", "grid25")}  # generation's: its generators
    source = ("paper 004 §5 and Table 1 (DRS, DG-flow and DDLS against the generator alone), Turner et al. 2019 "
              "(MH-GAN); scored as `generation` scores (FID, precision and recall, k=3, in the evaluator's features; "
              "mode coverage on the mixtures), each as a paired difference with direct sampling on the same seed")
    protocol_fields = GAN_PROTOCOL + (("samples per sampler", "settings.n_samples"), ("test samples", "settings.n_real"),
                                      ("held-out real samples", "settings.n_held_out"), ("k-NN k", "settings.k"),
                                      ("FID bootstraps", "settings.n_boot_fid"))
    timings = ("extra.cost.seconds", "extra.direct_cost.seconds")  # wall seconds of the samplers, as measured

    # -- planning ---------------------------------------------------------------------------------------------
    def method_names(self, registry) -> set[str]:
        return set(registry.names("samplers"))

    def selected(self, request: Request) -> list[Sampler]:
        """The samplers --method names, or every registered one."""
        reg = request.registry
        if request.methods:
            return [reg.get("samplers", m) for m in request.methods if m in self.method_names(reg)]
        return [e.obj for e in reg.entries("samplers")]

    def grid(self, sampler: Sampler, request: Request) -> list[dict[str, float]]:
        """The cartesian grid of a sampler's parameters: --set, then the profile's grid, then its declared one; each
        row checked before any work."""
        profile = GRIDS[request.profile].get(sampler.name, {})
        axes = {p.name: tuple(request.overrides.get(p.name) or profile.get(p.name) or p.grid) for p in sampler.params}
        rows = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
        for row in rows:
            sampler.check_params(row)
        return rows

    def parameters(self, request: Request) -> set[str]:
        return {p.name for s in self.selected(request) for p in s.params}

    def variants(self, request: Request) -> list[tuple[str, dict, Any]]:
        return [(s.name, row, s) for s in self.selected(request) for row in self.grid(s, request)]

    def refuses(self, method: Any, gan: dict) -> str | None:
        """A sampler that reads a density ratio cannot run on a generator without a discriminator (a pretrained one)."""
        if method.needs_ratio and "D" not in gan["networks"]:
            return (f"{method.name} reads a discriminator's density ratio, and generator {gan.get('pretrained', gan.get('family'))} "
                    "has none")
        return None

    def settings(self, request: Request, dataset: str, generator: Generator, seed: int) -> dict:
        """A cell's settings: generation's generator and evaluators (the same artifacts), and the profile's sizes."""
        return {"gan": gan_spec(request, generator_config(request, dataset, generator, seed)),
                **evaluator_settings(request, dataset), **SCORING[request.profile]}

    # -- computing --------------------------------------------------------------------------------------------
    def run(self, job: Job, env: Environment) -> list[CellOutcome]:
        first = job.cells[0].config  # the cells of a job differ only in sampler and hyper-parameters
        s = first["settings"]
        gan = env.gan(s["gan"])
        scorer = Scorer(first, env)
        held = s["n_held_out"] + s["n_ratio_test"]
        if scorer.unscored.shape[0] < held:
            raise UsageError(f"sampling: {first['dataset']}'s test split holds {scorer.real.shape[0] + scorer.unscored.shape[0]} "
                             f"samples, fewer than n_real + n_held_out + n_ratio_test = {s['n_real'] + held}")
        held_out = scorer.unscored[: s["n_held_out"]]
        ratio_test = scorer.unscored[s["n_held_out"]: held]
        direct_out = self._sample(env.registry.get("samplers", "direct"), {}, first, gan, held_out, env)
        direct = (direct_out, scorer.score(direct_out.samples))
        heldout = self._ratio_quality(job, gan, held_out, ratio_test, env)
        generator = describe_generator(gan, env, first["dataset"])
        return [self._cell(cell.config, gan, scorer, held_out, direct, env, heldout, generator) for cell in job.cells]

    @staticmethod
    def _ratio_quality(job: Job, gan, held_out: torch.Tensor, ratio_test: torch.Tensor, env: Environment) -> dict | None:
        """The held-out scores of the density ratio the job's samplers read (one ratio per generator and held-out
        split, so one score for all of them), or None when none of them reads one or the generator gives none."""
        readers = [env.registry.get("samplers", cell.config["method"]) for cell in job.cells]
        reader = next((r for r in readers if r.needs_ratio), None)
        if reader is None or ratio_test.shape[0] < 2:
            return None
        try:
            ratio = density_ratio(reader, gan, held_out, env.device, env.cache)
        except UsageError:  # each cell that reads it fails with this reason
            return None
        c = job.cells[0].config
        fakes = torch.Generator().manual_seed(derive_seed(c["seed"], "ratio test samples"))
        return ratio_quality(ratio, gan, ratio_test, fakes, env.device, derive_seed(c["seed"], "ratio test bootstrap"))

    @staticmethod
    def _sample(sampler: Sampler, hparams: dict, c: dict, gan, held_out: torch.Tensor, env: Environment) -> SampleOutput:
        generator = torch.Generator().manual_seed(derive_seed(c["seed"], "samples"))  # every sampler starts alike
        return run_sampler(sampler, gan, c["settings"]["n_samples"], hparams, generator, env.device, held_out, env.cache,
                           c["settings"]["batch"])

    def _cell(self, c: dict, gan, scorer: Scorer, held_out: torch.Tensor, direct: tuple[SampleOutput, Scored],
              env: Environment, heldout: dict | None, generator: dict) -> CellOutcome:
        sampler = env.registry.get("samplers", c["method"])
        try:
            out = direct[0] if sampler.name == "direct" else self._sample(sampler, c["hparams"], c, gan, held_out, env)
        except (UsageError, SamplerError) as exc:  # a refusal or a sampler that gave up fails this cell alone
            return CellOutcome(error=str(exc))
        scored = direct[1] if sampler.name == "direct" else scorer.score(out.samples)
        # a sampler whose i-th sample refines direct's i-th draw is compared sample by sample; others as independent sets
        paired = bool(sampler.paired) or sampler.name == "direct"
        metrics = dict(scored.metrics)
        metrics.update({_versus(name): d for name, d in scorer.differences(scored, direct[1], paired).items()})
        metrics.update({name: e.to_dict() for name, e in out.stats.items()})
        n = c["settings"]["n_samples"]
        ratio = None if out.ratio is None else {**out.ratio, **({"heldout": heldout} if heldout is not None else {})}
        extra = {**scored.extra, "cost": out.cost.per_1000(n), "direct_cost": direct[0].cost.per_1000(n),
                 "ratio": ratio, "info": dict(out.info), "paired": paired}
        return CellOutcome(metrics=metrics, extra=extra, artifacts={"generator": generator, **scorer.artifacts()})

    # -- pages ------------------------------------------------------------------------------------------------
    def validate(self, result: dict) -> list[str]:
        fields = {**{f"metrics.{m}": METRIC for m in ("fid", "precision", "recall")},
                  **{f"metrics.{_versus(m)}": METRIC for m in ("fid", "precision", "recall")},
                  "extra.samples": dict, "extra.cost": dict, "extra.direct_cost": dict, "extra.info": dict,
                  "artifacts.evaluator.key": str, **gan_fields(result), **{path: int for path in SCORED_BY.values()}}
        if "paired" in result.get("extra", {}):
            fields["extra.paired"] = bool
        if "evaluator_alt" in result.get("artifacts", {}):
            fields.update({f"metrics.{_versus(m + ALT_SUFFIX)}": METRIC for m in ("fid", "precision", "recall")})
        points = "centers" in result.get("extra", {}) or "modes_covered" in result.get("metrics", {})
        if points:
            fields.update(mixtures.FIELDS)
            fields.update({f"metrics.{_versus(m)}": METRIC for m in ("modes_covered", "high_quality")})
        if "acceptance" in result.get("metrics", {}):
            fields["metrics.acceptance"] = METRIC
        problems = check_fields(result, fields)
        if problems:
            return problems
        extra = result["extra"]
        if bad := payload_problem(extra["samples"]):
            problems.append(f"extra.samples: {bad}")
        for key in ("cost", "direct_cost"):
            if set(extra[key]) != set(COST_KEYS) or not all(is_number(v) and v >= 0 for v in extra[key].values()):
                problems.append(f"extra.{key} must hold {', '.join(COST_KEYS)} as numbers >= 0")
        ratio = extra.get("ratio")
        if ratio is not None and not (isinstance(ratio, dict) and ratio.get("text") in RATIO_TEXTS):
            problems.append(f"extra.ratio must be null or name its ratio as one of: {'; '.join(RATIO_TEXTS)}")
        elif ratio is not None and "heldout" in ratio:
            problems += ratio_problems(ratio["heldout"])
        problems += evaluator_problems(result, ("fid", "precision", "recall")) + generator_check_problems(result)
        return problems + (mixtures.problems(result) if points else [])

    def render(self, results: list[dict], page) -> str:
        out = ["Every sampler's samples are scored as `generation` scores them, against the same real test samples "
               "as `direct` (plain G(z)) on the same seed, and each metric is shown as the **paired difference with "
               "direct** (sampler minus direct) with its 95% interval: FID's from paired bootstraps (the same positions "
               "of both sample sets; DG-flow and DDLS start from the latents `direct` draws, so their samples pair one "
               "to one), precision's, recall's and the high-quality share's by Newcombe's paired interval, modes "
               "covered by a paired percentile bootstrap. " + mixtures.EXPLAINED,
               "", "Cost is per 1000 samples: generator and discriminator evaluations (samples passed through each "
               "network, a gradient step counted once) as the core counted them, and wall seconds on the device in the "
               "provenance; a calibrator's one-off fit is not counted. The density ratio column says what the samplers "
               f"read: *{EXACT}* where the family's discriminator is BCE-trained (its logit is log p_data/p_G; BiGAN's "
               f"and LOGAN-B's joint D(x, z) on the pair (G(z), z)), *{CALIBRATED}* (σ(a·s + b) fitted on the held-out "
               "real samples against as many generated ones) for critics that are no ratio estimators (LSGAN, hinge, "
               "SAN, WGAN, WGAN-GP). Acceptance is the share of proposals accepted (DRS, MH-GAN) with its Wilson "
               "interval.", ""]
        claims = []
        for (dataset,), rows in group(results, lambda r: (r["config"]["dataset"],)).items():
            points = any("centers" in r["extra"] for r in rows)
            out += [f"## {dataset}", "", protocol_line(rows, SCORED_BY), "", *pretrained_lines(rows), *evaluator_lines(rows), ""]
            metrics = ["fid", "precision", "recall"] + (["modes_covered", "high_quality"] if points else [])
            headers = ["family", "prior", "sampler", "params", "density ratio"]
            for m in metrics:
                arrow = "↓" if m == "fid" else "↑"
                headers += [f"{LABELS[m]} {arrow}", f"Δ {LABELS[m]} vs direct"]
            headers += ["acceptance %", "G evals / 1000", "D evals / 1000", "s / 1000", "samples"]
            body, ours, plot = [], {}, {}
            cells = sorted(group(rows, without_seed).values(),
                           key=lambda g: (g[0]["config"]["family"], g[0]["config"]["prior"], g[0]["config"]["method"] != "direct",
                                          g[0]["config"]["method"], sorted(g[0]["config"]["hparams"].items())))
            for members in cells:
                first = members[0]
                c, m = first["config"], [r["metrics"] for r in members]
                ratio = first["extra"].get("ratio")
                row = [generator_label(c), c["prior"], c["method"], hparams_text(c["hparams"]), ratio["text"] if ratio else "-"]
                for metric in metrics:
                    digits, scale = (4, 1) if metric == "fid" else (3, 100 if metric == "high_quality" else 1)
                    if not all(metric in x and _versus(metric) in x for x in m):  # a mixture's row without its scores
                        row += ["-", "-"]
                        continue
                    if metric == "modes_covered":
                        row += [mixtures.cells(members)[0], summarize([x[_versus(metric)] for x in m], 2)]
                        continue
                    row += [summarize([x[metric] for x in m], digits, scale), summarize([x[_versus(metric)] for x in m], digits, scale)]
                    ours.setdefault((c["family"], c["method"]), {}).setdefault(metric, []).extend(x[_versus(metric)] for x in m)
                row += [summarize([x["acceptance"] for x in m], 3, 100) if all("acceptance" in x for x in m) else "-"]
                cost = [r["extra"]["cost"] for r in members]
                row += [fmt_number(sum(k[key] for k in cost) / len(cost)) for key in COST_KEYS]
                figure = page.figure(f"{dataset}-{c['family']}-{c['prior']}-{c['method']}-{first['id']}", self._drawer(first, dataset))
                body.append(row + [link(f"seed {c['seed']}", figure)])
                evals = sum(k["generator_evals"] + k["discriminator_evals"] for k in cost) / len(cost)
                if c["method"] != "direct" and evals > 0:  # a log axis: a result claiming no cost is left out
                    d = m[0][_versus("fid")]
                    plot.setdefault(c["method"], []).append((evals, d["value"], d["low"], d["high"]))
            out += [table(body, headers), ""]
            if plot:
                plotted = page.figure(f"{dataset}-quality-cost", lambda path, p=plot, d=dataset: quality_cost_plot(
                    p, path, f"samplers on {d}: FID change against cost", "G + D evaluations per 1000 samples",
                    "Δ FID vs direct (lower is better)"))
                out += [f"![quality against cost on {dataset}]({plotted})", "",
                        "Each point is one family's sampler cell (first seed): its paired FID difference with direct "
                        "and its 95% interval, against the evaluations it spent per 1000 samples (direct spends 1000 "
                        "generator evaluations).", ""]
            if not points:
                out += [f"### {dataset} beside paper 004", "",
                        f"Paper 004 measured on {', '.join(sorted({r.dataset for r in headlines.SAMPLING}))} with "
                        f"Inception features, these rows on {dataset} with lvrbench's evaluator, so only the direction of "
                        "the change is compared. " + headlines.IMPROVEMENT_EXPLAINED, "",
                        *headlines.improvement_lines(headlines.SAMPLING, ours, LABELS)]
                claims += paper_headlines(dataset, ours)
        return "\n".join([*headlines.headline_section(claims, " (image datasets; the paper used MNIST)"), *out])

    @staticmethod
    def _drawer(result: dict, dataset: str):
        c = result["config"]
        return samples_drawer(result["extra"]["samples"], result["extra"].get("centers"),
                              f"{c['family']} on {dataset}, {c['method']} {hparams_text(c['hparams'])}")


@hookimpl
def lvrbench_tasks():
    return [Sampling()]
