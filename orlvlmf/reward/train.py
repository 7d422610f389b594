"""Train the Bradley-Terry reward model with Lightning: split, early stopping, TensorBoard, resume.

``train_reward_model`` gets the dataset WITHOUT ground truth (``ds.without_ground_truth()``);
ground truth enters only as an optional :class:`GTEval` (frames + true rewards of held-out
transitions) used for Pearson / Spearman metrics, never for the loss.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from orlvlmf.encoders import build_encoder
from orlvlmf.reward.data import (Pairs, PreferenceTensors, build_preference_tensors, pair_loader,
                                 split_rows)
from orlvlmf.reward.inference import score_frames
from orlvlmf.reward.model import RewardNet


@dataclass
class GTEval:
    """Held-out transitions for GT correlations: raw frames scored by the model, their true reward."""

    frames: torch.Tensor
    reward: np.ndarray
    index: np.ndarray  # transition indices (for the record)


def correlations(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """Pearson and Spearman (torchmetrics) of predicted vs GT reward; NaN when either is constant."""
    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()  # torchmetrics imports torchvision
    from torchmetrics.functional import pearson_corrcoef, spearman_corrcoef

    p = torch.as_tensor(pred, dtype=torch.float64)
    g = torch.as_tensor(gt, dtype=torch.float64)
    if len(p) < 2 or p.std() == 0 or g.std() == 0:
        return {"pearson": float("nan"), "spearman": float("nan")}
    return {"pearson": float(pearson_corrcoef(p, g)), "spearman": float(spearman_corrcoef(p, g))}


def accuracy(net: RewardNet, data: PreferenceTensors, batch_size: int) -> float:
    """Preference accuracy of the ensemble mean on the non-tied pairs of ``data`` (no augmentation)."""
    decided = (data.target != 0.5).numpy()
    if not decided.any():
        return float("nan")
    r = score_frames(net, data.frames, batch_size)
    ret0 = r[data.seg0.numpy()].sum(-1)
    ret1 = r[data.seg1.numpy()].sum(-1)
    pred = ret1 > ret0
    true = data.target.numpy() > 0.5
    return float((pred == true)[decided].mean())


def net_spec(cfg: Mapping[str, Any], obs_shape: tuple[int, ...], seed: int) -> dict[str, Any]:
    return {"encoder": dict(cfg["encoder"]), "obs_shape": list(obs_shape), "ensemble": int(cfg["ensemble"]),
            "head_hidden": list(cfg.get("head_hidden", [])), "observation": cfg["observation"], "seed": seed}


def check_encoder(cfg: Mapping[str, Any], obs_shape: tuple[int, ...]) -> None:
    """Build one encoder to fail fast (one clear error) if it does not fit the observation."""
    with torch.random.fork_rng(devices=[]):
        build_encoder(obs_shape=obs_shape, observation=cfg["observation"], **cfg["encoder"])


def train_reward_model(ds: Any, pairs: Pairs, cfg: Mapping[str, Any], *, trainer: Mapping[str, Any],
                       work_dir: Path, tb_dir: Path, seed: int = 0, gt: GTEval | None = None,
                       tb_version: str | None = None) -> tuple[RewardNet, dict[str, Any]]:
    """Fit the ensemble on ``pairs``; returns (best network in eval mode, summary of metrics).

    ``cfg`` is the ``reward`` section, ``trainer`` the ``trainer`` section.  Checkpoints go to
    ``work_dir/checkpoints`` (``last.ckpt`` resumes an interrupted fit); TensorBoard events to
    ``tb_dir/<tb_version>``.
    """
    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()
    import lightning as L
    from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from orlvlmf.pipeline.progress import progress_enabled
    from orlvlmf.reward.module import RewardModel

    if getattr(ds, "has_ground_truth", False):
        raise ValueError("train_reward_model must get ds.without_ground_truth(), not the full dataset")
    observation = cfg["observation"]
    ds.require([observation])
    obs_shape = tuple(ds.observation_shape(observation))
    check_encoder(cfg, obs_shape)

    data = build_preference_tensors(ds, pairs, observation, int(cfg["segment"]), cfg["ties"])
    train_rows, val_rows = split_rows(len(data), float(cfg["val_fraction"]), seed)
    train_data, val_data = data.subset(train_rows), data.subset(val_rows)
    has_val = len(val_data) > 0
    monitor = "val/acc" if has_val else "train/acc"

    L.seed_everything(seed, workers=True, verbose=False)
    module = RewardModel(net_spec(cfg, obs_shape, seed), lr=float(cfg["lr"]),
                         weight_decay=float(cfg.get("weight_decay", 0.0)), augment=bool(cfg.get("augment", True)),
                         lr_schedule=str(cfg.get("lr_schedule", "constant")))
    bs = int(cfg["batch_size"])

    class GTCorrelation(Callback):
        """Pearson / Spearman of the ensemble mean vs GT reward every ``gt_eval_every`` epochs."""

        def on_validation_epoch_end(self, tr, pl_module) -> None:
            every = int(cfg.get("gt_eval_every", 0))
            if gt is None or every <= 0 or tr.sanity_checking or (tr.current_epoch + 1) % every:
                return
            c = correlations(score_frames(pl_module.net, gt.frames, 256), gt.reward)
            pl_module.log("gt/pearson", c["pearson"])
            pl_module.log("gt/spearman", c["spearman"])

    ckpt_dir = Path(work_dir) / "checkpoints"
    checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode="max",
                                 save_last=True, save_top_k=1, enable_version_counter=False)
    stopper = EarlyStopping(monitor=monitor, mode="max", patience=int(cfg["patience"]), min_delta=0.0)
    logger = TensorBoardLogger(save_dir=str(tb_dir), name="", version=tb_version or f"seed_{seed}",
                               default_hp_metric=False)
    n_batches = max(1, -(-len(train_data) // bs))
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.ERROR)
    tr = L.Trainer(
        max_epochs=int(cfg["max_epochs"]), accelerator=trainer.get("accelerator", "cpu"),
        devices=trainer.get("devices", 1), strategy=trainer.get("strategy", "auto"),
        precision=trainer.get("precision", "32-true"), logger=logger,
        callbacks=[GTCorrelation(), checkpoint, stopper],
        enable_progress_bar=progress_enabled(trainer.get("progress", False)), enable_model_summary=False,
        num_sanity_val_steps=0, log_every_n_steps=min(50, n_batches), default_root_dir=str(work_dir),
        limit_val_batches=1.0 if has_val else 0,
    )
    last = ckpt_dir / "last.ckpt"
    resumed = last.is_file()
    val_loader = pair_loader(val_data, bs, shuffle=False) if has_val else None
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*(LeafSpec|does not have many workers|"
                                "limit_val_batches|val_dataloader|Checkpoint directory).*")
        tr.fit(module, pair_loader(train_data, bs, shuffle=True, seed=seed), val_loader,
               ckpt_path=str(last) if resumed else None)

    best_path = checkpoint.best_model_path or (str(last) if last.is_file() else "")
    best_epoch = None
    if best_path:
        blob = torch.load(best_path, map_location="cpu", weights_only=False)
        module.load_state_dict(blob["state_dict"])
        best_epoch = int(blob.get("epoch", -1))
    net = module.net.eval()
    summary: dict[str, Any] = {
        "pairs_total": len(pairs), "pairs_used": len(data), "pairs_train": len(train_data),
        "pairs_val": len(val_data), "ties": int((pairs.label == -1).sum()), "ties_mode": cfg["ties"],
        "epochs": int(tr.current_epoch), "best_epoch": best_epoch, "resumed": resumed,
        "train_acc": accuracy(net, train_data, 256),
        "val_acc": accuracy(net, val_data, 256) if has_val else None,
    }
    if gt is not None:
        c = correlations(score_frames(net, gt.frames, 256), gt.reward)
        summary |= {"gt_pearson": c["pearson"], "gt_spearman": c["spearman"], "gt_transitions": len(gt.reward)}
        logger.experiment.add_scalar("final/gt_spearman", c["spearman"], tr.current_epoch)
        logger.experiment.add_scalar("final/gt_pearson", c["pearson"], tr.current_epoch)
    logger.experiment.flush()
    return net, summary
