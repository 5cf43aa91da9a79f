"""Dataset files: the IDX reader, the resolution order, the real Fashion-MNIST, the synthetic mixtures."""
from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from lvrbench.kit.readers import read_idx
from lvrbench.base.errors import UsageError

from conftest import run_cli

FMNIST = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_set(root: Path, images: np.ndarray, labels: np.ndarray, compress: bool = False) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for stem, arr in [("train-images-idx3-ubyte", images), ("train-labels-idx1-ubyte", labels),
                      ("t10k-images-idx3-ubyte", images[:2]), ("t10k-labels-idx1-ubyte", labels[:2])]:
        data = idx_bytes(arr)
        if compress:
            (root / f"{stem}.gz").write_bytes(gzip.compress(data))
        else:
            (root / stem).write_bytes(data)


def test_read_idx_plain_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(arr))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    assert np.array_equal(read_idx(tmp_path / "a"), arr)
    assert np.array_equal(read_idx(tmp_path / "a.gz"), arr)


def test_read_idx_refuses_truncated_and_foreign_files(tmp_path):
    arr = np.zeros((2, 3), dtype=np.uint8)
    (tmp_path / "short").write_bytes(idx_bytes(arr)[:-1])
    with pytest.raises(ValueError, match="truncated: expected 6 values, found 5"):
        read_idx(tmp_path / "short")
    (tmp_path / "long").write_bytes(idx_bytes(arr) + b"\0")
    with pytest.raises(ValueError, match="longer than its header says: expected 6 values, found 7"):
        read_idx(tmp_path / "long")
    (tmp_path / "header-only").write_bytes(idx_bytes(arr)[:12])
    with pytest.raises(ValueError, match="truncated: expected 6 values, found 0"):
        read_idx(tmp_path / "header-only")
    (tmp_path / "png").write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="not an unsigned-byte IDX file"):
        read_idx(tmp_path / "png")


def test_data_dir_comes_first_and_images_are_scaled(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images = np.zeros((3, 28, 28), dtype=np.uint8)
    images[1] = 255
    images[2, 0, 0] = 51
    write_idx_set(tmp_path / "data" / "fashion-mnist", images, np.array([7, 1, 3], dtype=np.uint8), compress=True)
    x, y = registry.get("datasets", "fashion-mnist").load("train", str(tmp_path / "data"))
    assert x.shape == (3, 1, 28, 28) and x.dtype == torch.float32
    assert x[0].eq(-1).all() and x[1].eq(1).all()
    assert x[2, 0, 0, 0].item() == pytest.approx(51 / 127.5 - 1)
    assert y.tolist() == [7, 1, 3] and y.dtype == torch.int64


def test_resolution_order_is_data_dir_then_environment_then_user_cache(registry, tmp_path, monkeypatch):
    """Three copies that differ in one pixel value: the first place in the documented order wins."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for root, value in ((tmp_path / "cache" / "lvrbench" / "data", 1), (tmp_path / "env", 2), (tmp_path / "arg", 3)):
        write_idx_set(root / "fashion-mnist", np.full((2, 28, 28), value, np.uint8), np.zeros(2, np.uint8))
    dataset = registry.get("datasets", "fashion-mnist")

    def pixel(data_dir):
        return round((dataset.load("train", data_dir)[0][0, 0, 0, 0].item() + 1) * 127.5)

    monkeypatch.setenv("LVRBENCH_DATA_DIR", str(tmp_path / "env"))
    assert pixel(str(tmp_path / "arg")) == 3
    assert pixel(None) == 2
    monkeypatch.delenv("LVRBENCH_DATA_DIR")
    assert pixel(None) == 1


def test_environment_variable_is_a_data_dir(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("LVRBENCH_DATA_DIR", str(tmp_path / "env"))
    write_idx_set(tmp_path / "env" / "mnist", np.full((4, 28, 28), 9, np.uint8), np.arange(4, dtype=np.uint8))
    x, y = registry.get("datasets", "mnist").load("test", None)
    assert x.shape == (2, 1, 28, 28) and y.tolist() == [0, 1]


def test_missing_dataset_is_one_line_naming_it_and_the_ways_to_provide_it(registry, tmp_path, monkeypatch):
    if Path("/usr/share/datasets/mnist").exists():
        pytest.skip("MNIST is installed system-wide here")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("LVRBENCH_DATA_DIR", raising=False)
    mnist = registry.get("datasets", "mnist")
    def download(self, dest):  # as torchvision does: the directories first, then the network fails
        dest.mkdir(parents=True)
        raise OSError("network unreachable")

    monkeypatch.setattr(type(mnist), "download", download)
    with pytest.raises(UsageError) as info:
        mnist.fingerprint(str(tmp_path / "empty"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("dataset 'mnist' not found: looked in ")
    assert str(tmp_path / "empty" / "mnist") in message
    assert "download failed (OSError: network unreachable)" in message
    assert "--data-dir or LVRBENCH_DATA_DIR" in message
    assert not (tmp_path / "cache").exists()  # the failed download left no empty directories behind


def test_corrupt_dataset_file_is_bad_input_naming_the_file(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "data" / "mnist"
    write_idx_set(root, np.zeros((3, 28, 28), np.uint8), np.arange(3, dtype=np.uint8))
    (root / "t10k-images-idx3-ubyte").write_bytes(b"junk")
    mnist = registry.get("datasets", "mnist")
    with pytest.raises(UsageError, match=r"^dataset 'mnist': .*t10k-images-idx3-ubyte is not an unsigned-byte IDX file; "
                                         r"replace the file \(see --data-dir\)$"):
        mnist.fingerprint(str(tmp_path / "data"))
    (root / "t10k-images-idx3-ubyte").unlink()
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(b"12345678")[:-6])
    with pytest.raises(UsageError, match=r"t10k-images-idx3-ubyte.gz cannot be decompressed \(EOFError: "):
        mnist.fingerprint(str(tmp_path / "data"))
    (root / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8bnot gzip at all")
    with pytest.raises(UsageError, match=r"t10k-images-idx3-ubyte.gz cannot be decompressed \(BadGzipFile: "):
        mnist.fingerprint(str(tmp_path / "data"))
    (root / "t10k-images-idx3-ubyte.gz").unlink()
    write_idx_set(root, np.zeros((3, 14, 14), np.uint8), np.arange(3, dtype=np.uint8))
    with pytest.raises(UsageError, match=r"holds images of shape \(14, 14\), not \(1, 28, 28\)"):
        mnist.fingerprint(str(tmp_path / "data"))


def test_labels_outside_the_classes_are_bad_input(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    write_idx_set(tmp_path / "data" / "mnist", np.zeros((3, 28, 28), np.uint8), np.array([0, 200, 9], np.uint8))
    with pytest.raises(UsageError, match=r"^dataset 'mnist': \S+-labels-idx1-ubyte holds label 200; mnist has classes 0 "
                                         r"to 9; replace the file \(see --data-dir\)$"):
        registry.get("datasets", "mnist").fingerprint(str(tmp_path / "data"))


def test_the_fingerprint_follows_the_contents_not_the_files(registry, tmp_path, monkeypatch):
    """Same pixels: same digest (compressed or not, wherever they lie); one pixel changed: another digest."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    images, labels = np.arange(3 * 28 * 28, dtype=np.uint64).reshape(3, 28, 28).astype(np.uint8), np.arange(3, dtype=np.uint8)
    write_idx_set(tmp_path / "a" / "mnist", images, labels)
    write_idx_set(tmp_path / "b" / "mnist", images, labels, compress=True)
    changed = images.copy()
    changed[2, 27, 27] ^= 1
    write_idx_set(tmp_path / "c" / "mnist", changed, labels)
    mnist = registry.get("datasets", "mnist")
    a, b, c = (mnist.fingerprint(str(tmp_path / d)) for d in "abc")
    assert a == b != c and len(a) == 16 and int(a, 16) >= 0
    ring = registry.get("datasets", "ring8")
    assert ring.fingerprint(None) == ring.fingerprint(str(tmp_path / "a"))  # generated: no files involved


def test_cells_on_other_data_are_other_cells(tmp_path):
    """The same command on different files plans different cell ids (and so different networks)."""
    ids = {}
    for name, fill in (("zeros", 0), ("ones", 255), ("zeros-again", 0)):
        write_idx_set(tmp_path / name / "mnist", np.full((3, 28, 28), fill, np.uint8), np.arange(3, dtype=np.uint8))
        r = run_cli("run", "--task", "generation", "--dataset", "mnist", "--family", "vanilla", "--dry-run",
                    "--data-dir", str(tmp_path / name), "--out", str(tmp_path / "out"), env={"XDG_CACHE_HOME": str(tmp_path / "c")})
        assert r.returncode == 0, r.stderr
        ids[name] = r.stdout.split()[1]
    assert ids["zeros"] == ids["zeros-again"] != ids["ones"]


@pytest.mark.skipif(not FMNIST.exists(), reason="Debian's dataset-fashion-mnist is not installed")
def test_real_fashion_mnist(registry, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = registry.get("datasets", "fashion-mnist")
    x, y = data.load("train", None)
    assert x.shape == (60000, 1, 28, 28)
    assert x.min().item() == -1.0 and x.max().item() == 1.0
    assert torch.bincount(y).tolist() == [6000] * 10  # Fashion-MNIST is exactly balanced
    xt, yt = data.load("test", None)
    assert xt.shape == (10000, 1, 28, 28) and torch.bincount(yt).tolist() == [1000] * 10


@pytest.mark.parametrize("name, modes, std", [("ring8", 8, 0.02), ("grid25", 25, 0.05)])
def test_mixtures_are_fixed_and_match_their_modes(registry, name, modes, std):
    data = registry.get("datasets", name)
    x, y = data.load("train", None)
    x2, y2 = data.load("train", None)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert not torch.equal(data.load("test", None)[0][:100], x[:100])
    centers = torch.tensor(data.centers)
    assert centers.shape == (modes, 2) and data.num_classes == modes
    residual = x - centers[y]
    assert residual.std().item() == pytest.approx(std, rel=0.02)
    assert torch.bincount(y, minlength=modes).min().item() > 0.8 * len(y) / modes
    if name == "ring8":
        assert torch.allclose(centers.norm(dim=1), torch.full((8,), 2.0))
