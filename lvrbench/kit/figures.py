"""Figures for leaderboards: sample grids, scatter plots, heatmaps and line plots, drawn from result data.

Samples travel inside result JSON (compact, data only), so `lvrbench leaderboard build` can
redraw every figure from the results alone.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..base.errors import one_line
from ..api.fields import is_number

PNG_METADATA = {"Software": None}  # keeps PNG bytes independent of the matplotlib version string
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def encode_images(x) -> dict:
    """[n, c, h, w] images in [-1, 1] as base64 uint8 (about 1 KB per 28x28 image)."""
    import torch

    arr = ((x.detach().cpu().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    return {"kind": "images", "shape": list(arr.shape), "data": base64.b64encode(arr.tobytes()).decode()}


def encode_points(x, digits: int = 4) -> dict:
    """[n, 2] points, rounded to keep result files small."""
    return {"kind": "points", "data": [[round(float(a), digits), round(float(b), digits)] for a, b in x.detach().cpu().tolist()]}


def decode_images(payload: dict) -> np.ndarray:
    """The uint8 [n, c, h, w] array `encode_images` stored."""
    shape = payload["shape"]
    arr = np.frombuffer(base64.b64decode(payload["data"], validate=True), dtype=np.uint8)
    if arr.size != int(np.prod(shape)):
        raise ValueError("image payload does not match its shape")
    return arr.reshape(shape)


def payload_problem(payload: object) -> str | None:
    """Why a stored sample payload cannot be drawn, or None (results are data from anywhere)."""
    if not isinstance(payload, dict) or payload.get("kind") not in ("images", "points"):
        return "must be an object with kind 'images' or 'points'"
    if payload["kind"] == "points":
        data = payload.get("data")
        ok = isinstance(data, list) and data and all(
            isinstance(p, list) and len(p) == 2 and all(is_number(v) for v in p) for p in data)
        return None if ok else "points must be a non-empty list of [x, y] finite numbers"
    shape = payload.get("shape")
    if not (isinstance(shape, list) and len(shape) == 4 and all(isinstance(d, int) and d > 0 for d in shape)
            and shape[1] in (1, 3)):
        return "images need a shape [n, c, h, w] of positive integers with c = 1 or 3"
    try:
        decode_images(payload)
    except (TypeError, ValueError) as exc:
        return f"images cannot be decoded ({exc})"
    return None


def png_problem(path: Path) -> str | None:
    """Why the file at `path` is not a PNG image that decodes, or None (it may come from a pull request)."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    # the signature, then the IHDR chunk every PNG starts with (13 bytes of data)
    if head[:8] != PNG_SIGNATURE or head[8:16] != b"\x00\x00\x00\rIHDR":
        return "not a PNG image"
    from PIL import Image

    try:
        with Image.open(path, formats=["PNG"]) as image:
            image.verify()  # every chunk's checksum, up to IEND
        with Image.open(path, formats=["PNG"]) as image:
            image.load()  # the pixel data decompresses to the declared size
    except Exception as exc:  # PIL raises many kinds (SyntaxError, OSError, zlib and struct errors) for damaged files
        return f"not a PNG image that decodes ({one_line(exc)})"
    return None


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(payload: dict, path: Path, columns: int = 8) -> None:
    """Save stored images as one PNG grid (grey or RGB)."""
    from PIL import Image

    arr = decode_images(payload)
    n, c, h, w = arr.shape
    rows = -(-n // columns)
    canvas = np.zeros((rows * (h + 2) + 2, columns * (w + 2) + 2, c), dtype=np.uint8)
    for i in range(n):
        r, col = divmod(i, columns)
        canvas[2 + r * (h + 2): 2 + r * (h + 2) + h, 2 + col * (w + 2): 2 + col * (w + 2) + w] = arr[i].transpose(1, 2, 0)
    image = Image.fromarray(canvas[..., 0] if c == 1 else canvas)
    image = image.resize((image.width * 2, image.height * 2), Image.NEAREST)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="PNG")


def scatter(payload: dict, centers: Sequence[Sequence[float]] | None, path: Path, title: str) -> None:
    """Save stored 2-D samples as a scatter plot, with the mixture's centres when known."""
    plt = _pyplot()
    pts = np.asarray(payload["data"], dtype=float)
    fig, ax = plt.subplots(figsize=(3.2, 3.2), dpi=100)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.5, color="tab:blue", linewidths=0)
    if centers is not None:
        c = np.asarray(centers, dtype=float)
        ax.scatter(c[:, 0], c[:, 1], s=30, marker="x", color="tab:red")
    ax.set_title(title, fontsize=8)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)


def samples_drawer(payload: dict, centers: Sequence[Sequence[float]] | None, title: str) -> Callable[[Path], None]:
    """What draws a stored sample payload (`encode_images` / `encode_points`) into a page's figure file: a scatter
    over the mixture's centres for points, a grid for images."""
    if payload["kind"] == "points":
        return lambda path: scatter(payload, centers, path, title)
    return lambda path: image_grid(payload, path)


def heatmap(values: np.ndarray, rows: Sequence[str], cols: Sequence[str], path: Path, title: str,
            row_label: str, col_label: str, limits: tuple[float, float]) -> None:
    """Save a grid of scores (NaN for missing cells) as an annotated heatmap, coloured on the fixed scale `limits`.

    The scale is the metric's (0 to 1 for an accuracy), never the grid's own range, so that one colour
    means one value in every heatmap of a page and colours compare across methods.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 0.75 * len(cols), 1.2 + 0.4 * len(rows)), dpi=100)
    image = ax.imshow(np.ma.masked_invalid(values), cmap="viridis", aspect="auto", vmin=limits[0], vmax=limits[1])
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=7)
    ax.set_xlabel(col_label, fontsize=8)
    ax.set_ylabel(row_label, fontsize=8)
    ax.set_title(title, fontsize=9)
    for (i, j), v in np.ndenumerate(values):
        if np.isfinite(v):
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=6, color="white")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)


def _finish_plot(plt, fig, ax, path: Path, title: str, x_label: str, y_label: str, legend_size: int) -> None:
    """Label a plot's axes, title and legend in the pages' small type, then save it as a reproducible PNG."""
    ax.set_xlabel(x_label, fontsize=8)
    ax.set_ylabel(y_label, fontsize=8)
    ax.set_title(title, fontsize=8)
    ax.tick_params(labelsize=6)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", metadata=PNG_METADATA)
    plt.close(fig)


def line_plot(series: dict[str, tuple[Sequence[float], Sequence[float]]], path: Path, title: str,
              x_label: str, y_label: str) -> None:
    """Save named (x, y) series as one line plot (e.g. both players' losses per epoch: papers 002 Fig. 2, 004 Fig. 5)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.0, 2.8), dpi=100)
    for name, (xs, ys) in series.items():
        xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
        if xs.shape != ys.shape or xs.ndim != 1 or not xs.size:
            raise ValueError(f"series {name!r} needs as many x as y values, at least one")
        ax.plot(xs, ys, marker="o" if xs.size < 20 else None, markersize=3, linewidth=1.2, label=name)
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs and steps are whole numbers
    _finish_plot(plt, fig, ax, path, title, x_label, y_label, legend_size=7)


def quality_cost_plot(series: dict[str, list[tuple[float, float, float, float]]], path: Path, title: str,
                      x_label: str, y_label: str) -> None:
    """Save a quality-against-cost plot: per named series (a sampler), points (cost, value, low, high) with their
    intervals as vertical bars, cost on a log axis (samplers differ by orders of magnitude in evaluations)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(4.4, 3.0), dpi=100)
    for name, points in series.items():
        arr = np.asarray(points, dtype=float).reshape(-1, 4)
        if not arr.size or not np.all(arr[:, 0] > 0) or not np.all(arr[:, 2] <= arr[:, 3]):
            raise ValueError(f"series {name!r} needs points of positive cost with low <= high")
        below, above = np.clip(arr[:, 1] - arr[:, 2], 0, None), np.clip(arr[:, 3] - arr[:, 1], 0, None)
        ax.errorbar(arr[:, 0], arr[:, 1], yerr=[below, above], fmt="o", markersize=3, capsize=2, linewidth=0.8, label=name)
    ax.axhline(0.0, color="grey", linewidth=0.6)
    ax.set_xscale("log")
    _finish_plot(plt, fig, ax, path, title, x_label, y_label, legend_size=6)


def reliability_plot(series: dict[str, list[tuple[float, float]]], path: Path, title: str) -> None:
    """Save a reliability diagram: per named series (a seed's density ratio), the observed share of real samples
    against the mean predicted P(real) in each non-empty bin, over the diagonal a calibrated ratio follows."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.4, 3.2), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.6, linestyle="--")
    for name, points in series.items():
        arr = np.asarray(points, dtype=float).reshape(-1, 2)
        if not arr.size or not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any():
            raise ValueError(f"series {name!r} needs points in [0, 1] x [0, 1]")
        ax.plot(arr[:, 0], arr[:, 1], marker="o", markersize=3, linewidth=0.8, label=name)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    _finish_plot(plt, fig, ax, path, title, "mean predicted P(real)", "observed share real", legend_size=6)
