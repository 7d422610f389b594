"""End to end, the learned reward must train a policy that beats the data it came from.

The whole pipeline (collect → label → reward → relabel → train → evaluate, the same stages
``orlvlmf fit`` runs) on ``t_reach`` (:mod:`tests.env.reach_env`): a 1-D reach with GT reward
-|p' - goal| per step, 40 random episodes of 20 steps, 300 scripted-teacher pairs, a state MLP
reward, 800 IQL steps.  ~20 s of CPU.

Measured with this config for seeds 0-6 (``seeds=[k] dataset.seed=k pairs.seed=k``; the test runs
seed 0), evaluation return over 20 episodes:

=========================================  =====================================
learned-reward policy                      -2.55 … -4.95  (mean -3.24)
dataset mean return (random actions)       -11.70 … -13.33 (mean -12.30)
uniform random policy, same eval episodes  -12.99
margin policy − max(dataset, random)       +8.0 … +10.4 (the test asks for +4)
Spearman(relabeled column, r_i)            0.986 … 0.996 (the test asks for 0.95)
Spearman(relabeled column, r_{i-1})        0.835 … 0.871
=========================================  =====================================

What it catches (each introduced by hand, seed 0): a flipped reward sign (``logits = ret0 - ret1``
in the Bradley-Terry loss) gives a policy return of -19.1; relabeling o_i instead of o'_i gives
Spearman 0.83 with r_i (0.996 with r_{i-1}) — its policy still reaches -4.3, since IQL's bootstrap
recovers a reward delayed by one step, which is why the column's alignment is checked directly.
"""

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from orlvlmf.cli import main
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.env import make_env
from orlvlmf.env.rollout import evaluate_policy
from orlvlmf.reward.column import load_rewards
import tests.env.reach_env  # noqa: F401 - registers the t_reach env

CONFIG = """extends: base.yaml
name: reach
env: {name: t_reach}
dataset: {episodes: 40, observations: [state], seed: 0}
pairs: {num_queries: 300, min_gap: 1, image_key: state}
reward: {observation: state, encoder: {name: mlp, hidden: [32, 32]}, ensemble: 1, lr: 0.01,
         batch_size: 32, max_epochs: 20, patience: 20, gt_eval_transitions: 200}
relabel: {normalize: minmax}
train: {steps: 800, eval_every: 0, log_every: 400, checkpoint_every: 100000}
policy: {encoder: {name: mlp, hidden: [64, 64]}, lr: 0.001}
evaluation: {episodes: 20, save_videos: 0}
trainer: {progress: false, num_threads: 1}
stages: [collect, label, reward, relabel, train, evaluate]
"""
MARGIN = 4.0  # return units; measured margins +8.0 … +10.4 (module docstring)


def test_learned_reward_policy_beats_the_data_and_a_random_policy(tmp_path, capsys):
    (tmp_path / "reach.yaml").write_text(CONFIG)
    assert main(["fit", "--config", str(tmp_path / "reach.yaml"), f"run_dir={tmp_path}"]) == 0
    capsys.readouterr()
    run = tmp_path / "reach"
    ds = OfflineDataset.open(run / "dataset.h5")
    gt = ds.ground_truth().reward
    data_mean = np.bincount(ds.episode_index, weights=gt).mean()
    ev = json.loads((run / "seed_0" / "eval.json").read_text())
    env = make_env("t_reach", observations=("state",))
    rng = np.random.default_rng(0)
    random_policy = evaluate_policy(lambda o: rng.uniform(-1, 1, 1), env, len(ev["episodes"]),
                                    seed=ev["episodes"][0]["seed"]).return_mean
    assert ev["return_mean"] >= max(data_mean, random_policy) + MARGIN, (
        ev["return_mean"], data_mean, random_policy)

    # the column IQL trained on scores each transition's own next frame o'_i
    col = load_rewards(run / "seed_0" / "rewards.npz", ds.num_transitions).reward
    within = ds.step_index > 0
    own = spearmanr(col, gt).statistic
    previous = spearmanr(col[within], np.roll(gt, 1)[within]).statistic
    assert own >= 0.95 and own > previous + 0.05, (own, previous)
