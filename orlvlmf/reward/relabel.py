"""Score every transition with the learned reward (the relabel stage's work)::

    raw_i = mean_k r_k(o'_i)    (``score: next``, the frame the labeler saw; or o_i)

The stage normalises it and writes it as the ``learned`` reward column (:mod:`orlvlmf.reward.column`).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from orlvlmf.reward.inference import score_batches
from orlvlmf.reward.model import RewardNet


def relabel_dataset(net: RewardNet, ds: Any, observation: str, score: str = "next",
                    batch_size: int = 256, precision: str = "32",
                    on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(ensemble mean, ensemble std) of r over every transition of ``ds``, in dataset order;
    ``on_batch(k)`` after each batch of ``k`` transitions."""
    if precision not in ("32", "bf16"):
        raise ValueError(f"relabel.precision must be '32' or 'bf16', got '{precision}'")
    if score not in ("next", "current"):
        raise ValueError(f"relabel.score must be 'next' or 'current', got '{score}'")
    ds.require([observation])
    shape = tuple(ds.observation_shape(observation))
    if list(shape) != list(net.spec["obs_shape"]):
        raise ValueError(f"the reward model was trained on '{observation}' of shape "
                         f"{tuple(net.spec['obs_shape'])}, but {ds.path} stores {shape}: retrain it on "
                         f"this dataset (`orlvlmf reward`)")
    get = ds.next_observations if score == "next" else ds.observations
    return score_batches(net, lambda a, b: get(observation, np.arange(a, b)), ds.num_transitions,
                         batch_size, bf16=precision == "bf16", on_batch=on_batch)
