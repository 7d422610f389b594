"""The label stage: artifacts, store location, audit, errors."""

import zipfile

import numpy as np
import pytest
from omegaconf import OmegaConf

from feedback_helpers import make_bar_dataset
from orlvlmf.feedback.backends.scripted import gt_labels
from orlvlmf.feedback.stage import DEFAULT_STORE, LabelStage
from orlvlmf.feedback.store import LabelStore
from orlvlmf.pipeline.stage import StageContext, StageError


def make_ctx(tmp_path, feedback=None, task=None, shared=None, num=30, ds_task="make the red bar long"):
    run_dir = tmp_path / "run"
    ds_path = make_bar_dataset(tmp_path / "dataset.h5", task=ds_task)
    cfg = OmegaConf.create({
        "task": task,
        "pairs": {"num_queries": num, "min_gap": 2, "seed": 0, "image_key": "image", "skip_identical": True},
        "labels": {"shared_path": shared},
        "feedback": feedback or {"name": "scripted", "tie_threshold": 0.0, "noise": "none", "flip_p": 0.0,
                                 "proximity_scale": 0.1, "noise_seed": 0}})
    staging = run_dir / ".staging" / "label"
    staging.mkdir(parents=True)
    return StageContext(cfg=cfg, run_dir=run_dir, stage="label", seed=None, staging_dir=staging,
                        work_dir=run_dir / ".work" / "label-x", inputs={"collect/dataset.h5": ds_path}), ds_path


def test_scripted_stage_writes_pairs_store_snapshot_and_audit(tmp_path):
    from orlvlmf.data.dataset import OfflineDataset

    ctx, ds_path = make_ctx(tmp_path)
    summary = LabelStage().run(ctx)
    assert summary["answered"] == 30 and summary["gt_agreement"] == 1.0 and summary["failed"] == 0
    npz = np.load(ctx.staging_dir / "pairs.npz")
    assert set(npz.files) >= {"idx0", "idx1", "label"} and str(npz["observation"]) == "next"
    r = OfflineDataset.open(ds_path).ground_truth().reward
    assert np.array_equal(npz["label"], gt_labels(r[npz["idx0"]], r[npz["idx1"]]))
    with LabelStore(ctx.staging_dir / "labels.sqlite", readonly=True) as snap:
        assert snap.count("answered") == 30 and len(snap.sessions()) == 1
    assert (ctx.run_dir / DEFAULT_STORE).is_file()
    events = b"".join(p.read_bytes() for p in (ctx.run_dir / "tb" / "label").glob("events.out.tfevents*"))
    assert b"label/agreement" in events and b"label/agreement_by_gap/gap_0.00-0.05" in events
    from orlvlmf.feedback.audit import audit_store
    from orlvlmf.feedback.summary import summarize_store

    audits = audit_store(ctx.staging_dir / "labels.sqlite", ds_path)
    assert list(audits) == ["scripted/gt(tie=0, noise=none, p=0)"]
    assert audits["scripted/gt(tie=0, noise=none, p=0)"]["overall"]["agreement"] == 1.0
    s = summarize_store(ctx.staging_dir / "labels.sqlite")
    assert s["answered"] == 30 and s["last_session"]["stop_reason"] == "done"
    # byte-identical pairs.npz on a rerun (downstream stages can skip)
    first = (ctx.staging_dir / "pairs.npz").read_bytes()
    again = LabelStage().run(ctx)
    assert again["cached"] == 30 and (ctx.staging_dir / "pairs.npz").read_bytes() == first
    with zipfile.ZipFile(ctx.staging_dir / "pairs.npz") as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_shared_store_and_task_override(tmp_path):
    shared = tmp_path / "shared" / "labels.sqlite"
    ctx, _ = make_ctx(tmp_path, task="open the drawer", shared=str(shared))
    LabelStage().run(ctx)
    with LabelStore(shared, readonly=True) as s:
        assert {r["task"] for r in s.rows()} == {"open the drawer"}
    assert not (ctx.run_dir / DEFAULT_STORE).exists()


def test_missing_task_and_budget_stop_are_clear_errors(tmp_path, fake_server):
    ctx, _ = make_ctx(tmp_path, ds_task=None)
    with pytest.raises(StageError, match="no task text"):
        LabelStage().run(ctx)
    srv = fake_server()
    ctx2, _ = make_ctx(tmp_path / "b", feedback={
        "name": "litellm", "model": "openai/fake-vlm", "api_base": srv.url, "image_size": 32,
        "max_queries": 5, "concurrency": 2})
    with pytest.raises(StageError, match=r"stopped early \(budget: max_queries=5 reached\): 5 of 30"):
        LabelStage().run(ctx2)
    with LabelStore(ctx2.run_dir / DEFAULT_STORE, readonly=True) as s:
        assert s.count("answered") == 5  # kept for the next run


def test_feedback_config_nodes_are_checked_by_the_loader(tmp_path):
    from dataclasses import dataclass
    from typing import Any, Dict

    from orlvlmf.config import ConfigError, component_field, load_config

    @dataclass
    class Schema:
        feedback: Dict[str, Any] = component_field("feedback", "scripted")

    cfg = load_config(None, ["feedback.name=litellm", "feedback.model=gemini/gemini-2.0-flash",
                             "feedback.api_key_env=GEMINI_API_KEY"], schema=Schema)
    assert cfg.feedback.concurrency == 8 and cfg.feedback.two_stage is True
    assert load_config(None, [], schema=Schema).feedback.noise == "none"
    with pytest.raises(ConfigError, match="feedback.concurency.*Did you mean 'feedback.concurrency'"):
        load_config(None, ["feedback.name=litellm", "feedback.concurency=3"], schema=Schema)
    with pytest.raises(ConfigError, match="literal secret"):
        load_config(None, ["feedback.name=litellm", "feedback.api_key=sk-123"], schema=Schema)


def test_tensorboard_gets_label_curves_and_a_pair_grid_with_the_vlm_reason(tmp_path, fake_server, monkeypatch):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from orlvlmf.feedback.prompts import reason_line
    from orlvlmf.pipeline import tensorboard as tb

    drawn = []
    original = tb.pair_grid
    monkeypatch.setattr(tb, "pair_grid", lambda pairs, title, **kw: drawn.append(pairs) or original(pairs, title, **kw))
    srv = fake_server()
    ctx, _ = make_ctx(tmp_path, num=12, feedback={
        "name": "litellm", "model": "openai/fake-vlm", "api_base": srv.url, "image_size": 32, "concurrency": 2})
    LabelStage().run(ctx)
    labels = np.load(ctx.staging_dir / "pairs.npz")["label"]
    acc = EventAccumulator(str(ctx.run_dir / "tb" / "label"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    curve = acc.Scalars("labels/image2_better_rate")
    assert [p.step for p in curve] == list(range(1, len(labels) + 1))
    assert [p.value for p in curve] == pytest.approx([np.mean(labels[:k] == 1) for k in range(1, len(labels) + 1)])
    assert acc.Images("labels/pairs")[0].step == len(labels)
    with LabelStore(ctx.staging_dir / "labels.sqlite", readonly=True) as store:
        reasons = {reason_line(r["stage1_text"]) for r in store.rows("status='answered'")}
    captions = [c for _, _, c in drawn[0]]
    assert len(captions) == 8 and all("; GT: " in c for c in captions)
    assert all(any(c.endswith(f"Reason: {r}") for r in reasons if r) for c in captions)
