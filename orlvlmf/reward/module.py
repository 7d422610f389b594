"""``RewardModel``: the Lightning wrapper that trains a :class:`RewardNet` with the Bradley-Terry loss.

Importing this module imports lightning (heavy); it applies the torchvision shim first.
"""

from __future__ import annotations

from typing import Any

from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

ensure_torchvision_importable()

import lightning as L  # noqa: E402
import torch  # noqa: E402
from torchmetrics.classification import BinaryAccuracy  # noqa: E402

from orlvlmf.reward.losses import bradley_terry_loss, preference_correct
from orlvlmf.reward.model import RewardNet  # noqa: E402


LR_SCHEDULES = ("constant", "cosine")


class RewardModel(L.LightningModule):
    """Minimises Eq. 2 averaged over the K ensemble members; accuracy uses the ensemble mean.

    A batch is ``{"seg0": (B, H, *obs), "seg1": (B, H, *obs), "target": (B,)}`` of raw frames; both
    segments go through one forward pass: R_i = sum_t r_k(s_{i,t}) per member k.
    """

    def __init__(self, net: dict[str, Any], lr: float = 3e-4, weight_decay: float = 0.0,
                 augment: bool = True, lr_schedule: str = "constant"):
        super().__init__()
        if lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"reward.lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got '{lr_schedule}'")
        self.save_hyperparameters()
        self.net = RewardNet(**net)
        self.lr, self.weight_decay, self.augment = lr, weight_decay, augment
        self.lr_schedule = lr_schedule
        self.train_acc = BinaryAccuracy()
        self.val_acc = BinaryAccuracy()

    def returns(self, batch: dict[str, torch.Tensor], augment: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Segment returns (K, B) of sigma_0 and sigma_1."""
        seg0, seg1 = batch["seg0"], batch["seg1"]
        b, h = seg0.shape[:2]
        raw = torch.cat([seg0, seg1]).flatten(0, 1)
        r = self.net(self.net.preprocess(raw, augment=augment))  # (K, 2*B*H)
        r = r.view(r.shape[0], 2, b, h).sum(-1)
        return r[:, 0], r[:, 1]

    def _step(self, batch: dict[str, torch.Tensor], stage: str, augment: bool) -> torch.Tensor:
        ret0, ret1 = self.returns(batch, augment)
        target = batch["target"]
        loss = bradley_terry_loss(ret0, ret1, target)
        pred, true = preference_correct(ret0.mean(0), ret1.mean(0), target)
        acc = self.train_acc if stage == "train" else self.val_acc
        if true.numel():
            acc.update(pred, true)
        bs = len(target)
        self.log(f"{stage}/loss", loss, on_step=False, on_epoch=True, batch_size=bs)
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, batch_size=bs)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train", self.augment)

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        self._step(batch, "val", False)

    def configure_optimizers(self):
        """Adam; with ``lr_schedule="cosine"`` the rate follows lr_t = lr * (1 + cos(pi t / T)) / 2
        over the T = max_epochs * batches-per-epoch optimiser steps (early stopping may end sooner)."""
        opt = torch.optim.Adam(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_schedule == "constant":
            return opt
        total = max(1, int(self.trainer.estimated_stepping_batches))
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
