"""What the core needs to know about a dataset to build networks and evaluators for it (torch-free, so that the
contracts and the networks can both name it without importing each other)."""
from __future__ import annotations

from dataclasses import dataclass

#: A dataset's modalities: images [C, H, W] in [-1, 1], or points [F].
MODALITIES = ("image", "points")


@dataclass(frozen=True)
class DataInfo:
    """A dataset's name, modality ("image" or "points"), sample shape and number of classes (None: unlabelled)."""

    name: str
    modality: str
    shape: tuple[int, ...]
    num_classes: int | None = None
