import numpy as np
import pytest

from feedback_helpers import TASK
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.backends import make_backend
from orlvlmf.feedback.backends.base import LabelingAborted, PairSource
from orlvlmf.feedback.backends.scripted import flip_probability, gt_labels
from orlvlmf.feedback.config import ScriptedConfig
from orlvlmf.feedback.labeling import label_pairs
from orlvlmf.feedback.sampling import sample_pairs
from orlvlmf.feedback.store import LabelStore


def test_gt_rule_with_tie_threshold():
    r0 = np.array([0.0, 1.0, 0.5, 0.5])
    r1 = np.array([1.0, 0.0, 0.55, 0.5])
    assert gt_labels(r0, r1).tolist() == [1, 0, 1, -1]
    assert gt_labels(r0, r1, tie_threshold=0.1).tolist() == [1, 0, -1, -1]


def test_proximity_formula():
    cfg = ScriptedConfig(noise="proximity", flip_p=0.5, proximity_scale=0.1)
    p = flip_probability(cfg, np.zeros(3), np.array([0.0, 0.1, 1.0]), reward_range=1.0)
    assert p == pytest.approx([0.5, 0.5 * np.exp(-1.0), 0.5 * np.exp(-10.0)])
    assert np.all(np.diff(p) < 0)  # closer states, likelier flips


def run_scripted(ds_path, tmp_path, name, n=100, **opts):
    ds = OfflineDataset.open(ds_path)
    pairs = sample_pairs(ds, n, min_gap=2, seed=0)
    with LabelStore(tmp_path / f"{name}.sqlite") as store:
        res = label_pairs(pairs, PairSource(ds, "image", TASK), make_backend({"name": "scripted", **opts}),
                          store, log=lambda m: None)
    r = ds.ground_truth().reward
    return res, gt_labels(r[res.idx0], r[res.idx1])


def test_noiseless_labels_follow_gt_and_are_stored(bar_dataset, tmp_path):
    res, ref = run_scripted(bar_dataset, tmp_path, "clean")
    assert res.answered.all() and np.array_equal(res.label, ref)
    assert res.stats.answered == 100 and res.stats.cost_usd == 0
    with LabelStore(tmp_path / "clean.sqlite") as s:
        rows = s.rows()
    assert len(rows) == 100 and {r["backend"] for r in rows} == {"scripted"}


def test_flip_noise_rate_and_determinism(bar_dataset, tmp_path):
    res, ref = run_scripted(bar_dataset, tmp_path, "flip", n=400, noise="flip", flip_p=0.25)
    decided = ref != -1
    flipped = np.mean(res.label[decided] != ref[decided])
    assert 0.18 < flipped < 0.32  # binomial(~350, 0.25): ±3 sd
    assert np.all(res.label[~decided] == -1)  # ties are never flipped
    again, _ = run_scripted(bar_dataset, tmp_path, "flip2", n=400, noise="flip", flip_p=0.25)
    assert np.array_equal(res.label, again.label)


def test_proximity_flips_close_pairs_more(bar_dataset, tmp_path):
    res, ref = run_scripted(bar_dataset, tmp_path, "prox", n=600, noise="proximity", flip_p=0.5,
                            proximity_scale=0.1)
    ds = OfflineDataset.open(bar_dataset)
    r = ds.ground_truth().reward
    gap = np.abs(r[res.idx0] - r[res.idx1]) / (r.max() - r.min())
    decided = ref != -1
    wrong = res.label != ref
    close, far = decided & (gap < 0.1), decided & (gap > 0.3)
    assert wrong[close].mean() > 0.2 and wrong[far].mean() < 0.1


def test_bad_options_and_missing_gt_are_clear(tmp_path):
    with pytest.raises(ValueError, match="feedback.noise must be one of"):
        make_backend({"name": "scripted", "noise": "gaussian"})
    with pytest.raises(ValueError, match="flip_p must be in"):
        make_backend({"name": "scripted", "noise": "flip", "flip_p": 1.5})
    from feedback_helpers import make_bar_dataset
    path = make_bar_dataset(tmp_path / "d.h5")
    ds = OfflineDataset.open(path).without_ground_truth()
    pairs = sample_pairs(ds, 5, 2, 0)
    with LabelStore(tmp_path / "s.sqlite") as store, pytest.raises(LabelingAborted, match="ground-truth"):
        label_pairs(pairs, PairSource(ds, "image", TASK), make_backend({"name": "scripted"}), store,
                    log=lambda m: None)


def test_flip_noise_at_zero_writes_the_noiseless_pairs_file(tmp_path):
    """Table II's ``flip_0`` column gives the bytes of Table I's "Ours" labels, so a shared sweep cache
    reuses the reward models trained on them (their fingerprints hash the pairs file)."""
    from active_worker import stage_config, stage_context
    from feedback_helpers import make_bar_dataset
    from orlvlmf.feedback.stage import LabelStage

    ds = make_bar_dataset(tmp_path / "d.h5", episodes=4, steps=30)
    files = []
    for name, feedback in (("plain", {"name": "scripted"}),
                           ("flip0", {"name": "scripted", "noise": "flip", "flip_p": 0.0}),
                           ("flip25", {"name": "scripted", "noise": "flip", "flip_p": 0.25})):
        ctx = stage_context(stage_config(feedback, pairs={"strategy": "uniform", "num_queries": 40}), ds,
                            tmp_path / name)
        LabelStage().run(ctx)
        files.append((ctx.staging_dir / "pairs.npz").read_bytes())
    assert files[0] == files[1] and files[0] != files[2]
