"""The simulated VLM as a registered chat backend, and both image orders through labeling and the
label stage: two stored queries per pair, combined labels, counted ties, order statistics."""

import numpy as np
import pytest

from feedback_helpers import TASK
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.backends import make_backend
from orlvlmf.feedback.backends.base import PairSource, is_chat_backend
from orlvlmf.feedback.backends.simulated_vlm import order_free_key, simulated_answers
from orlvlmf.feedback.config import SimulatedVLMConfig
from orlvlmf.feedback.labeling import label_pairs
from orlvlmf.feedback.orders import combine_orders
from orlvlmf.feedback.sampling import reverse_pair_keys, sample_pairs
from orlvlmf.feedback.store import LabelStore
from orlvlmf.pipeline.stage import StageError

NOISY = {"unsure_p": 0.5, "position_bias": 0.3, "flip_p": 0.2, "abstain_p": 0.1, "proximity_scale": 0.3}


def simulated(**kw):
    return make_backend({"name": "simulated_vlm", "concurrency": 4, **kw})


def expected(ds, idx0, idx1, pair_keys, **kw):
    r = ds.ground_truth().reward
    return simulated_answers(SimulatedVLMConfig(**kw), r[idx0], r[idx1], list(pair_keys),
                             float(r.max() - r.min()),
                             [order_free_key(a, b) for a, b in zip(idx0.tolist(), idx1.tolist())]).label


@pytest.mark.parametrize("two_stage", [True, False])
def test_simulated_vlm_runs_through_the_chat_path_and_the_store(bar_dataset, tmp_path, two_stage):
    ds = OfflineDataset.open(bar_dataset)
    backend = simulated(two_stage=two_stage, **NOISY)
    assert is_chat_backend(backend) and backend.needs_ground_truth
    pairs = sample_pairs(ds, 40, min_gap=2)
    with LabelStore(tmp_path / "s.sqlite") as store:
        res = label_pairs(pairs, PairSource(ds, "image", TASK), backend, store, log=lambda m: None)
        assert res.answered.all() and not res.both_orders
        assert np.array_equal(res.label, expected(ds, pairs.idx0, pairs.idx1, pairs.pair_keys, **NOISY))
        assert res.stats.calls == 40 * (2 if two_stage else 1) and res.stats.cost_usd == 0.0
        rows = store.rows()
        assert {r["status"] for r in rows} == {"answered"} and all(r["stage1_text"] for r in rows)
        again = label_pairs(pairs, PairSource(ds, "image", TASK), simulated(two_stage=two_stage, **NOISY),
                            store, log=lambda m: None)
        assert again.cached == 40 and again.stats.calls == 0
        assert np.array_equal(again.label, res.label)


def test_simulated_vlm_refuses_data_without_ground_truth(bar_dataset, tmp_path):
    from orlvlmf.feedback.backends.base import LabelingAborted

    ds = OfflineDataset.open(bar_dataset)
    with LabelStore(tmp_path / "s.sqlite") as store, pytest.raises(LabelingAborted, match="ground-truth reward"):
        label_pairs(sample_pairs(ds, 5, min_gap=2), PairSource(ds.without_ground_truth(), "image", TASK),
                    simulated(), store, log=lambda m: None)


def test_both_orders_are_two_stored_queries_combined_per_pair(bar_dataset, tmp_path):
    ds = OfflineDataset.open(bar_dataset)
    pairs = sample_pairs(ds, 60, min_gap=2)
    source = PairSource(ds, "image", TASK)
    with LabelStore(tmp_path / "s.sqlite") as store:
        one = label_pairs(pairs, source, simulated(**NOISY), store, log=lambda m: None)
        res = label_pairs(pairs, source, simulated(**NOISY), store, log=lambda m: None, both_orders=True)
        # the (A, B) answers of the one-order run are reused: only the swapped queries are asked
        assert res.cached == 60 and res.stats.sent == 60 and len(res.query_keys) == 120
        rows = store.rows()
        assert len(rows) == 120
        swapped = {(r["idx1"], r["idx0"]) for r in rows}
        assert {(r["idx0"], r["idx1"]) for r in rows} == swapped  # every pair asked both ways
    rev = reverse_pair_keys(ds, "image", pairs.idx0, pairs.idx1)
    ab = expected(ds, pairs.idx0, pairs.idx1, pairs.pair_keys, **NOISY)
    ba = expected(ds, pairs.idx1, pairs.idx0, rev, **NOISY)
    assert np.array_equal(res.answers, np.stack([ab, ba], 1)) and np.array_equal(one.label, ab)
    label, kind = combine_orders(ab, ba)
    assert np.array_equal(res.label, label) and np.array_equal(res.kind, kind)
    assert (kind == 1).any() and (kind == 0).any()  # contradictions and agreements both occur


def stage_ctx(tmp_path, feedback, num=40, **pairs):
    from test_stage import make_ctx

    ctx, ds_path = make_ctx(tmp_path, feedback=feedback, num=num)
    for k, v in pairs.items():
        ctx.cfg.pairs[k] = v
    return ctx, ds_path


def test_label_stage_both_orders_counts_queries_and_reports_order_quality(tmp_path):
    from orlvlmf.feedback.stage import LabelStage

    ctx, ds_path = stage_ctx(tmp_path, {"name": "simulated_vlm", "both_orders": True, **NOISY}, num=80)
    s = LabelStage().run(ctx)
    npz = np.load(ctx.staging_dir / "pairs.npz")
    assert s["queries"] == 80 and s["pairs"] == 40 and len(npz["label"]) == 40
    assert npz["round"].tolist() == [0] * 40
    assert s["ties"] == int(np.sum(npz["label"] == -1)) > 0
    assert s["order_agree"] + s["order_contradict"] + s["order_one_abstain"] + s["order_both_abstain"] == 40
    assert s["order_agree"] == int(np.sum(npz["label"] >= 0))
    assert 0 < s["order_consistency"] < 1 and s["first_image_rate"] is not None
    assert s["gt_agreement"] is not None and s["gt_agreement_one_order"] is not None
    # both-order labels are right more often than the (A, B) answers alone
    assert s["gt_agreement"] > s["gt_agreement_one_order"]
    events = b"".join(p.read_bytes() for p in (ctx.run_dir / "tb" / "label").glob("events.out.tfevents*"))
    assert b"label/order_consistency" in events and b"label/first_image_rate" in events
    # the store's summary (`orlvlmf labels`) and the report read the same figures back
    from orlvlmf.feedback.summary import format_summary, summarize_store
    from orlvlmf.report.stage import order_consistency_text

    d = summarize_store(ctx.staging_dir / "labels.sqlite")
    assert d["orders"]["pairs"] == 40 and d["orders"]["agree"] == s["order_agree"]
    assert d["orders"]["consistency_rate"] == pytest.approx(s["order_consistency"], abs=1e-4)
    assert "answers naming the first image" in format_summary(d)
    assert f"{s['order_agree']} of 40 pairs asked both ways" in order_consistency_text(ctx.staging_dir / "labels.sqlite")
    odd, _ = stage_ctx(tmp_path / "odd", {"name": "scripted", "both_orders": True}, num=41)
    with pytest.raises(StageError, match="pairs.num_queries=41 is odd.*both_orders"):
        LabelStage().run(odd)


def test_ties_from_both_orders_train_as_half_or_are_dropped():
    from orlvlmf.reward.losses import preference_targets

    label, _ = combine_orders([0, 1, 0, -1], [1, 1, -1, -1])  # agree, contradict, one -1, both -1
    assert label.tolist() == [0, -1, -1, -1]
    keep, target = preference_targets(label, "drop")
    assert keep.tolist() == [0] and target.tolist() == [0.0]
    keep, target = preference_targets(label, "half")
    assert keep.tolist() == [0, 1, 2, 3] and target.tolist() == [0.0, 0.5, 0.5, 0.5]
