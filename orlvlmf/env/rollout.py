"""Roll a policy out in an env plugin: success rate and ground-truth return over N episodes.

An episode succeeds if ``info["success"]`` is true at any step (MetaWorld's convention); its
return is the sum of the env's GT rewards.  Episodes run until ``terminated`` or ``truncated``
(the env's horizon).  Episode ``i`` is reset with seed ``seed + i``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

Policy = Callable[[np.ndarray], np.ndarray]


@dataclass
class EvalResult:
    success_rate: float
    return_mean: float
    return_std: float
    final_success_rate: float  # success at the last step of the episode
    episodes: list[dict] = field(default_factory=list)
    videos: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {"success_rate": self.success_rate, "return_mean": self.return_mean,
                "return_std": self.return_std, "final_success_rate": self.final_success_rate}

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evaluate_policy(policy: Policy, env: Any, episodes: int, seed: int = 0, observation: str = "state",
                    videos: int = 0, video_dir: str | Path | None = None, video_size: int = 128,
                    fps: int = 20, on_episode: Callable[[], None] | None = None) -> EvalResult:
    """Roll ``policy(obs[observation]) -> action`` for ``episodes`` episodes in ``env``;
    ``on_episode()`` after each (a progress bar)."""
    if episodes < 1:
        raise ValueError(f"evaluation needs at least one episode, got {episodes}")
    if videos and video_dir is None:
        raise ValueError("saving videos needs a video_dir")
    rows, paths = [], []
    for i in range(episodes):
        obs, _ = env.reset(seed=int(seed) + i)
        frames = [env.render(video_size)] if i < videos else None
        ret, success, last, steps = 0.0, False, False, 0
        done = False
        while not done:
            action = np.asarray(policy(obs[observation]), dtype=np.float32)
            obs, reward, terminated, truncated, info = env.step(action)
            ret += float(reward)
            last = bool(info.get("success", False))
            success = success or last
            steps += 1
            done = bool(terminated or truncated)
            if frames is not None:
                frames.append(env.render(video_size))
        rows.append({"seed": int(seed) + i, "return": ret, "success": success,
                     "final_success": last, "steps": steps})
        if frames is not None:
            paths.append(str(save_gif(frames, Path(video_dir) / f"episode_{i:02d}.gif", fps)))
        if on_episode is not None:
            on_episode()
    returns = np.array([r["return"] for r in rows])
    return EvalResult(
        success_rate=float(np.mean([r["success"] for r in rows])),
        return_mean=float(returns.mean()), return_std=float(returns.std()),
        final_success_rate=float(np.mean([r["final_success"] for r in rows])),
        episodes=rows, videos=paths)


def save_gif(frames: Sequence[np.ndarray], path: Path, fps: int = 20) -> Path:
    """An endlessly looping GIF at ``fps`` (imageio's GIF writer takes each frame's duration in
    milliseconds; identical consecutive frames are merged into one longer frame)."""
    import imageio.v2 as imageio

    path.parent.mkdir(parents=True, exist_ok=True)
    imageio.mimsave(path, [np.asarray(f, dtype=np.uint8) for f in frames], format="GIF",
                    duration=1000.0 / fps, loop=0)
    return path
