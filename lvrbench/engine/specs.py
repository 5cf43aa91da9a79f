"""The identities of the artifacts a cell uses: a trained generator's spec, a pretrained one's, a dataset's evaluator.

A task puts these specs in its cells' settings, so a cell's id changes with its generator and evaluator; the
environment that computes the cell builds the artifact from the same spec (`lvrbench.run.env.RunEnv`), and its cache
key is the spec's hash (`lvrbench.base.identity.artifact_key`).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..api import networks, priors
from ..api.contracts import Family, Pretrained, Request
from ..api.priors import PRIORS
from . import training
from .evaluator import classifier_spec

if TYPE_CHECKING:
    import torch
    from torch import nn

    from ..api.contracts import Registry


def gan_spec(request: Request, config: dict) -> dict:
    """The full identity of a generator artifact: `config` plus every revision and the data that determine its weights.

    A `config` of {"pretrained": NAME} names a pretrained generator instead (`pretrained_spec`): every task that
    takes a generator asks this one function, and the environment serves both kinds of spec.

    `config` keys: family, dataset, prior (a base prior's name), latent_dim, arch, train (the
    profile's epochs, batch_size, lr, betas, ...), family_train (optional: a protocol's replacements
    for the family's declared settings) and seed. The spec's `train` is resolved
    (`training.resolve_training`) and it names the family's network variants, so changing either
    retrains. Refuses, in one line, a family asked for a prior or dataset it cannot handle.
    """
    if "pretrained" in config:
        return pretrained_spec(request, config["pretrained"])
    registry = request.registry
    family = registry.get("families", config["family"])
    data = registry.get("datasets", config["dataset"])
    family.check(data.info, config["prior"])
    return {**config, "train": training.resolve_training(family, config["train"], config.get("family_train")),
            "networks": dict(family.networks), "prior_params": PRIORS[config["prior"]].to_config(),
            "dataset_digest": request.fingerprint(config["dataset"]),
            "code": {"training": training.REVISION, "networks": networks.REVISION, "priors": priors.REVISION,
                     "family": registry.identity(family), "dataset": registry.identity(data)}}


def pretrained_spec(request: Request, name: str) -> dict:
    """The identity of a pretrained generator: the digest of its weights (checked against its networks once per
    request, so bad weights are refused before any work), its plugin's identity and what it declares."""
    registry = request.registry
    gen = registry.get("generators", name)
    digest = request.weights_digest(name)
    spec = {"pretrained": name, "source": gen.source, "dataset": gen.dataset, "prior": gen.prior,
            "latent_dim": gen.latent_dim, "arch": gen.arch, "networks": dict(gen.networks),
            "prior_params": gen.latent_prior().to_config(), "weights": digest,
            "code": {"generator": registry.identity(gen), "dataset": registry.identity(registry.get("datasets", gen.dataset))}}
    if gen.family:
        spec.update(discriminator_family=gen.family)
        spec["code"]["family"] = registry.identity(registry.get("families", gen.family))
    return spec


def evaluator_spec(request: Request, dataset: str, training_settings: dict) -> dict | None:
    """The full identity of a dataset's evaluator (None: the points are their own features)."""
    data = request.registry.get("datasets", dataset)
    return classifier_spec(data.info, request.registry.identity(data), request.fingerprint(dataset), training_settings)


class NoFamily(Family):
    """What reads a pretrained generator's networks when it names no family: no losses, no discriminator;
    `encode` where it has an encoder E."""

    def __init__(self, generator: str, networks: dict[str, str]):
        self.name, self.networks = generator, dict(networks)
        self.capabilities = frozenset({"encode"}) if "E" in networks else frozenset()

    def encode(self, nets: nn.ModuleDict, x: torch.Tensor) -> torch.Tensor:
        if "E" not in nets:
            return super().encode(nets, x)
        return nets["E"](x)


def family_of(registry: Registry, gen: Pretrained) -> Family:
    """The family whose losses and capabilities read `gen`'s networks: the one it names, else a `NoFamily`."""
    if gen.family:
        return registry.get("families", gen.family)
    return NoFamily(gen.name, gen.networks)
