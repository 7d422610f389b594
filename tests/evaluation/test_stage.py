import json

import numpy as np
import pytest
import torch

from orlvlmf.config.loader import load_config
from orlvlmf.evaluation.stage import EvaluateStage
from orlvlmf.pipeline.stage import StageContext
from orlvlmf.policy.errors import LearnerError
from tests.evaluation.helpers import replay_returns
from tests.policy.helpers import make_learner, random_buffer

torch.set_num_threads(1)


def _ctx(tmp_path, ckpt, *overrides):
    cfg = load_config(None, ["name=t", f"run_dir={tmp_path}", "env.name=cartpole",
                             "evaluation.episodes=3", "trainer.num_threads=1", *overrides])
    return StageContext(cfg=cfg, run_dir=tmp_path, stage="evaluate", seed=0,
                        staging_dir=tmp_path / "staging", work_dir=tmp_path / "work",
                        inputs={"train/policy.ckpt": ckpt})


def test_evaluate_stage_rolls_out_a_saved_policy(tmp_path):
    learner = make_learner(s=4, a=1)  # cartpole: state 4, action 1
    learner.fit(random_buffer(s=4, a=1), 3, log_every=0)
    ckpt = learner.save(tmp_path / "policy.ckpt")
    ctx = _ctx(tmp_path, ckpt)
    summary = EvaluateStage().run(ctx)
    out = json.loads((ctx.staging_dir / "eval.json").read_text())
    assert [e["seed"] for e in out["episodes"]] == [1000, 1001, 1002]
    # the same policy replayed by an independent loop on the same seeds gives the same episodes
    replay = replay_returns(ckpt, "cartpole", [1000, 1001, 1002])
    assert [(e["return"], e["success"], e["steps"]) for e in out["episodes"]] == [
        (pytest.approx(r, rel=1e-6), s, n) for r, s, n in replay]
    assert summary["return_mean"] == pytest.approx(np.mean([r for r, _, _ in replay]), rel=1e-6)
    assert summary["success_rate"] == pytest.approx(np.mean([s for _, s, _ in replay]))
    # by default the first two episodes are saved as GIFs and go to TensorBoard with the scalars
    assert out["videos"] == ["videos/episode_00.gif", "videos/episode_01.gif"]
    gif = (ctx.staging_dir / "videos" / "episode_00.gif").read_bytes()
    from PIL import Image, ImageSequence

    with Image.open(ctx.staging_dir / "videos" / "episode_00.gif") as im:  # identical frames merge
        ms = sum(f.info["duration"] for f in ImageSequence.Iterator(im))
    assert ms == pytest.approx((out["episodes"][0]["steps"] + 1) * 1000 / ctx.cfg.evaluation.video_fps, abs=20)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "tb" / "evaluate" / "seed_0"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    assert acc.Images("evaluate/rollout_00")[0].encoded_image_string == gif
    assert sorted(acc.Tags()["images"]) == ["evaluate/rollout_00", "evaluate/rollout_01"]
    assert [e.value for e in acc.Scalars("evaluate/episode_return")] == pytest.approx(
        [e["return"] for e in out["episodes"]])
    assert acc.Scalars("evaluate/success_rate")[0].value == pytest.approx(summary["success_rate"])


def test_no_videos_when_save_videos_is_zero(tmp_path):
    learner = make_learner(s=4, a=1)
    learner.fit(random_buffer(s=4, a=1), 3, log_every=0)
    ctx = _ctx(tmp_path, learner.save(tmp_path / "policy.ckpt"), "evaluation.save_videos=0")
    EvaluateStage().run(ctx)
    assert json.loads((ctx.staging_dir / "eval.json").read_text())["videos"] == []
    assert not list((ctx.staging_dir / "videos").iterdir())


def test_evaluate_stage_without_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(LearnerError, match="run the train stage first"):
        EvaluateStage().run(_ctx(tmp_path, tmp_path / "nope.ckpt"))
