"""The base of the per-family tasks (generation, reconstruction, mode-coverage, sampling): one job per dataset x
generator x seed, a cell per variant (the task's one method, or several samplers), the protocol a page's numbers came
from, and a generator's training curve.

Every task here asks `env.gan` for the same generator spec (`planning.generator_config`) for a family, dataset and
prior, so a generator trains once and serves all of them.
"""
from __future__ import annotations

import re
from typing import Any, Callable

from ..api.contracts import CellOutcome, Environment, Job, Parametrised, Request, Task
from ..api.fields import is_number
from ..base.errors import UsageError
from ..base.text import config_values, number_text, table
from .figures import line_plot
from .generator_check import describe_generator
from .grid import Axis, Skip, cell_config, expand, jobs
from .pages import SPEC_FIELDS, evaluator_lines, failed_lines, is_pretrained, pretrained_lines, unit_label
from .planning import (Generator, default_prior, family_refusal, generator_axes, generator_prior, generators,
                       planned_datasets, planned_seeds)


class FamilyTask(Task):
    """A task with one job per dataset x generator x seed, scoring each generator (one cell per variant: the task's one
    method, or several)."""

    #: The one method name the task's cells carry (what `--method` may select).
    method: str = "direct"
    #: The datasets a profile runs.
    datasets: dict[str, tuple[str, ...]] = {}

    def settings(self, request: Request, dataset: str, generator: Generator, seed: int) -> dict:
        """A cell's settings: its generator's identity (`planning.generator_config`) and the task's protocol."""
        raise NotImplementedError

    def method_names(self, registry) -> set[str]:
        return {self.method}

    def score(self, config: dict, env: Environment) -> CellOutcome:
        """The outcome of the one cell with this config."""
        raise NotImplementedError

    def run(self, job: Job, env: Environment) -> list[CellOutcome]:
        """Each cell's `score`, its generator recorded with its check (`describe_generator`, once per job)."""
        outcomes = [self.score(cell.config, env) for cell in job.cells]
        config = job.cells[0].config
        generator = None
        for outcome in outcomes:
            if outcome.error is None and "generator" in outcome.artifacts:
                generator = generator or describe_generator(env.gan(config["settings"]["gan"]), env, config["dataset"])
                outcome.artifacts = {**outcome.artifacts, "generator": generator}
        return outcomes

    def variants(self, request: Request) -> list[tuple[str, dict, Any]]:
        """The (method name, hyper-parameters, method plugin or None) of each cell a generator gets: the task's one
        method unless a subclass compares several (the sampling task's samplers); none when --method excludes it."""
        return [(self.method, {}, None)] if not request.methods or self.method in request.methods else []

    def refuses(self, method: Any, gan: dict) -> str | None:
        """Why the variant with method plugin `method` cannot run on the generator `gan` (a cell's `settings.gan`
        spec), or None: checked at plan time, so a method the user named is refused before any work."""
        return None

    def plan(self, request: Request) -> list[Job]:
        """A family named on the command line that cannot be run on a dataset or prior is refused here, before any
        work; other families that cannot take them are skipped. So is a variant whose plugin (a sampler) declares in
        `requires` priors the generator's prior does not satisfy: refused where the user named both, or named the
        plugin and nothing else is left for it. A pretrained generator runs on the dataset it models. One job per
        generator and seed holds its variants' cells."""
        variants = self.variants(request)
        if not variants:
            return []
        reg = request.registry
        families, pretrained = generator_axes(request, tuple(reg.names("families")))
        settings: dict[tuple, dict] = {}

        def settings_of(p: dict) -> dict:
            key = (p["dataset"], p["generator"], p["seed"])
            if key not in settings:
                settings[key] = self.settings(request, p["dataset"], p["generator"], p["seed"])
            return settings[key]

        unsupported: dict[str, str] = {}  # a named variant's first prior refusal, in case nothing is left for it

        def skip(p: dict) -> Skip | None:
            generator, (method, _, plugin) = p["generator"], p["variant"]
            if not generator.pretrained:
                why = family_refusal(generator.plugin, reg.get("datasets", p["dataset"]), generator.prior)
                if why:  # the user asked for this family: say why it cannot run, before any work
                    return Skip(f"{self.name}: {why}", refuse=bool(request.families))
            named = method in request.methods and generator.name in (*request.families, *request.generators)
            if isinstance(plugin, Parametrised):
                prior = generator_prior(reg, generator, settings_of(p)["gan"]["latent_dim"])
                if not plugin.supports(prior):
                    why = unsupported.setdefault(method, f"{self.name}: {plugin.unsupported([prior.kind])}")
                    return Skip(why, refuse=named)
            why = self.refuses(plugin, settings_of(p)["gan"])
            return Skip(f"{self.name}: {why}", refuse=named) if why else None

        axes = [
            Axis("dataset", lambda p: [d for d in planned_datasets(request, self.datasets[request.profile])
                                       if self.accepts(reg.get("datasets", d))]),
            Axis("generator", lambda p: generators(request, p["dataset"], families, pretrained,
                                                   lambda f: request.priors or (default_prior(f, p["dataset"]),))),
            Axis("seed", lambda p: planned_seeds(request, p["dataset"])),
            Axis("variant", lambda p: variants),
        ]

        def cell(p: dict) -> dict:
            method, hparams, plugin = p["variant"]
            generator = p["generator"]
            return cell_config(request, self, dataset=p["dataset"], family=generator.name, prior=generator.prior,
                               method=method, hparams=hparams, seed=p["seed"], settings=settings_of(p),
                               plugins={"dataset": reg.get("datasets", p["dataset"]), generator.role: generator.plugin,
                                        "method": plugin})

        points = list(expand(axes, skip))
        for method in request.methods:
            if method in unsupported and not any(p["variant"][0] == method for p in points):
                raise UsageError(unsupported[method])
        return jobs(self, request, points, ("dataset", "generator", "seed"), cell,
                    lambda p, n: f"{self.name} {p['dataset']} {p['generator'].name} {p['generator'].prior} seed={p['seed']}")


# -- the protocol a page states, read from its results' configs ------------------------------------------------

#: Generator fields every per-family result's config holds; `validate` checks them, `dataset_protocol` reads them.
GAN_FIELDS: dict[str, Any] = {
    "config.settings.gan.arch": str, "config.settings.gan.latent_dim": int, "config.settings.gan.train": dict,
    "config.settings.gan.train.epochs": int,
    "config.settings.gan.train.batch_size": int, "config.settings.gan.train.lr": (int, float),
}


#: (label, config path) pairs of the generator every per-family cell names, for the core's page-wide protocol list
#: (`Task.protocol_fields`); each task adds what it measured.
GAN_PROTOCOL: tuple[tuple[str, str], ...] = (
    ("family", "family"), ("prior", "prior"), ("architecture", "settings.gan.arch"), ("d_z", "settings.gan.latent_dim"),
    ("GAN epochs", "settings.gan.train.epochs"), ("batch", "settings.gan.train.batch_size"),
    ("GAN learning rate", "settings.gan.train.lr"), ("seeds", "seed"))


def _values(rows: list[dict], path: str) -> str:
    """The distinct values of the config field at `path` across `rows`, as " / "-joined sorted text."""
    return " / ".join(sorted(_setting(v) for v in config_values(rows, path)))


def config_text(rows: list[dict], templates: dict[str, str]) -> str:
    """A short protocol from the rows' configs: each "text with {}" of `templates` (config path as the value, the
    {} filled with the values found, " / "-joined), "; "-joined, then how many seeds: what a table cell holds of
    "our protocol" beside a paper's. Templates whose field no row has are left out."""
    parts = [template.format(_values(rows, path)) for template, path in templates.items() if config_values(rows, path)]
    seeds = len(config_values(rows, "seed"))
    return "; ".join(parts + [f"{seeds} seed{'' if seeds == 1 else 's'}"])


def gan_fields(result: dict) -> dict[str, Any]:
    """The generator fields a result's config must hold: a trained generator's (GAN_FIELDS) or a pretrained one's."""
    config = result.get("config")
    return SPEC_FIELDS if isinstance(config, dict) and is_pretrained(config) else GAN_FIELDS


def dataset_protocol(rows: list[dict], scoring: dict[str, str]) -> list[str]:
    """A dataset section's protocol as markdown bullets, from the rows' configs: the generators' architecture, d_z,
    priors and training (what each pretrained generator is, for those never trained here), the seeds, then `scoring`
    ({"text with {}": config path}, the {} filled with the values found) for what the task itself measured. What each
    family declares over the profile's training (optimiser, lr, critic steps, penalties) is `training_table`'s."""
    trained = [r for r in rows if not is_pretrained(r["config"])]
    pretrained = [r for r in rows if is_pretrained(r["config"])]
    parts = []
    if trained:
        parts += [f"G and D `{_values(trained, 'settings.gan.arch')}`, d_z = {_values(trained, 'settings.gan.latent_dim')}, "
                  f"prior {_values(trained, 'prior')}",
                  f"trained {_values(trained, 'settings.gan.train.epochs')} epochs in batches of "
                  f"{_values(trained, 'settings.gan.train.batch_size')}"]
    if pretrained:
        described = {_word(r["config"]["family"]): f"`{_setting(r['config']['settings']['gan']['arch'])}`, d_z = "
                     f"{_setting(r['config']['settings']['gan']['latent_dim'])}, prior {_setting(r['config']['prior'])}"
                     for r in pretrained}
        parts.append("pretrained generators, never trained here: "
                     + ", ".join(f"{name} ({text})" for name, text in sorted(described.items())))
    parts.append(f"seeds {_values(rows, 'seed')}" + (" (each seed trains its own generators)" if trained else ""))
    measured = [template.format(_values(rows, path.removeprefix("config."))) for template, path in scoring.items()]
    if measured:
        parts.append("scored on " + ", ".join(measured))
    return ["Protocol of these numbers (from their configs):", "", *[f"- {p}" for p in parts], ""]


def dataset_details(dataset: str, rows: list[dict], scoring: dict[str, str],
                    evaluators: bool = False) -> tuple[list[str], list[tuple[str, dict]]]:
    """A dataset's details section opening (its protocol, each family's training, the pretrained generators, the
    evaluators where the task has them, the generators that failed to train), and its networks in table order:
    (unit label, result) by label, then seed."""
    label = unit_label(rows)
    lines = [f"### {dataset}", "", *dataset_protocol(rows, scoring), *training_table(rows), *pretrained_lines(rows),
             *([*evaluator_lines(rows), ""] if evaluators else []), *failed_lines(rows)]
    return lines, [(label(r), r) for r in sorted(rows, key=lambda r: (label(r), r["config"]["seed"]))]


def training_table(rows: list[dict]) -> list[str]:
    """A table of what each trained family declares over the profile's training (optimiser, learning rate, critic
    steps, penalties), one row per family ([] without trained generators)."""
    own = {}
    for r in rows:
        if not is_pretrained(r["config"]):
            train = r["config"]["settings"]["gan"]["train"]
            own[r["config"]["family"]] = ", ".join(f"{_word(k)} {_setting(v)}" for k, v in sorted(train.items())
                                                   if k not in ("epochs", "batch_size"))
    if not own:
        return []
    return [table([[family, text] for family, text in sorted(own.items())], ["family", "its training"]), ""]


def _word(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text))  # config keys and strings may come from a pull request


def _setting(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_setting(v) for v in value) + ")"
    return number_text(value) if is_number(value) else _word(value)


# -- training curves ------------------------------------------------------------------------------------------

def history_record(history: list[dict]) -> list[dict]:
    """A generator's per-epoch mean losses as a result records them: [{epoch, d_loss, g_loss}], g_loss None in an
    epoch without a generator update."""
    return [{"epoch": int(h["epoch"]), "d_loss": float(h["d_loss"]),
             "g_loss": None if h.get("g_loss") is None else float(h["g_loss"])} for h in history]


def history_problem(history: Any) -> str | None:
    """Why a recorded training history cannot be drawn (results are data from anywhere), or None."""
    ok = isinstance(history, list) and history and all(
        isinstance(h, dict) and isinstance(h.get("epoch"), int) and not isinstance(h.get("epoch"), bool)
        and is_number(h.get("d_loss")) and (h.get("g_loss") is None or is_number(h.get("g_loss"))) for h in history)
    return None if ok else "must be a non-empty list of {epoch: integer, d_loss: number, g_loss: number or null}"


def curve_drawer(history: list[dict], title: str) -> Callable:
    """Draws both players' losses per epoch (the training-curve figures of papers 002 Fig. 2 and 004 Figs. 4-5)."""
    g = [h for h in history if h["g_loss"] is not None]  # an epoch without a generator update has no G loss
    series = {"discriminator": ([h["epoch"] for h in history], [h["d_loss"] for h in history])}
    if g:
        series["generator"] = ([h["epoch"] for h in g], [h["g_loss"] for h in g])
    return lambda path: line_plot(series, path, title, "epoch", "loss")
