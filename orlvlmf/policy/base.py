"""The learner contract shared by IQL and the baselines (BC, diffusion policy, GAIL).

::

    learner = REGISTRY.create("learners", name, cfg_node, obs_spec, action_dim)
    #   cfg_node:   the ``policy`` config node ({name: iql, ...}; a dict, DictConfig or Config instance)
    #   obs_spec:   {observation key: shape of one observation}, e.g. {"state": (39,)}
    #   action_dim: A (actions live in [-1, 1]^A)
    buffer = buffer_from_dataset(ds, learner.observation_key, rewards)   # tensors in memory
    learner.set_action_bounds(low, high)      # data outside [-1, 1]: train on scaled actions
    learner.fit(buffer, steps=30_000, trainer=cfg.trainer, logger=tb, periodic=[(5000, eval_fn)],
                checkpoint=(work_dir / "last.ckpt", 5000),     # resumes from it when present
                env_factory=make_env_fn)                       # learners that interact (GAIL)
    action = learner.act(obs)                 # deterministic (mean) action(s) in the data's units
    learner.save(path);  learner = load_learner(path)           # orlvlmf.policy.checkpoint

A learner is a LightningModule with manual optimisation.  Subclasses implement
``update(batch, want_metrics)`` (one step on a batch drawn by ``training_step``),
``configure_optimizers``, ``unit_action`` (the nets' action in [-1, 1]) and, if they need more
than the observation / action normalisation of :mod:`.normalization`, ``prepare(buffer)``.  A
learner that interacts with the env (its config says ``needs_env``) builds its env with
``self.env_factory()``.  ``fit`` runs a Lightning Trainer over a step stream (:mod:`.fitting`);
checkpoints are :mod:`.checkpoint`'s.

The learner's own step counter (``learner.step``) drives schedules, logging, checkpoints and
resumption; Lightning's ``global_step`` is not used (with several optimisers it counts each
optimiser step).  Under DDP every rank samples its own batches (seed·1000 + rank) and gradients are
averaged by Lightning's DDP wrapper.  Outside a Trainer (a bare loop in a benchmark or a test),
:meth:`Learner.without_trainer` gives the learner its optimisers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np
import torch

from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable
from orlvlmf.config.structured import build

ensure_torchvision_importable()
import lightning as L  # noqa: E402

from orlvlmf.policy import checkpoint as ckpt  # noqa: E402
from orlvlmf.policy.buffer import Batch, TransitionBuffer  # noqa: E402
from orlvlmf.policy.errors import LearnerError  # noqa: E402
from orlvlmf.policy.fitting import Periodic, PeriodicFn, run_trainer  # noqa: E402
from orlvlmf.policy.normalization import ActionUnits, ObservationNormalization  # noqa: E402

EnvFactory = Callable[[], Any]


def needs_env(config_class: type | None) -> bool:
    """Whether the learner of this config learns by interacting with the env (a ``ClassVar``
    ``needs_env`` on its config dataclass, e.g. GAIL's): it cannot train on data alone."""
    return bool(getattr(config_class, "needs_env", False))


class Learner(ObservationNormalization, ActionUnits, L.LightningModule):
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
        self._own_optimizers: list[torch.optim.Optimizer] | None = None  # outside a Trainer
        self.env_factory: EnvFactory | None = None
        self.fit_start_step = 0  # learner.step when the last fit began (after a resume: > 0)
        self.init_observation_normalization(self.obs_shape)
        self.init_action_units()

    # -- to implement ---------------------------------------------------------------------------
    def update(self, batch: Batch, want_metrics: bool) -> dict[str, float] | None:
        """One training step on ``batch`` (manual optimisation); metrics when asked."""
        raise NotImplementedError

    def unit_action(self, obs: Any) -> np.ndarray:
        """Deterministic action(s) of the nets, in [-1, 1]; one observation or a batch."""
        raise NotImplementedError

    def act(self, obs: Any) -> np.ndarray:
        """Deterministic action(s) in the data's units (:mod:`.normalization`); one or a batch."""
        return self.to_data_actions(self.unit_action(obs))

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

    # -- optimisers -----------------------------------------------------------------------------
    def without_trainer(self) -> "Learner":
        """Give the learner its own optimisers, for updates outside a Lightning Trainer."""
        opts = self.configure_optimizers()
        self._own_optimizers = opts if isinstance(opts, list) else [opts]
        return self

    def current_optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimisers in use (the Trainer's, or :meth:`without_trainer`'s); [] before either."""
        if self._own_optimizers is not None:
            return self._own_optimizers
        if self._trainer is None:
            return []
        opts = self.optimizers(use_pl_optimizer=False)
        return opts if isinstance(opts, list) else [opts]

    def _backward(self, loss: torch.Tensor) -> None:
        if self._own_optimizers is not None:
            loss.backward()
        else:
            self.manual_backward(loss)

    # -- fitting --------------------------------------------------------------------------------
    def fit(self, buffer: TransitionBuffer, steps: int, *, trainer: Any = None, logger: Any = None,
            periodic: Iterable[tuple[int, PeriodicFn]] = (), checkpoint: tuple[Path, int] | None = None,
            seed: int = 0, log_every: int = 250, callbacks: Sequence[L.Callback] = (),
            env_factory: EnvFactory | None = None) -> "Learner":
        """Train until ``self.step == steps``; resume from ``checkpoint[0]`` if it exists.

        ``env_factory()`` builds the env a learner that interacts with it (:func:`needs_env`) uses.
        """
        if needs_env(type(self.cfg)) and env_factory is None:
            raise LearnerError(f"learner '{self.registry_name}' interacts with the env: fit needs an "
                               f"env_factory (the train stage passes one that builds the run's env)")
        self.env_factory = env_factory
        self.total_steps, self.seed, self.log_every = int(steps), int(seed), int(log_every)
        ckpt_path, ckpt_every = checkpoint if checkpoint else (None, 0)
        if ckpt_path is not None and Path(ckpt_path).exists():
            ckpt.restore(self, torch.load(ckpt_path, map_location="cpu", weights_only=False))
        if self.buffer is not buffer:
            self.prepare(buffer)
            self.buffer = buffer
        self.fit_start_step = self.step
        if self.step >= self.total_steps:
            return self
        self._tb = logger or None
        callbacks = list(callbacks)
        if ckpt_path is not None and ckpt_every > 0:
            def save_checkpoint(module: "Learner") -> None:
                module.save(ckpt_path, training_state=True)

            callbacks.append(Periodic(ckpt_every, save_checkpoint, last=False))
        run_trainer(self, trainer, periodic, callbacks)
        self._tb = None
        # a later fit() on this learner continues with the same optimiser and sampler states
        state = ckpt.learner_state(self, training_state=True)
        self._pending = {"optimizers": state.get("optimizers", []),
                         "generators": state.get("generators", {})}
        return self

    def save(self, path: str | os.PathLike, training_state: bool = False) -> Path:
        """Write a checkpoint (:mod:`orlvlmf.policy.checkpoint`); ``training_state``: resumable."""
        return ckpt.save_learner(self, path, training_state)
