"""``orlvlmf export``: the learned reward written as LeRobot v3.0 / Minari / HDF5, read back."""

import numpy as np
import pytest

from orlvlmf.cli import main
from orlvlmf.config import load_config
from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.data.formats import read_any
from orlvlmf.export import ExportError, export_run
from orlvlmf.pipeline.runner import Pipeline
from orlvlmf.reward.column import load_rewards

TINY = ["name=exp", "dataset.episodes=4", "dataset.horizon=12", "dataset.image_size=32",
        "pairs.num_queries=40", "pairs.min_gap=2", "reward.encoder.model=resnet10t", "reward.ensemble=2",
        "reward.max_epochs=1", "reward.batch_size=16", "reward.gt_eval_transitions=10",
        "trainer.progress=false", "trainer.num_threads=1"]


@pytest.fixture(scope="module")
def relabeled(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    cfg = load_config("cartpole_random", [f"run_dir={root}", *TINY])
    with pytest.raises(ExportError, match="no run at"):
        export_run(cfg, "lerobot", root / "early", log=lambda m: None)
    Pipeline(cfg, echo=lambda m: None).run(["collect", "label"])
    with pytest.raises(ExportError, match=r"stage 'relabel' \(seed 0\) is missing or out of date"):
        export_run(cfg, "lerobot", root / "early", log=lambda m: None)
    Pipeline(cfg, echo=lambda m: None).run(["reward", "relabel"])
    ds = OfflineDataset.open(root / "exp" / "dataset.h5")
    col = load_rewards(root / "exp" / "seed_0" / "rewards.npz", ds.num_transitions)
    return root, cfg, ds, col


def _same(back, ds, col, frame_tol):
    assert back.num_episodes == ds.num_episodes and back.num_transitions == ds.num_transitions
    np.testing.assert_allclose(back.ground_truth().reward, col.reward, rtol=1e-6)
    np.testing.assert_array_equal(back.actions, ds.actions)
    np.testing.assert_array_equal(back.terminals, ds.terminals)
    for e in range(ds.num_episodes):
        np.testing.assert_allclose(back.episode_frames("state", e), ds.episode_frames("state", e), rtol=1e-6)
        err = np.abs(back.episode_frames("image", e).astype(int) - ds.episode_frames("image", e)).mean()
        assert err <= frame_tol, f"episode {e}: frames differ by {err:.2f}"


def test_lerobot_round_trip(relabeled, tmp_path, capsys):
    root, cfg, ds, col = relabeled
    out = tmp_path / "lr"
    args = ["export", "--config", "cartpole_random", "--format", "lerobot", "--out", str(out),
            f"run_dir={root}", *TINY]
    assert main(args) == 0
    assert "4 episodes, 48 transitions" in capsys.readouterr().out
    assert main(args) == 2 and "exists already" in capsys.readouterr().err
    back = read_any("lerobot", out, tmp_path / "back.h5", observations=("image", "state"), image_size=32)
    assert back.metadata["lerobot_version"] == "v3.0" and back.metadata["video_codecs"]
    assert back.metadata["task_text"] == ds.metadata["task_text"]
    _same(back, ds, col, frame_tol=4.0)
    import pyarrow.parquet as pq

    table = pq.read_table(out / "data/chunk-000/file-000.parquet")
    std = table.column("next.reward_std").to_numpy()
    ends = np.cumsum(np.diff(ds.episode_starts) + 1)  # T + 1 rows per episode
    np.testing.assert_allclose(np.delete(std, ends - 1), col.reward_std, rtol=1e-6)
    tasks = pq.read_table(out / "meta/tasks.parquet")
    assert b"pandas" in tasks.schema.metadata and tasks.column("task").to_pylist() == [ds.metadata["task_text"]]


def test_hdf5_and_minari_round_trip(relabeled, tmp_path):
    root, cfg, ds, col = relabeled
    path = export_run(cfg, "hdf5", tmp_path / "exp.hdf5", log=lambda m: None)
    back = read_any("robomimic", path, tmp_path / "b1.h5", observations=("image", "state"))
    _same(back, ds, col, frame_tol=0)
    import h5py

    with h5py.File(path) as f:
        np.testing.assert_allclose(f["data/demo_1/reward_std"][()], col.reward_std[ds.episode_slice(1)])
    where = export_run(cfg, "minari", tmp_path / "minari", log=lambda m: None)
    back = read_any("minari", where, tmp_path / "b2.h5", observations=("image", "state"))
    _same(back, ds, col, frame_tol=0)
    with pytest.raises(ExportError, match="--seed 7 is not one of"):
        export_run(cfg, "hdf5", tmp_path / "x.hdf5", seed=7)
    with pytest.raises(ExportError, match="--format must be one of"):
        export_run(cfg, "parquet", tmp_path / "x")
