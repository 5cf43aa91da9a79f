"""What a task may use while it computes cells (`lvrbench.api.Environment`): datasets, trained generators, evaluators,
the artifact cache and the device; each loads once per process."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..api.contracts import Artifact, Dataset, Family, TrainedGAN
from ..api.networks import init_parameters
from ..api.priors import PRIORS
from ..base.errors import UsageError
from ..base.hashing import canonical_json, derive_seed
from ..engine.artifacts import ArtifactCache
from ..engine.evaluator import Evaluator, load_evaluator
from ..engine.specs import family_of
from ..engine.training import TrainSettings, resolve_training, train_gan
from .pretrained import load_pretrained
from .registry import Registry


@dataclass
class RunEnv:
    """Services shared by the cells computed in one process: datasets, evaluators and GANs load once."""

    registry: Registry
    device: torch.device
    cache_dir: Path
    data_dir: str | None = None
    #: The run this process computes for: an artifact whose training failed in it fails every job that needs it.
    run_id: str | None = None
    _memo: dict = field(default_factory=dict, repr=False)

    @property
    def cache(self) -> ArtifactCache:
        """The trained-network cache under --cache-dir."""
        return ArtifactCache(self.cache_dir, self.run_id)

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

    def prepare(self, artifact: Artifact) -> None:
        """Train and cache an artifact jobs need (or load the cached one): what a build step of a run's graph does."""
        if artifact.kind == "generators":
            self.gan(artifact.spec)
        else:
            self.evaluator(artifact.spec)

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
