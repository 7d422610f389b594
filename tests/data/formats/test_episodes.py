"""``episodes``: a directory of per-episode npz / h5 files."""

import h5py
import numpy as np
import pytest

from orlvlmf.data.dataset import DatasetError, GroundTruthHidden, OfflineDataset
from orlvlmf.data.formats import read_any
from orlvlmf.data.importer import ImportOptions
from orlvlmf.registry import REGISTRY


def _write_logs(root, n=3, T=6, P=32, fmt="npz"):
    rng = np.random.default_rng(0)
    eps = []
    root.mkdir(exist_ok=True)
    for e in range(n):
        ep = {"images": rng.integers(0, 256, (T + 1, 20, 20, 3), dtype=np.uint8),
              "point_cloud": rng.normal(size=(T + 1, P, 4)).astype(np.float32),
              "actions": rng.normal(size=(T, 7)).astype(np.float32)}
        eps.append(ep)
        if fmt == "npz" or e % 2:
            np.savez(root / f"ep_{e:03d}.npz", **ep)
        else:
            with h5py.File(root / f"ep_{e:03d}.h5", "w") as f:
                for k, v in ep.items():
                    f[k] = v
    return eps


@pytest.mark.parametrize("fmt", ["npz", "mixed"])
def test_episode_directory_import(tmp_path, fmt):
    eps = _write_logs(tmp_path / "logs", fmt=fmt)
    ds = read_any("episodes", tmp_path / "logs", tmp_path / "d.h5",
                  observations=("image", "point_cloud"))
    assert ds.num_episodes == 3 and ds.num_transitions == 18
    assert ds.observation_keys == ("image", "point_cloud")
    np.testing.assert_array_equal(ds.episode_frames("image", 1), eps[1]["images"])
    np.testing.assert_array_equal(ds.next_observations("point_cloud", [17])[0],
                                  eps[2]["point_cloud"][-1])
    np.testing.assert_array_equal(ds.actions[:6], eps[0]["actions"])
    assert ds.timeouts.sum() == 3 and not ds.terminals.any()
    assert not ds.has_ground_truth
    with pytest.raises(DatasetError, match="no ground-truth"):
        ds.ground_truth()
    with pytest.raises(GroundTruthHidden):
        ds.without_ground_truth().ground_truth()
    assert ds.metadata["source"] == "episodes" and len(ds.metadata["episode_files"]) == 3


def test_episode_import_one_action_per_frame_and_no_actions(tmp_path):
    root = tmp_path / "logs"
    root.mkdir()
    img = np.zeros((5, 8, 8, 3), np.uint8)
    np.savez(root / "a.npz", image=img, actions=np.ones((5, 2)))
    np.savez(root / "b.npz", image=img, actions=np.ones((4, 2)))
    ds = read_any("episodes", root, tmp_path / "d.h5")
    assert ds.num_transitions == 8 and ds.action_dim == 2
    root2 = tmp_path / "logs2"
    root2.mkdir()
    np.savez(root2 / "a.npz", state=np.zeros((4, 3)))
    ds2 = read_any("episodes", root2, tmp_path / "e.h5", observations=("state",))
    assert ds2.num_transitions == 3 and ds2.action_dim == 1 and not ds2.actions.any()


def test_episode_import_bad_inputs(tmp_path):
    reader = REGISTRY.create("datasets", "episodes")
    opts = ImportOptions(observations=("image",))
    with pytest.raises(DatasetError, match="not a directory"):
        reader.read(tmp_path / "missing", tmp_path / "o.h5", opts)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no episode files"):
        reader.read(tmp_path / "empty", tmp_path / "o.h5", opts)
    bad = tmp_path / "bad"
    bad.mkdir()
    np.savez(bad / "a.npz", actions=np.zeros((3, 2)))
    with pytest.raises(DatasetError, match=r"no 'image' found.*dataset.keys.image.*actions"):
        reader.read(bad, tmp_path / "o.h5", opts)
    (bad / "a.npz").unlink()
    np.savez(bad / "a.npz", image=np.zeros((5, 8, 8, 3), np.uint8), actions=np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="2 actions for 5 frames"):
        reader.read(bad, tmp_path / "o.h5", opts)
    (bad / "a.npz").unlink()
    (bad / "a.npz").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="a.npz: cannot read"):
        reader.read(bad, tmp_path / "o.h5", opts)
    (bad / "a.npz").unlink()
    np.savez(bad / "a.npz", image=np.zeros((5, 8, 8, 3), np.uint8))
    np.savez(bad / "b.npz", image=np.zeros((5, 9, 9, 3), np.uint8))
    with pytest.raises(DatasetError, match="b.npz.*every episode must match"):
        reader.read(bad, tmp_path / "o.h5", opts)
    assert not (tmp_path / "o.h5").exists()


def test_keys_resize_and_bad_values(tmp_path):
    """dataset.keys maps other names; frames are resized; bad values stop the import naming
    file, episode and key, and leave no dataset behind."""
    root = tmp_path / "logs"
    root.mkdir()
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (5, 24, 40, 3), dtype=np.uint8)
    np.savez(root / "a.npz", rgb=rgb, joints=np.zeros((5, 3)), cmd=np.ones((4, 2)) * 3)
    ds = read_any("episodes", root, tmp_path / "d.h5", observations=("image", "state"),
                  keys={"image": "rgb", "state": "joints", "actions": "cmd"}, image_size=16)
    assert ds.observation_shape("image") == (16, 16, 3) and ds.observation_shape("state") == (3,)
    assert ds.metadata["action_min"] == [3.0, 3.0] and ds.metadata["keys"]["image"] == "rgb"
    out = tmp_path / "o.h5"
    cases = [
        ({"rgb": rgb.astype(np.int32) * 2, "joints": np.zeros((5, 3))}, r"b.npz.*'rgb'.*outside 0–255"),
        ({"rgb": np.full((5, 24, 40, 3), np.nan), "joints": np.zeros((5, 3))}, r"b.npz.*'rgb'.*non-finite"),
        ({"rgb": rgb, "joints": np.r_[np.zeros((4, 3)), [[0, np.inf, 0]]]}, r"b.npz.*'joints'.*non-finite"),
        ({"rgb": rgb, "joints": np.zeros((5, 3)), "cmd": np.full((4, 2), np.nan)}, r"b.npz.*'cmd'.*non-finite"),
    ]
    for arrays, msg in cases:
        np.savez(root / "b.npz", **{"cmd": np.ones((4, 2)), **arrays})
        with pytest.raises(DatasetError, match=msg):
            read_any("episodes", root, out, observations=("image", "state"),
                     keys={"image": "rgb", "state": "joints", "actions": "cmd"})
        assert not out.exists() and not (tmp_path / "o.h5.partial").exists()
    float01 = rgb / 255.0
    np.savez(root / "b.npz", rgb=float01, joints=np.zeros((5, 3)), cmd=np.ones((4, 2)))
    ds = read_any("episodes", root, out, observations=("image",), keys={"image": "rgb"})
    np.testing.assert_array_equal(ds.episode_frames("image", 1), rgb)
