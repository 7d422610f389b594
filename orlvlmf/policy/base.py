"""The learner contract shared by IQL and the baselines (BC, GAIL, diffusion policy) to come.

::

    learner = REGISTRY.create("learners", name, cfg_node, obs_spec, action_dim)
    #   cfg_node:   the ``policy`` config node ({name: iql, ...}; a dict, DictConfig or Config instance)
    #   obs_spec:   {observation key: shape of one observation}, e.g. {"state": (39,)}
    #   action_dim: A (actions live in [-1, 1]^A)
    buffer = buffer_from_dataset(ds, learner.observation_key, rewards)   # tensors in memory
    learner.fit(buffer, steps=30_000, trainer=cfg.trainer, logger=tb, periodic=[(5000, eval_fn)],
                checkpoint=(work_dir / "last.ckpt", 5000))     # resumes from it when present
    action = learner.act(obs)                 # deterministic (mean) action(s), numpy in [-1, 1]
    learner.save(path);  learner = load_learner(path)

A learner is a LightningModule with manual optimisation.  ``fit`` runs a Lightning ``Trainer``
over a *step stream* (an iterable of step numbers, no DataLoader): each ``training_step`` draws
its batch with ``buffer.sample`` (torch.randint + gather on the learner's device) and calls the
subclass's :meth:`update`.  Subclasses implement ``update``, ``configure_optimizers``, ``act``
and, if they need dataset statistics, ``prepare``.

The learner's own step counter (``learner.step``) drives schedules, logging, checkpoints and
resumption; Lightning's ``global_step`` is not used (with several optimisers it counts each
optimiser step).  Under DDP every rank samples its own batches (seed + rank) and gradients are
averaged by Lightning's DDP wrapper; strategy ``ddp`` is run as ``ddp_find_unused_parameters_true``
because an update makes one backward pass per parameter group.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable
from orlvlmf.config.structured import build

ensure_torchvision_importable()
import lightning as L  # noqa: E402

from orlvlmf.policy.buffer import Batch, TransitionBuffer  # noqa: E402

CKPT_FORMAT = "orlvlmf-learner"
PeriodicFn = Callable[["Learner"], Mapping[str, float] | None]


class LearnerError(ValueError):
    """A learner cannot be built or loaded; the message says what to change."""


class _StepStream:
    """Step numbers ``start+1 .. stop`` for Lightning to iterate (the batch is drawn in the step)."""

    def __init__(self, start: int, stop: int):
        self.start, self.stop = start, stop

    def __iter__(self):
        return iter(range(self.start + 1, self.stop + 1))

    def __len__(self) -> int:
        return self.stop - self.start


class _Periodic(L.Callback):
    """Calls ``fn(learner)`` every ``every`` learner steps (rank 0 only) and logs what it returns."""

    def __init__(self, every: int, fn: PeriodicFn, last: bool = True):
        self.every, self.fn, self.last = every, fn, last

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        due = self.every > 0 and module.step % self.every == 0
        if (due or (self.last and module.step == module.total_steps)) and trainer.is_global_zero:
            out = self.fn(module)
            if isinstance(out, Mapping) and out:
                module.record(dict(out))


class Learner(L.LightningModule):
    """Base class of registered learners (see the module docstring for the contract)."""

    Config: type  # both set by the registry (orlvlmf.policy.learners lists every learner)
    registry_name: str

    def __init__(self, cfg: Any, obs_spec: Mapping[str, Sequence[int]], action_dim: int):
        super().__init__()
        from orlvlmf.registry import REGISTRY

        self.automatic_optimization = False
        entry = REGISTRY.entry_of("learners", type(self))
        self.cfg = build(entry.config, cfg, "policy", component=True, error=LearnerError)
        key = getattr(self.cfg, "observation", "state")
        if key not in obs_spec:
            raise LearnerError(
                f"learner '{self.registry_name}' reads observation '{key}' but the data has only "
                f"{sorted(obs_spec)}; set policy.observation to one of them")
        self.observation_key = key
        self.obs_shape = tuple(int(s) for s in obs_spec[key])
        self.obs_spec = {k: tuple(int(s) for s in v) for k, v in obs_spec.items()}
        self.action_dim = int(action_dim)
        self.step = 0
        self.total_steps = 0
        self.history: list[dict[str, float]] = []  # logged metrics, each with "step"
        self.buffer: TransitionBuffer | None = None
        self.log_every = 250
        self.seed = 0
        self._generator: torch.Generator | None = None
        self._pending: dict | None = None  # optimiser/generator state waiting for fit
        self._tb = None
        self._bare_opts: list[torch.optim.Optimizer] | None = None
        self.fit_start_step = 0  # learner.step when the last fit began (after a resume: > 0)
        # observation normalisation statistics (flat observations only; kept for act())
        self.flat = len(self.obs_shape) == 1
        width = self.obs_shape[0] if self.flat else 0
        self.register_buffer("obs_mean", torch.zeros(width))
        self.register_buffer("obs_std", torch.ones(width))
        self.register_buffer("obs_stats_ready", torch.zeros((), dtype=torch.bool))

    # -- data -----------------------------------------------------------------------------------
    def prepare(self, buffer: TransitionBuffer) -> None:
        """Observation normalisation o ← (o − mean) / (std + 1e-3), applied once to the buffer.

        Active for flat observations when the learner config has ``normalize_observations``.
        """
        if not (getattr(self.cfg, "normalize_observations", False) and self.flat and buffer.packed):
            return
        if not bool(self.obs_stats_ready):
            mean, std = buffer.observation_stats()
            self.obs_mean.copy_(mean)
            self.obs_std.copy_(std)
            self.obs_stats_ready.fill_(True)
        buffer.normalize_(self.obs_mean, self.obs_std)

    def normalize(self, obs: torch.Tensor) -> torch.Tensor:
        """Observations as the networks saw them in training."""
        if self.flat and bool(self.obs_stats_ready):
            return (obs - self.obs_mean) / self.obs_std
        return obs

    # -- to implement ---------------------------------------------------------------------------

    def update(self, batch: Batch, want_metrics: bool) -> dict[str, float] | None:
        """One training step on ``batch`` (manual optimisation); metrics when asked."""
        raise NotImplementedError

    def act(self, obs: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    @property
    def batch_size(self) -> int:
        return int(getattr(self.cfg, "batch_size", 256))

    # -- Lightning plumbing ---------------------------------------------------------------------
    def on_train_start(self) -> None:
        assert self.buffer is not None
        self.buffer.to(self.device)
        rank = self.trainer.global_rank
        self._generator = torch.Generator(device=self.device)
        self._generator.manual_seed(int(self.seed) * 1000 + rank)
        if self._pending is not None:
            opts = self.optimizers(use_pl_optimizer=False)
            opts = opts if isinstance(opts, list) else [opts]
            for opt, state in zip(opts, self._pending["optimizers"]):
                opt.load_state_dict(state)
            gen = self._pending.get("generators", {}).get(str(rank))
            if gen is not None:
                self._generator.set_state(gen)
            self._pending = None

    def training_step(self, step: int, batch_idx: int) -> None:
        batch = self.buffer.sample(self.batch_size, self._generator)
        self.step = int(step)
        want = self.log_every > 0 and (self.step % self.log_every == 0 or self.step == self.total_steps)
        metrics = self.update(batch, want)
        if want and metrics:
            self.record(metrics)

    def record(self, metrics: Mapping[str, float]) -> None:
        """Keep ``metrics`` for this step (history, TensorBoard)."""
        row = {k: float(v) for k, v in metrics.items()}
        if self.history and self.history[-1]["step"] == self.step:
            self.history[-1].update(row)
        else:
            self.history.append({"step": self.step, **row})
        if self._tb is not None and (self._trainer is None or self._trainer.is_global_zero):
            self._tb.log_metrics(row, step=self.step)

    def _optimizers(self) -> list[torch.optim.Optimizer]:
        if self._bare_opts is not None:
            return self._bare_opts
        opts = self.optimizers(use_pl_optimizer=False)
        return opts if isinstance(opts, list) else [opts]

    def _backward(self, loss: torch.Tensor) -> None:
        if self._bare_opts is not None:
            loss.backward()
        else:
            self.manual_backward(loss)

    # -- without Lightning (benchmarks: Lightning's per-step overhead = fit vs this) ------------
    def run_bare(self, buffer: TransitionBuffer, steps: int, seed: int = 0) -> "Learner":
        """The same sample + update loop as :meth:`fit`, with no Trainer around it."""
        if self.buffer is not buffer:
            self.prepare(buffer)
            self.buffer = buffer
        if self._bare_opts is None:
            opts = self.configure_optimizers()
            self._bare_opts = opts if isinstance(opts, list) else [opts]
            self.total_steps = self.step + steps
            self._generator = torch.Generator(device=buffer.device)
            self._generator.manual_seed(seed)
            self.on_bare_start()
        for _ in range(steps):
            batch = buffer.sample(self.batch_size, self._generator)
            self.step += 1
            self.update(batch, False)
        return self

    def on_bare_start(self) -> None:
        """Hook: what ``on_train_start`` sets up that :meth:`run_bare` needs too."""

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, buffer: TransitionBuffer, steps: int, *, trainer: Any = None, logger: Any = None,
            periodic: Iterable[tuple[int, PeriodicFn]] = (), checkpoint: tuple[Path, int] | None = None,
            seed: int = 0, log_every: int = 250, callbacks: Sequence[L.Callback] = ()) -> "Learner":
        """Train until ``self.step == steps``; resume from ``checkpoint[0]`` if it exists."""
        self.total_steps, self.seed, self.log_every = int(steps), int(seed), int(log_every)
        ckpt_path, ckpt_every = checkpoint if checkpoint else (None, 0)
        if ckpt_path is not None and Path(ckpt_path).exists():
            self.load_checkpoint_state(torch.load(ckpt_path, map_location="cpu", weights_only=False))
        if self.buffer is not buffer:
            self.prepare(buffer)
            self.buffer = buffer
        self.fit_start_step = self.step
        if self.step >= self.total_steps:
            return self
        self._tb = logger or None
        cbs = [_Periodic(every, fn) for every, fn in periodic] + list(callbacks)
        if ckpt_path is not None and ckpt_every > 0:
            def save_checkpoint(module: "Learner") -> None:
                module.save(ckpt_path, training_state=True)

            cbs.append(_Periodic(ckpt_every, save_checkpoint, last=False))
        for name in ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.seed"):
            logging.getLogger(name).setLevel(logging.WARNING)
        tr = _trainer_options(trainer)
        progress = tr.pop("progress", False)
        if progress:
            from lightning.pytorch.callbacks import TQDMProgressBar

            cbs.append(TQDMProgressBar(refresh_rate=max(1, (self.total_steps - self.step) // 100)))
        pl_trainer = L.Trainer(
            max_epochs=1, logger=False, enable_checkpointing=False, enable_model_summary=False,
            enable_progress_bar=bool(progress), num_sanity_val_steps=0, callbacks=cbs,
            log_every_n_steps=max(1, self.log_every), **tr)
        pl_trainer.fit(self, train_dataloaders=_StepStream(self.step, self.total_steps))
        self._tb = None
        # a later fit() on this learner continues with the same optimiser and sampler states
        state = self.checkpoint_state(training_state=True)
        self._pending = {"optimizers": state.get("optimizers", []),
                         "generators": state.get("generators", {})}
        return self

    # -- checkpoints ----------------------------------------------------------------------------
    def _config_dict(self) -> dict:
        return {"name": self.registry_name, **dataclasses.asdict(self.cfg)}

    def checkpoint_state(self, training_state: bool = True) -> dict:
        state = {"format": CKPT_FORMAT, "name": self.registry_name, "config": self._config_dict(),
                 "obs_spec": self.obs_spec, "action_dim": self.action_dim,
                 "state_dict": {k: v.detach().cpu() for k, v in self.state_dict().items()},
                 "step": self.step, "total_steps": self.total_steps, "history": list(self.history)}
        if training_state and (self._trainer is not None or self._bare_opts is not None):
            state["optimizers"] = [o.state_dict() for o in self._optimizers()]
            if self._generator is not None:
                rank = self._trainer.global_rank if self._trainer is not None else 0
                state["generators"] = {str(rank): self._generator.get_state()}
        return state

    def save(self, path: str | os.PathLike, training_state: bool = False) -> Path:
        """Write a checkpoint atomically (``training_state``: with optimiser and sampler states)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        torch.save(self.checkpoint_state(training_state), tmp)
        os.replace(tmp, path)
        return path

    def load_checkpoint_state(self, state: dict) -> None:
        _check_ckpt(state, "checkpoint")
        self.load_state_dict(state["state_dict"])
        self.step = int(state["step"])
        self.history = list(state.get("history", []))
        if "optimizers" in state:
            self._pending = {"optimizers": state["optimizers"],
                             "generators": state.get("generators", {})}


def _check_ckpt(state: Any, path: Any) -> None:
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise LearnerError(f"{path} is not an orlvlmf learner checkpoint (no format '{CKPT_FORMAT}')")


def _trainer_options(trainer: Any) -> dict:
    """Lightning Trainer kwargs from the ``trainer`` config section (or a dict)."""
    if trainer is None:
        return {"accelerator": "cpu", "devices": 1}
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(trainer, DictConfig):
            trainer = OmegaConf.to_container(trainer, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    if dataclasses.is_dataclass(trainer):
        trainer = dataclasses.asdict(trainer)
    t = dict(trainer)
    t.pop("num_threads", None)
    strategy = t.get("strategy", "auto")
    if strategy in ("ddp", "ddp_spawn"):  # an update makes one backward per parameter group
        t["strategy"] = f"{strategy}_find_unused_parameters_true"
    return t


def load_learner(path: str | os.PathLike, map_location: str = "cpu") -> Learner:
    """Rebuild a learner (registry name + config from the file) and load its weights."""
    from orlvlmf.registry import REGISTRY

    path = Path(path)
    if not path.exists():
        raise LearnerError(f"policy checkpoint {path} does not exist: run the train stage first")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise LearnerError(f"{path}: cannot read the policy checkpoint ({err}); train again") from None
    _check_ckpt(state, path)
    learner = REGISTRY.create("learners", state["name"], state["config"], state["obs_spec"],
                              state["action_dim"])
    learner.load_state_dict(state["state_dict"])
    learner.step = int(state["step"])
    learner.total_steps = int(state.get("total_steps", 0))
    learner.history = list(state.get("history", []))
    learner.eval()
    return learner


def cosine_lr(base: float, step: int, total: int) -> float:
    """lr_t = base · (1 + cos(pi · min(t, T) / T)) / 2."""
    if total <= 0:
        return base
    return base * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))

