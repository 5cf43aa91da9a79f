"""Evaluators: what turns samples into scores for a dataset.

For an image dataset, a classifier trained once per config and cached (paper 000 §2 scores
recovery by the accuracy of such a classifier); its penultimate features feed FID and
precision/recall. Two architectures (`ARCHS`): a small CNN, and a fully connected network that
tasks train with another seed as a second, independent evaluator, so a ranking that depends on
the feature network shows. For a point dataset, the points are their own features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from ..api.datainfo import DataInfo
from ..api.estimates import wilson_interval
from ..api.networks import init_parameters
from ..base.errors import UsageError
from ..base.hashing import derive_seed
from ..base.identity import evaluator_key
from ..base.progress import bar
from .artifacts import ArtifactCache

FEATURES = 128
#: Part of every classifier artifact's identity: bump it when the classifier or its training changes.
#: 3: trained under the thread policy (one thread), whose bits differ from 2 threads'; 4: a second, fully connected
#: architecture beside the CNN (the second evaluator).
REVISION = 4


class FeatureClassifier(nn.Module):
    """A classifier whose `body` ends in a FEATURES-unit penultimate layer (the feature space of FID and
    precision/recall) and whose `head` maps those features to class logits."""

    body: nn.Module
    head: nn.Module

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, FEATURES] penultimate activations."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Classifier(FeatureClassifier):
    """Two conv blocks and a 128-unit penultimate layer."""

    def __init__(self, data: DataInfo):
        super().__init__()
        c, h, w = data.shape
        self.body = nn.Sequential(
            nn.Conv2d(c, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * (h // 2 // 2) * (w // 2 // 2), FEATURES), nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, data.num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Channels-last convolutions are about 30% faster on a CPU."""
        return self.body(x.contiguous(memory_format=torch.channels_last))


class MLPClassifier(FeatureClassifier):
    """Two fully connected hidden layers (512 units, then the 128-unit feature layer): no convolution, so its
    features weigh pixels unlike the CNN's, which is what a second evaluator is for."""

    def __init__(self, data: DataInfo):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(data.shape), 512), nn.ReLU(),
                                  nn.Linear(512, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, data.num_classes)


#: The classifier architectures a spec's "arch" names.
ARCHS: dict[str, type[FeatureClassifier]] = {"cnn-2x-128": Classifier, "mlp-512-128": MLPClassifier}
#: The architecture of a spec that names none (the one every evaluator had before there were two).
DEFAULT_ARCH = "cnn-2x-128"


@dataclass
class Evaluator:
    """Features (and, for labelled images, class predictions) for a dataset; `key` says which one."""

    key: str
    net: FeatureClassifier | None
    test_accuracy: float | None
    device: torch.device
    #: Test images the accuracy was measured on (its interval's n).
    test_n: int
    #: The spec it was trained from (None: the identity on points).
    spec: dict | None = None

    @torch.no_grad()
    def _map(self, fn, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
        return torch.cat([fn(x[i:i + batch].to(self.device)).float().cpu() for i in range(0, x.shape[0], batch)])

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """[n, f] features of samples x."""
        if self.net is None:
            return x.reshape(x.shape[0], -1).float().cpu()
        return self._map(self.net.features, x)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """[n] predicted class of each image."""
        if self.net is None:
            raise ValueError("this evaluator has no classifier (point datasets are scored by their modes)")
        return self._map(lambda b: self.net(b).argmax(1), x)

    def describe(self) -> dict:
        """What every score records about the evaluator that produced it: its key, its classifier's test accuracy
        (None on points) and what it is (architecture, training epochs, seed; `describe_spec`)."""
        accuracy = None if self.test_accuracy is None else wilson_interval(self.test_accuracy, self.test_n).to_dict()
        return {"key": self.key, "test_accuracy": accuracy, "description": describe_spec(self.spec)}


def describe_spec(spec: dict | None) -> dict:
    """{"arch", "epochs", "seed"} of the evaluator a spec gives, and "n_train" where its epochs see only that many
    training examples: the identity on points has no training (epochs 0, seed None)."""
    if spec is None:
        return {"arch": "identity", "epochs": 0, "seed": None}
    subset = {"n_train": int(spec["n_train"])} if "n_train" in spec else {}
    return {"arch": spec.get("arch", DEFAULT_ARCH), "epochs": int(spec["epochs"]), "seed": spec.get("seed"), **subset}


def _train_classifier(net: FeatureClassifier, x: torch.Tensor, y: torch.Tensor, config: dict, device: torch.device, desc: str) -> None:
    """Train `net` for `config["epochs"]` epochs of Adam on (x, y); an epoch is `config["n_train"]` examples of a fresh
    seeded permutation where the config names that many (the quick profile), else all of them."""
    generator = torch.Generator().manual_seed(derive_seed(config, "classifier-training"))
    opt = torch.optim.Adam(net.parameters(), lr=config["lr"])
    available, b = x.shape[0], config["batch_size"]
    n = min(int(config.get("n_train", available)), available)
    x, y = x.to(device), y.to(device)
    net.train()
    with bar(config["epochs"] * (n // b), desc) as progress:
        for _ in range(config["epochs"]):
            order = torch.randperm(available, generator=generator)[:n].to(device)
            for i in range(n // b):
                idx = order[i * b:(i + 1) * b]
                loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                progress.update()
    net.eval()


def classifier_spec(data: DataInfo, dataset_code: dict, dataset_digest: str, training: dict) -> dict | None:
    """The full identity of a dataset's classifier (None for point datasets, whose evaluator is the identity): the
    dataset (its plugin's identity and its contents' digest), this module's revision and the training settings
    (epochs, batch_size, lr, and "arch" (one of `ARCHS`), "seed" and "n_train" where given)."""
    if data.modality != "image" or not data.num_classes:
        return None
    spec = {"dataset": data.name, "dataset_digest": dataset_digest, "arch": DEFAULT_ARCH,
            "code": {"evaluator": REVISION, "dataset": dataset_code}, **training}
    if spec["arch"] not in ARCHS:
        raise UsageError(f"unknown classifier architecture {spec['arch']!r} (known: {', '.join(ARCHS)})")
    return spec


def load_evaluator(data: DataInfo, splits, spec: dict | None, cache: ArtifactCache, device: torch.device) -> Evaluator:
    """The evaluator a `classifier_spec` describes: trained and cached on first use, or the identity (None).

    `splits(name)` returns (x, y) of "train" or "test".
    """
    if spec is None:
        return Evaluator(evaluator_key(spec), None, None, device, 0)
    arch = ARCHS[spec.get("arch", DEFAULT_ARCH)]

    def train(net: FeatureClassifier) -> dict:
        x, y = splits("train")
        _train_classifier(net, x, y, spec, device, f"classifier {data.name}")
        xt, yt = splits("test")
        accuracy = float((Evaluator("", net, None, device, 0).predict(xt) == yt).float().mean())
        return {"test_accuracy": accuracy, "test_n": len(yt)}

    def build() -> FeatureClassifier:
        net = arch(data)
        init_parameters(net, torch.Generator().manual_seed(derive_seed(spec, "classifier-init")))
        return net.to(memory_format=torch.channels_last)

    net, meta = cache.get("evaluators", spec, build, train, device)
    net.eval()
    return Evaluator(evaluator_key(spec), net, meta["metrics"]["test_accuracy"], device, meta["metrics"]["test_n"], spec)
