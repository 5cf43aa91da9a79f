"""Trained networks cached by the hash of the config that produced them.

Weights are stored as state dicts (`torch.save(module.state_dict())`) and read back with
`torch.load(..., weights_only=True)` into a freshly built module: nothing is ever unpickled.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..base.errors import one_line
from ..base.files import atomic_write, write_json_atomic
from ..base.hashing import canonical_json
from ..base.identity import artifact_key
from ..base.progress import say
from ..base.provenance import provenance


def file_sha256(path: Path) -> str:
    """The hex SHA-256 of a file's bytes: what an artifact's metadata records of its weights."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _save(state: dict, path: str) -> None:
    """torch.save through a Python file: a full disk is an OSError naming the file, not torch's internal RuntimeError."""
    with open(path, "wb") as f:
        torch.save(state, f)


class ArtifactCache:
    """A directory of trained modules: <root>/<kind>/<hash>.pt (weights) + <hash>.json (key, kind, config,
    metrics, the weights' sha256, provenance). Weights whose sha256 is not the recorded one are retrained, never read."""

    def __init__(self, root: Path):
        self.root = Path(root)

    @staticmethod
    def key(config: dict) -> str:
        """An artifact's identity: the hash of everything that determines its weights."""
        return artifact_key(config)

    def get(self, kind: str, config: dict, build: Callable[[], nn.Module],
            train: Callable[[nn.Module], dict], device: torch.device) -> tuple[nn.Module, dict]:
        """The module for `config`: loaded when cached, otherwise built, trained by `train` and saved."""
        key = self.key(config)
        weights, meta_path = self.root / kind / f"{key}.pt", self.root / kind / f"{key}.json"
        if weights.is_file() and meta_path.is_file():
            module = build()
            try:
                meta = json.loads(meta_path.read_text())
                missing = [k for k in ("key", "kind", "config", "metrics", "provenance", "sha256") if k not in meta]
                if missing:
                    raise ValueError(f"its metadata lacks {', '.join(missing)}")
                if canonical_json(meta.get("config")) == canonical_json(config):
                    digest = file_sha256(weights)  # before anything reads the weights: a swapped file is never used
                    if digest == meta["sha256"]:
                        module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
                        return module.to(device), meta
                    say(f"lvrbench: warning: cached {kind} {key}: its weights (sha256 {digest[:16]}...) are not the ones "
                        f"its metadata records ({str(meta['sha256'])[:16]}...); training it again")
            except Exception as exc:  # a damaged cache entry is retrained and replaced, never a failure
                say(f"lvrbench: cached {kind} {key} is unreadable ({one_line(exc, 120)}); training it again")
        module = build().to(device)  # fresh: a failed load may have filled part of the last one
        started = time.perf_counter()
        with torch.enable_grad():  # training needs gradients whatever the caller's mode
            metrics = train(module)
        atomic_write(weights, lambda tmp: _save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp))
        meta = {"key": key, "kind": kind, "config": config, "metrics": metrics, "sha256": file_sha256(weights),
                "provenance": provenance(device, time.perf_counter() - started)}
        write_json_atomic(meta_path, meta)
        return module, meta
