import numpy as np
import pytest

from orlvlmf.env.rollout import evaluate_policy


class LineEnv:
    """1-D walk from x = 0: reward = x after each step, success once x >= 3; horizon 5."""

    horizon = 5

    def reset(self, seed=None):
        self.x, self.t = 0.0, 0
        self.seed = seed
        return {"state": np.array([self.x], np.float32)}, {}

    def step(self, action):
        self.x += float(np.clip(action[0], -1, 1))
        self.t += 1
        success = self.x >= 3
        return ({"state": np.array([self.x], np.float32)}, self.x, False, self.t >= self.horizon,
                {"success": success})

    def render(self, size=None):
        img = np.zeros((size or 16, size or 16, 3), np.uint8)
        img[:, : int(self.x * 2) % (size or 16)] = 255
        return img


def test_success_and_returns_are_counted_per_episode():
    res = evaluate_policy(lambda s: np.array([1.0]), LineEnv(), episodes=3, seed=10)
    assert res.success_rate == 1.0 and res.final_success_rate == 1.0
    assert res.return_mean == pytest.approx(1 + 2 + 3 + 4 + 5) and res.return_std == 0.0
    assert [e["seed"] for e in res.episodes] == [10, 11, 12]
    assert all(e["steps"] == 5 for e in res.episodes)


def test_success_at_any_step_vs_final_step():
    # walks up 4 steps (x = 4 >= 3: success) then back down one: final step x = 3.0 is still success,
    # so go further down to make the final step fail
    moves = iter([1, 1, 1, -1, -1] * 2)
    res = evaluate_policy(lambda s: np.array([next(moves)], np.float32), LineEnv(), episodes=2)
    assert res.success_rate == 1.0 and res.final_success_rate == 0.0
    assert res.return_mean == pytest.approx(1 + 2 + 3 + 2 + 1)


def test_videos_are_written(tmp_path):
    res = evaluate_policy(lambda s: np.array([0.5]), LineEnv(), episodes=3, videos=2,
                          video_dir=tmp_path, video_size=16)
    assert len(res.videos) == 2
    import imageio.v2 as imageio

    frames = imageio.mimread(res.videos[0])
    assert len(frames) == LineEnv.horizon + 1
    assert res.success_rate == 0.0  # x reaches 2.5 < 3


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least one episode"):
        evaluate_policy(lambda s: s, LineEnv(), episodes=0)
    with pytest.raises(ValueError, match="video_dir"):
        evaluate_policy(lambda s: s, LineEnv(), episodes=1, videos=1)
