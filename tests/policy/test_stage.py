"""The train stage on a small cartpole dataset, then the evaluate stage on its checkpoint."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from orlvlmf.config.loader import load_config
from orlvlmf.data.dataset import DatasetWriter, OfflineDataset
from orlvlmf.pipeline.stage import StageContext
from orlvlmf.policy.stage import TrainStage
from tests.evaluation.helpers import replay_returns

torch.set_num_threads(1)


def _cartpole_dataset(path: Path, episodes: int = 6) -> Path:
    from orlvlmf.env import make_env

    env = make_env("cartpole", observations=("state",))
    rng = np.random.default_rng(0)
    eps = []
    for e in range(episodes):
        obs, _ = env.reset(seed=e)
        states, acts, rews, succ = [obs["state"]], [], [], []
        done = False
        while not done:
            a = env.expert_action(obs) if e % 2 == 0 else rng.uniform(-1, 1, env.action_dim)
            a = np.clip(a + 0.3 * rng.normal(size=env.action_dim), -1, 1).astype(np.float32)
            obs, r, term, trunc, info = env.step(a)
            states.append(obs["state"]), acts.append(a), rews.append(r), succ.append(info["success"])
            done = term or trunc
        t = len(acts)
        eps.append({"observations": {"state": np.array(states, np.float32)}, "actions": np.array(acts),
                    "terminals": np.zeros(t, bool), "timeouts": np.eye(t, dtype=bool)[-1],
                    "reward": np.array(rews, np.float32), "success": np.array(succ)})
    env.close()
    with DatasetWriter(path, {"env": "cartpole"}) as w:
        for ep in eps:
            w.add_episode(**ep)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return _cartpole_dataset(tmp_path_factory.mktemp("data") / "dataset.h5")


def _ctx(cfg, tmp_path: Path, stage: str, inputs: dict, seed: int = 0) -> StageContext:
    return StageContext(cfg=cfg, run_dir=tmp_path, stage=stage, seed=seed,
                        staging_dir=tmp_path / ".staging" / stage, work_dir=tmp_path / ".work" / stage,
                        inputs=inputs)


def _cfg(tmp_path, *extra):
    return load_config(None, [f"name=t", f"run_dir={tmp_path}", "env.name=cartpole",
                              "train.steps=60", "train.eval_every=30", "train.eval_episodes=1",
                              "train.checkpoint_every=20", "train.log_every=20", "train.reward=ground_truth",
                              "train.reward_scale=0.01", "policy.batch_size=32",
                              "policy.encoder.hidden=[32,32]", "trainer.progress=false",
                              "trainer.num_threads=1", "evaluation.episodes=2",
                              "evaluation.save_videos=1", "evaluation.video_size=32", *extra])


def test_train_then_evaluate_stage(dataset, tmp_path):
    from orlvlmf.evaluation.stage import EvaluateStage

    cfg = _cfg(tmp_path)
    ctx = _ctx(cfg, tmp_path, "train", {"collect/dataset.h5": dataset})
    summary = TrainStage().run(ctx)
    assert summary["steps"] == 60 and summary["steps_per_s"] > 0
    metrics = json.loads((ctx.staging_dir / "train_metrics.json").read_text())
    assert [e["step"] for e in metrics["evals"]] == [30, 60]
    gt = OfflineDataset.open(dataset).ground_truth().reward.astype(np.float64)
    unit = 0.01 * (gt - gt.min()) / (gt.max() - gt.min())  # the column it trained on: minmax x 0.01
    assert metrics["reward"]["mean"] == pytest.approx(unit.mean(), rel=1e-5)
    assert metrics["reward"]["std"] == pytest.approx(unit.std(), rel=1e-4)
    assert (tmp_path / "tb" / "train" / "seed_0").is_dir()
    assert (ctx.work_dir / "last.ckpt").exists()

    ectx = _ctx(cfg, tmp_path, "evaluate", {"train/policy.ckpt": ctx.staging_dir / "policy.ckpt"})
    esum = EvaluateStage().run(ectx)
    out = json.loads((ectx.staging_dir / "eval.json").read_text())
    assert out["policy_step"] == 60 and len(out["episodes"]) == 2
    assert 0.0 <= esum["success_rate"] <= 1.0
    replay = replay_returns(ctx.staging_dir / "policy.ckpt", "cartpole", [e["seed"] for e in out["episodes"]])
    assert [e["return"] for e in out["episodes"]] == pytest.approx([r for r, _, _ in replay], rel=1e-6)
    assert out["return_mean"] == pytest.approx(np.mean([r for r, _, _ in replay]), rel=1e-6)
    assert (ectx.staging_dir / out["videos"][0]).stat().st_size > 0


def test_train_stage_resumes_from_its_work_dir(dataset, tmp_path):
    cfg = _cfg(tmp_path, "train.eval_every=0")
    ctx = _ctx(cfg, tmp_path, "train", {"collect/dataset.h5": dataset})
    import lightning as L

    from orlvlmf.policy import base

    class Crash(L.Callback):
        def on_train_batch_end(self, trainer, module, *args):
            if module.step == 50:
                raise RuntimeError("power cut")

    original = base.Learner.fit

    def crashing_fit(self, *a, **kw):
        return original(self, *a, callbacks=[Crash()], **kw)

    base.Learner.fit = crashing_fit
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            TrainStage().run(ctx)
    finally:
        base.Learner.fit = original
    assert torch.load(ctx.work_dir / "last.ckpt", weights_only=False)["step"] == 40
    TrainStage().run(ctx)
    metrics = json.loads((ctx.staging_dir / "train_metrics.json").read_text())
    assert metrics["resumed"] and metrics["steps"] == 60
    assert [h["step"] for h in metrics["history"]] == [20, 40, 60]


def test_a_truncated_resume_checkpoint_is_set_aside_and_training_starts_over(dataset, tmp_path, caplog):
    """Issue 12, item 5, for the train stage."""
    cfg = _cfg(tmp_path, "train.eval_every=0")
    ctx = _ctx(cfg, tmp_path, "train", {"collect/dataset.h5": dataset})
    TrainStage().run(ctx)
    last = ctx.work_dir / "last.ckpt"
    last.write_bytes(last.read_bytes()[:1000])
    with caplog.at_level("WARNING"):
        TrainStage().run(ctx)
    metrics = json.loads((ctx.staging_dir / "train_metrics.json").read_text())
    assert not metrics["resumed"] and metrics["steps"] == 60
    assert "cannot be read" in caplog.text
