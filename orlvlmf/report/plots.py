"""PNG plots for the run report (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def histogram(path: Path, values: np.ndarray, title: str, xlabel: str) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.hist(values, bins=30, color="#4c72b0")
    ax.set(title=title, xlabel=xlabel, ylabel="count")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def bars(path: Path, labels: Sequence[str], values: Sequence[float], title: str, ylabel: str) -> Path:
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.bar(range(len(values)), values, color="#55a868")
    ax.set_xticks(range(len(values)), labels, rotation=20)
    ax.set(title=title, ylabel=ylabel)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def scatter(path: Path, x: np.ndarray, y: np.ndarray, title: str, xlabel: str, ylabel: str,
            max_points: int = 5000, seed: int = 0) -> Path:
    plt = _figure()
    if len(x) > max_points:
        keep = np.random.default_rng(seed).choice(len(x), max_points, replace=False)
        x, y = x[keep], y[keep]
    fig, ax = plt.subplots(figsize=(4.2, 4))
    ax.scatter(x, y, s=3, alpha=0.35, color="#c44e52")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def curves(path: Path, series: Mapping[str, tuple[Sequence[float], Sequence[float]]], title: str,
           xlabel: str, ylabel: str, ylim: tuple[float, float] | None = None) -> Path:
    """One line per entry of ``series`` (label → (x, y)).

    Axes start at the natural origin: x from 0, and the y range includes 0 (``ylim`` fixes it,
    e.g. (0, 1) for a success rate)."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", ms=3, label=label, clip_on=False)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    _from_origin(ax, [x for x, _ in series.values()], [y for _, y in series.values()], ylim)
    if len(series) > 1:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _from_origin(ax, xs: Sequence[Sequence[float]], ys: Sequence[Sequence[float]],
                 ylim: tuple[float, float] | None) -> None:
    flat_x = [float(v) for x in xs for v in x]
    if flat_x and min(flat_x) >= 0:
        ax.set_xlim(left=0)
    if ylim is not None:
        ax.set_ylim(*ylim)
        return
    lo, hi = ax.get_ylim()
    ax.set_ylim(min(lo, 0.0), max(hi, 0.0))


def episodes_by_group(path: Path, groups: Mapping[str, Sequence[float]], title: str, ylabel: str,
                      ylim: tuple[float, float] | None = None, seed: int = 0) -> Path:
    """Every episode's value as a dot per group (seed), with the group's mean ± std as a bar:
    the per-episode spread beside the spread between groups."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(max(3.8, 1.6 + 1.1 * len(groups)), 3.4))
    rng = np.random.default_rng(seed)
    for i, (label, values) in enumerate(groups.items()):
        v = np.asarray(values, np.float64)
        ax.scatter(i + rng.uniform(-0.18, 0.18, len(v)), v, s=14, alpha=0.6, color="#4c72b0", clip_on=False)
        ax.errorbar(i + 0.3, v.mean(), yerr=v.std(), fmt="o", color="#c44e52", capsize=4, clip_on=False)
    ax.set_xticks(range(len(groups)), list(groups))
    ax.set_xlim(-0.6, len(groups) - 0.3)
    ax.set(title=title, ylabel=ylabel)
    _from_origin(ax, [], [], ylim)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def frame_grid(path: Path, rows: Sequence[tuple[str, Sequence[tuple[str, np.ndarray]]]],
               title: str) -> Path:
    """Rows of captioned frames: ``rows`` = [(row label, [(caption, (H, W, 3) uint8), ...]), ...]."""
    plt = _figure()
    n_rows, n_cols = len(rows), max(len(r[1]) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.2 * n_cols, 2.3 * n_rows), squeeze=False)
    for r, (label, frames) in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(frames):
                caption, img = frames[c]
                ax.imshow(img)
                ax.set_title(f"{label}\n{caption}" if c == 0 else caption, fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
