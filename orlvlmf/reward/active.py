"""The reward model's part of active query selection (``pairs.strategy: disagreement | bald``).

Before each round the label stage (:mod:`orlvlmf.feedback.active`) asks for the members' rewards
on a pool of candidate pairs: :func:`score_pool` fits a brief ensemble on the labels so far (the
``reward`` section's model and settings, with ``epochs`` epochs, ``ensemble`` members, no early
stop and no ground truth) and returns each member's reward of both frames of every candidate,
r_e(o'_a), r_e(o'_b), from which the label stage computes the disagreement
std_e sigmoid(r_e(o'_b) - r_e(o'_a)) or the mutual information (``bald``).  Frames are scored
alone (segment length 1), as labeled.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import numpy as np

def brief_fit_config(reward_cfg: Mapping[str, Any], epochs: int, ensemble: int) -> dict[str, Any]:
    """The ``reward`` section of a brief fit: ``epochs`` epochs (no early stop), ``ensemble``
    members, no ground-truth evaluation; every other key as configured."""
    return {**dict(reward_cfg), "max_epochs": int(epochs), "ensemble": int(ensemble),
            "patience": int(epochs) + 1, "gt_eval_transitions": 0, "gt_eval_every": 0}


#: ``reward`` keys the brief fit sets itself (max_epochs, ensemble, patience, gt_eval_*).  The rounds
#: do not depend on them, so training the final reward model longer or with more members keeps
#: the rounds already asked (and paid).
BRIEF_FIT_SETS = tuple(brief_fit_config({}, epochs=1, ensemble=2))


def score_pool(view: Any, idx0: np.ndarray, idx1: np.ndarray, label: np.ndarray, pool: np.ndarray,
               reward_cfg: Mapping[str, Any], trainer: Mapping[str, Any], work_dir: Path, seed: int,
               epochs: int, ensemble: int) -> tuple[np.ndarray, np.ndarray]:
    """(r0, r1), each (E, M): member rewards of the first and second frame of the ``pool`` pairs
    (M, 2) after a brief fit on the labeled pairs ``idx0, idx1, label``.

    ``view`` is the dataset without ground truth; ``work_dir`` keeps the fit's checkpoints (a
    killed fit resumes from them).
    """
    from orlvlmf.reward.data import Pairs
    from orlvlmf.reward.inference import member_scores
    from orlvlmf.reward.train import train_reward_model

    if ensemble < 2:
        raise ValueError(f"pairs.round_ensemble must be >= 2 (the members' spread is the score), got {ensemble}")
    cfg = brief_fit_config(reward_cfg, epochs, ensemble)
    work_dir = Path(work_dir)
    net, _ = train_reward_model(view, Pairs(np.asarray(idx0), np.asarray(idx1), np.asarray(label)), cfg,
                                trainer={**dict(trainer), "progress": False}, work_dir=work_dir,
                                tb_dir=work_dir / "tb", seed=seed)
    pool = np.asarray(pool, np.int64).reshape(-1, 2)
    needed, inverse = np.unique(pool.reshape(-1), return_inverse=True)
    frames = view.next_observations(cfg["observation"], needed)
    r = member_scores(net, frames)[:, inverse.reshape(-1, 2)]  # (E, M, 2)
    return r[..., 0], r[..., 1]
