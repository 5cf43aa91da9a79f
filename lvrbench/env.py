"""What a task may use while it computes cells: datasets, trained generators, evaluators, the device."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .artifacts import ArtifactCache
from .evaluator import Evaluator, load_evaluator
from .hashing import derive_seed
from .kinds import Dataset, Family
from .networks import init_parameters
from .priors import PRIORS, Prior
from .registry import Registry
from .training import REVISION as TRAINING_REVISION
from .training import TrainSettings, train_gan


@dataclass
class TrainedGAN:
    """A trained family instance: its networks, prior and latent size, and the artifact key."""

    family: Family
    nets: nn.ModuleDict
    prior: Prior
    latent_dim: int
    key: str
    metrics: dict

    def describe(self) -> dict:
        return {"key": self.key, "family": self.family.name, **self.metrics}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator, device: torch.device, batch: int = 1000) -> torch.Tensor:
        """n samples G(z), z from the family's latent distribution, returned on the CPU."""
        out = []
        for start in range(0, n, batch):
            z = self.family.sample_latent(self.nets, self.prior, min(batch, n - start), self.latent_dim, generator, device)
            out.append(self.nets["G"](z).cpu())
        return torch.cat(out)


@dataclass
class RunEnv:
    """Services shared by the cells computed in one process; everything heavy is cached."""

    registry: Registry
    device: torch.device
    cache_dir: Path
    data_dir: str | None = None
    _splits: dict = field(default_factory=dict, repr=False)
    _evaluators: dict = field(default_factory=dict, repr=False)

    @property
    def cache(self) -> ArtifactCache:
        return ArtifactCache(self.cache_dir)

    def dataset(self, name: str) -> Dataset:
        return self.registry.get("datasets", name)

    def split(self, dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of a dataset split, loaded once per process."""
        key = (dataset, split)
        if key not in self._splits:
            self._splits[key] = self.dataset(dataset).load(split, self.data_dir)
        return self._splits[key]

    def evaluator(self, dataset: str, config: dict) -> Evaluator:
        """The dataset's evaluator for a classifier-training config (trained once, then cached)."""
        from .hashing import canonical_json

        key = (dataset, canonical_json(config))
        if key not in self._evaluators:
            data = self.dataset(dataset)
            self._evaluators[key] = load_evaluator(data.info, lambda s: self.split(dataset, s), config, self.cache, self.device)
        return self._evaluators[key]

    def gan(self, config: dict) -> TrainedGAN:
        """The GAN a generator config describes, trained by the shared loop on first use and cached.

        `config` keys: family, dataset, prior, latent_dim, arch, train (epochs, batch_size, lr,
        betas) and seed. The family's distribution version is added to the artifact identity.
        """
        family: Family = self.registry.get("families", config["family"])
        data = self.dataset(config["dataset"])
        prior = PRIORS[config["prior"]]
        if prior.kind not in family.priors:
            raise ValueError(f"family {family.name} does not support the {prior.kind} prior")
        full = {**config, "family_version": self.registry.provenance(family), "prior_params": prior.to_config(),
                "training_revision": TRAINING_REVISION}
        latent_dim, arch = int(config["latent_dim"]), config["arch"]

        def build() -> nn.ModuleDict:
            nets = family.build(data.info, latent_dim, arch)
            init_parameters(nets, torch.Generator().manual_seed(derive_seed(full, "init")))
            return nets

        def train(nets: nn.ModuleDict) -> dict:
            x, _ = self.split(config["dataset"], "train")
            generator = torch.Generator().manual_seed(derive_seed(full, "training"))
            settings = TrainSettings.from_config(config["train"])
            return train_gan(family, nets, x, prior, latent_dim, settings, generator, self.device,
                             f"train {family.name} {config['dataset']} {prior.kind}")

        nets, meta = self.cache.get("generators", full, build, train, self.device)
        nets.eval()
        return TrainedGAN(family, nets, prior, latent_dim, meta["key"], meta["metrics"])
