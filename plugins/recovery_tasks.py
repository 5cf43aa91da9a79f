"""The latent recovery tasks: `recovery-real` (paper 000) and `recovery-synthetic` (paper 001).

Each job is one method's whole hyper-parameter grid on one dataset, family, prior and seed,
computed as a single batched optimisation by `lvrbench.recovery.recover`; each grid row is a cell.
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from lvrbench import hookimpl
from lvrbench.errors import UsageError
from lvrbench.figures import heatmap
from lvrbench.env import (RunEnv, TrainedGAN, evaluator_spec, gan_spec, generator_axes, generator_prior, planned_datasets,
                          planned_seeds)
from lvrbench.harness import Cell, CellOutcome, Job, PlanRequest, make_config
from lvrbench.hashing import canonical_json, derive_seed
from lvrbench.kinds import RECOVERY_KINDS, Method, Regularizer, Task
from lvrbench.leaderboard import (count_text, evaluator_lines, fmt_number, group, hparams_text, mean_over_seeds, number_text,
                                  protocol_text, seedless, summarize, table, without_seed)
from lvrbench.metrics import (bootstrap_mean, items_generator, paired_mean_difference, paired_proportion_difference,
                              proportion)
from lvrbench.pretrained import SPEC_FIELDS, family_of, generator_label, is_pretrained, pretrained_lines
from lvrbench.progress import count
from lvrbench.recovery import frozen, recover, validate_grid
from lvrbench.results import METRIC, check_fields, is_number

from . import orderings
from .family_tasks import generator_config
from .protocols import CLASSIFIER_TRAINING, GAN_TRAINING, SEEDS

PAPER_LRS = (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0)
#: What a seed sets, and so what `± sd (k seeds)` on a recovery page covers.
SEEDS_TEXT = ("A seed sets the generator's training (its initialisation and batches), the evaluated items and the "
              "recovery's random draws, so `± sd (k seeds)` covers the variance of all three")
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
    #: Per profile: "protocol" (part of every cell's identity) and the grid ("lrs", "grids").
    profiles_settings: dict[str, dict]
    #: How lvrbench's protocol departs from the paper's, beyond the numbers the configs state (the protocol line).
    deviations: str = ""
    #: What the seeds leave fixed, appended to SEEDS_TEXT.
    seeds_note: str = ""

    # -- planning ---------------------------------------------------------------------------
    def method_names(self, registry) -> set[str]:
        return {name for kind in RECOVERY_KINDS for name in registry.names(kind)}

    def selected_methods(self, request: PlanRequest) -> list[Method]:
        """The methods --method names that this task runs, or every registered one."""
        reg = request.registry
        if request.methods:
            return [reg.method(m) for m in request.methods if m in self.method_names(reg)]
        return [e.obj for kind in RECOVERY_KINDS for e in reg.entries(kind)]

    def artifact_settings(self, request: PlanRequest, dataset: str, family: str, prior: str, seed: int) -> dict:
        """The cell settings naming the trained networks this protocol uses (their full identities).

        The generator is trained with the cell's seed, so the seed axis covers the training's variance (a pretrained
        generator's weights are its own: there the seed sets only the items and the recovery's draws).
        """
        return {"gan": gan_spec(request, generator_config(request, dataset, family, prior, seed))}

    def grid(self, method: Method, request: PlanRequest) -> list[dict[str, float]]:
        """The cartesian grid of lr x the method's parameters; overrides and profile grids replace axes."""
        settings = self.profiles_settings[request.profile]
        axes = {"lr": tuple(request.overrides.get("lr", settings["lrs"]))}
        for p in method.params:
            axes[p.name] = tuple(request.overrides.get(p.name) or settings.get("grids", {}).get(p.name) or p.grid)
        rows = [dict(zip(axes, values)) for values in itertools.product(*axes.values())]
        validate_grid(method, rows)
        return rows

    def parameters(self, request: PlanRequest) -> set[str]:
        return {"lr"} | {p.name for m in self.selected_methods(request) for p in m.params}

    def plan(self, request: PlanRequest) -> list[Job]:
        reg = request.registry
        methods = self.selected_methods(request)
        priors = request.priors or self.priors
        latent_dim = GAN_TRAINING["image"][request.profile]["latent_dim"]
        families, generators = generator_axes(request, self.families)
        pretrained = [reg.get("generators", g) for g in generators]
        pretrained = [g for g in pretrained if not request.priors or g.prior in request.priors]
        if request.methods and (request.priors or request.families or request.generators):
            for m in methods:
                made = [generator_prior(reg, f, p, latent_dim) for f in families
                        for p in priors if p in reg.get("families", f).priors]
                made += [generator_prior(reg, g.name, g.prior, g.latent_dim) for g in pretrained]
                if not any(m.supports(g) for g in made):
                    raise UsageError(m.unsupported(sorted({g.kind for g in made}) or priors))
        protocol = self.profiles_settings[request.profile]["protocol"]
        jobs = []
        for dataset in planned_datasets(request, self.datasets[request.profile]):
            data = reg.get("datasets", dataset)
            if data.modality != "image" or not data.num_classes:
                continue  # recovery needs labelled images
            choices = []  # (the cell's family: a family or a pretrained generator, prior, its plugin)
            for family_name in families:
                family = reg.get("families", family_name)
                choices += [(family_name, prior, {"family": family}) for prior in priors if prior in family.priors]
            choices += [(g.name, g.prior, {"generator": g}) for g in pretrained if g.dataset == dataset]
            seeds = planned_seeds(request, SEEDS.get(request.profile, {}).get(dataset, ()))
            for (family_name, prior, plugin), method, seed in itertools.product(choices, methods, seeds):
                if not method.supports(generator_prior(reg, family_name, prior, latent_dim)):
                    continue
                if isinstance(method, Regularizer) and method.needs_discriminator and not has_realness(reg, family_name):
                    if method.name in request.methods and family_name in request.generators:
                        raise UsageError(f"{self.name}: {method.name} reads a discriminator's realness, and generator "
                                         f"{family_name} has no D (or no family whose losses read it)")
                    continue
                settings = {**self.artifact_settings(request, dataset, family_name, prior, seed), **protocol}
                cells = [Cell(make_config(request, self, dataset=dataset, family=family_name, prior=prior,
                                          method=method.name, hparams=row, seed=seed, settings=settings,
                                          plugins={"dataset": data, **plugin, "method": method}))
                         for row in self.grid(method, request)]
                label = f"{self.name} {dataset} {family_name} {prior} {method.name} seed={seed} ({count(len(cells), 'cell')})"
                jobs.append(Job(self.name, label, cells))
        return jobs

    # -- computing --------------------------------------------------------------------------
    def targets(self, cfg: dict, gan: TrainedGAN, env: RunEnv) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """(targets [N, ...], what scoring compares against, init [N, d] or None for zeros)."""
        raise NotImplementedError

    def score(self, cell: Cell, z: torch.Tensor, diff: torch.Tensor, truth: torch.Tensor, gan: TrainedGAN,
              env: RunEnv) -> CellOutcome:
        """A cell's metrics from its recovered latents z [N, d] and their final reconstruction losses."""
        raise NotImplementedError

    def run(self, job: Job, env: RunEnv) -> list[CellOutcome]:
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
        outcomes = []
        for h, cell in enumerate(job.cells):
            bad = result.diverged_at[h]
            if bool((bad > 0).any()):
                first = int(bad[bad > 0].min())
                outcomes.append(CellOutcome(error=f"recovery diverged to non-finite values at step {first} "
                                                  f"for {int((bad > 0).sum())} of {bad.numel()} latents"))
                continue
            with torch.no_grad():
                outcomes.append(self.score(cell, result.z[h], result.diff[h], truth, gan, env))
        return outcomes

    # -- pages ------------------------------------------------------------------------------
    def protocol(self, results: list[dict]) -> str:
        """The cited protocol, what the results' configs say was run, and what `±` covers."""
        line = protocol_text(self.source, results, self.protocol_fields)
        if not results:
            return line
        pretrained = (". Rows marked `(pretrained)` come from generators trained elsewhere (named under the table), not "
                      "the one described here, and never trained by lvrbench: for them a seed sets only the evaluated "
                      "items and the recovery's random draws" if any(is_pretrained(r["config"]) for r in results) else "")
        return f"{line}. {self.deviations}. {SEEDS_TEXT}{self.seeds_note}{pretrained}"

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


def has_realness(registry, name: str) -> bool:
    """Whether the family, or pretrained generator, `name` gives the per-sample realness of its discriminator."""
    if name in registry.names("generators"):
        return "realness" in family_of(registry, registry.get("generators", name)).capabilities
    return "realness" in registry.get("families", name).capabilities


def item_key(config: dict) -> str:
    """Everything that decides which items (images, latents) a cell is evaluated on: its config but the method and
    grid row. Bootstraps are seeded by it (`items_generator`), so cells on the same items share their draws."""
    plugins = {k: v for k, v in config["plugins"].items() if k != "method"}
    rest = {k: v for k, v in config.items() if k not in ("method", "hparams", "plugins")}
    return canonical_json([rest, plugins])


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


def crossfit(select: list[np.ndarray]) -> np.ndarray:
    """For each item, the index of the cell whose outcome it reports: the best cell on the other half of the items.

    Choosing the best of m cells and scoring it on the same items inflates its score by itself (at 64
    images and an equal true accuracy of 0.8: +0.042 for 3 cells, +0.079 for 12); here each item's outcome comes
    from a cell chosen without it. Halves: the first n // 2 items and the rest; ties go to the first cell.
    """
    scores = np.stack(select)
    n = scores.shape[1]
    first = np.arange(n) < n // 2
    choice = np.empty(n, dtype=int)
    for report in (first, ~first):
        choice[report] = int(np.argmax(scores[:, ~report].mean(axis=1)))  # argmax: the first of equal maxima
    return choice


def picked(values: list[np.ndarray], choice: np.ndarray) -> np.ndarray:
    """Each item's value from the cell `choice` names for it."""
    return np.stack(values)[choice, np.arange(choice.size)]


class RecoveryReal(RecoveryTask):
    """Recover latents of real test images; score by the evaluator's accuracy on G(z) (paper 000)."""

    name = "recovery-real"
    source = ("paper 000 §2 (an LSGAN generator with an N(0,1) or U(-1,1) prior, recovery from zeros with the L1 "
              "difference and Adam, scored by a classifier's accuracy on G(z); Tables 2-12)")
    protocol_fields = (("family", "settings.gan.family"), ("pretrained generator", "settings.gan.pretrained"),
                       ("architecture", "settings.gan.arch"),
                       ("d_z", "settings.gan.latent_dim"), ("GAN epochs", "settings.gan.train.epochs"),
                       ("classifier epochs", "settings.evaluator.epochs"), ("test images per seed", "settings.n_images"),
                       ("steps", "settings.steps"), ("init", "settings.init"), ("difference", "settings.diff"),
                       ("seeds", "seed"))
    deviations = ("The architecture is lvrbench's (paper 000 names none); paper 000 trains on MNIST for 200 epochs "
                  "with d_z = 256 and reports 1000 test images on a grid of 7 learning rates x 8 weights")
    seeds_note = "; the classifier is trained once per dataset and is the same for every seed"
    profiles_settings = {
        "quick": {"protocol": {"n_images": 64, "steps": 100, "init": "zeros", "diff": "l1"},
                  "lrs": (0.01, 0.032, 0.1), "grids": {"weight": (0.0, 0.1, 1.0, 3.2)}},
        "standard": {"protocol": {"n_images": 500, "steps": 100, "init": "zeros", "diff": "l1"}, "lrs": PAPER_LRS},
        "full": {"protocol": {"n_images": 1000, "steps": 100, "init": "zeros", "diff": "l1"}, "lrs": PAPER_LRS},
    }

    def artifact_settings(self, request, dataset, family, prior, seed):
        evaluator = evaluator_spec(request, dataset, CLASSIFIER_TRAINING[request.profile])
        return {**super().artifact_settings(request, dataset, family, prior, seed), "evaluator": evaluator}

    def validate(self, result):
        problems = check_fields(result, {"metrics.accuracy": METRIC, "metrics.l1": METRIC, "extra.correct": list,
                                         "extra.l1": list, "artifacts.evaluator.key": str,
                                         "artifacts.evaluator.test_accuracy": METRIC})
        problems += self.config_problems(result, "config.settings.n_images", 2)
        if problems:
            return problems
        n, extra = result["config"]["settings"]["n_images"], result["extra"]
        problems = [p for p in (per_item_problem(extra["correct"], n, "extra.correct", binary=True),
                                per_item_problem(extra["l1"], n, "extra.l1")) if p]
        accuracy = result["metrics"]["accuracy"]
        if not problems and (accuracy["value"] != sum(extra["correct"]) / n or accuracy["n"] != n):
            problems.append("metrics.accuracy does not match extra.correct")
        return problems

    def targets(self, cfg: dict, gan: TrainedGAN, env: RunEnv) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x, y = env.split(cfg["dataset"], "test")
        pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(derive_seed(cfg["seed"], "images")))
        pick = pick[: cfg["settings"]["n_images"]]
        return x[pick], y[pick], None

    def score(self, cell: Cell, z: torch.Tensor, diff: torch.Tensor, labels: torch.Tensor, gan: TrainedGAN,
              env: RunEnv) -> CellOutcome:
        s = cell.config["settings"]
        evaluator = env.evaluator(s["evaluator"])
        correct = (evaluator.predict(gan.nets["G"](z)).cpu() == labels.cpu()).long()
        l1 = diff.double().cpu()
        boot = items_generator(item_key(cell.config))
        return CellOutcome(
            metrics={"accuracy": proportion(correct).to_dict(), "l1": bootstrap_mean(l1, boot).to_dict()},
            extra={"correct": correct.tolist(), "l1": l1.tolist()},
            artifacts={"generator": gan.describe(), "evaluator": evaluator.describe()},
        )

    def render(self, results, page):
        protocols = group(results, lambda r: tuple(r["config"][k] for k in ("dataset", "family", "prior"))
                          + (setting_key(r["config"]),))
        best_rows, claims = [], []
        for (dataset, family, prior, _), rows in protocols.items():
            none = best_cells([r for r in rows if r["config"]["method"] == "none"])
            bests = {}
            for method, cells in group(rows, lambda r: (r["config"]["method"],)).items():
                best = bests[method[0]] = best_cells(cells)
                best_rows.append(((dataset, family, prior, -crossfit_accuracy(best), method[0]),
                                  [dataset, generator_label(rows[0]["config"]), prior, method[0], chosen_text(best),
                                   count_text([(int(b["correct"].sum()), b["correct"].size) for b in best.values()], 3, 1.0),
                                   difference_text(best, none, method[0], "correct"),
                                   summarize([b["l1_estimate"] for b in best.values()]),
                                   difference_text(best, none, method[0], "l1")]))
            claims += paper_000_headlines(f"{dataset} / {generator_label(rows[0]['config'])}", prior, bests)
        best_rows = [row for _, row in sorted(best_rows)]
        out = [*orderings.headline_section(claims), "## Best cell per method", "",
               "Each method's best grid cell, chosen without selection bias: a seed's test images are split into two "
               "halves (the first and the last n/2 drawn), and each half is scored with the cell that has the highest "
               "accuracy on the other half, so no image's outcome comes from a cell chosen on it (choosing and scoring "
               "on the same images inflates the best of 12 equally good cells by about 0.08 at 64 images). `chosen "
               "cell` names the cell each half used; a regularizer's cell with weight 0 is `none` itself. Δ vs `none`: "
               "the difference with `none`'s best cell, chosen the same way, on the same images: Newcombe's paired "
               "interval for the accuracy, a paired bootstrap over the images for the L1 difference.", "",
               table(best_rows, ["dataset", "family", "prior", "method", "chosen cell (first half / second half)",
                                 "accuracy ↑", "Δ accuracy vs none ↑", "L1 ↓", "Δ L1 vs none ↓"]), ""]
        out += [*pretrained_lines(results), *evaluator_lines(results), ""]
        out += ["## Grids", "", "Accuracy of every cell: rows are Adam learning rates, columns the method's parameters. "
                "A heatmap shows each cell's point value (its mean over seeds) on one colour scale, accuracy 0 to 1, "
                "for every method; the table under it gives the intervals.", ""]
        grids = group(results, lambda r: tuple(r["config"][k] for k in ("dataset", "family", "prior", "method")))
        for (dataset, family, prior, method), rows in grids.items():
            out += [f"### {dataset} / {family} / {prior} prior / {method}", ""]
            out += grid_section(rows, "accuracy", page, f"{dataset}-{family}-{prior}-{method}",
                                f"{method} ({prior} prior): accuracy", (0.0, 1.0))
        return "\n".join(out)


def best_cells(cells: list[dict]) -> dict[int, dict]:
    """Per seed, a method's cross-fitted best cell: per-image outcomes, the cells each half used, the L1 estimate."""
    out = {}
    for (seed,), members in group(cells, lambda r: (r["config"]["seed"],)).items():
        members.sort(key=lambda r: sorted(r["config"]["hparams"].items()))
        correct = [np.array(r["extra"]["correct"], dtype=float) for r in members]
        choice = crossfit(correct)
        l1 = picked([np.array(r["extra"]["l1"], dtype=float) for r in members], choice)
        boot = items_generator(item_key(members[0]["config"]))
        out[seed] = {"correct": picked(correct, choice), "l1": l1, "config": members[0]["config"],
                     "halves": [members[choice[0]]["config"]["hparams"], members[choice[-1]]["config"]["hparams"]],
                     "l1_estimate": bootstrap_mean(torch.from_numpy(l1), boot).to_dict()}
    return out


#: Paper 000's four statistical distances (§2, Table 1), its best one per prior (§3), and its worst method (§2.2).
PAPER_000_DISTANCES = ("bhattacharyya", "wasserstein", "energy", "lukaszyk-karmowski")
PAPER_000_BEST = {"normal": "bhattacharyya", "uniform": "lukaszyk-karmowski"}
PAPER_000_WORST = "trick-discriminator"
PRIOR_TEXT = {"normal": "N(0, 1)", "uniform": "U(-1, 1)"}


def accuracy_differences(ours: dict[int, dict], theirs: dict[int, dict]) -> list[dict]:
    """Per seed both ran, the paired difference of cross-fitted accuracies (ours minus theirs) on the same images."""
    return [paired_proportion_difference(torch.from_numpy(b["correct"]), torch.from_numpy(theirs[seed]["correct"])).to_dict()
            for seed, b in ours.items() if seed in theirs]


def paper_000_headlines(where: str, prior: str, bests: dict[str, dict[int, dict]]) -> list[str]:
    """Paper 000's headlines on one protocol (dataset, generator, prior), from each method's cross-fitted best cells:
    its best distance beats every other method, every distance beats `none`, and (N(0, 1)) the trick discriminator
    loses to every other method; each comparison paired on the same images."""
    def beats(a: str, b: str) -> orderings.Comparison | None:
        diffs = accuracy_differences(bests[a], bests[b]) if a in bests and b in bests else []
        return orderings.paired(a, b, diffs, False, "accuracy") if diffs else None

    def line(claim: str, pairs: list[tuple[str, str]]) -> str:
        compared = [c for c in (beats(a, b) for a, b in pairs) if c is not None]
        return orderings.headline("paper 000", f"{where}, {PRIOR_TEXT.get(prior, prior)} prior: {claim}", compared)

    out = []
    best = PAPER_000_BEST.get(prior)
    if best in bests:
        out.append(line(f"{best} gives the best accuracy (§3)", [(best, m) for m in sorted(bests) if m != best]))
    distances = [d for d in PAPER_000_DISTANCES if d in bests]
    if distances and "none" in bests:
        out.append(line("every statistical distance beats `none` (§3)", [(d, "none") for d in distances]))
    if prior == "normal" and PAPER_000_WORST in bests:
        out.append(line(f"{PAPER_000_WORST} is the worst method (§2: left out of the U(-1, 1) tables for its low "
                        "performance)",
                        [(m, PAPER_000_WORST) for m in sorted(bests) if m != PAPER_000_WORST]))
    return out


def crossfit_accuracy(best: dict[int, dict]) -> float:
    """The mean over seeds of the cross-fitted accuracy: what orders the best-cell table."""
    return float(np.mean([b["correct"].mean() for b in best.values()]))


def cell_text(hparams: dict) -> str:
    """A chosen cell's hyper-parameters, marked as `none` when it is a regularizer's weight 0."""
    return hparams_text(hparams) + (" (= `none`)" if hparams.get("weight") == 0 else "")


def chosen_text(best: dict[int, dict]) -> str:
    """The cells each half of each seed's images used ("a / b", one text when both halves chose the same cell)."""
    texts = []
    for seed, b in best.items():
        first, second = (cell_text(h) for h in b["halves"])
        text = first if first == second else f"{first} / {second}"
        texts.append(text if len(best) == 1 else f"seed {seed}: {text}")
    return "; ".join(texts)


def difference_text(best: dict[int, dict], none: dict[int, dict], method: str, key: str) -> str:
    """A method's best cell minus `none`'s on the same images, per seed: Newcombe for accuracy, paired bootstrap for L1."""
    if method == "none":
        return "-"
    pairs = [(b, none[seed]) for seed, b in best.items() if seed in none]
    if not pairs:
        return "- (no `none` cells on these images)"
    ours, theirs = ([torch.from_numpy(x[key]) for x, _ in pairs], [torch.from_numpy(y[key]) for _, y in pairs])
    if key == "correct":
        return summarize([paired_proportion_difference(a, b).to_dict() for a, b in zip(ours, theirs)])
    boots = [items_generator(item_key(x["config"])) for x, _ in pairs]
    return summarize([paired_mean_difference(a, b, g).to_dict() for a, b, g in zip(ours, theirs, boots)])


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
        text[i][j + 1] = summarize([m["metrics"][metric] for m in members])
    link = page.figure(name, lambda path: heatmap(values, [number_text(lr) for lr in lrs], cols, path, title, "lr",
                                                  "parameters", limits))
    return [f"![{title}]({link})", "", table(text, ["lr \\ params"] + cols), ""]


THRESHOLDS = (1e-4, 1e-3, 1e-2, 1e-1, 1e0)
#: Errors a and b tie when |a - b| <= TIE_RTOL * max(a, b) + TIE_ATOL. z is float32 (relative precision 6e-8), so
#: two recoveries that differ only by rounding (another device or reduction order) differ by a few parts in a
#: million at most; errors below 1e-12 put every element of both z within about 1e-6 of z_true, float32's
#: resolution near |z| = 1. Within the tolerance the order of two errors is rounding, never a win.
TIE_RTOL, TIE_ATOL = 1e-6, 1e-12
TIE_TEXT = "|a − b| ≤ 1e-6·max(a, b) + 1e-12"


def versus(ours: np.ndarray, theirs: np.ndarray) -> dict[str, np.ndarray]:
    """Per latent against the baseline: win, tie, loss (ties within the stated tolerance), and significant
    (paper 001 §4.2.2: not a tie, and the two errors differ by a factor of 2 or more)."""
    tie = np.abs(ours - theirs) <= TIE_RTOL * np.maximum(ours, theirs) + TIE_ATOL
    return {"win": ~tie & (ours < theirs), "tie": tie, "loss": ~tie & (ours > theirs),
            "decisive": ~tie & ((ours <= theirs / 2) | (ours >= theirs * 2))}


#: Paper 001's resampling criteria (§3.2) and the one with the lowest mean error (Table 1: logistic(2, 2)).
PAPER_001_CRITERIA = ("hard-cutoff", "logistic-cutoff", "truncated-normal-cutoff")
PAPER_001_BEST = "logistic-cutoff"


def best_errors(cells: list[dict]) -> dict[int, dict]:
    """Per seed, a method's cross-fitted best cell by error (`crossfit` on each latent's negated error): the per-latent
    errors, and the config whose items seed the bootstraps."""
    out = {}
    for (seed,), members in group(cells, lambda r: (r["config"]["seed"],)).items():
        members.sort(key=lambda r: sorted(r["config"]["hparams"].items()))
        errors = [np.array(r["extra"]["errors"], dtype=float) for r in members]
        out[seed] = {"errors": picked(errors, crossfit([-e for e in errors])), "config": members[0]["config"]}
    return out


def paper_001_headlines(where: str, rows: list[dict]) -> list[str]:
    """Paper 001's headlines on one protocol (N(0, 1) prior): every criterion beats `disabled` (`none`) and the
    logistic criterion has the lowest mean error, from each method's cross-fitted best cell, paired on the same
    z_true and init."""
    bests = {m: best_errors(cells) for (m,), cells in group(rows, lambda r: (r["config"]["method"],)).items()}

    def beats(a: str, b: str) -> orderings.Comparison | None:
        if a not in bests or b not in bests:
            return None
        diffs = [paired_mean_difference(torch.from_numpy(x["errors"]), torch.from_numpy(bests[b][seed]["errors"]),
                                        items_generator(item_key(x["config"]))).to_dict()
                 for seed, x in bests[a].items() if seed in bests[b]]
        return orderings.paired(a, b, diffs, True, "mean error") if diffs else None

    def line(claim: str, pairs: list[tuple[str, str]]) -> str:
        compared = [c for c in (beats(a, b) for a, b in pairs) if c is not None]
        return orderings.headline("paper 001", f"{where}: {claim}", compared)

    out = []
    criteria = [c for c in PAPER_001_CRITERIA if c in bests]
    if criteria and "none" in bests:
        out.append(line("every resampling criterion beats `disabled` (`none`) on mean error (§4.2.3)",
                        [(c, "none") for c in criteria]))
    if PAPER_001_BEST in bests:
        means = {m: float(np.mean([b["errors"].mean() for b in best.values()])) for m, best in bests.items()}
        lowest = min(sorted(means), key=means.get)
        others = [m for m in (*PAPER_001_CRITERIA, "none") if m in bests and m != PAPER_001_BEST]
        out.append(line(f"{PAPER_001_BEST} has the lowest mean error of the criteria and `disabled` (Table 1: "
                        f"logistic(2, 2) 0.162 against disabled 0.864; lowest of every method here: {lowest}, "
                        f"{fmt_number(means[lowest])})", [(PAPER_001_BEST, m) for m in others]))
    return out


class RecoverySynthetic(RecoveryTask):
    """Recover z_true from x = G(z_true), starting from a random draw; score ||z_true - z||^2 / d (paper 001)."""

    name = "recovery-synthetic"
    source = ("paper 001 §4.2 (z_true from the prior, x = G(z_true), recovery from a random initialisation with the "
              "L2 loss and Adam, error ||z_true - z||^2 / d_z; shares of recoveries under 1e-4..1e0, wins and "
              "significant wins (factor 2) against `none` on the same z_true and seed, mean error; Table 1)")
    protocol_fields = (("family", "settings.gan.family"), ("pretrained generator", "settings.gan.pretrained"),
                       ("architecture", "settings.gan.arch"),
                       ("d_z", "settings.gan.latent_dim"), ("GAN epochs", "settings.gan.train.epochs"),
                       ("latents per seed", "settings.n_latents"), ("steps", "settings.steps"),
                       ("init", "settings.init"), ("difference", "settings.diff"), ("seeds", "seed"))
    deviations = ("Where this differs from paper 001: its generator is a DCGAN trained with soft labels (d_z = 100, "
                  "20 epochs on Yelp food photos); here it is recovery-real's generator (paper 000's LSGAN loss, on "
                  "the dataset above). Paper 001 runs 20 000 steps on 100 latents and states no learning rate; the "
                  "learning rate here is lvrbench's choice, the one in the grid")
    profiles_settings = {
        "quick": {"protocol": {"n_latents": 32, "steps": 500, "init": "prior", "diff": "l2"},
                  "lrs": (0.2,), "grids": {"weight": (0.01, 0.1, 1.0)}},
        "standard": {"protocol": {"n_latents": 100, "steps": 2000, "init": "prior", "diff": "l2"},
                     "lrs": (0.05,), "grids": {"weight": (0.01, 0.1, 1.0)}},
        "full": {"protocol": {"n_latents": 100, "steps": 20000, "init": "prior", "diff": "l2"},
                 "lrs": (0.01,), "grids": {"weight": (0.01, 0.032, 0.1, 0.32, 1.0, 3.2, 10.0)}},
    }

    def targets(self, cfg: dict, gan: TrainedGAN, env: RunEnv) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        n = cfg["settings"]["n_latents"]
        with torch.no_grad():  # a learned prior's draws would otherwise carry its graph
            z_true = gan.prior.sample(n, torch.Generator().manual_seed(derive_seed(cfg["seed"], "z-true")))
            init = gan.prior.sample(n, torch.Generator().manual_seed(derive_seed(cfg["seed"], "init")))
            x = gan.nets["G"](z_true.to(env.device)).cpu()
        return x, z_true, init

    def score(self, cell: Cell, z: torch.Tensor, diff: torch.Tensor, z_true: torch.Tensor, gan: TrainedGAN,
              env: RunEnv) -> CellOutcome:
        errors = (z.double().cpu() - z_true.double()).square().mean(-1)
        metrics = {"mean_error": bootstrap_mean(errors, items_generator(item_key(cell.config))).to_dict()}
        for t in THRESHOLDS:
            metrics[f"under_{t:g}"] = proportion(errors < t).to_dict()
        return CellOutcome(metrics=metrics, extra={"errors": errors.tolist()}, artifacts={"generator": gan.describe()})

    def validate(self, result):
        fields = {("metrics", f"under_{t:g}"): METRIC for t in THRESHOLDS}
        problems = check_fields(result, {"metrics.mean_error": METRIC, "extra.errors": list, **fields})
        problems += self.config_problems(result, "config.settings.n_latents", 1)
        if not problems and (bad := per_item_problem(result["extra"]["errors"], result["config"]["settings"]["n_latents"],
                                                    "extra.errors")):
            problems.append(bad)
        return problems

    def render(self, results, page):
        baseline = {self._pair_key(r): r for r in results if r["config"]["method"] == "none"}
        rows = []
        groups = sorted(group(results, without_seed).values(),
                        key=lambda g: tuple(g[0]["config"][k] for k in ("dataset", "family", "prior", "method"))
                        + tuple(sorted(g[0]["config"]["hparams"].items())))
        for cells in groups:
            c = cells[0]["config"]
            counts: dict[str, list[tuple[int, int]]] = {"win": [], "tie": [], "loss": [], "significant": []}
            differences = []
            for r in cells:
                base = baseline.get(self._pair_key(r))
                if base is None or base is r:
                    continue
                ours, theirs = np.array(r["extra"]["errors"]), np.array(base["extra"]["errors"])
                v = versus(ours, theirs)
                for key in ("win", "tie", "loss"):
                    counts[key].append((int(v[key].sum()), ours.size))
                counts["significant"].append((int((v["decisive"] & v["win"]).sum()), int(v["decisive"].sum())))
                differences.append(paired_mean_difference(torch.from_numpy(ours), torch.from_numpy(theirs),
                                                          items_generator(item_key(r["config"]))).to_dict())
            m = [r["metrics"] for r in cells]
            compared = [count_text(counts[key]) if counts[key] else "-" for key in ("win", "tie", "loss", "significant")]
            rows.append([c["dataset"], generator_label(c), c["prior"], c["method"], hparams_text(c["hparams"]),
                         *[summarize([x[f"under_{t:g}"] for x in m], 3, 100) for t in THRESHOLDS], *compared,
                         summarize([x["mean_error"] for x in m], 3), summarize(differences, 3) if differences else "-"])
        headers = ["dataset", "family", "prior", "method", "params", *[f"% < {t:g}" for t in THRESHOLDS],
                   "% wins (k/n)", "% ties", "% losses", "% sig. wins (k/m decisive)", "mean error ↓",
                   "Δ mean error vs none ↓"]
        claims = [line for (dataset, family, prior, _), rows in group(
                      results, lambda r: tuple(r["config"][k] for k in ("dataset", "family", "prior"))
                      + (setting_key(r["config"]),)).items() if prior == "normal"
                  for line in paper_001_headlines(f"{dataset} / {generator_label(rows[0]['config'])}", rows)]
        return "\n".join([
            *orderings.headline_section(claims),
            "## Recoveries", "",
            "Percentages of latents recovered with error under each threshold. Wins, ties and losses: the share of "
            "latents where the method's error is below, equal to or above `none`'s on the same z_true, init, seed "
            f"and learning rate; two errors a and b tie when {TIE_TEXT}, so rounding never counts as a win (a "
            "resampler that never fired ties). Significant wins: of the m latents where the two are no tie and "
            "differ by a factor of 2 or more, the k where the method is the better one (paper 001 §4.2.2). Each "
            "share has its Wilson interval. Δ mean error: the method's mean error minus `none`'s on the same "
            "latents, with a paired bootstrap interval.", "",
            table(rows, headers), "", *pretrained_lines(results)])

    @staticmethod
    def _pair_key(r: dict) -> str:
        """Everything a method's cell shares with the `none` cell it is compared with: its items and learning rate."""
        return canonical_json([item_key(r["config"]), r["config"]["hparams"].get("lr")])


@hookimpl
def lvrbench_tasks():
    return [RecoveryReal(), RecoverySynthetic()]
