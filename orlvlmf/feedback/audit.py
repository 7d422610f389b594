"""Label audit: agreement of a backend's labels with the noiseless scripted teacher.

For pairs (i, j) with GT rewards r_i, r_j, the reference label is the scripted rule without noise
(0 / 1 / -1 within ``tie_threshold``).  Reported, overall and per GT-gap bucket, where the gap is
d = |r_i - r_j| / (max r - min r) over the dataset:

* ``agreement``    = P(label == ref | label != -1 and ref != -1)  (None when no such pair);
* ``abstain_rate`` = P(label == -1), the share the backend left undecided;
* ``n`` pairs, ``n_decided`` pairs counted in the agreement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

GAP_EDGES: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4, 1.0)


def _stats(label: np.ndarray, ref: np.ndarray) -> dict:
    n = int(len(label))
    decided = (label != -1) & (ref != -1)
    nd = int(decided.sum())
    return {"n": n, "n_decided": nd,
            "agreement": float(np.mean(label[decided] == ref[decided])) if nd else None,
            "abstain_rate": float(np.mean(label == -1)) if n else None}


def audit_labels(label, r0, r1, tie_threshold: float = 0.0, reward_range: float | None = None,
                 edges: Sequence[float] = GAP_EDGES) -> dict:
    """Agreement of ``label`` with the noiseless GT labels of (r0, r1); see the module docstring."""
    from orlvlmf.feedback.backends.scripted import gt_labels

    label = np.asarray(label, np.int64)
    r0 = np.asarray(r0, np.float64)
    r1 = np.asarray(r1, np.float64)
    ref = gt_labels(r0, r1, tie_threshold)
    if reward_range is None:
        both = np.concatenate([r0, r1])
        reward_range = float(both.max() - both.min()) if len(both) else 0.0
    gap = np.abs(r1 - r0) / max(reward_range, 1e-12)
    buckets = []
    for k, (lo, hi) in enumerate(zip(edges[:-1], edges[1:])):
        last = k == len(edges) - 2
        m = (gap >= lo) & ((gap <= hi) if last else (gap < hi))
        buckets.append({"gap_lo": float(lo), "gap_hi": float(hi), **_stats(label[m], ref[m])})
    return {"tie_threshold": float(tie_threshold), "reward_range": float(reward_range),
            "overall": _stats(label, ref), "buckets": buckets}


def audit_pairs(idx0, idx1, label, gt_reward, tie_threshold: float = 0.0) -> dict:
    """Audit labels of transition pairs against a GT reward array (range over the whole array)."""
    r = np.asarray(gt_reward, np.float64)
    i0, i1 = np.asarray(idx0, np.int64), np.asarray(idx1, np.int64)
    return audit_labels(label, r[i0], r[i1], tie_threshold, float(r.max() - r.min()) if len(r) else 0.0)


def audit_store(store_path: str | Path, dataset_path: str | Path, tie_threshold: float = 0.0) -> dict:
    """Audit of every (backend, model) in a store whose queries refer to this dataset.

    Returns ``{"<backend>/<model>": audit dict}``; empty when the dataset has no ground truth.
    Rows whose indices do not match this dataset's frames (another dataset in a shared store)
    are left out.
    """
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.feedback.gallery import rows_of_dataset
    from orlvlmf.feedback.store import LabelStore

    with OfflineDataset.open(dataset_path) as ds:
        if not ds.has_ground_truth:
            return {}
        reward = ds.ground_truth().reward
        with LabelStore(store_path, readonly=True) as store:
            rows = rows_of_dataset(store.rows("status='answered'"), ds)
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(f"{r['backend']}/{r['model']}", []).append(r)
    return {name: audit_pairs([r["idx0"] for r in rs], [r["idx1"] for r in rs],
                              [r["label"] for r in rs], reward, tie_threshold)
            for name, rs in groups.items()}


def log_audit(audit: dict | None, writer, step: int, prefix: str = "label",
              extra: dict | None = None) -> None:
    """Write an audit dict (and ``extra`` numeric scalars) as TensorBoard scalars at ``step``
    (the number of labels they describe)."""
    from orlvlmf.pipeline.tensorboard import add_scalars

    add_scalars(writer, prefix, extra or {}, step)
    if audit is None:
        return
    add_scalars(writer, prefix, {k: audit["overall"][k] for k in ("agreement", "abstain_rate", "n", "n_decided")},
                step)
    for b in audit["buckets"]:
        tag = f"gap_{b['gap_lo']:.2f}-{b['gap_hi']:.2f}"
        for key in ("agreement", "abstain_rate"):
            add_scalars(writer, f"{prefix}/{key}_by_gap", {tag: b[key]}, step)
        add_scalars(writer, f"{prefix}/n_by_gap", {tag: b["n"]}, step)


def format_audit(audit: dict) -> str:
    def pct(v):
        return "  n/a" if v is None else f"{100 * v:5.1f}%"

    o = audit["overall"]
    lines = [f"agreement with noiseless GT labels: {pct(o['agreement'])} of {o['n_decided']} decided "
             f"pairs; -1 rate {pct(o['abstain_rate'])} of {o['n']}"]
    for b in audit["buckets"]:
        lines.append(f"  GT gap {b['gap_lo']:.2f}-{b['gap_hi']:.2f}: agreement {pct(b['agreement'])} "
                     f"(n={b['n']}), -1 rate {pct(b['abstain_rate'])}")
    return "\n".join(lines)
