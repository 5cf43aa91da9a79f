"""The `sampling` task: post-hoc samplers on every family's trained generator, each scored as a paired difference
with direct sampling on the same seed, beside its acceptance rate and its cost (paper 004 §5 and Table 1).

A job is one generator (dataset x family x prior x seed, the generator `generation` trains) with a cell per sampler
and hyper-parameter row; `direct` is sampled once per job and every cell is compared with it on the same real test
samples. Calibration and MH-GAN's initial states use test samples the scores never see.
"""
from __future__ import annotations

import itertools
import statistics
from typing import Any

import torch

from lvrbench.api import (METRIC, CellOutcome, Environment, Job, Request, SampleOutput, Sampler, SamplerError,
                          UsageError, check_fields, derive_seed, hookimpl, is_number)
from lvrbench.kit import (ALT_SUFFIX, CALIBRATED, EXACT, FID_ON_POINTS, GAN_PROTOCOL, SAME_GENERATORS, FamilyTask,
                          Generator, Scored, Scorer, config_text, dataset_details, density_ratio, describe_generator,
                          evaluator_problems, evaluator_settings, failed_why, fmt_number, gan_fields, gan_spec,
                          generator_check_problems, generator_config, group, headlines, hparams_text, inert, link,
                          mixtures, number_text, payload_problem, quality_cost_plot, ratio_problems, ratio_quality,
                          reliability_plot, run_sampler, samples_drawer, summarize, table, unit_label, units_of,
                          without_seed)


#: Per profile: samples per cell, the real test samples they are scored against, the held-out real samples the
#: calibrator is fitted on and MH-GAN's chains start from, the held-out real samples (as many fresh generated ones
#: beside them) every density ratio is scored on, FID bootstraps, k of the k-NN manifolds, and how many samples one
#: network pass holds. The three sets of real samples are disjoint parts of the test split (10 000 on every dataset).
SCORING = {
    "quick": {"n_samples": 500, "n_real": 500, "n_held_out": 500, "n_ratio_test": 500, "n_boot_fid": 25, "k": 3,
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


def _cells(rows: list[dict]) -> list[list[dict]]:
    """A dataset's cells with their seeds aggregated, by generator, `direct` first, then sampler and grid row."""
    return sorted(group(rows, without_seed).values(),
                  key=lambda g: (g[0]["config"]["family"], g[0]["config"]["prior"], g[0]["config"]["method"] != "direct",
                                 g[0]["config"]["method"], sorted(g[0]["config"]["hparams"].items())))


#: What a cell whose density ratio carries no information reads instead of numbers.
AT_CHANCE = "not applicable: ratio at chance"
#: How this task's configs state our protocol beside paper 004's.
OURS = {"{}": "dataset", "arch {}": "settings.gan.arch", "d_z {}": "settings.gan.latent_dim",
        "{} epochs": "settings.gan.train.epochs", "{} samples per sampler": "settings.n_samples"}


def heldout_quality(result: dict) -> dict | None:
    """The held-out quality of the density ratio a cell's sampler read (`extra.ratio.heldout`: accuracy, log-loss,
    AUC, ECE, reliability bins, at chance), or None where it read none or the result predates the score."""
    ratio = result["extra"].get("ratio")
    held = ratio.get("heldout") if isinstance(ratio, dict) else None
    keys = ("accuracy", "log_loss", "auc", "ece", "reliability", "at_chance")
    return held if isinstance(held, dict) and all(k in held for k in keys) else None


def at_chance(result: dict) -> bool:
    """Whether the cell's sampler read a density ratio no better than chance on held-out data."""
    quality = heldout_quality(result)
    return quality is not None and quality["at_chance"] is True


def pairing(result: dict) -> str:
    """Which interval the cell's `*_vs_direct` metrics carry (`extra.paired`, declared by the sampler)."""
    paired = result["extra"].get("paired")
    return "paired" if paired is True else "two-sample" if paired is False else "paired, undeclared"


def sampler_label(rows: list[dict]):
    """A cell's sampler as a page names it: its name, with its hyper-parameters where it runs several cells."""
    grids: dict[str, set] = {}
    for r in rows:
        grids.setdefault(r["config"]["method"], set()).add(hparams_text(r["config"]["hparams"]))
    return lambda r: r["config"]["method"] + (f" ({hparams_text(r['config']['hparams'])})"
                                              if len(grids[r["config"]["method"]]) > 1 else "")


def generators_of(rows: list[dict]) -> dict[str, dict]:
    """Per generator of a dataset (family, with its prior where two run): its samplers' results by seed (networks
    that failed to train and cells whose ratio is at chance left out, with why), and `direct`'s by seed."""
    label = unit_label(rows)
    out = {}
    for (name,), members in group(rows, lambda r: (label(r),)).items():
        units, left = units_of(members, sampler_label(members),
                               lambda r: "its density ratio is at chance on held-out data" if at_chance(r) else None)
        direct = {r["config"]["seed"]: r for r in members if r["config"]["method"] == "direct" and failed_why(r) is None}
        out[name] = {"rows": members, "units": units, "left": left, "direct": direct}
    return out


def alt_delta(result: dict, direct: dict | None) -> float | None:
    """The second evaluator's FID change against direct on the same seed (a point: no interval was scored)."""
    if direct is None or "fid_alt" not in result["metrics"] or "fid_alt" not in direct["metrics"]:
        return None
    return result["metrics"]["fid_alt"]["value"] - direct["metrics"]["fid_alt"]["value"]


def paper_headlines(dataset: str, found: dict[str, dict], ours: str) -> list[headlines.Headline]:
    """Paper 004's claims on one image dataset, each sampler against direct on the same generator (per seed its
    paired or two-sample difference, over seeds a t interval): the improvements of Table 1 (DRS on vanilla, and the
    rows it greys out), and DRS improving FID for every family run here. Generators that failed to train and
    ratios at chance are left out, with why; judged under the second evaluator too where the results hold it."""
    def builders(cells: list[tuple[str, str]]):
        def build(metric: str) -> list[headlines.Builder]:
            out = []
            for family, unit in cells:
                g = found[family]
                by_seed = g["units"][unit]
                seeds = sorted(by_seed)
                if metric == "fid_vs_direct":
                    diffs = [by_seed[s]["metrics"]["fid_vs_direct"]["value"] for s in seeds]
                    noise = [headlines.evaluation_variance(by_seed[s]["metrics"]["fid_vs_direct"]) for s in seeds]
                else:
                    diffs = [alt_delta(by_seed[s], g["direct"].get(s)) for s in seeds]
                    if any(d is None for d in diffs):
                        continue
                    noise = None
                shown = headlines.one_network(by_seed[seeds[0]]["metrics"]["fid_vs_direct"])
                out.append(lambda level, n=f"{unit} − direct ({family})", d=diffs, w=noise, v=shown: headlines.within(
                    n, d, level, lower_is_better=True, noise=w, display=v))
            return out
        return build

    def metrics(cells: list[tuple[str, str]]) -> tuple[str, ...]:
        alt = all(alt_delta(r, found[f]["direct"].get(s)) is not None
                  for f, u in cells for s, r in found[f]["units"][u].items())
        return ("fid_vs_direct", "fid_alt") if alt else ("fid_vs_direct",)

    def cells_of(sampler: str, families: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
        cells, left = [], []
        for f in families:
            g = found[f]
            units = [u for u in g["units"] if u.split(" (")[0] == sampler]
            cells += [(f, u) for u in units]
            left += [f"{f} {u} {why}" for u in sorted(g["left"]) if u.split(" (")[0] in (sampler, "direct") for why in g["left"][u]]
        return cells, left

    out = []
    for ref in headlines.SAMPLING:
        if ref.family not in found or ref.metric != "fid":
            continue
        cells, left = cells_of(ref.sampler, [ref.family])
        grey = " (a row paper 004 greys out: its validity unclear)" if ref.uncertain else ""
        out.append(headlines.headline(
            "sampling", ref.paper, dataset, f"{ref.sampler} improves {ref.family}'s FID on direct sampling{grey}",
            f"{ref.family}: {number_text(ref.baseline)} → {number_text(ref.value)} ({ref.where}, MNIST)", ours,
            builders(cells) if cells else [], metrics(cells) if cells else (), left, is_headline=not ref.uncertain))
    families = sorted(f for f, g in found.items() if any(u.split(" (")[0] == "drs" for u in (*g["units"], *g["left"])))
    if families:
        cells, left = cells_of("drs", families)
        out.append(headlines.headline(
            "sampling", "paper 004", dataset, "DRS improves FID on direct sampling for every family run here",
            "vanilla 63.99 → 38.49; W-GAN-GP 40.78 → 38.02, greyed out (Table 1, MNIST)", ours,
            builders(cells) if cells else [], metrics(cells) if cells else (), left))
    return out


class Sampling(FamilyTask):
    """Post-hoc samplers (DRS, DG-flow, DDLS, MH-GAN) on each family's generator, paired with direct sampling."""

    name = "sampling"
    revision = 2  # 2: held-out ratio scores, two-sample intervals for unpaired samplers, the check, the second evaluator
    method = "direct"
    datasets = {"quick": ("fashion-mnist", "ring8"), "standard": ("fashion-mnist", "ring8", "grid25"),
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

    def headlines(self, results: list[dict]) -> list[headlines.Headline]:
        out = []
        for (dataset,), rows in group(results, lambda r: (r["config"]["dataset"],)).items():
            if not any("centers" in r["extra"] for r in rows):
                out += paper_headlines(dataset, generators_of(rows), config_text(rows, OURS))
        return out

    def render(self, results: list[dict], page) -> str:
        by_dataset = group(results, lambda r: (r["config"]["dataset"],))
        out = ["## Ranking", "", "Per generator, its samplers ranked by the change they make against `direct` (plain "
               "G(z)) on the same generator and seed: sampler minus direct, so a negative Δ FID and a positive Δ share "
               "are improvements; `direct` itself is the row at Δ 0. Samplers of one generator share its networks, so "
               "ranks compare their per-seed differences paired by seed. `Δ interval` says how one network's Δ "
               "was measured: *paired* where the sampler refines direct's own draws one to one (DG-flow, DDLS), "
               "*two-sample* where its samples are independent of direct's (DRS, MH-GAN); results that predate the "
               "declaration read *paired, undeclared* (they used paired intervals for every sampler). A cell whose "
               f"density ratio is no better than chance on held-out data reads *{AT_CHANCE}* and is ranked nowhere.", ""]
        for (dataset,), rows in by_dataset.items():
            points = any("centers" in r["extra"] for r in rows)
            out += [f"### {dataset}", "", *self._ranking(generators_of(rows), points), ""]
        out += headlines.section(self.headlines(results), " (image datasets; the paper used MNIST)")
        out += ["## Details", "", "Quality: every sampler's samples scored as `generation` scores them, against the "
                "same real test samples as `direct` on the same seed. A network's own Δ intervals: FID's from "
                "bootstraps of both sample sets, the shares' by Newcombe's interval (paired or two-sample as "
                "`Δ interval` says), modes covered by a percentile bootstrap. " + mixtures.EXPLAINED, "",
                SAME_GENERATORS, "",
                "Cost is per 1000 samples: generator and discriminator evaluations (samples passed through each "
                "network, a gradient step counted once) as the core counted them, and wall seconds on the device in "
                "the provenance; a calibrator's one-off fit is not counted. The density ratio says what the samplers "
                f"read: *{EXACT}* where the family's discriminator is BCE-trained (its logit is log p_data/p_G; "
                f"BiGAN's and LOGAN-B's joint D(x, z) on the pair (G(z), z)), *{CALIBRATED}* (σ(a·s + b) fitted on "
                "held-out real samples against as many generated ones) for critics that are no ratio estimators "
                "(LSGAN, hinge, SAN, WGAN, WGAN-GP). Acceptance is the share of proposals accepted (DRS, MH-GAN) with "
                "its Wilson interval.", ""]
        for (dataset,), rows in by_dataset.items():
            points = any("centers" in r["extra"] for r in rows)
            out += dataset_details(dataset, rows, SCORED_BY, evaluators=True)[0]
            out += self._quality(rows, points) + self._ratios(rows, dataset, page) + self._cost(rows, dataset, page)
        return "\n".join(out)

    @staticmethod
    def _ranking(found: dict[str, dict], points: bool) -> list[str]:
        """One table per dataset: per generator, its samplers by the primary metric's change against direct."""
        metrics = [("modes_covered_vs_direct", False, 2, 1.0), ("high_quality_vs_direct", False, 3, 100.0)] if points \
            else [("fid_vs_direct", True, 4, 1.0)]
        rows, ranked_any, left_all = [], False, []
        alt = not points and all("fid_alt" in r["metrics"] for g in found.values() for r in g["rows"])
        for family, g in sorted(found.items()):
            spans, order = {}, None
            for metric, lower, _, _ in metrics:
                have = {u: {s: r["metrics"][metric] for s, r in by_seed.items()} for u, by_seed in g["units"].items()
                        if all(metric in r["metrics"] for r in by_seed.values())}
                ranked = headlines.ranking(have, lower, paired=True) if have else []
                spans[metric] = {r.name: r.span for r in ranked}
                ranked_any = ranked_any or any(r.span is not None for r in ranked)
                order = order or [r.name for r in ranked]
            for unit in (order or []) + sorted(u for u in g["left"] if u not in g["units"]):
                by_seed = g["units"].get(unit)
                if not by_seed:
                    row = [family, unit] + [[None, "-"]] * len(metrics) + (["-"] if alt else [])
                    rows.append(row + ["-", AT_CHANCE if any("at chance" in w for w in g["left"][unit]) else "left out"])
                    continue
                row = [family, unit]
                for metric, _, digits, scale in metrics:
                    row.append([spans[metric].get(unit), summarize([r["metrics"][metric] for r in by_seed.values()],
                                                                   digits, scale)])
                if alt:
                    deltas = [alt_delta(r, g["direct"].get(s)) for s, r in by_seed.items()]
                    row.append("-" if None in deltas else f"{fmt_number(deltas[0], 4)} (a point)" if len(deltas) == 1
                               else summarize([{"value": d, "low": d, "high": d, "n": 1} for d in deltas], 4))
                first = next(iter(by_seed.values()))
                ratio = first["extra"].get("ratio")
                rows.append(row + ["-" if unit == "direct" else pairing(first),
                                   ratio["text"] if isinstance(ratio, dict) else "-"])
            left_all += [f"{family} {u} {why}" for u, items in sorted(g["left"].items()) for why in items]
        headers = ["family", "sampler"]
        for metric, lower, _, _ in metrics:
            name = LABELS[metric.removesuffix("_vs_direct")]
            headers += ([f"rank ({name})" if len(metrics) > 1 else "rank"] if ranked_any else []) + \
                       [f"Δ {name} vs direct {'↓' if lower else '↑'}"]
        headers += (["Δ FID, evaluator B"] if alt else []) + ["Δ interval", "density ratio"]
        def flat(row: list) -> list:  # a [span, text] cell is a rank column (where anything ranks) and its value
            out = []
            for cell in row:
                out += (([headlines.rank_text(cell[0])] if ranked_any else []) + [cell[1]]) if isinstance(cell, list) \
                    else [cell]
            return out

        out = [table([flat(row) for row in rows], headers), "", headlines.RANKED if ranked_any else headlines.UNRANKED]
        if points:
            out += ["", FID_ON_POINTS]
        if left_all:
            out += ["", "Left out of the ranking and of every verdict: " + "; ".join(left_all) + "."]
        return out

    @staticmethod
    def _quality(rows: list[dict], points: bool) -> list[str]:
        """The quality table (at most 10 columns): each metric and its change against direct, with the interval's
        kind; a cell whose ratio is at chance reads so instead of numbers."""
        metrics = ["modes_covered", "high_quality", "fid"] if points else ["fid", "precision", "recall"]
        label = unit_label(rows)
        headers = ["family", "sampler", "params"]
        for m in metrics:
            arrow = "↓" if m == "fid" else "↑"
            headers += [f"{LABELS[m]} {arrow}" + (" (unranked)" if points and m == "fid" else ""), f"Δ {LABELS[m]}"]
        body = []
        for cells in _cells(rows):
            first = cells[0]
            c = first["config"]
            row = [label(first), c["method"], hparams_text(c["hparams"])]
            if any(at_chance(r) for r in cells):
                body.append(row + [AT_CHANCE] + ["-"] * (2 * len(metrics) - 1) + ["-"])
                continue
            m = [r["metrics"] for r in cells]
            for metric in metrics:
                digits, scale = (4, 1.0) if metric == "fid" else (3, 100.0 if metric == "high_quality" else 1.0)
                if not all(metric in x and _versus(metric) in x for x in m):  # a mixture's row without its scores
                    row += ["-", "-"]
                elif metric == "modes_covered":
                    row += [mixtures.cells(cells)[0], summarize([x[_versus(metric)] for x in m], 2)]
                else:
                    row += [summarize([x[metric] for x in m], digits, scale),
                            summarize([x[_versus(metric)] for x in m], digits, scale)]
            body.append(row + [pairing(first)])
        out = ["Quality, every cell (a network's own intervals for one seed; the mean over seeds with a t interval for "
               "several):", "", table(body, headers + ["Δ interval"]), ""]
        if not points and any("fid_alt" in r["metrics"] for r in rows):
            second = [[label(cells[0]), cells[0]["config"]["method"], hparams_text(cells[0]["config"]["hparams"]),
                       *[summarize([r["metrics"][k] for r in cells], 4 if k == "fid_alt" else 3)
                         if all(k in r["metrics"] for r in cells) else "-" for k in ("fid_alt", "precision_alt", "recall_alt")]]
                      for cells in _cells(rows)]
            out += ["The same samples scored by the second evaluator:", "",
                    table(second, ["family", "sampler", "params", "FID ↓, B", "precision ↑, B", "recall ↑, B"]), ""]
            cells = {f"{label(c[0])} {c[0]['config']['method']} {hparams_text(c[0]['config']['hparams'])}": c
                     for c in _cells(rows) if not any(at_chance(r) for r in c)}
            means = [{k: statistics.fmean(r["metrics"][m]["value"] for r in c) for k, c in cells.items()
                      if all(m in r["metrics"] for r in c)} for m in ("fid", "fid_alt")]
            if line := headlines.agreement(*means, "cells' FIDs", rows[0]["config"]["dataset"]):
                out += [line, ""]
        return out

    @staticmethod
    def _ratios(rows: list[dict], dataset: str, page) -> list[str]:
        """Each generator's density ratio scored on held-out real and generated samples it was not fitted on, with
        a reliability diagram; [] where no result holds the score."""
        label = unit_label(rows)
        found: dict[str, dict[int, dict]] = {}
        for r in rows:
            if (quality := heldout_quality(r)) is not None:
                found.setdefault(label(r), {}).setdefault(r["config"]["seed"], {**quality, "text": r["extra"]["ratio"].get("text")})
        if not found:
            return []
        body = []
        for name, by_seed in sorted(found.items()):
            series = {f"seed {s}": [(b["mean_predicted"], b["observed"]) for b in q["reliability"]
                                    if b.get("count") and b.get("mean_predicted") is not None and b.get("observed") is not None]
                      for s, q in sorted(by_seed.items())}
            series = {k: v for k, v in series.items() if v}
            figure = page.figure(f"{dataset}-{name}-reliability", lambda path, s=series, t=f"{name} on {dataset}: density ratio":
                                 reliability_plot(s, path, t)) if series else None
            q = list(by_seed.values())
            chance = sum(x["at_chance"] is True for x in q)
            body.append([name, q[0]["text"] or "-", summarize([x["accuracy"] for x in q], bounds=(0, 1)),
                         summarize([x["log_loss"] for x in q]), summarize([x["auc"] for x in q], bounds=(0, 1)),
                         fmt_number(sum(x["ece"] for x in q) / len(q)),
                         f"{chance} of {len(q)} seed{'s' if len(q) > 1 else ''}",
                         link("reliability", figure) if figure else "-"])
        return ["The density ratios the samplers read, scored on held-out real and generated samples they were not "
                "fitted on (the exact BCE logit too): accuracy predicting real at P(real) ≥ 0.5, log-loss (chance: "
                "ln 2 = 0.693 on balanced data), AUC (0.5: no information whatever the calibration), expected "
                "calibration error over 10 bins. A ratio is at chance when none of the three clears chance on "
                f"held-out data; its sampler cells then read *{AT_CHANCE}*.", "",
                table(body, ["family", "density ratio", "accuracy ↑", "log-loss ↓", "AUC ↑", "ECE ↓ (mean)",
                             "at chance", "figure"]), ""]

    def _cost(self, rows: list[dict], dataset: str, page) -> list[str]:
        """The cost table (at most 10 columns) and the quality-against-cost figure."""
        label = unit_label(rows)
        body, plot = [], {}
        for cells in _cells(rows):
            first = cells[0]
            c, m = first["config"], [r["metrics"] for r in cells]
            ratio = first["extra"].get("ratio")
            cost = [r["extra"]["cost"] for r in cells]
            figure = page.figure(f"{dataset}-{c['family']}-{c['prior']}-{c['method']}-{first['id']}", self._drawer(first, dataset))
            body.append([label(first), c["method"], hparams_text(c["hparams"]), ratio["text"] if isinstance(ratio, dict) else "-",
                         summarize([x["acceptance"] for x in m], 3, 100) if all("acceptance" in x for x in m) else "-",
                         *[fmt_number(sum(k[key] for k in cost) / len(cost)) for key in COST_KEYS],
                         link(f"seed {c['seed']}", figure)])
            evals = sum(k["generator_evals"] + k["discriminator_evals"] for k in cost) / len(cost)
            if c["method"] != "direct" and evals > 0 and not at_chance(first):  # a log axis: no cost, no point
                d = m[0][_versus("fid")]
                plot.setdefault(c["method"], []).append((evals, d["value"], d["low"], d["high"]))
        out = ["Cost per 1000 samples, every cell (the mean over seeds):", "",
               table(body, ["family", "sampler", "params", "density ratio", "acceptance %", "G evals / 1000",
                            "D evals / 1000", "s / 1000", "samples"]), ""]
        if plot:
            figure = page.figure(f"{dataset}-quality-cost", lambda path, p=plot, d=dataset: quality_cost_plot(
                p, path, f"samplers on {d}: FID change against cost", "G + D evaluations per 1000 samples",
                "Δ FID vs direct (lower is better)"))
            out += [f"![quality against cost on {inert(dataset)}]({figure})", "",
                    "Each point is one generator's sampler cell (first seed): its FID change against direct with that "
                    "network's 95% interval, against the evaluations it spent per 1000 samples (direct spends 1000 "
                    "generator evaluations).", ""]
        return out

    @staticmethod
    def _drawer(result: dict, dataset: str):
        c = result["config"]
        return samples_drawer(result["extra"]["samples"], result["extra"].get("centers"),
                              f"{c['family']} on {dataset}, {c['method']} {hparams_text(c['hparams'])}")


@hookimpl
def lvrbench_tasks():
    return [Sampling()]
