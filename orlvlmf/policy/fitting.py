"""How a learner is fitted: a Lightning ``Trainer`` over a *step stream*, with periodic callbacks.

No DataLoader: Lightning iterates step numbers (:class:`StepStream`); each ``training_step``
draws its batch from the buffer on the learner's device.  ``periodic`` functions (evaluation,
checkpoints) run every k learner steps on rank 0 and what they return is logged.  The Trainer's
settings come from the run's ``trainer`` section (:func:`trainer_options`).
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, Callable, Iterable, Mapping, Sequence

from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable
from orlvlmf.config.structured import to_plain
from orlvlmf.pipeline.progress import progress_enabled

ensure_torchvision_importable()
import lightning as L  # noqa: E402

if TYPE_CHECKING:  # pragma: no cover
    from orlvlmf.policy.base import Learner

PeriodicFn = Callable[["Learner"], Mapping[str, float] | None]


class StepStream:
    """Step numbers ``start+1 .. stop`` for Lightning to iterate (the batch is drawn in the step)."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start + 1, self.stop + 1))

    def __len__(self) -> int:
        return self.stop - self.start


class Periodic(L.Callback):
    """Calls ``fn(learner)`` every ``every`` learner steps (rank 0 only) and logs what it returns."""

    def __init__(self, every: int, fn: PeriodicFn, last: bool = True):
        self.every, self.fn, self.last = every, fn, last

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        due = self.every > 0 and module.step % self.every == 0
        if (due or (self.last and module.step == module.total_steps)) and trainer.is_global_zero:
            out = self.fn(module)
            if isinstance(out, Mapping) and out:
                module.record(dict(out))


def trainer_options(trainer: Any) -> dict:
    """Lightning Trainer kwargs from the ``trainer`` config section (a DictConfig, dataclass or dict).

    ``num_threads`` is the stage's business (:meth:`StageContext.set_torch_threads`); strategy
    ``ddp`` runs as ``ddp_find_unused_parameters_true`` (an update makes one backward per
    parameter group).
    """
    if trainer is None:
        return {"accelerator": "cpu", "devices": 1}
    if dataclasses.is_dataclass(trainer):
        trainer = dataclasses.asdict(trainer)
    t = dict(to_plain(trainer))
    t.pop("num_threads", None)
    strategy = t.get("strategy", "auto")
    if strategy in ("ddp", "ddp_spawn"):
        t["strategy"] = f"{strategy}_find_unused_parameters_true"
    return t


def run_trainer(learner: "Learner", trainer: Any, periodic: Iterable[tuple[int, PeriodicFn]],
                callbacks: Sequence[L.Callback]) -> None:
    """Fit ``learner`` from ``learner.step`` to ``learner.total_steps`` under a Lightning Trainer."""
    cbs = [Periodic(every, fn) for every, fn in periodic] + list(callbacks)
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed"):
        logging.getLogger(name).setLevel(logging.WARNING)
    tr = trainer_options(trainer)
    progress = progress_enabled(tr.pop("progress", False))
    if progress:
        from lightning.pytorch.callbacks import TQDMProgressBar

        cbs.append(TQDMProgressBar(refresh_rate=max(1, (learner.total_steps - learner.step) // 100)))
    pl_trainer = L.Trainer(
        max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
        enable_progress_bar=bool(progress), num_sanity_val_steps=0, callbacks=cbs,
        log_every_n_steps=max(1, learner.log_every), **tr)
    pl_trainer.fit(learner, train_dataloaders=StepStream(learner.step, learner.total_steps))
