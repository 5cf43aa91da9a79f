"""Tiny, seeded stand-ins for what a run trains: generators of a few iterations and a run environment of small data.

What the conformance kit and authors' tests need to exercise a plugin in seconds; numbers from these are smoke-level.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..api.contracts import TrainedGAN
from ..run.env import RunEnv
from ..base.errors import UsageError
from ..api.contracts import Family
from ..api.datainfo import DataInfo
from ..api.networks import init_parameters
from ..api.priors import PRIORS
from ..run.registry import Registry
from ..engine.training import TrainSettings, resolve_training, train_gan

LATENT_DIM = 8
BATCH = 64
#: The profile-level training a tiny generator starts from (the family's declaration and `options` go over it).
TRAIN = {"epochs": 1, "batch_size": BATCH, "lr": 1e-3, "betas": [0.5, 0.999]}
#: Rows of each split a `TinyEnv` task sees.
SUBSET = 1024


def base_prior(family: Family) -> str:
    """The base prior a tiny generator of `family` trains on: the normal one where the family takes it."""
    return "normal" if "normal" in family.priors else family.priors[0]


def dataset_for(registry: Registry, family: Family) -> str:
    """The cheapest registered dataset `family` can train on: ring8, then other point sets, then the rest, by name."""
    names = sorted(registry.names("datasets"), key=lambda n: (n != "ring8", registry.get("datasets", n).modality != "points", n))
    for name in names:
        try:
            family.check(registry.get("datasets", name).info, base_prior(family))
        except UsageError:
            continue
        return name
    raise UsageError(f"family {family.name} trains on no registered dataset")


def settings(family: Family, options: dict | None = None) -> TrainSettings:
    """The family's resolved training settings over `TRAIN` (and `options` over both)."""
    return TrainSettings.from_config(resolve_training(family, TRAIN, options))


def build(family: Family, data: DataInfo, seed: int) -> nn.ModuleDict:
    """The family's mlp networks for `data`, initialised from `seed`."""
    nets = family.build(data, LATENT_DIM, "mlp")
    init_parameters(nets, torch.Generator().manual_seed(seed))
    return nets


def train(family: Family, nets: nn.ModuleDict, x: torch.Tensor, iterations: int, seed: int,
          options: dict | None = None) -> dict:
    """`iterations` seeded iterations of the shared loop on the first rows of x (one epoch of BATCH-sized batches)."""
    prior = family.latent_prior(PRIORS[base_prior(family)].with_dim(LATENT_DIM), nets)
    resolved = settings(family, options)
    return train_gan(family, nets, x[:iterations * resolved.batch_size], prior, resolved,
                     torch.Generator().manual_seed(seed), torch.device("cpu"), f"tiny {family.name}")


def tiny_gan(registry: Registry, family_name: str, dataset: str | None, seed: int,
             data: Callable[..., Any], iterations: int = 8) -> TrainedGAN:
    """A generator of `family_name` trained for `iterations` iterations on `dataset` (default: `dataset_for`)."""
    family = registry.get("families", family_name)
    dataset = dataset or dataset_for(registry, family)
    info = registry.get("datasets", dataset).info
    family.check(info, base_prior(family))
    nets = build(family, info, seed)
    x, _ = data(dataset, "train", iterations * settings(family).batch_size)
    metrics = train(family, nets, x, iterations, seed)
    nets.eval()
    prior = family.latent_prior(PRIORS[base_prior(family)].with_dim(LATENT_DIM), nets)
    return TrainedGAN(family, nets, prior, LATENT_DIM, f"tiny-{family_name}-{dataset}-{seed}",
                      {k: v for k, v in metrics.items() if k != "history"}, metrics["history"])


class TinyEnv(RunEnv):
    """A RunEnv whose train splits are their first SUBSET rows and whose generators and classifiers train for one short
    epoch; test splits stay whole, since tasks draw their scored and held-out samples from them.

    Tasks compute real cells with it, cheaply, so the kit can check that `validate` accepts what `run` returns.
    """

    def __init__(self, registry: Registry, cache_dir: Path):
        super().__init__(registry, torch.device("cpu"), cache_dir)

    def split(self, dataset: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = super().split(dataset, split)
        return (x[:SUBSET], y[:SUBSET]) if split == "train" else (x, y)

    def gan(self, spec: dict) -> TrainedGAN:
        spec = copy.deepcopy(spec)
        batch = min(int(spec["train"].get("batch_size", BATCH)), SUBSET // 4)
        spec["family_train"] = {**spec.get("family_train", {}), "epochs": 1, "batch_size": batch}
        return super().gan(spec)

    def evaluator(self, spec: dict | None):
        if spec is not None:
            spec = {**spec, "epochs": 1, "batch_size": min(int(spec.get("batch_size", BATCH)), BATCH)}
        return super().evaluator(spec)
