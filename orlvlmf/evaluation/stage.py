"""Stage ``evaluate``: roll the trained policy out in the env plugin (mean action).

Writes ``eval.json`` (success rate, GT return mean/std, per-episode rows) and ``videos/`` (GIFs
of the first ``evaluation.save_videos`` episodes; empty when 0).
"""

from __future__ import annotations

import json
import time

from orlvlmf.pipeline.stage import Stage, StageContext, torch_threads
from orlvlmf.registry import register


@register("stages", "evaluate")
class EvaluateStage(Stage):
    sections = ("evaluation", "env")
    inputs = ("train/policy.ckpt",)
    outputs = ("eval.json", "videos")
    per_seed = True
    description = "roll the policy out in the env"

    def run(self, ctx: StageContext) -> dict:
        import torch

        from orlvlmf.env import make_env
        from orlvlmf.env.rollout import evaluate_policy
        from orlvlmf.policy.base import load_learner

        cfg = ctx.cfg
        torch.set_num_threads(torch_threads(cfg.trainer.num_threads))
        learner = load_learner(ctx.input("train/policy.ckpt"))
        ev = cfg.evaluation
        keys = (learner.observation_key,)
        env = make_env(cfg.env, observations=keys, image_size=int(ev.video_size))
        video_dir = ctx.output("videos")
        video_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            result = evaluate_policy(learner.act, env, int(ev.episodes), seed=int(ev.seed),
                                     observation=learner.observation_key,
                                     videos=int(ev.save_videos), video_dir=video_dir,
                                     video_size=int(ev.video_size), fps=int(ev.video_fps))
        finally:
            env.close()
        out = {"seed": ctx.seed, "env": getattr(env, "env_id", str(cfg.env.name)),
               "policy_step": learner.step, "seconds": round(time.perf_counter() - t0, 2),
               **result.to_dict()}
        out["videos"] = [f"videos/{p.rsplit('/', 1)[-1]}" for p in result.videos]
        ctx.output("eval.json").write_text(json.dumps(out, indent=2))
        return {**result.summary(), "episodes": int(ev.episodes)}
