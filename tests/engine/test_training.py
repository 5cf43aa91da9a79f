"""The shared training loop and the artifact cache: reproducible, cached by config, never unpickled."""
from __future__ import annotations

import json
import pickle
import time

import pytest
import torch

import lvrbench
import lvrbench.run.env as env_module
from lvrbench.engine.artifacts import ArtifactCache, file_sha256
from lvrbench.run.env import RunEnv

RING = {"family": "lsgan", "dataset": "ring8", "prior": "normal", "seed": 0, "arch": "mlp", "latent_dim": 4,
        "train": {"epochs": 1, "batch_size": 500, "lr": 1e-3, "betas": [0.5, 0.999]}}


def make_env(registry, path):
    return RunEnv(registry, torch.device("cpu"), path)


def state(gan):
    return {k: v.clone() for k, v in gan.nets.state_dict().items()}


def test_same_config_same_weights_on_the_cpu(registry, tmp_path):
    a = make_env(registry, tmp_path / "a").gan(RING)
    b = make_env(registry, tmp_path / "b").gan(RING)
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.key == b.key


def test_any_change_to_the_config_is_another_artifact(registry, tmp_path):
    env = make_env(registry, tmp_path)
    base = env.gan(RING)
    other = env.gan({**RING, "seed": 1})
    assert other.key != base.key
    assert not torch.equal(state(base)["G.0.weight"], state(other)["G.0.weight"])
    assert env.gan({**RING, "family": "vanilla"}).key not in (base.key, other.key)


def test_cached_artifact_is_loaded_not_retrained(registry, tmp_path, monkeypatch):
    first = make_env(registry, tmp_path).gan(RING)
    calls = []
    monkeypatch.setattr(env_module, "train_gan", lambda *a, **k: calls.append(1) or {})
    again = make_env(registry, tmp_path).gan(RING)
    assert calls == []
    assert all(torch.equal(v, state(again)[k]) for k, v in state(first).items())
    meta = json.loads((tmp_path / "generators" / f"{first.key}.json").read_text())
    assert meta["metrics"]["iterations"] == 40  # 20000 ring8 training points / batch 500, one epoch
    (epoch,) = meta["metrics"]["history"]  # the per-epoch losses of both players travel with the artifact
    assert epoch["epoch"] == 1 and epoch["generator_steps"] == 40
    assert all(isinstance(epoch[k], float) and epoch[k] == epoch[k] for k in ("d_loss", "g_loss"))
    assert again.history == meta["metrics"]["history"] and "history" not in again.describe()
    assert again.describe()["prior"] == {"kind": "normal", "mean": 0.0, "std": 1.0, "dim": 4}
    assert meta["provenance"]["wall_time_s"] > 0 and meta["provenance"]["device"].startswith("cpu (")
    assert meta["provenance"]["lvrbench"] == lvrbench.__version__
    assert not again.nets.training


class Marker:
    """Unpickling this would create a file: a stand-in for code smuggled into a weights file."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_weights_files_are_never_unpickled_and_a_damaged_entry_is_retrained(registry, tmp_path, capsys):
    gan = make_env(registry, tmp_path).gan(RING)
    expected = state(gan)
    weights = tmp_path / "generators" / f"{gan.key}.pt"
    marker = tmp_path / "pwned"
    meta_path = tmp_path / "generators" / f"{gan.key}.json"
    recorded = json.loads(meta_path.read_text())["sha256"]
    assert recorded == file_sha256(weights)  # the entry records its weights' hash
    with open(weights, "wb") as f:
        pickle.dump({"G.0.weight": Marker(str(marker))}, f, protocol=2)
    swapped = file_sha256(weights)
    again = make_env(registry, tmp_path).gan(RING)  # its sha256 is not the recorded one: never even read
    assert not marker.exists()
    assert capsys.readouterr().err == (f"lvrbench: warning: cached generators {gan.key}: its weights (sha256 {swapped[:16]}...) "
                                       f"are not the ones its metadata records ({recorded[:16]}...); training it again\n")
    assert all(torch.equal(v, state(again)[k]) for k, v in expected.items())  # retrained: the same weights
    assert torch.load(weights, weights_only=True).keys() == expected.keys()  # and the entry replaced
    with open(weights, "wb") as f:  # a pickle whose hash the metadata records too: weights_only=True still refuses it
        pickle.dump({"G.0.weight": Marker(str(marker))}, f, protocol=2)
    meta = json.loads(meta_path.read_text())
    meta_path.write_text(json.dumps({**meta, "sha256": file_sha256(weights)}))
    make_env(registry, tmp_path).gan(RING)
    assert not marker.exists()
    assert f"lvrbench: cached generators {gan.key} is unreadable (UnpicklingError: Weights only load failed" in capsys.readouterr().err
    meta_path.write_text("{not json")
    make_env(registry, tmp_path).gan(RING)
    assert "is unreadable (JSONDecodeError" in capsys.readouterr().err
    assert json.loads(meta_path.read_text())["key"] == gan.key
    meta = json.loads(meta_path.read_text())
    del meta["metrics"]  # valid JSON, its config matches, but what readers of the entry need is gone
    meta_path.write_text(json.dumps(meta))
    make_env(registry, tmp_path).gan(RING)
    assert f"lvrbench: cached generators {gan.key} is unreadable (ValueError: its metadata lacks metrics)" in capsys.readouterr().err
    assert "metrics" in json.loads(meta_path.read_text())


def test_weights_that_are_not_the_recorded_ones_are_retrained_with_a_warning_never_used(registry, tmp_path, capsys):
    gan = make_env(registry, tmp_path).gan(RING)
    expected = state(gan)
    weights = tmp_path / "generators" / f"{gan.key}.pt"
    torch.save({k: torch.zeros_like(v) for k, v in expected.items()}, weights)  # loadable, the right shapes, other numbers
    capsys.readouterr()
    again = make_env(registry, tmp_path).gan(RING)
    assert f"lvrbench: warning: cached generators {gan.key}: its weights (sha256 " in capsys.readouterr().err
    assert all(torch.equal(v, state(again)[k]) for k, v in expected.items())  # the trained numbers, not the zeros
    assert json.loads((tmp_path / "generators" / f"{gan.key}.json").read_text())["sha256"] == file_sha256(weights)


def test_non_finite_training_is_an_error(registry, tmp_path):
    bad = {**RING, "train": {**RING["train"], "lr": 1e30}}
    diverged = r"^train lsgan ring8 normal: training diverged at iteration 1 \(epoch 1\): D loss [0-9.]+, G loss nan$"
    with pytest.raises(FloatingPointError, match=diverged):
        make_env(registry, tmp_path).gan(bad)
    assert list(tmp_path.glob("generators/*.pt")) == []


def test_samples_come_from_the_seeded_generator(registry, tmp_path):
    gan = make_env(registry, tmp_path).gan(RING)
    one = gan.sample(300, torch.Generator().manual_seed(5), torch.device("cpu"), batch=128)
    two = gan.sample(300, torch.Generator().manual_seed(5), torch.device("cpu"))
    assert one.shape == (300, 2) and torch.allclose(one, two, atol=1e-6)
    assert not torch.allclose(one, gan.sample(300, torch.Generator().manual_seed(6), torch.device("cpu")))


def test_initialisation_never_falls_back_to_the_global_rng():
    from torch import nn

    from lvrbench.api.networks import init_parameters

    def build():
        net = nn.Sequential(nn.Conv1d(2, 3, 3), nn.Embedding(5, 4), nn.LayerNorm(4))
        init_parameters(net, torch.Generator().manual_seed(3))
        return net

    torch.manual_seed(0)
    a = build()
    torch.manual_seed(1)
    b = build()
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))

    class Means(nn.Module):
        def __init__(self):
            super().__init__()
            self.mu = nn.Parameter(torch.zeros(3))

    with pytest.raises(TypeError, match="cannot initialise Means from a seeded generator: give it an init_parameters_from"):
        init_parameters(nn.Sequential(nn.Linear(2, 2), Means()), torch.Generator())


#: A process that needs the RING generator from a cold cache once the go file appears, counting the trainings it runs.
RACER = r"""
import hashlib, json, sys, time
from pathlib import Path
import torch
import lvrbench.run.env as env_module
from lvrbench.run.env import RunEnv
from lvrbench.run.registry import load_registry
root, spec = Path(sys.argv[1]), json.loads(sys.argv[2])
real = env_module.train_gan
def counted(*args, **kwargs):
    with open(root / "trainings", "a") as f:
        f.write("trained\n")
    return real(*args, **kwargs)
env_module.train_gan = counted
registry = load_registry()
while not (root / "go").exists():
    time.sleep(0.005)
gan = RunEnv(registry, torch.device("cpu"), root / "cache", run_id="race").gan(spec)
state = gan.nets.state_dict()
print(hashlib.sha256(b"".join(state[k].numpy().tobytes() for k in sorted(state))).hexdigest())
"""


@pytest.mark.slow
def test_two_processes_racing_on_one_cold_artifact_train_it_once(tmp_path):
    """Two real processes need the same missing generator at once: one trains it under its claim, the other waits and
    loads the very weights, and no claim is left behind."""
    import subprocess
    import sys

    spec = {**RING, "train": {**RING["train"], "epochs": 8}}  # a few seconds of training: the two surely overlap
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path), json.dumps(spec)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    time.sleep(3)  # both have loaded torch and the registry
    (tmp_path / "go").touch()
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [err for _, err in outs]
    assert (tmp_path / "trainings").read_text() == "trained\n"
    assert outs[0][0] == outs[1][0]  # the waiter loaded the weights the builder trained
    key = ArtifactCache.key(spec)
    assert sorted(p.name for p in (tmp_path / "cache" / "generators").iterdir()) == [f"{key}.json", f"{key}.pt"]
