"""The two evaluators of image samples: another architecture and seed, trained and cached alike, described in results."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lvrbench.api.datainfo import DataInfo
from lvrbench.base.errors import UsageError
from lvrbench.engine.artifacts import ArtifactCache
from lvrbench.engine.evaluator import ARCHS, FEATURES, classifier_spec, load_evaluator
from lvrbench.kit.protocols import EVALUATORS

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
pytestmark = pytest.mark.usefixtures("one_thread")


def test_each_architecture_maps_images_to_features_and_classes():
    data = DataInfo("probe", "image", (1, 28, 28), 10)
    for arch, cls in ARCHS.items():
        net = cls(data)
        x = torch.randn(5, 1, 28, 28)
        assert net.features(x).shape == (5, FEATURES) and net(x).shape == (5, 10), arch
    assert set(ARCHS) == {EVALUATORS["main"]["arch"], EVALUATORS["alt"]["arch"]}
    assert EVALUATORS["main"]["seed"] != EVALUATORS["alt"]["seed"]


def test_a_spec_names_its_architecture_and_seed():
    data = DataInfo("probe", "image", (1, 28, 28), 10)
    training = {"epochs": 1, "batch_size": 128, "lr": 1e-3}
    main = classifier_spec(data, {"revision": 1}, "d", {**training, **EVALUATORS["main"]})
    alt = classifier_spec(data, {"revision": 1}, "d", {**training, **EVALUATORS["alt"]})
    assert (main["arch"], main["seed"], alt["arch"], alt["seed"]) == ("cnn-2x-128", 0, "mlp-512-128", 1)
    assert classifier_spec(DataInfo("ring", "points", (2,), None), {}, "d", training) is None
    with pytest.raises(UsageError) as refused:
        classifier_spec(data, {}, "d", {**training, "arch": "resnet"})
    assert str(refused.value) == "unknown classifier architecture 'resnet' (known: cnn-2x-128, mlp-512-128)"


@pytest.mark.skipif(not FMNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_both_evaluators_train_once_are_cached_and_describe_themselves(registry, tmp_path):
    dataset = registry.get("datasets", "fashion-mnist")
    x, y = dataset.load("train", None)
    xt, yt = dataset.load("test", None)
    splits = {"train": (x[:3000], y[:3000]), "test": (xt[:1000], yt[:1000])}
    training = {"epochs": 1, "batch_size": 100, "lr": 1e-3}
    cache, cpu = ArtifactCache(tmp_path), torch.device("cpu")
    evaluators = {}
    for which in ("main", "alt"):
        spec = classifier_spec(dataset.info, {"revision": 1}, "d", {**training, **EVALUATORS[which]})
        evaluators[which] = load_evaluator(dataset.info, splits.__getitem__, spec, cache, cpu)
        again = load_evaluator(dataset.info, splits.__getitem__, spec, cache, cpu)  # from the cache
        assert torch.equal(again.features(xt[:50]), evaluators[which].features(xt[:50]))
    main, alt = evaluators["main"], evaluators["alt"]
    assert main.key != alt.key and len(list((tmp_path / "evaluators").glob("*.pt"))) == 2
    assert main.describe()["description"] == {"arch": "cnn-2x-128", "epochs": 1, "seed": 0}
    assert alt.describe()["description"] == {"arch": "mlp-512-128", "epochs": 1, "seed": 1}
    for e in (main, alt):  # 3000 images, one epoch: both far above the 10% of guessing
        accuracy = e.describe()["test_accuracy"]
        assert accuracy["n"] == 1000 and 0.6 < accuracy["low"]
    assert (main.predict(xt[:1000]) == yt[:1000]).float().mean() == main.test_accuracy
    assert not torch.equal(main.features(xt[:10]), alt.features(xt[:10]))


def test_n_train_trains_each_epoch_on_that_many_examples_and_says_so(tmp_path, monkeypatch):
    """The quick profile's classifiers see 25 000 of 60 000 images: an epoch is n_train examples (n_train // batch
    steps) of a fresh permutation; a spec without it trains on every example as before, and describes no n_train."""
    data = DataInfo("probe", "image", (1, 8, 8), 3)
    x = torch.randn(1000, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.randint(0, 3, (1000,), generator=torch.Generator().manual_seed(1))
    splits = {"train": (x, y), "test": (x[:100], y[:100])}.__getitem__
    steps = []
    step = torch.optim.Adam.step
    monkeypatch.setattr(torch.optim.Adam, "step", lambda self, *a, **k: steps.append(1) or step(self, *a, **k))
    training = {"epochs": 2, "batch_size": 100, "lr": 1e-3, **EVALUATORS["alt"]}
    subset = load_evaluator(data, splits, classifier_spec(data, {}, "d", {**training, "n_train": 300}),
                            ArtifactCache(tmp_path / "a"), torch.device("cpu"))
    assert len(steps) == 2 * 3 and subset.describe()["description"] == {"arch": "mlp-512-128", "epochs": 2, "seed": 1,
                                                                        "n_train": 300}
    steps.clear()
    whole = load_evaluator(data, splits, classifier_spec(data, {}, "d", training), ArtifactCache(tmp_path / "b"),
                           torch.device("cpu"))
    assert len(steps) == 2 * 10 and whole.describe()["description"] == {"arch": "mlp-512-128", "epochs": 2, "seed": 1}
    # more than the split holds is the whole split
    steps.clear()
    load_evaluator(data, splits, classifier_spec(data, {}, "d", {**training, "n_train": 5000}),
                   ArtifactCache(tmp_path / "c"), torch.device("cpu"))
    assert len(steps) == 2 * 10
