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
           xlabel: str, ylabel: str) -> Path:
    """One line per entry of ``series`` (label → (x, y))."""
    plt = _figure()
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    for label, (x, y) in series.items():
        ax.plot(x, y, marker="o", ms=3, label=label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if len(series) > 1:
        ax.legend(fontsize=8)
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
