"""Stable identities: canonical JSON, content hashes and seeds derived from them."""
from __future__ import annotations

import hashlib
import json
from typing import Any


def canonical_json(obj: Any) -> str:
    """JSON with sorted keys and no whitespace: equal data, equal text, on every machine."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def content_hash(obj: Any, length: int = 16) -> str:
    """Hex SHA-256 prefix of `obj`'s canonical JSON."""
    return hashlib.sha256(canonical_json(obj).encode()).hexdigest()[:length]


def derive_seed(*parts: Any) -> int:
    """A 63-bit seed for a torch.Generator, determined by `parts` (e.g. the cell seed and a purpose)."""
    return int(hashlib.sha256(canonical_json(list(parts)).encode()).hexdigest()[:16], 16) & (2**63 - 1)
