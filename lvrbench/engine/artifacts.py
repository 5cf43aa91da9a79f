"""Trained networks cached by the hash of the config that produced them, each built once however many workers need it.

Weights are stored as state dicts (`torch.save(module.state_dict())`) and read back with
`torch.load(..., weights_only=True)` into a freshly built module: nothing is ever unpickled.

Workers of a pool or of a cluster sharing the cache may need one missing artifact at once: the first takes a claim on
it (`lvrbench.base.claims`) and trains, the others wait for it. An entry is ready when its metadata (written last)
records the config and the sha256 of the weights beside it. A build that raises in a run makes every later need of the
artifact in that run fail with its error (`ArtifactFailed`), rather than train it again.
"""
from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from ..base.claims import ArtifactFailed, build_once
from ..base.errors import one_line
from ..base.files import atomic_write, write_json_atomic
from ..base.hashing import canonical_json
from ..base.identity import artifact_key
from ..base.progress import say
from ..base.provenance import provenance

#: What an artifact's metadata must hold.
META_KEYS = ("key", "kind", "config", "metrics", "provenance", "sha256")


class NotRecordedWeights(ValueError):
    """An entry's weights are not the ones its metadata records (replaced, or a write cut short)."""


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
    metrics, the weights' sha256, provenance). Weights whose sha256 is not the recorded one are retrained, never read.

    `run` names the run a failed build belongs to (`lvrbench.base.claims.build_once`): within it the failure is
    shared, a later run tries again.
    """

    def __init__(self, root: Path, run: str | None = None):
        self.root = Path(root)
        self.run = run

    @staticmethod
    def key(config: dict) -> str:
        """An artifact's identity: the hash of everything that determines its weights."""
        return artifact_key(config)

    def paths(self, kind: str, config: dict) -> tuple[Path, Path]:
        """The weights and metadata files of `config`'s entry."""
        key = self.key(config)
        return self.root / kind / f"{key}.pt", self.root / kind / f"{key}.json"

    def _entry(self, kind: str, config: dict) -> dict:
        """The metadata of a complete entry for `config`; raises ValueError (or OSError) saying what is wrong."""
        weights, meta_path = self.paths(kind, config)
        meta = json.loads(meta_path.read_text())
        missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
        if missing:
            raise ValueError(f"its metadata lacks {', '.join(missing)}")
        if canonical_json(meta.get("config")) != canonical_json(config):
            raise ValueError("its metadata records another config")
        digest = file_sha256(weights)  # before anything reads the weights: a swapped file is never used
        if digest != meta["sha256"]:
            raise NotRecordedWeights(f"its weights (sha256 {digest[:16]}...) are not the ones its metadata records "
                             f"({str(meta['sha256'])[:16]}...)")
        return meta

    def ready(self, kind: str, config: dict) -> bool:
        """Whether `config`'s entry is complete: metadata recording the config and its weights' sha256 (it is written
        last), and those weights."""
        try:
            self._entry(kind, config)
        except (OSError, ValueError):
            return False
        return True

    def export(self, kind: str, key: str) -> dict | None:
        """A complete entry's files as bytes, to ship to a machine that does not share this cache (Ray's object
        store); None where the entry is not complete."""
        weights, meta_path = self.root / kind / f"{key}.pt", self.root / kind / f"{key}.json"
        try:
            meta, data = meta_path.read_bytes(), weights.read_bytes()
            recorded = json.loads(meta)
        except (OSError, ValueError):
            return None
        if not isinstance(recorded, dict) or recorded.get("sha256") != hashlib.sha256(data).hexdigest():
            return None
        return {"kind": kind, "key": key, "meta": meta, "weights": data}

    def install(self, payload: dict) -> bool:
        """Write an exported entry here unless a complete one is (True when written). Refused with ValueError unless
        its weights are the ones its metadata records and its metadata's config hashes to its key."""
        kind, key = payload["kind"], payload["key"]
        meta = json.loads(payload["meta"])
        if artifact_key(meta.get("config")) != key or meta.get("key") != key:
            raise ValueError(f"{kind} {key}: the shipped metadata is of another artifact")
        if hashlib.sha256(payload["weights"]).hexdigest() != meta.get("sha256"):
            raise ValueError(f"{kind} {key}: the shipped weights are not the ones its metadata records (sha256)")
        if self.ready(kind, meta["config"]):
            return False
        weights, meta_path = self.paths(kind, meta["config"])
        weights.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(weights, lambda tmp: Path(tmp).write_bytes(payload["weights"]))
        atomic_write(meta_path, lambda tmp: Path(tmp).write_bytes(payload["meta"]))  # last: it makes the entry ready
        return True

    def _load(self, kind: str, config: dict, build: Callable[[], nn.Module], device: torch.device,
              warn: bool) -> tuple[nn.Module, dict] | None:
        """The cached module, or None (saying why where an entry exists but cannot be used and `warn`)."""
        weights, meta_path = self.paths(kind, config)
        if not (weights.is_file() and meta_path.is_file()):
            return None
        key = self.key(config)
        try:
            meta = self._entry(kind, config)
            module = build()
            module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        except Exception as exc:  # a damaged cache entry is retrained and replaced, never a failure
            if warn:
                say(f"lvrbench: warning: cached {kind} {key}: {exc}; training it again" if isinstance(exc, NotRecordedWeights)
                    else f"lvrbench: cached {kind} {key} is unreadable ({one_line(exc, 120)}); training it again")
            return None
        return module.to(device), meta

    def get(self, kind: str, config: dict, build: Callable[[], nn.Module],
            train: Callable[[nn.Module], dict], device: torch.device) -> tuple[nn.Module, dict]:
        """The module for `config`: loaded when cached; otherwise built, trained by `train` and saved by this worker
        under a claim, or by another that holds it while this one waits. `ArtifactFailed` when its build failed in
        this run (the message names the artifact and the error)."""
        loaded = self._load(kind, config, build, device, warn=True)
        if loaded is not None:
            return loaded
        weights, meta_path = self.paths(kind, config)
        key = self.key(config)
        made: dict = {}

        def make() -> None:
            module = build().to(device)  # fresh: a failed load may have filled part of the last one
            started = time.perf_counter()
            with torch.enable_grad():  # training needs gradients whatever the caller's mode
                metrics = train(module)
            atomic_write(weights, lambda tmp: _save({k: v.detach().cpu() for k, v in module.state_dict().items()}, tmp))
            meta = {"key": key, "kind": kind, "config": config, "metrics": metrics, "sha256": file_sha256(weights),
                    "provenance": provenance(device, time.perf_counter() - started)}
            write_json_atomic(meta_path, meta)  # last: its sha256 of the weights beside it makes the entry ready
            made.update(module=module, meta=meta)

        def ready() -> bool:  # what the waiters poll: an entry that loads, its weights the recorded ones
            found = self._load(kind, config, build, device, warn=False)
            made.update({} if found is None else {"module": found[0], "meta": found[1]})
            return found is not None

        weights.parent.mkdir(parents=True, exist_ok=True)
        try:
            build_once(ready, weights, make, run=self.run)
        except ArtifactFailed as exc:
            raise ArtifactFailed(f"{kind} {key}: its training failed in this run ({exc})") from None
        return made["module"], made["meta"]
