"""TensorBoard output of a run: one event folder per stage (and seed) under ``<run>/tb/``.

``tensorboard --logdir <run>/tb`` shows::

    config              Text: the composed config
    collect             Scalars: dataset size, GT success / return; return per episode (step = episode)
    label               Scalars: label statistics against the number of labels (step = labels so
                        far); Images: a grid of labeled pairs with their labels and the VLM's reason
    reward/seed_<k>     reward-model training curves (Lightning's logger)
    relabel/seed_<k>    Histograms: learned reward, ensemble std; Images: learned vs true reward
                        along episodes; Scalars: the same curves (step = time step), summary figures
    train/seed_<k>      policy training curves (Lightning's logger)
    evaluate/seed_<k>   Scalars: success / return, return per episode (step = episode);
                        Images: evaluation rollouts as animated GIFs
    hparams/seed_<k>    HParams: the run's main settings with its final metrics (compare runs)

This module holds the generic pieces (writers, GIF "videos", figures, hparams); each stage decides
what it logs.  Errors are not swallowed: a stage that cannot write its TensorBoard output fails.
"""

from __future__ import annotations

import math
import shutil
import textwrap
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

TB_DIR = "tb"


def tb_root(run_dir: str | Path) -> Path:
    return Path(run_dir) / TB_DIR


def event_dir(run_dir: str | Path, stage: str, seed: int | None = None) -> Path:
    """``<run>/tb/<stage>`` or ``<run>/tb/<stage>/seed_<k>``."""
    root = tb_root(run_dir) / stage
    return root if seed is None else root / f"seed_{seed}"


def stage_writer(run_dir: str | Path, stage: str, seed: int | None = None, fresh: bool = True):
    """A ``SummaryWriter`` for ``stage`` (and ``seed``); ``fresh`` drops the folder's old events so
    a rerun of the stage does not draw its curves twice."""
    from torch.utils.tensorboard import SummaryWriter

    path = event_dir(run_dir, stage, seed)
    if fresh:
        for old in path.glob("events.out.tfevents.*"):
            old.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return SummaryWriter(log_dir=str(path))


def add_scalars(writer, prefix: str, values: Mapping[str, Any], step: int = 0) -> None:
    """Every finite number of ``values`` as ``<prefix>/<key>`` (bools, strings, None left out)."""
    for key, v in values.items():
        if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) \
                and math.isfinite(float(v)):
            writer.add_scalar(f"{prefix}/{key}", float(v), step)


def add_series(writer, tag: str, values: Sequence[float], start: int = 0) -> None:
    """``values[i]`` at step ``start + i`` (a curve over episodes or time steps)."""
    for i, v in enumerate(values):
        if math.isfinite(float(v)):
            writer.add_scalar(tag, float(v), start + i)


def add_gif(writer, tag: str, gif: bytes | str | Path, step: int = 0) -> None:
    """An animated GIF as an image summary (TensorBoard's Images tab plays it; no moviepy needed,
    which ``SummaryWriter.add_video`` would ask for to encode the same thing)."""
    from tensorboard.compat.proto.summary_pb2 import Summary

    data = gif if isinstance(gif, bytes) else Path(gif).read_bytes()
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        raise ValueError(f"{tag}: not a GIF")
    width, height = int.from_bytes(data[6:8], "little"), int.from_bytes(data[8:10], "little")
    image = Summary.Image(height=height, width=width, colorspace=3, encoded_image_string=data)
    writer._get_file_writer().add_summary(Summary(value=[Summary.Value(tag=tag, image=image)]), step)


def add_code(writer, tag: str, text: str, step: int = 0) -> None:
    """Preformatted text (indented: the Text tab renders markdown)."""
    writer.add_text(tag, textwrap.indent(text.rstrip("\n"), "    "), step)


def add_hparams(writer, hparams: Mapping[str, Any], metrics: Mapping[str, float]) -> None:
    """Hyper-parameters and final metrics in the writer's own folder (one HParams session).

    ``SummaryWriter.add_hparams`` would open a new timestamped sub-folder per call; here the
    session is the writer's folder and the metrics are ordinary scalars beside it.  No
    experiment summary is written: TensorBoard would take the first one it finds as the list of
    columns for every run under ``--logdir``; without one it builds the columns from all
    sessions, so runs with different learners or metrics compare side by side.
    """
    from torch.utils.tensorboard.summary import hparams as hparams_summaries

    def value(v: Any):
        return v if isinstance(v, (bool, int, float, str)) else str(v)

    clean = {k: value(v) for k, v in hparams.items() if v is not None}
    finite = {k: float(v) for k, v in metrics.items() if v is not None and math.isfinite(float(v))}
    _, ssi, sei = hparams_summaries(clean, finite)
    fw = writer._get_file_writer()
    for summary in (ssi, sei):
        fw.add_summary(summary)
    for k, v in finite.items():
        writer.add_scalar(k, v, 0)


def log_config(run_dir: str | Path, yaml_text: str) -> Path:
    """The composed config as text in ``<run>/tb/config`` (replacing an older one)."""
    path = event_dir(run_dir, "config")
    shutil.rmtree(path, ignore_errors=True)
    writer = stage_writer(run_dir, "config")
    try:
        add_code(writer, "config", yaml_text)
    finally:
        writer.close()
    return path


# -- figures --------------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pair_grid(pairs: Sequence[tuple[np.ndarray, np.ndarray, str]], title: str, columns: int = 2):
    """A figure of labeled pairs: ``pairs`` = [(frame of image 1, frame of image 2, caption)];
    each pair's caption (label, reason) is printed under its two frames."""
    plt = _pyplot()
    n = max(1, len(pairs))
    cols = max(1, min(columns, n))
    rows = -(-n // cols)
    height = 3.0 * rows + 0.7
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(4.8 * cols, height), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for k, (a, b, caption) in enumerate(pairs):
        r, c = divmod(k, cols)
        for j, (img, name) in enumerate(((a, "Image 1"), (b, "Image 2"))):
            ax = axes[r][2 * c + j]
            ax.imshow(np.asarray(img))
            ax.set_title(name, fontsize=8)
        axes[r][2 * c].text(1.03, -0.04, "\n".join(textwrap.wrap(caption, 70)[:4]), ha="center", va="top",
                            fontsize=7, transform=axes[r][2 * c].transAxes)
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.75 / height, bottom=0.6 / height,
                        wspace=0.06, hspace=0.55)
    return fig


def episodes_figure(series: Sequence[tuple[str, np.ndarray, np.ndarray | None]], title: str):
    """Learned reward (left axis) and, when known, the true reward (right axis) along episodes:
    ``series`` = [(episode label, learned (T,), true (T,) or None)]."""
    plt = _pyplot()
    n = len(series)
    fig, axes = plt.subplots(n, 1, figsize=(6.5, 1.9 * n + 0.6), squeeze=False)
    for ax, (label, learned, true) in zip(axes[:, 0], series):
        steps = np.arange(len(learned))
        ax.plot(steps, learned, color="#4c72b0", lw=1.2, label="learned")
        ax.set_ylabel("learned", color="#4c72b0", fontsize=8)
        ax.set_title(label, fontsize=9)
        ax.set_xlim(0, max(1, len(learned) - 1))
        if true is not None:
            twin = ax.twinx()
            twin.plot(steps, true, color="#c44e52", lw=1.0, alpha=0.8, label="true")
            twin.set_ylabel("true", color="#c44e52", fontsize=8)
    axes[-1, 0].set_xlabel("time step")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
