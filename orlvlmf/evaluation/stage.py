"""Stage ``evaluate``: roll the trained policy out in the env plugin (mean action).

Writes ``eval.json`` (success rate, GT return mean/std, per-episode rows) and ``videos/`` (GIFs
of the first ``evaluation.save_videos`` episodes; empty when 0).  A run without an env (imported
data) skips this stage in ``fit`` and refuses ``orlvlmf evaluate``; an env whose action / state
sizes are not the policy's is refused before any rollout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from orlvlmf.pipeline.progress import Progress, progress_enabled
from orlvlmf.pipeline.stage import Stage, StageContext
from orlvlmf.registry import register


@register("stages", "evaluate")
class EvaluateStage(Stage):
    sections = ("evaluation", "env")
    inputs = ("train/policy.ckpt",)
    outputs = ("eval.json", "videos")
    per_seed = True
    description = "roll the policy out in the env"
    simulator_optional = True

    def missing_simulator(self, cfg) -> str | None:
        if cfg.env is None:
            return ("evaluate rolls the policy out in a simulator and this run has no env (imported "
                    "data): set env to the simulator the data came from to evaluate; the report judges "
                    "the policy offline without one")
        return None

    def run(self, ctx: StageContext) -> dict:
        from orlvlmf.env import check_env_shapes, make_env
        from orlvlmf.env.rollout import evaluate_policy
        from orlvlmf.policy.checkpoint import load_learner

        cfg = ctx.cfg
        ctx.set_torch_threads()
        learner = load_learner(ctx.input("train/policy.ckpt"))
        ev = cfg.evaluation
        keys = (learner.observation_key,)
        env = make_env(cfg.env, observations=keys, image_size=int(ev.video_size))
        try:
            check_env_shapes(env, learner.action_dim, (learner.obs_spec.get("state") or (None,))[0],
                             f"the policy {ctx.input('train/policy.ckpt')}")
        except Exception:
            env.close()
            raise
        video_dir = ctx.output("videos")
        video_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        try:
            bar = Progress(int(ev.episodes), f"evaluate (seed {ctx.seed})",
                           progress_enabled(cfg.trainer.progress))
            with bar:
                result = evaluate_policy(learner.act, env, int(ev.episodes), seed=int(ev.seed),
                                         observation=learner.observation_key,
                                         videos=int(ev.save_videos), video_dir=video_dir,
                                         video_size=int(ev.video_size), fps=int(ev.video_fps),
                                         on_episode=bar.advance)
        finally:
            env.close()
        out = {"seed": ctx.seed, "env": getattr(env, "env_id", str(cfg.env.name)),
               "policy_step": learner.step, "seconds": round(time.perf_counter() - t0, 2),
               **result.to_dict()}
        out["videos"] = [f"videos/{p.rsplit('/', 1)[-1]}" for p in result.videos]
        ctx.output("eval.json").write_text(json.dumps(out, indent=2))
        log_evaluation(ctx, result)
        return {**result.summary(), "episodes": int(ev.episodes)}


def log_evaluation(ctx: StageContext, result) -> None:
    """``tb/evaluate/seed_<k>``: success / return, return and success per episode (step =
    episode), and the saved rollouts as animated GIFs."""
    from orlvlmf.pipeline import tensorboard as tb

    writer = tb.stage_writer(ctx.run_dir, "evaluate", ctx.seed or 0)
    try:
        tb.add_scalars(writer, "evaluate", result.summary())
        tb.add_series(writer, "evaluate/episode_return", [r["return"] for r in result.episodes])
        tb.add_series(writer, "evaluate/episode_success", [float(r["success"]) for r in result.episodes])
        for i, path in enumerate(result.videos):
            tb.add_gif(writer, f"evaluate/rollout_{i:02d}", Path(path))
    finally:
        writer.close()
