"""Provenance records the code a process computes with: the git state as it started, not as the tree is later."""
from __future__ import annotations

import json
from itertools import chain, repeat

import pytest
import torch

from lvrbench.base import provenance as prov

START = {"git_commit": "a" * 40, "git_dirty": False}
LATER = {"git_commit": "b" * 40, "git_dirty": True}


@pytest.fixture
def tree(monkeypatch):
    """`git_state` reads START first and LATER ever after, as if the tree changed once the process had started."""
    states = chain([START], repeat(LATER))
    monkeypatch.setattr(prov, "git_state", lambda: dict(next(states)))
    prov.code_state.cache_clear()
    yield
    prov.code_state.cache_clear()  # the next reader reads the real tree


def test_a_process_records_the_tree_as_it_started(tree):
    first = prov.provenance(torch.device("cpu"), 0.0)
    assert prov.git_state() == LATER  # the tree moved on
    second = prov.provenance(torch.device("cpu"), 0.0)
    assert {k: first[k] for k in START} == {k: second[k] for k in START} == START


def test_a_run_whose_tree_changes_records_its_start_and_says_so(tree, registry, tmp_path, monkeypatch, capsys):
    from lvrbench.commands.runner import RunOptions, run_command
    from lvrbench.kit import protocols

    monkeypatch.setitem(protocols.GAN_TRAINING["points"]["quick"], "train", {"epochs": 1, "batch_size": 500, "lr": 1e-3})
    opts = RunOptions(tasks=("mode-coverage",), datasets=("ring8",), families=("vanilla", "lsgan"), executor="inprocess",
                      out=str(tmp_path / "lb"), cache_dir=str(tmp_path / "cache"))
    assert run_command(registry, opts) == 0
    results = [json.loads(p.read_text()) for p in sorted((tmp_path / "lb" / "results").glob("*/*.json"))]
    assert len(results) == 2 and all({k: r["provenance"][k] for k in START} == START for r in results)
    assert ("lvrbench: the code's tree changed while the run went on (aaaaaaaaaaaa at the start, bbbbbbbbbbbb with "
            "uncommitted changes now); its results record the start, the code its processes had loaded"
            ) in capsys.readouterr().err.splitlines()
