"""Finding and reading dataset files: the resolution order, the IDX format, the user cache.

Resolution order for a file-backed dataset: `--data-dir` / LVRBENCH_DATA_DIR, the user cache
(~/.cache/lvrbench/data), the system dataset directory (/usr/share/datasets, where Debian's
dataset-* packages put them), then a download where the dataset has one and the network allows.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import socket
import tempfile
import zlib
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from ..api.contracts import Dataset
from ..base.errors import UsageError, one_line
from ..base.files import user_cache_dir

SYSTEM_DATA_DIR = Path("/usr/share/datasets")
DATA_DIR_ENV = "LVRBENCH_DATA_DIR"


def data_roots(data_dir: str | None) -> list[Path]:
    """The directories searched for a dataset's files, in resolution order."""
    roots = []
    explicit = data_dir or os.environ.get(DATA_DIR_ENV)
    if explicit:
        roots.append(Path(explicit).expanduser())
    roots += [user_cache_dir() / "data", SYSTEM_DATA_DIR]
    return roots


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ValueError(f"{path} cannot be decompressed ({one_line(exc, 80)})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    expected, found = int(np.prod(dims)), len(raw) - (4 + 4 * ndim)
    if found != expected:
        raise ValueError(f"{path} is {'truncated' if found < expected else 'longer than its header says'}: "
                         f"expected {expected} values, found {max(found, 0)}")
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class IdxImageDataset(Dataset):
    """An image dataset stored as four IDX files (MNIST layout), found by the resolution order."""

    modality = "image"
    shape = (1, 28, 28)
    num_classes = 10
    files: ClassVar[dict[str, tuple[str, str]]] = {
        "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
        "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
    }
    #: How a user can install the files, shown when they are missing.
    install_hint: ClassVar[str] = ""

    def download(self, dest: Path) -> None:
        """Fetch the IDX files into `dest`; datasets without a download leave this as is."""
        raise NotImplementedError("no download available")

    def _find(self, root: Path) -> dict[str, Path] | None:
        found = {}
        for split_files in self.files.values():
            for stem in split_files:
                for candidate in (root / self.name / stem, root / self.name / f"{stem}.gz", root / stem, root / f"{stem}.gz"):
                    try:
                        present = candidate.is_file()
                    except OSError as exc:  # e.g. a name too long for the file system
                        raise UsageError(f"dataset {self.name!r}: cannot look in {root} ({exc.strerror or exc})") from None
                    if present:
                        found[stem] = candidate
                        break
                else:
                    return None
        return found

    def locate(self, data_dir: str | None) -> dict[str, Path]:
        """Paths of every file, downloading into the user cache as the last resort."""
        roots = data_roots(data_dir)
        for root in roots:
            found = self._find(root)
            if found:
                return found
        cache = user_cache_dir() / "data" / self.name
        created = [d for d in (cache, *cache.parents) if not d.exists()]  # deepest first
        try:
            with _network_timeout(30):
                self.download(cache)
            found = self._find(cache.parent)
            if found:
                return found
            why = "the download did not produce the expected files"
        except Exception as exc:
            for d in created:  # a failed download leaves no empty directories behind
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
            why = f"download failed ({one_line(exc, 100)})"
        where = ", ".join(str(r / self.name) for r in roots)
        hint = f"; or {self.install_hint}" if self.install_hint else ""
        raise UsageError(
            f"dataset {self.name!r} not found: looked in {where}; {why}. Put its IDX files "
            f"({', '.join(s for pair in self.files.values() for s in pair)}, optionally .gz) in a directory "
            f"given by --data-dir or {DATA_DIR_ENV}{hint}"
        )

    def fingerprint(self, data_dir):
        """A digest of the files' contents (decompressed), read in full: a corrupt file is bad input (exit 2)."""
        digest = hashlib.sha256()
        paths = self.locate(data_dir)
        for split in self.files:
            try:
                arrays = self._read_split(paths, split)
            except ValueError as exc:
                raise UsageError(f"dataset {self.name!r}: {exc}; replace the file (see --data-dir)") from None
            for array in arrays:
                digest.update(f"{split} {array.shape};".encode())
                digest.update(array.tobytes())
        return digest.hexdigest()[:16]

    def _read_split(self, paths: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
        images_stem, labels_stem = self.files[split]
        images = read_idx(paths[images_stem])
        labels = read_idx(paths[labels_stem])
        if images.shape[1:] != tuple(self.shape) and not (self.shape[0] == 1 and images.shape[1:] == tuple(self.shape[1:])):
            raise ValueError(f"{paths[images_stem]} holds images of shape {images.shape[1:]}, not {tuple(self.shape)}")
        if labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"{self.name} {split}: {images.shape[0]} images but labels of shape {labels.shape}")
        if labels.size and int(labels.max()) >= self.num_classes:
            raise ValueError(f"{paths[labels_stem]} holds label {int(labels.max())}; {self.name} has classes 0 to {self.num_classes - 1}")
        return images, labels

    def load(self, split, data_dir):
        import torch

        if split not in self.files:
            raise ValueError(f"{self.name} has no split {split!r}")
        images, labels = self._read_split(self.locate(data_dir), split)
        x = torch.from_numpy(images.astype(np.float32) / 127.5 - 1.0).reshape(-1, *self.shape)
        return x, torch.from_numpy(labels.astype(np.int64))


def download_with_torchvision(dataset_class: Callable, dest: Path) -> None:
    """Download a torchvision MNIST-style dataset and keep only its raw IDX files, in `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        ds = dataset_class(root=tmp, download=True)
        raw = Path(ds.raw_folder)
        for f in raw.iterdir():
            if f.name.endswith("-ubyte"):
                shutil.move(str(f), dest / f.name)


class _network_timeout:
    """Bound how long a download may hang where the network is closed."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self):
        self.previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.seconds)

    def __exit__(self, *exc):
        socket.setdefaulttimeout(self.previous)
