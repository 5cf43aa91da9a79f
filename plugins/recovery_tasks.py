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
from lvrbench.env import RunEnv, TrainedGAN, evaluator_spec, gan_spec, generator_prior
from lvrbench.harness import Cell, CellOutcome, Job, PlanRequest, make_config
from lvrbench.hashing import canonical_json, derive_seed
from lvrbench.kinds import RECOVERY_KINDS, Method, Regularizer, Task
from lvrbench.leaderboard import (evaluator_lines, group, hparams_text, mean_over_seeds, number_text, summarize, table,
                                  without_seed)
from lvrbench.metrics import bootstrap_mean
from lvrbench.progress import count
from lvrbench.recovery import frozen, recover, validate_grid
from lvrbench.results import METRIC, check_fields

from .protocols import CLASSIFIER_TRAINING, GAN_TRAINING, gan_config

PAPER_LRS = (0.001, 0.0032, 0.01, 0.032, 0.1, 0.32, 1.0)


class RecoveryTask(Task):
    """What both recovery protocols share: planning the grid, running the engine, failing diverged cells."""

    datasets: dict[str, tuple[str, ...]] = {"quick": ("fashion-mnist",), "full": ("mnist",)}
    families: tuple[str, ...] = ("lsgan",)
    priors: tuple[str, ...] = ("normal", "uniform")
    #: Per profile: "protocol" (part of every cell's identity) and the grid ("lrs", "grids").
    profiles_settings: dict[str, dict]

    # -- planning ---------------------------------------------------------------------------
    def method_names(self, registry) -> set[str]:
        return {name for kind in RECOVERY_KINDS for name in registry.names(kind)}

    def selected_methods(self, request: PlanRequest) -> list[Method]:
        """The methods --method names that this task runs, or every registered one."""
        reg = request.registry
        if request.methods:
            return [reg.method(m) for m in request.methods if m in self.method_names(reg)]
        return [e.obj for kind in RECOVERY_KINDS for e in reg.entries(kind)]

    def artifact_settings(self, request: PlanRequest, dataset: str, family: str, prior: str) -> dict:
        """The cell settings naming the trained networks this protocol uses (their full identities)."""
        gan = gan_config("image", request.profile, family=family, dataset=dataset, prior=prior, seed=0)
        return {"gan": gan_spec(request, gan)}

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
        if request.methods and (request.priors or request.families):
            for m in methods:
                made = [generator_prior(reg, f, p, latent_dim) for f in request.families or self.families
                        for p in priors if p in reg.get("families", f).priors]
                if not any(m.supports(g) for g in made):
                    raise UsageError(m.unsupported(sorted({g.kind for g in made}) or priors))
        protocol = self.profiles_settings[request.profile]["protocol"]
        jobs = []
        for dataset in request.datasets or self.datasets[request.profile]:
            data = reg.get("datasets", dataset)
            if data.modality != "image" or not data.num_classes:
                continue  # recovery needs labelled images
            for family_name in request.families or self.families:
                family = reg.get("families", family_name)
                for prior, method, seed in itertools.product(priors, methods, request.seeds):
                    if prior not in family.priors or not method.supports(generator_prior(reg, family_name, prior, latent_dim)):
                        continue
                    settings = {**self.artifact_settings(request, dataset, family_name, prior), **protocol}
                    cells = [Cell(make_config(request, self, dataset=dataset, family=family_name, prior=prior,
                                              method=method.name, hparams=row, seed=seed, settings=settings,
                                              plugins={"dataset": data, "family": family, "method": method}))
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
        max_rows = 1 << 16 if env.device.type == "cuda" else 1 << 13
        with frozen(gan.nets):
            result = recover(gan.nets["G"], targets.to(env.device), gan.prior, method, [c.config["hparams"] for c in job.cells],
                             steps=s["steps"], init=init, latent_dim=gan.latent_dim, diff=s["diff"], realness=realness,
                             seed=derive_seed(cfg["seed"], "recovery"), max_rows=max_rows, desc=job.label)
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


class RecoveryReal(RecoveryTask):
    """Recover latents of real test images; score by the evaluator's accuracy on G(z) (paper 000)."""

    name = "recovery-real"
    source = ("paper 000 §2: LSGAN generator with N(0,1) or U(-1,1) prior, d_z=256, init zeros, L1 difference, Adam, "
              "t=100, 1000 test images, accuracy of a classifier on G(z); grid of 7 learning rates x 8 weights (Tables 2-12)")
    profiles_settings = {
        "quick": {"protocol": {"n_images": 64, "steps": 100, "init": "zeros", "diff": "l1"},
                  "lrs": (0.01, 0.032, 0.1), "grids": {"weight": (0.0, 0.1, 1.0, 3.2)}},
        "full": {"protocol": {"n_images": 1000, "steps": 100, "init": "zeros", "diff": "l1"}, "lrs": PAPER_LRS},
    }

    def artifact_settings(self, request, dataset, family, prior):
        evaluator = evaluator_spec(request, dataset, CLASSIFIER_TRAINING[request.profile])
        return {**super().artifact_settings(request, dataset, family, prior), "evaluator": evaluator}

    def validate(self, result):
        return check_fields(result, {"metrics.accuracy": METRIC, "metrics.l1": METRIC,
                                     "artifacts.evaluator.key": str, "artifacts.evaluator.test_accuracy": METRIC})

    def targets(self, cfg: dict, gan: TrainedGAN, env: RunEnv) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        x, y = env.split(cfg["dataset"], "test")
        pick = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(derive_seed(cfg["seed"], "images")))
        pick = pick[: cfg["settings"]["n_images"]]
        return x[pick], y[pick], None

    def score(self, cell: Cell, z: torch.Tensor, diff: torch.Tensor, labels: torch.Tensor, gan: TrainedGAN,
              env: RunEnv) -> CellOutcome:
        s = cell.config["settings"]
        evaluator = env.evaluator(s["evaluator"])
        correct = (evaluator.predict(gan.nets["G"](z)) == labels).double()
        boot = torch.Generator().manual_seed(derive_seed(cell.id, "bootstrap"))
        return CellOutcome(
            metrics={"accuracy": bootstrap_mean(correct, boot).to_dict(), "l1": bootstrap_mean(diff.double().cpu(), boot).to_dict()},
            artifacts={"generator": gan.describe(), "evaluator": evaluator.describe()},
        )

    def render(self, results, page):
        out = ["## Best cell per method", "",
               "The grid cell with the highest mean accuracy, per dataset, family, prior and method. As in paper 000, "
               "the cell is chosen on the same images its accuracy is reported on, so the best accuracy is slightly "
               "optimistic; the grids below show every cell.", ""]
        best_rows = []
        grids = group(results, lambda r: tuple(r["config"][k] for k in ("dataset", "family", "prior", "method")))
        for (dataset, family, prior, method), rows in grids.items():
            score, _, best = max((mean_over_seeds([r["metrics"]["accuracy"] for r in cells]), key, cells)
                                 for key, cells in group(rows, without_seed).items())
            hp = best[0]["config"]["hparams"]
            best_rows.append(((dataset, family, prior, -score, method), [
                dataset, family, prior, method, number_text(hp["lr"]), hparams_text(hp, ("lr",)),
                summarize([r["metrics"]["accuracy"] for r in best]), summarize([r["metrics"]["l1"] for r in best])]))
        best_rows = [row for _, row in sorted(best_rows)]
        out += [table(best_rows, ["dataset", "family", "prior", "method", "lr", "params", "accuracy ↑", "L1 ↓"]), ""]
        out += [*evaluator_lines(results), ""]
        out += ["## Grids", "", "Accuracy of every cell: rows are Adam learning rates, columns the method's parameters. "
                "A heatmap shows each cell's point value (its mean over seeds); the table under it gives the intervals.", ""]
        for (dataset, family, prior, method), rows in grids.items():
            out += [f"### {dataset} / {family} / {prior} prior / {method}", ""]
            out += grid_section(rows, "accuracy", page, f"{dataset}-{family}-{prior}-{method}", f"{method} ({prior} prior): accuracy")
        return "\n".join(out)


def grid_section(rows: list[dict], metric: str, page, name: str, title: str) -> list[str]:
    """A heatmap and a table of one method's grid: lr down, the other parameters across."""
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
    link = page.figure(name, lambda path: heatmap(values, [number_text(lr) for lr in lrs], cols, path, title, "lr", "parameters"))
    return [f"![{title}]({link})", "", table(text, ["lr \\ params"] + cols), ""]


THRESHOLDS = (1e-4, 1e-3, 1e-2, 1e-1, 1e0)


class RecoverySynthetic(RecoveryTask):
    """Recover z_true from x = G(z_true), starting from a random draw; score ||z_true - z||^2 / d (paper 001)."""

    name = "recovery-synthetic"
    source = ("paper 001 §4.2: z_true from the prior, x = G(z_true), recovery from a random initialisation with the "
              "L2 loss and Adam, error ||z_true - z||^2 / d_z; percentage of recoveries under 1e-4..1e0, wins and "
              "significant wins (factor 2) against `none` on the same z_true and seed, mean error (Table 1)")
    profiles_settings = {
        "quick": {"protocol": {"n_latents": 32, "steps": 500, "init": "prior", "diff": "l2"},
                  "lrs": (0.2,), "grids": {"weight": (0.01, 0.1, 1.0)}},
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
        boot = torch.Generator().manual_seed(derive_seed(cell.id, "bootstrap"))
        metrics = {"mean_error": bootstrap_mean(errors, boot).to_dict()}
        for t in THRESHOLDS:
            metrics[f"under_{t:g}"] = bootstrap_mean((errors < t).double(), boot).to_dict()
        return CellOutcome(metrics=metrics, extra={"errors": errors.tolist()}, artifacts={"generator": gan.describe()})

    def validate(self, result):
        fields = {("metrics", f"under_{t:g}"): METRIC for t in THRESHOLDS}
        problems = check_fields(result, {"metrics.mean_error": METRIC, "extra.errors": list, **fields})
        n = result["config"]["settings"].get("n_latents")
        errors = result.get("extra", {}).get("errors")
        if not problems and (len(errors) != n or not all(isinstance(e, (int, float)) and e >= 0 for e in errors)):
            problems.append(f"extra.errors must hold {n} non-negative numbers, one per latent")
        return problems

    def render(self, results, page):
        baseline = {self._pair_key(r): r for r in results if r["config"]["method"] == "none"}
        rows = []
        groups = sorted(group(results, without_seed).values(),
                        key=lambda g: tuple(g[0]["config"][k] for k in ("dataset", "family", "prior", "method"))
                        + tuple(sorted(g[0]["config"]["hparams"].items())))
        for cells in groups:
            c = cells[0]["config"]
            wins, sig = [], []
            for r in cells:
                base = baseline.get(self._pair_key(r))
                if base is None or base is r:
                    continue
                ours, theirs = np.array(r["extra"]["errors"]), np.array(base["extra"]["errors"])
                boot = torch.Generator().manual_seed(derive_seed(r["id"], base["id"], "wins"))
                wins.append(bootstrap_mean(torch.tensor(ours < theirs, dtype=torch.float64), boot).to_dict())
                # paper 001 §4.2.2: significant = the two differ by a factor of 2 or more
                decisive = ((ours <= theirs / 2) | (ours >= theirs * 2)) & (ours != theirs)
                if decisive.any():
                    sig.append(bootstrap_mean(torch.tensor((ours < theirs)[decisive], dtype=torch.float64), boot).to_dict())
            m = [r["metrics"] for r in cells]
            rows.append([c["dataset"], c["family"], c["prior"], c["method"], hparams_text(c["hparams"]),
                         *[summarize([x[f"under_{t:g}"] for x in m], 3, 100) for t in THRESHOLDS],
                         summarize(wins, 3, 100) if wins else "-", summarize(sig, 3, 100) if sig else "-",
                         summarize([x["mean_error"] for x in m], 3)])
        headers = ["dataset", "family", "prior", "method", "params", *[f"% < {t:g}" for t in THRESHOLDS],
                   "% wins", "% sig. wins", "mean error ↓"]
        return "\n".join([
            "## Recoveries", "",
            "Percentages of latents recovered with error under each threshold; wins: % of latents where the method's "
            "error is below `none`'s on the same z_true, init and seed (a tie, e.g. a resampler that never fired, is no "
            "win: this engine is deterministic, where paper 001's GPU runs split such ties by noise); significant wins: % of the latents where the "
            "two differ by a factor of 2 or more in which the method is the better one (paper 001 §4.2.2).", "",
            table(rows, headers), ""])

    @staticmethod
    def _pair_key(r: dict) -> str:
        """Everything a method's cell shares with the `none` cell it is compared with (method aside)."""
        c = r["config"]
        plugins = {k: v for k, v in c["plugins"].items() if k != "method"}
        rest = {k: v for k, v in c.items() if k not in ("method", "hparams", "plugins")}
        return canonical_json([rest, plugins, c["hparams"].get("lr")])


@hookimpl
def lvrbench_tasks():
    return [RecoveryReal(), RecoverySynthetic()]
