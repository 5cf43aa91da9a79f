"""What tasks plan over: the datasets, generators and seeds a request asks for, and each generator's prior.

Every task that takes a generator asks the same questions: which datasets (--dataset, or the task's defaults plus the
datasets named pretrained generators model), which generators on each (families trained here under a base prior,
pretrained ones as they are), which seeds (--seed, or the profile's per dataset). The answers live here once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from ..api.contracts import Family, Plugin, Pretrained, Registry, Request
from ..api.priors import PRIORS, Prior
from ..base.errors import UsageError
from ..engine.specs import family_of
from .protocols import SEEDS, gan_config

#: The prior a dataset's source paper trains on, when it is not N(0, I): paper 003 §4.1 trains the 8-Gaussian
#: ring on "a uniform noise distribution" (U(-1, 1)^d in its notebooks), so its Table 1 can be compared.
PAPER_PRIOR = {"ring8": "uniform"}
DEFAULT_PRIOR = "normal"


@dataclass(frozen=True)
class Generator:
    """A generator a task's cells use: a family trained here under a base prior, or a pretrained generator.

    `name` is what a cell's `family` field holds (the family's or the pretrained generator's name)."""

    name: str
    prior: str
    plugin: Plugin

    @property
    def pretrained(self) -> bool:
        """Whether it was trained elsewhere (never trained here)."""
        return isinstance(self.plugin, Pretrained)

    @property
    def role(self) -> str:
        """The role its plugin has in a cell's `code`: "generator" (pretrained) or "family"."""
        return "generator" if self.pretrained else "family"


def generator_axes(request: Request, families: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The families to train and the pretrained generators to load for a task whose default families are `families`:
    those --family and --generator name, or, when neither is given, the defaults and every registered generator."""
    if request.families or request.generators:
        return tuple(request.families), tuple(request.generators)
    return tuple(families), tuple(request.registry.names("generators"))


def generators(request: Request, dataset: str, families: Sequence[str], pretrained: Sequence[str],
               priors: Callable[[Family], Sequence[str]]) -> list[Generator]:
    """The generators on `dataset`: each family under each of `priors(family)`, then each pretrained generator that
    models the dataset (and draws from a prior --prior allows)."""
    reg = request.registry
    out = [Generator(name, prior, reg.get("families", name)) for name in families
           for prior in priors(reg.get("families", name))]
    for name in pretrained:
        gen = reg.get("generators", name)
        if gen.dataset == dataset and (not request.priors or gen.prior in request.priors):
            out.append(Generator(name, gen.prior, gen))
    return out


def planned_datasets(request: Request, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The datasets a task plans on: --dataset, or its defaults plus the datasets that named pretrained generators model."""
    if request.datasets:
        return tuple(request.datasets)
    named = (request.registry.get("generators", name).dataset for name in request.generators)
    return tuple(dict.fromkeys([*defaults, *named]))


def planned_seeds(request: Request, dataset: str) -> tuple[int, ...]:
    """The seeds a task plans on a dataset: --seed, or the profile's seeds (`protocols.SEEDS`), else 0."""
    defaults = SEEDS.get(request.profile, ())
    return tuple(request.seeds) if request.seeds_given or not defaults else tuple(defaults)


def dataset_prior(dataset: str) -> str:
    """The base prior families are trained with on `dataset` when --prior is not given, in every profile: its paper's
    (`PAPER_PRIOR`), else N(0, I)."""
    return PAPER_PRIOR.get(dataset, DEFAULT_PRIOR)


def default_prior(family: Family, dataset: str) -> str:
    """The prior a family is run with on a dataset when --prior is not given: the dataset's prior (`dataset_prior`)
    where the family takes it, else N(0, I) where it does, else the family's own first prior (GM-GAN's learned mixture)."""
    for prior in (dataset_prior(dataset), DEFAULT_PRIOR):
        if prior and prior in family.priors:
            return prior
    return family.priors[0]


def family_refusal(family: Family, data: object, prior: str) -> str | None:
    """Why `family` cannot be trained on dataset plugin `data` with base prior `prior` (the family's own one-line
    check), or None."""
    try:
        family.check(data.info, prior)
    except UsageError as exc:
        return str(exc)
    return None


def generator_prior(registry: Registry, generator: Generator, latent_dim: int) -> Prior:
    """The prior a generator will have (a family's with untrained values; a pretrained generator's own), for plan-time
    checks of a method's `requires`."""
    if isinstance(generator.plugin, Pretrained):
        gen = generator.plugin
        return family_of(registry, gen).latent_prior(gen.latent_prior()) if gen.family else gen.latent_prior()
    return generator.plugin.latent_prior(PRIORS[generator.prior].with_dim(latent_dim))


def has_realness(registry: Registry, generator: Generator) -> bool:
    """Whether a generator gives the per-sample realness of its discriminator (the trick-discriminator loss needs it)."""
    family = family_of(registry, generator.plugin) if isinstance(generator.plugin, Pretrained) else generator.plugin
    return "realness" in family.capabilities


def generator_config(request: Request, dataset: str, generator: Generator, seed: int) -> dict:
    """The generator artifact config every task uses for a generator on a dataset and seed (one spec: trained once,
    shared by every task that asks); for a pretrained generator, the config that names it."""
    if generator.pretrained:
        return {"pretrained": generator.name}
    modality = request.registry.get("datasets", dataset).modality
    return gan_config(modality, request.profile, family=generator.name, dataset=dataset, prior=generator.prior, seed=seed)
