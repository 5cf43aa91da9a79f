"""What identifies a cell and an artifact: the hash of the config that determines its numbers.

A cell's config holds the revisions of the code that computed it (`config["code"]`: the core's numeric modules and
each plugin's declared `revision`), never a distribution's version, which is provenance: a release that changes no
number keeps every published cell, and a change to one plugin re-keys that plugin's cells only.
"""
from __future__ import annotations

from typing import Any

from .hashing import content_hash

#: The profiles every task may plan: smoke-level, the published CPU size, the papers' protocols.
PROFILES = ("quick", "standard", "full")


def cell_id(config: dict) -> str:
    """A cell's identity: the hash of everything that determines its numbers."""
    return content_hash(config)


def artifact_key(spec: dict) -> str:
    """A trained artifact's identity (a generator, a classifier, a calibrator): the hash of its spec."""
    return content_hash(spec)


def evaluator_key(spec: dict | None) -> str:
    """The key an evaluator of `spec` records in results: "identity" (points are their own features), or "classifier-"
    and its artifact key."""
    return "identity" if spec is None else f"classifier-{artifact_key(spec)}"


def artifact_keys(config: Any) -> dict[str, str]:
    """The key each artifact a cell of `config` uses records in its result: the generator of `settings.gan` and the
    evaluators of `settings.evaluator` and `settings.evaluator_alt` (what `verify` checks before any compute). A
    pretrained generator's key is the digest of its weights, which its spec records."""
    settings = config.get("settings") if isinstance(config, dict) and isinstance(config.get("settings"), dict) else {}
    keys = {}
    gan = settings.get("gan")
    if isinstance(gan, dict):
        keys["generator"] = str(gan.get("weights")) if "pretrained" in gan else artifact_key(gan)
    for name in ("evaluator", "evaluator_alt"):
        if name in settings:
            keys[name] = evaluator_key(settings[name])
    return keys


#: The artifacts the core builds for a job, by kind: the `settings` entries each is built from (a cell's second
#: evaluator is a classifier too).
BUILT = {"generators": ("gan",), "evaluators": ("evaluator", "evaluator_alt")}


def artifacts_needed(config: Any) -> list[tuple[str, dict]]:
    """The (kind, spec) of each artifact a cell of `config` needs trained: the generator of `settings.gan` (a
    pretrained one is loaded, never built) and the classifiers of `settings.evaluator` and `settings.evaluator_alt` (None: points are their
    own features)."""
    settings = config.get("settings") if isinstance(config, dict) and isinstance(config.get("settings"), dict) else {}
    out = []
    for kind, names in BUILT.items():
        for name in names:
            spec = settings.get(name)
            if isinstance(spec, dict) and "pretrained" not in spec:
                out.append((kind, spec))
    return out
