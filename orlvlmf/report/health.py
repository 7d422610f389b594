"""Training-health notes: what the logged curves of one policy fit show, stated with the numbers.

Each check reads ``train_metrics.json`` (``history``: rows of logged metrics with ``step``;
``evals``: the periodic evaluations; ``reward``: the statistics of the reward column):

* **Q growth**: mean Q(s, a) against the bound of a discounted return, r_max / (1 − γ), and
  whether it was still rising over the last half of training (slope of a least-squares line
  through the last half of the logged points, beside the slope of the last quarter);
* **Q loss**: the TD loss at the end against its minimum;
* **clipped advantage weights**: the share of AWR weights min(exp(β·A), clip) at the clip, mean
  over the last half (many clipped weights: the actor copies a few transitions);
* **late drop in success**: the periodic evaluation's success rate (or GT return) at its peak
  against the last evaluation.

Notes are observations, not verdicts: each gives the values it is computed from.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

#: thresholds of the notes (documented in the report text)
STILL_RISING = 0.25  # last-half rise of mean Q, relative to its level at mid-training
LOSS_RISE = 2.0  # final TD loss vs its minimum
CLIPPED_SHARE = 0.05  # mean share of clipped AWR weights over the last half
SUCCESS_DROP = 0.2  # peak success - final success


def _series(history: Sequence[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(h["step"], h[key]) for h in history if h.get(key) is not None]
    if not rows:
        return np.zeros(0), np.zeros(0)
    steps, values = zip(*rows)
    return np.asarray(steps, np.float64), np.asarray(values, np.float64)


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.polyfit(x, y, 1)[0]) if len(x) >= 2 and np.ptp(x) > 0 else 0.0


def q_notes(history: Sequence[dict], gamma: float | None, r_max: float | None) -> list[str]:
    steps, q = _series(history, "value/q")
    if len(q) < 4:
        return []
    notes = []
    half = len(q) // 2
    rise = q[-1] - q[half]
    scale = max(abs(q[half]), 1e-8)
    slope_half, slope_quarter = _slope(steps[half:], q[half:]), _slope(steps[-max(2, len(q) // 4):],
                                                                         q[-max(2, len(q) // 4):])
    bound = r_max / (1.0 - gamma) if gamma is not None and r_max is not None and gamma < 1 else None
    bound_text = f"; the bound r_max / (1 − γ) is {bound:.3g}" if bound is not None else ""
    if bound is not None and r_max > 0 and q[-1] > bound:
        notes.append(f"**Q above its bound**: mean Q(s, a) is {q[-1]:.3g} at step {steps[-1]:.0f}, above "
                     f"r_max / (1 − γ) = {r_max:.3g} / {1 - gamma:.3g} = {bound:.3g}: the critic "
                     f"over-estimates.")
    elif rise > STILL_RISING * scale and slope_half > 0 and slope_quarter >= 0.5 * slope_half:
        notes.append(f"**Q still rising**: mean Q(s, a) went from {q[half]:.3g} (step {steps[half]:.0f}) to "
                     f"{q[-1]:.3g} (step {steps[-1]:.0f}), {1000 * slope_half:+.3g} per 1k steps over the "
                     f"last half and {1000 * slope_quarter:+.3g} per 1k over the last quarter: it has "
                     f"not levelled off{bound_text}. Longer training shows whether it settles below "
                     f"the bound.")
    else:
        notes.append(f"Mean Q(s, a) ends at {q[-1]:.3g} (step {steps[-1]:.0f}; {q[half]:.3g} at step "
                     f"{steps[half]:.0f}){bound_text}: no unbounded growth.")
    steps_l, loss = _series(history, "loss/q")
    if len(loss) >= 4:
        i = int(np.argmin(loss))
        if loss[-1] > LOSS_RISE * max(loss[i], 1e-12) and i < len(loss) - 1:
            notes.append(f"**Q loss rising**: the TD loss fell to {loss[i]:.3g} at step {steps_l[i]:.0f} and "
                         f"ends at {loss[-1]:.3g} ({loss[-1] / max(loss[i], 1e-12):.1f}×); with a growing Q "
                         f"the targets keep moving.")
    return notes


def weight_notes(history: Sequence[dict], adv_clip: float | None) -> list[str]:
    steps, clipped = _series(history, "actor/weight_clipped")
    if not len(clipped):
        return []
    late = float(clipped[len(clipped) // 2:].mean())
    clip = f" (at exp(β·A) = {adv_clip:g})" if adv_clip is not None else ""
    if late > CLIPPED_SHARE:
        return [f"**Many advantage weights clipped**: {100 * late:.1f}% of the AWR weights were clipped{clip} "
                f"on average over the last half of training (peak {100 * clipped.max():.1f}%): the actor "
                f"imitates a few high-advantage transitions; a lower β spreads the weight."]
    return [f"Clipped advantage weights: {100 * late:.1f}% on average over the last half{clip}."]


def success_notes(evals: Sequence[dict]) -> list[str]:
    steps, success = _series(evals, "eval/success_rate")
    if len(success) < 2:
        return []
    i = int(np.argmax(success))
    if success[i] - success[-1] >= SUCCESS_DROP:
        return [f"**Success fell late in training**: the periodic evaluation peaked at {success[i]:.2f} "
                f"(step {steps[i]:.0f}) and ended at {success[-1]:.2f} (step {steps[-1]:.0f}); the "
                f"policy of step {steps[i]:.0f} was better (`train.eval_every` sets how often this is "
                f"checked)."]
    return [f"Periodic evaluation: success {success[-1]:.2f} at the end (step {steps[-1]:.0f}), peak "
            f"{success[i]:.2f} at step {steps[i]:.0f}."]


def training_notes(metrics: dict[str, Any], policy_cfg: dict[str, Any] | None = None) -> list[str]:
    """The notes for one seed's ``train_metrics.json`` (``policy_cfg``: γ as ``gamma``, the AWR
    clip as ``adv_clip``, when the learner has them)."""
    policy_cfg = policy_cfg or {}
    history = metrics.get("history") or []
    r_max = (metrics.get("reward") or {}).get("max")
    return (q_notes(history, policy_cfg.get("gamma"), r_max)
            + weight_notes(history, policy_cfg.get("adv_clip"))
            + success_notes(metrics.get("evals") or []))
