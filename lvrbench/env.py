"""What a task may use while it computes cells: datasets, trained generators, evaluators, the device."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .artifacts import ArtifactCache
from . import CORE
from .errors import UsageError
from .evaluator import Evaluator, classifier_spec, evaluator_key, load_evaluator
from .hashing import canonical_json, derive_seed
from .kinds import Dataset, Family
from .networks import init_parameters
from .pretrained import family_of, load_pretrained
from .priors import PRIORS, Prior
from .registry import Registry

if TYPE_CHECKING:
    from .harness import PlanRequest
from .training import REVISION as TRAINING_REVISION
from .training import TrainSettings, resolve_training, train_gan


@dataclass
class TrainedGAN:
    """A trained family instance: its networks, its prior (the only source of its latents), and the artifact key.

    `metrics` are the training run's (its last losses and counts); `history` holds one dict per
    epoch, {"epoch", "d_loss", "g_loss", "generator_steps", ...}: the players' mean losses over
    the epoch (g_loss None in an epoch without a generator update) and any family terms.
    """

    family: Family
    nets: nn.ModuleDict
    prior: Prior
    latent_dim: int
    key: str
    metrics: dict
    history: list[dict] = field(default_factory=list)

    def describe(self) -> dict:
        """What a result records of this generator: its cache key, family, training metrics and prior (learned values too)."""
        return {"key": self.key, "family": self.family.name, **self.metrics, "prior": self.prior.describe()}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, device: torch.device, batch: int = 1000) -> torch.Tensor:
        """n samples G(z), z from the generator's prior, returned on the CPU."""
        out = []
        for start in range(0, n, batch):
            z = self.prior.sample(min(batch, n - start), generator, device)
            out.append(self.nets["G"](z).cpu())
        return torch.cat(out)


def gan_spec(request: PlanRequest, config: dict) -> dict:
    """The full identity of a generator artifact: `config` plus every version and the data that determine its weights.

    A `config` of {"pretrained": NAME} names a pretrained generator instead (`pretrained_spec`): every task that
    takes a generator asks this one function, and `RunEnv.gan` serves both kinds of spec.

    `config` keys: family, dataset, prior (a base prior's name), latent_dim, arch, train (the
    profile's epochs, batch_size, lr, betas, ...), family_train (optional: a protocol's replacements
    for the family's declared settings) and seed. The spec's `train` is resolved
    (`training.resolve_training`) and it names the family's network variants, so changing either
    retrains. Refuses, in one line, a family asked for a prior or dataset it cannot handle.
    Tasks put the spec in their cell configs, so a cell's id changes with its generator.
    """
    if "pretrained" in config:
        return pretrained_spec(request, config["pretrained"])
    registry = request.registry
    family = registry.get("families", config["family"])
    data = registry.get("datasets", config["dataset"])
    family.check(data.info, config["prior"])
    return {**config, "train": resolve_training(family, config["train"], config.get("family_train")),
            "networks": dict(family.networks), "prior_params": PRIORS[config["prior"]].to_config(),
            "family_version": registry.provenance(family), "dataset_version": registry.provenance(data),
            "dataset_digest": request.fingerprint(config["dataset"]), "core": CORE, "training_revision": TRAINING_REVISION}


def pretrained_spec(request: PlanRequest, name: str) -> dict:
    """The identity of a pretrained generator: the digest of its weights (checked against its networks once per
    request, so bad weights are refused before any work), its package's version and what it declares."""
    registry = request.registry
    gen = registry.get("generators", name)
    digest = request.weights_digest(name)
    spec = {"pretrained": name, "source": gen.source, "dataset": gen.dataset, "prior": gen.prior,
            "latent_dim": gen.latent_dim, "arch": gen.arch, "networks": dict(gen.networks),
            "prior_params": gen.latent_prior().to_config(), "weights": digest, "generator_version": registry.provenance(gen),
            "dataset_version": registry.provenance(registry.get("datasets", gen.dataset))}
    if gen.family:
        family = registry.get("families", gen.family)
        spec.update(discriminator_family=gen.family, family_version=registry.provenance(family))
    return spec


def generator_axes(request: PlanRequest, families: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The families to train and the pretrained generators to load for a task whose default families are `families`:
    those --family and --generator name, or, when neither is given, the defaults and every registered generator."""
    if request.families or request.generators:
        return tuple(request.families), tuple(request.generators)
    return tuple(families), tuple(request.registry.names("generators"))


def planned_datasets(request: PlanRequest, defaults: tuple[str, ...]) -> tuple[str, ...]:
    """The datasets a task plans on: --dataset, or its defaults plus the datasets that named pretrained generators model."""
    if request.datasets:
        return tuple(request.datasets)
    named = (request.registry.get("generators", name).dataset for name in request.generators)
    return tuple(dict.fromkeys([*defaults, *named]))


def planned_seeds(request: PlanRequest, defaults: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The seeds a task plans on a dataset: --seed, or the profile's `defaults` for it (when it has any), else 0."""
    return tuple(request.seeds) if request.seeds_given or not defaults else tuple(defaults)


def generator_prior(registry: Registry, family: str, prior: str, latent_dim: int) -> Prior:
    """The prior a family's generator will have (untrained values), or a pretrained generator's (named in `family`;
    `prior` and `latent_dim` are then its own): for plan-time checks of a method's `requires`."""
    if family in registry.names("generators"):
        gen = registry.get("generators", family)
        return family_of(registry, gen).latent_prior(gen.latent_prior()) if gen.family else gen.latent_prior()
    return registry.get("families", family).latent_prior(PRIORS[prior].with_dim(latent_dim))


def evaluator_spec(request: PlanRequest, dataset: str, training: dict) -> dict | None:
    """The full identity of a dataset's evaluator (None: the points are their own features)."""
    data = request.registry.get("datasets", dataset)
    return classifier_spec(data.info, request.registry.provenance(data), request.fingerprint(dataset), CORE, training)


def artifact_keys(config: dict) -> dict[str, str]:
    """The key each artifact a cell of `config` uses records in its result, as the core's specs give them: the
    generator of `settings.gan` (a `gan_spec`) and the evaluator of `settings.evaluator` (an `evaluator_spec`)."""
    settings = config.get("settings") if isinstance(config.get("settings"), dict) else {}
    keys = {}
    if isinstance(settings.get("gan"), dict):
        keys["generator"] = ArtifactCache.key(settings["gan"])
    if "evaluator" in settings:
        keys["evaluator"] = evaluator_key(settings["evaluator"])
    return keys


@dataclass
class RunEnv:
    """Services shared by the cells computed in one process: datasets, evaluators and GANs load once."""

    registry: Registry
    device: torch.device
    cache_dir: Path
    data_dir: str | None = None
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def cache(self) -> ArtifactCache:
        """The trained-network cache under --cache-dir."""
        return ArtifactCache(self.cache_dir)

    def _once(self, key: tuple, make):
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def dataset(self, name: str) -> Dataset:
        """The registered dataset plugin called `name`."""
        return self.registry.get("datasets", name)

    def split(self, dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a dataset split."""
        return self._once(("split", dataset, split), lambda: self.dataset(dataset).load(split, self.data_dir))

    def evaluator(self, spec: dict | None) -> Evaluator:
        """The evaluator an `evaluator_spec` describes (trained on first use, then cached)."""
        def make() -> Evaluator:
            data = self.dataset(spec["dataset"]) if spec else None
            return load_evaluator(data.info if data else None, lambda s: self.split(spec["dataset"], s), spec,
                                  self.cache, self.device)
        return self._once(("evaluator", canonical_json(spec)), make)

    def gan(self, spec: dict) -> TrainedGAN:
        """The GAN a `gan_spec` describes, trained by the shared loop on first use and cached; a pretrained one is
        loaded from its weights, never trained."""
        return self._once(("gan", canonical_json(spec)), lambda: self._load_gan(spec))

    def _load_pretrained(self, spec: dict) -> TrainedGAN:
        gen = self.registry.get("generators", spec["pretrained"])
        nets, digest = load_pretrained(self.registry, gen)
        if digest != spec["weights"]:
            raise UsageError(f"generator {gen.name}'s weights changed since this cell was planned (digest "
                             f"{spec['weights']}, now {digest}): run again to plan its new cells")
        nets.to(self.device).eval()
        family = family_of(self.registry, gen)
        prior = family.latent_prior(gen.latent_prior(), nets) if gen.family else gen.latent_prior()
        return TrainedGAN(family, nets, prior, gen.latent_dim, digest,
                          {"pretrained": gen.name, "source": gen.source, "weights": digest})

    def _load_gan(self, spec: dict) -> TrainedGAN:
        if "pretrained" in spec:
            return self._load_pretrained(spec)
        family: Family = self.registry.get("families", spec["family"])
        data = self.dataset(spec["dataset"])
        family.check(data.info, spec["prior"])
        latent_dim, arch = int(spec["latent_dim"]), spec["arch"]
        base = PRIORS[spec["prior"]].with_dim(latent_dim)

        def build() -> nn.ModuleDict:
            nets = family.build(data.info, latent_dim, arch)
            init_parameters(nets, torch.Generator().manual_seed(derive_seed(spec, "init")))
            return nets

        def train(nets: nn.ModuleDict) -> dict:
            x, _ = self.split(spec["dataset"], "train")
            generator = torch.Generator().manual_seed(derive_seed(spec, "training"))
            settings = TrainSettings.from_config(resolve_training(family, spec["train"], spec.get("family_train")))
            return train_gan(family, nets, x, family.latent_prior(base, nets), settings, generator, self.device,
                             f"train {family.name} {spec['dataset']} {spec['prior']}")

        nets, meta = self.cache.get("generators", spec, build, train, self.device)
        nets.eval()
        metrics = {k: v for k, v in meta["metrics"].items() if k != "history"}
        return TrainedGAN(family, nets, family.latent_prior(base, nets), latent_dim, meta["key"], metrics,
                          meta["metrics"].get("history", []))
