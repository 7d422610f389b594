"""Learner checkpoints: ``torch.save`` of one dict, written atomically.

    {format: "orlvlmf-learner", name, config, obs_spec, action_dim, state_dict, step, total_steps,
     history, [optimizers, generators]}   (the last two with training_state: a resumable fit)

:func:`load_learner` rebuilds the learner from the registry name and config stored in the file.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from orlvlmf.policy.errors import LearnerError
from orlvlmf.policy.normalization import with_action_units

if TYPE_CHECKING:  # pragma: no cover
    from orlvlmf.policy.base import Learner

CKPT_FORMAT = "orlvlmf-learner"


def learner_state(learner: "Learner", training_state: bool = True) -> dict:
    """The checkpoint dict of ``learner`` (with optimiser and sampler states if asked and known)."""
    state = {"format": CKPT_FORMAT, "name": learner.registry_name,
             "config": {"name": learner.registry_name, **dataclasses.asdict(learner.cfg)},
             "obs_spec": learner.obs_spec, "action_dim": learner.action_dim,
             "state_dict": {k: v.detach().cpu() for k, v in learner.state_dict().items()},
             "step": learner.step, "total_steps": learner.total_steps, "history": list(learner.history)}
    optimizers = learner.current_optimizers()
    if training_state and optimizers:
        state["optimizers"] = [o.state_dict() for o in optimizers]
        if learner._generator is not None:
            rank = learner._trainer.global_rank if learner._trainer is not None else 0
            state["generators"] = {str(rank): learner._generator.get_state()}
    return state


def save_learner(learner: "Learner", path: str | os.PathLike, training_state: bool = False) -> Path:
    """Write ``learner``'s checkpoint to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    torch.save(learner_state(learner, training_state), tmp)
    os.replace(tmp, path)
    return path


def restore(learner: "Learner", state: dict) -> None:
    """Weights, step and history from ``state``; its optimiser/sampler states wait for the next fit."""
    check_format(state, "checkpoint")
    learner.load_state_dict(with_action_units(state["state_dict"], learner.action_dim))
    learner.step = int(state["step"])
    learner.history = list(state.get("history", []))
    if "optimizers" in state:
        learner._pending = {"optimizers": state["optimizers"], "generators": state.get("generators", {})}


def check_format(state: Any, path: Any) -> None:
    if not isinstance(state, dict) or state.get("format") != CKPT_FORMAT:
        raise LearnerError(f"{path} is not an orlvlmf learner checkpoint (no format '{CKPT_FORMAT}')")


def load_learner(path: str | os.PathLike, map_location: str = "cpu") -> "Learner":
    """Rebuild a learner (registry name + config from the file) and load its weights."""
    from orlvlmf.registry import REGISTRY

    path = Path(path)
    if not path.exists():
        raise LearnerError(f"policy checkpoint {path} does not exist: run the train stage first")
    try:
        state = torch.load(path, map_location=map_location, weights_only=False)
    except Exception as err:
        raise LearnerError(f"{path}: cannot read the policy checkpoint ({err}); train again") from None
    check_format(state, path)
    learner = REGISTRY.create("learners", state["name"], state["config"], state["obs_spec"],
                              state["action_dim"])
    learner.load_state_dict(with_action_units(state["state_dict"], learner.action_dim))
    learner.step = int(state["step"])
    learner.total_steps = int(state.get("total_steps", 0))
    learner.history = list(state.get("history", []))
    learner.eval()
    return learner
