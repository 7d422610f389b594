"""Both image orders: combine the answers to (A, B) and (B, A), and measure order effects.

An answer is given in the order shown: 0 names Image 1, 1 names Image 2, -1 is no answer.  For a
pair asked as (A, B) with answer a and as (B, A) with answer b, the label of (A, B) is

    a            when a, b are decided and a == 1 - b      (agree: both name the same frame)
    -1 (a tie)   otherwise: a == b decided                 (contradict: both name a position)
                            exactly one of a, b is -1      (one abstained)
                            a == b == -1                   (both abstained)

Measured without ground truth (:func:`order_stats`):

* ``consistency_rate`` = agree / (agree + contradict), over pairs with both answers decided;
* ``first_image_rate`` = share of decided answers (both orders) naming Image 1: 0.5 for a model
  without position bias when each pair is shown both ways;
* ``minus1_rate`` = share of answers that are -1.
"""

from __future__ import annotations

import numpy as np

AGREE, CONTRADICT, ONE_ABSTAIN, BOTH_ABSTAIN = 0, 1, 2, 3
KINDS = ("agree", "contradict", "one_abstain", "both_abstain")


def _check(ab, ba) -> tuple[np.ndarray, np.ndarray]:
    ab = np.asarray(ab, np.int64)
    ba = np.asarray(ba, np.int64)
    if ab.shape != ba.shape or ab.ndim != 1:
        raise ValueError(f"answers of the two orders must be two (P,) arrays, got {ab.shape} and {ba.shape}")
    bad = ~np.isin(np.concatenate([ab, ba]), (-1, 0, 1))
    if bad.any():
        raise ValueError("answers must be 0, 1 or -1")
    return ab, ba


def combine_orders(ab, ba) -> tuple[np.ndarray, np.ndarray]:
    """(label of (A, B), kind per pair) from the answers to (A, B) and to (B, A)."""
    ab, ba = _check(ab, ba)
    decided = (ab >= 0) & (ba >= 0)
    agree = decided & (ab == 1 - ba)
    kind = np.select([agree, decided, (ab >= 0) | (ba >= 0)], [AGREE, CONTRADICT, ONE_ABSTAIN],
                     BOTH_ABSTAIN)
    return np.where(agree, ab, -1).astype(np.int64), kind.astype(np.int64)


def first_image_rate(answers) -> float | None:
    """Share of decided answers that name Image 1 (None when none is decided)."""
    a = np.asarray(answers, np.int64)
    d = a[a >= 0]
    return float(np.mean(d == 0)) if len(d) else None


def order_stats(ab, ba) -> dict:
    """Order effects of paired answers, no ground truth needed (see the module docstring)."""
    ab, ba = _check(ab, ba)
    _, kind = combine_orders(ab, ba)
    counts = {k: int(np.sum(kind == i)) for i, k in enumerate(KINDS)}
    both = counts["agree"] + counts["contradict"]
    answers = np.concatenate([ab, ba])
    return {"pairs": int(len(ab)), **counts,
            "consistency_rate": counts["agree"] / both if both else None,
            "first_image_rate": first_image_rate(answers),
            "minus1_rate": float(np.mean(answers == -1)) if len(answers) else None}
