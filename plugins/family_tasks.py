"""What the per-family tasks share (generation, reconstruction, mode-coverage): one way to plan a cell per
family, dataset, prior and seed, to seed bootstraps by the items they resample, to state the protocol a page's
numbers came from, and to record and draw a generator's training curve.

Every task here asks `env.gan` for the same generator spec (`gan_spec` of `protocols.gan_config`) for a
family, dataset and prior, so a generator trains once and serves all three.
"""
from __future__ import annotations

import re
from typing import Any, Callable


from lvrbench.errors import UsageError
from lvrbench.figures import line_plot
from lvrbench.env import RunEnv, generator_axes, planned_datasets, planned_seeds
from lvrbench.harness import Cell, CellOutcome, Job, PlanRequest, make_config
from lvrbench.kinds import Family, Task
from lvrbench.leaderboard import config_values, number_text
from lvrbench.pretrained import SPEC_FIELDS, is_pretrained
from lvrbench.results import is_number

from .protocols import SEEDS, gan_config

#: The prior a dataset's source paper trains on, when it is not N(0, I): paper 003 §4.1 trains the 8-Gaussian
#: ring on "a uniform noise distribution" (U(-1, 1)^d in its notebooks), so its Table 1 can be compared.
PAPER_PRIOR = {"ring8": "uniform"}
DEFAULT_PRIOR = "normal"


def default_prior(family: Family, dataset: str) -> str:
    """The prior a family is run with on a dataset when --prior is not given: the dataset's paper prior where the
    family takes it, else N(0, I) where it does, else the family's own first prior (GM-GAN's learned mixture)."""
    for prior in (PAPER_PRIOR.get(dataset), DEFAULT_PRIOR):
        if prior and prior in family.priors:
            return prior
    return family.priors[0]


def refusal(family: Family, data: Any, prior: str) -> str | None:
    """Why `family` cannot be trained on dataset plugin `data` with base prior `prior` (the family's own one-line
    check), or None."""
    try:
        family.check(data.info, prior)
    except UsageError as exc:
        return str(exc)
    return None


class FamilyTask(Task):
    """A task with one job per dataset x family x prior x seed, scoring each family's trained generator (one cell per
    variant: the task's one method, or several)."""

    #: The one method name the task's cells carry (what `--method` may select).
    method: str = "direct"
    #: The datasets a profile runs.
    datasets: dict[str, tuple[str, ...]] = {}

    def accepts(self, data: Any) -> bool:
        """Whether the task runs on a dataset (make_plan reports a --dataset no task uses)."""
        return True

    def settings(self, request: PlanRequest, dataset: str, family: str, prior: str, seed: int) -> dict:
        """A cell's settings: its generator's identity and the task's protocol."""
        raise NotImplementedError

    def method_names(self, registry) -> set[str]:
        return {self.method}

    def score(self, config: dict, env: RunEnv) -> CellOutcome:
        """The outcome of the one cell with this config."""
        raise NotImplementedError

    def run(self, job: Job, env: RunEnv) -> list[CellOutcome]:
        return [self.score(cell.config, env) for cell in job.cells]

    def variants(self, request: PlanRequest) -> list[tuple[str, dict, Any]]:
        """The (method name, hyper-parameters, method plugin or None) of each cell a generator gets: the task's one
        method unless a subclass compares several (the sampling task's samplers); none when --method excludes it."""
        return [(self.method, {}, None)] if not request.methods or self.method in request.methods else []

    def refuses(self, method: Any, gan: dict) -> str | None:
        """Why the variant with method plugin `method` cannot run on the generator `gan` (a cell's `settings.gan`
        spec), or None: checked at plan time, so a method the user named is refused before any work."""
        return None

    def plan(self, request: PlanRequest) -> list[Job]:
        """A family named on the command line that cannot be run on a dataset or prior is refused here, before any
        work; other families that cannot take them are skipped. A pretrained generator runs on the dataset it models.
        One job per generator holds its variants' cells."""
        variants = self.variants(request)
        if not variants:
            return []
        reg = request.registry
        families, generators = generator_axes(request, tuple(reg.names("families")))
        jobs = []
        for dataset in planned_datasets(request, self.datasets[request.profile]):
            data = reg.get("datasets", dataset)
            if not self.accepts(data):
                continue
            choices = []  # (the cell's family: a family or a pretrained generator, prior, its plugin)
            for family_name in families:
                family = reg.get("families", family_name)
                for prior in request.priors or (default_prior(family, dataset),):
                    why = refusal(family, data, prior)
                    if why and request.families:  # the user asked for this family: say why it cannot run, before any work
                        raise UsageError(f"{self.name}: {why}")
                    if why:  # one of every registered family, with an explicit --prior or a dataset it cannot take
                        continue
                    choices.append((family_name, prior, {"family": family}))
            for name in generators:
                gen = reg.get("generators", name)
                if gen.dataset == dataset and (not request.priors or gen.prior in request.priors):
                    choices.append((name, gen.prior, {"generator": gen}))
            for family_name, prior, plugin in choices:
                for seed in planned_seeds(request, SEEDS.get(request.profile, {}).get(dataset, ())):
                    settings = self.settings(request, dataset, family_name, prior, seed)
                    cells = []
                    for method, hparams, method_plugin in variants:
                        why = self.refuses(method_plugin, settings["gan"])
                        if why and method in request.methods and family_name in (*request.families, *request.generators):
                            # the user named both: say why, before any work
                            raise UsageError(f"{self.name}: {why}")
                        if not why:
                            cells.append(Cell(make_config(request, self, dataset=dataset, family=family_name, prior=prior,
                                                          method=method, hparams=hparams, seed=seed, settings=settings,
                                                          plugins={"dataset": data, **plugin, "method": method_plugin})))
                    if cells:
                        jobs.append(Job(self.name, f"{self.name} {dataset} {family_name} {prior} seed={seed}", cells))
        return jobs


def generator_config(request: PlanRequest, dataset: str, family: str, prior: str, seed: int) -> dict:
    """The generator artifact config every per-family task uses for these choices (the same spec: trained once);
    for a pretrained generator (named in `family`), the config that names it."""
    if family in request.registry.names("generators"):
        return {"pretrained": family}
    modality = request.registry.get("datasets", dataset).modality
    return gan_config(modality, request.profile, family=family, dataset=dataset, prior=prior, seed=seed)


# -- the protocol a page states, read from its results' configs ------------------------------------------------

#: Generator fields every per-family result's config holds; `validate` checks them, `protocol_line` reads them.
GAN_FIELDS: dict[str, Any] = {
    "config.settings.gan.arch": str, "config.settings.gan.latent_dim": int, "config.settings.gan.train": dict,
    "config.settings.gan.train.epochs": int,
    "config.settings.gan.train.batch_size": int, "config.settings.gan.train.lr": (int, float),
}


#: (label, config path) pairs of the generator every per-family cell names, for the core's page-wide protocol line
#: (`Task.protocol_fields` on branch `pages`); each task adds what it measured.
GAN_PROTOCOL: tuple[tuple[str, str], ...] = (
    ("family", "family"), ("prior", "prior"), ("architecture", "settings.gan.arch"), ("d_z", "settings.gan.latent_dim"),
    ("GAN epochs", "settings.gan.train.epochs"), ("batch", "settings.gan.train.batch_size"),
    ("GAN learning rate", "settings.gan.train.lr"), ("seeds", "seed"))


def _values(rows: list[dict], path: str) -> str:
    """The distinct values of the config field at `path` across `rows`, as " / "-joined sorted text."""
    return " / ".join(sorted(_setting(v) for v in config_values(rows, path)))


def gan_fields(result: dict) -> dict[str, Any]:
    """The generator fields a result's config must hold: a trained generator's (GAN_FIELDS) or a pretrained one's."""
    config = result.get("config")
    return SPEC_FIELDS if isinstance(config, dict) and is_pretrained(config) else GAN_FIELDS


def protocol_line(rows: list[dict], scoring: dict[str, str]) -> str:
    """"Protocol of these numbers: ..." built from the rows' configs: the generators' architecture, d_z, priors and
    training (what each pretrained generator is, for those never trained here), then `scoring` ({"text with {}":
    config path}, the {} filled with the values found) for what the task itself measured (sample counts, steps)."""
    trained = [r for r in rows if not is_pretrained(r["config"])]
    pretrained = [r for r in rows if is_pretrained(r["config"])]
    parts = []
    if trained:
        parts += [f"G and D `{_values(trained, 'settings.gan.arch')}`",
                  f"d_z = {_values(trained, 'settings.gan.latent_dim')}",
                  f"prior {_values(trained, 'prior')}",
                  f"trained {_values(trained, 'settings.gan.train.epochs')} epochs in batches of "
                  f"{_values(trained, 'settings.gan.train.batch_size')}"]
    if pretrained:
        described = {_word(r["config"]["family"]): f"`{_setting(r['config']['settings']['gan']['arch'])}`, d_z = "
                     f"{_setting(r['config']['settings']['gan']['latent_dim'])}, prior {_setting(r['config']['prior'])}"
                     for r in pretrained}
        parts.append("pretrained generators, never trained here: "
                     + ", ".join(f"{name} ({text})" for name, text in sorted(described.items())))
    parts.append(f"seeds {_values(rows, 'seed')}")
    parts += [template.format(_values(rows, path.removeprefix("config."))) for template, path in scoring.items()]
    own = {}
    for r in trained:  # what each family declares over the profile's training (optimiser, lr, critic steps, penalties)
        train = r["config"]["settings"]["gan"]["train"]
        own[r["config"]["family"]] = ", ".join(f"{_word(k)} {_setting(v)}" for k, v in sorted(train.items())
                                               if k not in ("epochs", "batch_size"))
    line = "Protocol of these numbers (from their configs): " + "; ".join(parts) + "."
    if own:
        line += " Each family's training: " + "; ".join(f"{family}: {text}" for family, text in sorted(own.items())) + "."
    return line


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
