"""The base of the latent recovery tasks, and what their pages share.

Each job is one method's whole hyper-parameter grid on one dataset, generator, prior and seed, computed as a single
batched optimisation by `lvrbench.engine.recovery.recover`; each grid row is a cell. A task says how it picks its
targets (`targets`) and scores a cell from its recovered latents (`score`); the base plans the grid, runs the engine
and fails diverged cells. The helpers below pair cells on the same items (`item_key`), check per-item lists in
results, and cross-fit each method's best cell so that choosing it does not inflate its score (`BestCells`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..api.contracts import RECOVERY_KINDS, Cell, CellOutcome, Environment, Job, Method, Regularizer, Request, Task, TrainedGAN
from ..api.fields import check_fields, is_number
from ..base.errors import UsageError
from ..base.hashing import canonical_json, derive_seed
from ..base.text import hparams_text, inert, number_text, protocol_items, table
from ..engine.recovery import frozen, recover, validate_grid
from . import headlines
from .figures import heatmap
from .generator_check import describe_generator
from .inference import crossfit, crossfit_point
from .grid import Axis, Skip, cell_config, expand, jobs, product
from .pages import SPEC_FIELDS, group, is_pretrained, mean_over_seeds, seedless, summarize, without_seed
from .planning import (Generator, generator_axes, generator_config, generator_prior, generators, has_realness,
                       planned_datasets, planned_seeds)
from .protocols import GAN_TRAINING

#: Paper 000's seven Adam learning rates (Tables 2-12).
PAPER_LRS = (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0)
#: What a seed sets, and so what an interval over seeds on a recovery page covers.
SEEDS_TEXT = ("a seed sets the generator's training (its initialisation and batches), the evaluated items and the "
              "recovery's random draws, so an interval over seeds covers the variance of all three")
#: The config fields both recovery pages read (their protocol lines), with their types.
CONFIG_FIELDS = {"config.hparams.lr": (int, float), "config.settings.steps": int, "config.settings.init": str,
                 "config.settings.diff": str, "config.settings.gan.family": str, "config.settings.gan.arch": str,
                 "config.settings.gan.latent_dim": int, "config.settings.gan.train.epochs": int,
                 "config.settings.gan.seed": int}


class RecoveryTask(Task):
    """What both recovery protocols share: planning the grid, running the engine, failing diverged cells."""

    datasets: dict[str, tuple[str, ...]] = {"quick": ("fashion-mnist",), "standard": ("fashion-mnist",), "full": ("mnist",)}
    families: tuple[str, ...] = ("lsgan",)
    priors: tuple[str, ...] = ("normal", "uniform")
    #: Per profile: "protocol" (part of every cell's identity), the grid ("lrs", "grids"), and optionally "generator":
    #: replacements for the profile's generator settings (`protocols.GAN_TRAINING`, e.g. another "latent_dim") where
    #: this protocol needs a generator of its own.
    profiles_settings: dict[str, dict]
    #: How lvrbench's protocol departs from the paper's, beyond the numbers the configs state (the protocol line).
    deviations: str = ""
    #: What the seeds leave fixed, appended to SEEDS_TEXT.
    seeds_note: str = ""

    # -- planning ---------------------------------------------------------------------------
    def method_names(self, registry) -> set[str]:
        return {name for kind in RECOVERY_KINDS for name in registry.names(kind)}

    def selected_methods(self, request: Request) -> list[Method]:
        """The methods --method names that this task runs, or every registered one."""
        reg = request.registry
        if request.methods:
            return [reg.method(m) for m in request.methods if m in self.method_names(reg)]
        return [e.obj for kind in RECOVERY_KINDS for e in reg.entries(kind)]

    def artifact_settings(self, request: Request, dataset: str, generator: Generator, seed: int) -> dict:
        """The cell settings naming the trained networks this protocol uses (their full identities).

        The generator is trained with the cell's seed, so the seed axis covers the training's variance (a pretrained
        generator's weights are its own: there the seed sets only the items and the recovery's draws).
        """
        from ..engine.specs import gan_spec

        config = generator_config(request, dataset, generator, seed)
        if not generator.pretrained:
            config.update(self.profiles_settings[request.profile].get("generator", {}))
        return {"gan": gan_spec(request, config)}

    def grid(self, method: Method, request: Request) -> list[dict[str, float]]:
        """The cartesian grid of lr x the method's parameters; overrides and profile grids replace axes."""
        settings = self.profiles_settings[request.profile]
        axes = {"lr": tuple(request.overrides.get("lr", settings["lrs"]))}
        for p in method.params:
            axes[p.name] = tuple(request.overrides.get(p.name) or settings.get("grids", {}).get(p.name) or p.grid)
        rows = product(**axes)
        validate_grid(method, rows)
        return rows

    def parameters(self, request: Request) -> set[str]:
        return {"lr"} | {p.name for m in self.selected_methods(request) for p in m.params}

    def accepts(self, data) -> bool:
        """Recovery runs on labelled images (the evaluator of recovery-real is a classifier; both share the base)."""
        return data.modality == "image" and bool(data.num_classes)

    def plan(self, request: Request) -> list[Job]:
        reg = request.registry
        methods = self.selected_methods(request)
        priors = request.priors or self.priors
        latent_dim = {**GAN_TRAINING["image"][request.profile],
                      **self.profiles_settings[request.profile].get("generator", {})}["latent_dim"]
        families, pretrained = generator_axes(request, self.families)

        def candidates(dataset: str) -> list[Generator]:
            return generators(request, dataset, families, pretrained, lambda f: [p for p in priors if p in f.priors])

        if request.methods and (request.priors or request.families or request.generators):
            made = [generator_prior(reg, g, latent_dim) for d in planned_datasets(request, self.datasets[request.profile])
                    for g in candidates(d)]
            for m in methods:
                if not any(m.supports(g) for g in made):
                    raise UsageError(m.unsupported(sorted({g.kind for g in made}) or priors))

        def skip(p: dict) -> Skip | None:
            generator, method = p["generator"], p["method"]
            if not method.supports(generator_prior(reg, generator, latent_dim)):
                return Skip(method.unsupported([generator.prior]))
            if isinstance(method, Regularizer) and method.needs_discriminator and not has_realness(reg, generator):
                named = method.name in request.methods and generator.name in request.generators
                return Skip(f"{self.name}: {method.name} reads a discriminator's realness, and generator "
                            f"{generator.name} has no D (or no family whose losses read it)", refuse=named)
            return None

        axes = [Axis("dataset", lambda p: [d for d in planned_datasets(request, self.datasets[request.profile])
                                           if self.accepts(reg.get("datasets", d))]),
                Axis("generator", lambda p: candidates(p["dataset"])),
                Axis("method", lambda p: methods),
                Axis("seed", lambda p: planned_seeds(request, p["dataset"])),
                Axis("hparams", lambda p: self.grid(p["method"], request))]
        protocol = self.profiles_settings[request.profile]["protocol"]
        settings: dict[tuple, dict] = {}

        def cell(p: dict) -> dict:
            generator, key = p["generator"], (p["dataset"], p["generator"], p["seed"])
            if key not in settings:
                settings[key] = {**self.artifact_settings(request, p["dataset"], generator, p["seed"]), **protocol}
            return cell_config(request, self, dataset=p["dataset"], family=generator.name, prior=generator.prior,
                               method=p["method"].name, hparams=p["hparams"], seed=p["seed"], settings=settings[key],
                               plugins={"dataset": reg.get("datasets", p["dataset"]), generator.role: generator.plugin,
                                        "method": p["method"]})

        def label(p: dict, n: int) -> str:
            return (f"{self.name} {p['dataset']} {p['generator'].name} {p['generator'].prior} {p['method'].name} "
                    f"seed={p['seed']} ({n} cell{'' if n == 1 else 's'})")

        return jobs(self, request, expand(axes, skip), ("dataset", "generator", "method", "seed"), cell, label)

    # -- computing --------------------------------------------------------------------------
    def targets(self, cfg: dict, gan: TrainedGAN, env: Environment) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(targets [N, ...], what scoring compares against, init [N, d] or None for zeros)."""
        raise NotImplementedError

    def score(self, cell: Cell, z: torch.Tensor, diff: torch.Tensor, truth: torch.Tensor, gan: TrainedGAN,
              env: Environment) -> CellOutcome:
        """A cell's metrics from its recovered latents z [N, d] and their final reconstruction losses."""
        raise NotImplementedError

    def run(self, job: Job, env: Environment) -> list[CellOutcome]:
        cfg = job.cells[0].config
        s = cfg["settings"]
        method = env.registry.method(cfg["method"])
        gan = env.gan(s["gan"])
        targets, truth, init = self.targets(cfg, gan, env)
        realness = None
        if isinstance(method, Regularizer) and method.needs_discriminator and "realness" in gan.family.capabilities:
            realness = lambda x: gan.family.realness(gan.nets, x)  # noqa: E731
        with frozen(gan.nets):
            result = recover(gan.nets["G"], targets.to(env.device), gan.prior, method, [c.config["hparams"] for c in job.cells],
                             steps=s["steps"], init=init, latent_dim=gan.latent_dim, diff=s["diff"], realness=realness,
                             seed=derive_seed(cfg["seed"], "recovery"), desc=job.label)
        generator = describe_generator(gan, env, cfg["dataset"])  # with its check, once per job
        outcomes = []
        for h, cell in enumerate(job.cells):
            bad = result.diverged_at[h]
            if bool((bad > 0).any()):
                first = int(bad[bad > 0].min())
                outcomes.append(CellOutcome(error=f"recovery diverged to non-finite values at step {first} "
                                                  f"for {int((bad > 0).sum())} of {bad.numel()} latents"))
                continue
            with torch.no_grad():
                outcome = self.score(cell, result.z[h], result.diff[h], truth, gan, env)
            if outcome.error is None:
                outcome.artifacts = {**outcome.artifacts, "generator": generator}
            outcomes.append(outcome)
        return outcomes

    # -- pages ------------------------------------------------------------------------------
    def protocol(self, results: list[dict]) -> list[str]:
        """The cited protocol, what the results' configs say was run, how it departs from the paper, what a seed sets."""
        items = protocol_items(self.source, results, self.protocol_fields)
        if not results:
            return items
        items += [f"differs from the paper: {self.deviations}", f"seeds: {SEEDS_TEXT}{self.seeds_note}"]
        if any(is_pretrained(r["config"]) for r in results):
            items.append("rows marked `(pretrained)` come from generators trained elsewhere (named under the table), not "
                         "the one described here, and never trained by lvrbench: for them a seed sets only the evaluated "
                         "items and the recovery's random draws")
        return items

    @staticmethod
    def config_problems(result: dict, n_path: str, minimum: int) -> list[str]:
        """The fields both pages read, and the count of items (at `n_path`, at least `minimum`) their lists must hold."""
        fields = CONFIG_FIELDS if not is_pretrained(result.get("config", {})) else {
            **{k: v for k, v in CONFIG_FIELDS.items() if not k.startswith("config.settings.gan.")}, **SPEC_FIELDS}
        problems = check_fields(result, {**fields, n_path: int})
        if not problems:
            n = result["config"]["settings"][n_path.rsplit(".", 1)[1]]
            if n < minimum:
                problems.append(f"{n_path} must be at least {minimum}")
        return problems


def item_key(config: dict) -> str:
    """Everything that decides which items (images, latents) a cell is evaluated on: its config but the method, the
    grid row and the code's revisions. Bootstraps are seeded by it (`items_generator`), so cells on the same items share
    their draws, whatever code computed them."""
    return canonical_json(_without_code({k: v for k, v in config.items() if k not in ("method", "hparams")}))


def _without_code(value: object) -> object:
    """`value` without any "code" key at any depth: the revisions, which decide no item."""
    if isinstance(value, dict):
        return {k: _without_code(v) for k, v in value.items() if k != "code"}
    return [_without_code(v) for v in value] if isinstance(value, list) else value


def setting_key(config: dict) -> str:
    """`item_key` without the seeds: the cells of one protocol, whose seeds aggregate."""
    return item_key(seedless(config))


def per_item_problem(values: object, n: int, name: str, binary: bool = False) -> str | None:
    """Why `values` is not n per-item outcomes (0/1 integers when `binary`, else non-negative numbers), or None."""
    if not isinstance(values, list) or len(values) != n:
        return f"{name} must hold {n} values, one per item"
    if binary:
        return None if all(type(v) is int and v in (0, 1) for v in values) else f"{name} must hold only 0 and 1"
    return None if all(is_number(v) and v >= 0 for v in values) else f"{name} must hold non-negative numbers"


#: Random half-splits per network in a cross-fitted score, and bootstrap replicates of the whole procedure in a
#: network's own (evaluation) interval.
N_SPLITS, N_BOOT = 20, 200


def candidate(hparams: dict) -> bool:
    """Whether a grid cell is the method's own: a regularizer's weight 0 is `none`, never its best cell."""
    return hparams.get("weight", 1.0) != 0


class BestCells:
    """Each method's best grid cell, chosen and scored on disjoint items, on every network of one protocol.

    `rows`: the results of one protocol (dataset, generator, prior, items) for every method and seed; `outcome`: the
    per-item list in `extra` they are scored by ("correct", 0/1, higher is better; "errors", lower is better). Per
    seed, a method's candidates (`candidate`: its weights > 0) are split at random into halves of the items, the best
    on each half is scored on the other, over N_SPLITS splits (`inference.crossfit_point`): choosing the best of m
    cells and scoring it on the same items inflates it by itself (+0.08 for the best of 12 equal cells at 64 images).
    Every method on a network uses the same splits (one seed per network and outcome), so a difference of two
    methods' scores is their cross-fitted paired difference, and seeds aggregate it as networks."""

    def __init__(self, rows: list[dict], outcome: str, lower_is_better: bool = False, n_splits: int = N_SPLITS,
                 n_boot: int = N_BOOT):
        self.outcome, self.lower_is_better, self.n_splits, self.n_boot = outcome, lower_is_better, n_splits, n_boot
        self.nets: dict[int, dict] = {}
        for (seed,), members in group(rows, lambda r: (r["config"]["seed"],)).items():
            members.sort(key=lambda r: (r["config"]["method"], sorted(r["config"]["hparams"].items())))
            rows_of: dict[str, list[int]] = {}
            for i, r in enumerate(members):
                if candidate(r["config"]["hparams"]):
                    rows_of.setdefault(r["config"]["method"], []).append(i)
            self.nets[seed] = {"cells": members, "rows": rows_of,
                               "y": np.array([r["extra"][outcome] for r in members], dtype=np.float64),
                               "seed": derive_seed("crossfit", item_key(members[0]["config"]), outcome, n_splits)}
        self._scores: dict[str, dict[int, float]] = {}
        self._evaluations: dict[tuple, dict[int, dict]] = {}

    def methods(self) -> list[str]:
        """The methods with a cell of their own on some network, in name order."""
        return sorted({m for net in self.nets.values() for m in net["rows"]})

    def without_own_cells(self) -> list[str]:
        """The methods whose every cell has weight 0 (`none`'s): they have no best cell of their own."""
        return sorted({r["config"]["method"] for net in self.nets.values() for r in net["cells"]} - set(self.methods()))

    def note(self) -> list[str]:
        """The sentence a ranking adds for methods without a cell of their own ([] when none)."""
        if not (methods := self.without_own_cells()):
            return []
        return ["", f"Not ranked: {', '.join(methods)} (every cell at weight 0, which is `none`: no cell of its own)."]

    def score(self, method: str) -> dict[int, float]:
        """Per seed holding the method, its cross-fitted score (mean accuracy, mean error)."""
        if method not in self._scores:
            self._scores[method] = {
                seed: crossfit_point(net["y"][net["rows"][method]], list(range(len(net["rows"][method]))), net["seed"],
                                     n_splits=self.n_splits, lower_is_better=self.lower_is_better)
                for seed, net in self.nets.items() if method in net["rows"]}
        return self._scores[method]

    def difference(self, a: str, b: str) -> dict[int, float]:
        """Per seed holding both, a's cross-fitted score minus b's on the same items and splits."""
        first, second = self.score(a), self.score(b)
        return {s: first[s] - second[s] for s in first if s in second}

    def evaluation(self, method: str, baseline: str | None = None) -> dict[int, dict]:
        """Per seed, one network's estimate of the method's score (minus the baseline's) with a bootstrap interval
        of the whole select-then-score procedure over its items (`inference.crossfit`): its evaluation noise, what
        a page shows beside the interval over seeds, never a verdict's."""
        if (method, baseline) in self._evaluations:
            return self._evaluations[(method, baseline)]
        out = self._evaluations[(method, baseline)] = {}
        for seed, net in self.nets.items():
            if method not in net["rows"] or (baseline is not None and baseline not in net["rows"]):
                continue
            ours = net["rows"][method]
            theirs = [] if baseline is None else net["rows"][baseline]
            y = net["y"][ours + theirs]
            est, _ = crossfit([y], list(range(len(ours))), net["seed"], n_splits=self.n_splits, n_boot=self.n_boot,
                              over_seeds="bootstrap", lower_is_better=self.lower_is_better,
                              baseline=None if baseline is None else list(range(len(ours), len(ours) + len(theirs))))
            out[seed] = est
        return out

    def comparisons(self, pairs: list[tuple[str, str]], paper: dict[str, float]) -> list[headlines.Builder]:
        """A claim's comparisons "a better than b" for each pair both hold on some network: the per-seed cross-fitted
        differences a - b aggregated over seeds (`headlines.within`), the paper's effect from its numbers `paper`
        (on our scale) where it has both; against `none`, each network's own evaluation interval is its display
        and its noise (what the pages' tables show)."""
        def one(a: str, b: str) -> headlines.Builder:
            diffs = self.difference(a, b)
            effect = paper[a] - paper[b] if a in paper and b in paper else None
            evaluated = self.evaluation(a, b) if b == "none" else {}
            display = headlines.one_network(next(iter(evaluated.values()), None), next(iter(diffs.values()), 0.0))
            seeds = sorted(diffs)
            noise = [headlines.evaluation_variance(evaluated[s]) for s in seeds] if set(seeds) <= set(evaluated) else None
            return lambda level: headlines.within(f"{a} − {b}", [diffs[s] for s in seeds], level,
                                                  lower_is_better=self.lower_is_better, paper=effect, noise=noise,
                                                  display=display)
        return [one(a, b) for a, b in pairs if self.difference(a, b)]

    def best(self, method: str) -> dict[int, dict]:
        """Per seed, the hyper-parameters of the method's best cell on all the network's items (what one would use;
        the cross-fitted score never reads it)."""
        out = {}
        for seed, net in self.nets.items():
            if method in net["rows"]:
                rows = net["rows"][method]
                means = net["y"][rows].mean(axis=1)
                pick = int(np.argmin(means) if self.lower_is_better else np.argmax(means))  # the first of ties
                out[seed] = net["cells"][rows[pick]]["config"]["hparams"]
        return out

    def cell(self, seed: int, method: str, hparams: dict) -> dict | None:
        """The result of one cell of a network."""
        return next((r for r in self.nets.get(seed, {}).get("cells", []) if r["config"]["method"] == method
                     and r["config"]["hparams"] == hparams), None)

    def chosen_text(self, method: str) -> str:
        """The best cells on all items, one text when every seed chose the same."""
        texts = {seed: hparams_text(h) for seed, h in self.best(method).items()}
        if len(set(texts.values())) <= 1:
            return next(iter(texts.values()), "-")
        return "; ".join(f"seed {seed}: {t}" for seed, t in texts.items())


def study_page(intro: str, studies: list[dict], ranking: Callable[[dict], list[str]],
               claims: Callable[[dict], list], details: list[str], title: str,
               per_study: Callable[[dict], list[str]]) -> list[str]:
    """A recovery page's skeleton: "## Ranking" (`intro`, then each study's (protocol's) `ranking`), the papers'
    `claims` on every study beside ours, then "## Details" (`details`, then each study's `per_study` under
    "### `title`: where")."""
    out = ["## Ranking", "", intro, ""]
    for study in studies:
        out += [f"### {study['where']}", "", *ranking(study), ""]
    out += headlines.section([h for study in studies for h in claims(study)])
    out += ["## Details", "", *details]
    for study in studies:
        out += [f"### {title}: {study['where']}", "", *per_study(study), ""]
    return out


def grid_section(rows: list[dict], metric: str, page, name: str, title: str, limits: tuple[float, float]) -> list[str]:
    """A heatmap (coloured on the metric's scale `limits`) and a table of one method's grid: lr down, the other
    parameters across."""
    cells = group(rows, without_seed)
    lrs = sorted({r[0]["config"]["hparams"]["lr"] for r in cells.values()})
    cols = sorted({hparams_text(r[0]["config"]["hparams"], ("lr",)) for r in cells.values()},
                  key=lambda t: [float(x.split("=")[1]) for x in t.split(", ")] if t != "-" else [])
    values = np.full((len(lrs), len(cols)), np.nan)
    text = [[number_text(lr)] + [""] * len(cols) for lr in lrs]
    for members in cells.values():
        hp = members[0]["config"]["hparams"]
        i, j = lrs.index(hp["lr"]), cols.index(hparams_text(hp, ("lr",)))
        values[i, j] = mean_over_seeds([m["metrics"][metric] for m in members])
        text[i][j + 1] = summarize([m["metrics"][metric] for m in members], bounds=limits)
    figure = page.figure(name, lambda path: heatmap(values, [number_text(lr) for lr in lrs], cols, path, title, "lr",
                                                    "parameters", limits))
    return [f"![{inert(title)}]({figure})", "", table(text, ["lr \\ params"] + cols), ""]
