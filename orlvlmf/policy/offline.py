"""Judging a policy without a simulator: held-out episodes and offline diagnostics.

``train.holdout_episodes`` keeps a share of the episodes out of training; after training the
policy's action error against the data on them is reported (beside that of always answering the
training mean action), and for IQL the Q(s, a), V(s) and advantage statistics on held-out and
training transitions (``train_metrics.json["offline"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def holdout_split(ds: Any, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(training, held-out) transition indices: ``share`` of the episodes (at least one, never
    all) drawn with ``seed``."""
    if share <= 0 or ds.num_episodes < 2:
        return np.arange(ds.num_transitions), np.zeros(0, np.int64)
    n_out = min(ds.num_episodes - 1, max(1, int(round(share * ds.num_episodes))))
    out_eps = np.random.default_rng(seed).choice(ds.num_episodes, n_out, replace=False)
    held = np.isin(ds.episode_index, out_eps)
    return np.flatnonzero(~held), np.flatnonzero(held)


def offline_diagnostics(learner: Any, ds: Any, train_idx: np.ndarray, held_idx: np.ndarray,
                        batch: int = 256) -> dict:
    """The policy judged against the data without a simulator (see the module docstring)."""
    key = learner.observation_key
    flat = len(ds.observation_shape(key)) == 1
    column = ds.load_all(key) if flat else None

    def obs(idx: np.ndarray) -> np.ndarray:
        return column[idx] if flat else ds.observations(key, idx)

    def stats(x: np.ndarray) -> dict:
        return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}

    out: dict[str, Any] = {"held_out_episodes": int(len(np.unique(ds.episode_index[held_idx]))),
                           "held_out_transitions": int(len(held_idx))}
    if len(held_idx):
        pred = np.concatenate([learner.act(obs(held_idx[i:i + batch]))
                               for i in range(0, len(held_idx), batch)])
        true = ds.actions[held_idx]
        mean_action = ds.actions[train_idx].mean(0)
        out["action_mae"] = float(np.abs(pred - true).mean())
        out["action_mae_per_dim"] = np.abs(pred - true).mean(0).tolist()
        out["action_rmse"] = float(np.sqrt(np.square(pred - true).mean()))
        out["mean_action_mae"] = float(np.abs(mean_action - true).mean())
    if hasattr(learner, "q_and_v"):
        rng = np.random.default_rng(0)
        for name, idx in (("held_out", held_idx), ("train", train_idx)):
            if not len(idx):
                continue
            idx = np.sort(rng.choice(idx, min(len(idx), 2048), replace=False))
            qv = [learner.q_and_v(obs(idx[i:i + batch]), learner.to_unit_actions(ds.actions[idx[i:i + batch]]))
                  for i in range(0, len(idx), batch)]
            q, v = np.concatenate([a for a, _ in qv]), np.concatenate([b for _, b in qv])
            out[f"{name}_q"], out[f"{name}_v"], out[f"{name}_advantage"] = stats(q), stats(v), stats(q - v)
    return out
