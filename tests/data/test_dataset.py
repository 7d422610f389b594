"""Dataset format: round trip, lazy reads, ground-truth hiding, bad files."""

import json

import h5py
import numpy as np
import pytest

from orlvlmf.data.dataset import (DatasetError, DatasetWriter, GroundTruthHidden, OfflineDataset,
                                  episode_returns, episode_success)


def _episode(rng, T, size=16, gt=True):
    ep = {
        "observations": {
            "state": rng.normal(size=(T + 1, 4)).astype(np.float32),
            "image": rng.integers(0, 256, size=(T + 1, size, size, 3), dtype=np.uint8),
        },
        "actions": rng.uniform(-1, 1, size=(T, 2)).astype(np.float32),
        "terminals": np.zeros(T, bool),
        "timeouts": np.r_[np.zeros(T - 1, bool), True],
    }
    if gt:
        ep["reward"] = rng.normal(size=T).astype(np.float32)
        ep["success"] = rng.random(T) > 0.7
    return ep


@pytest.fixture
def written(tmp_path):
    rng = np.random.default_rng(0)
    eps = [_episode(rng, T) for T in (5, 3, 7)]
    path = tmp_path / "d.h5"
    with DatasetWriter(path, metadata={"env_id": "x", "gt_return_mean": 1.5, "seed": np.int64(3)}) as w:
        for ep in eps:
            w.add_episode(**ep)
    return path, eps


def test_round_trip(written):
    path, eps = written
    ds = OfflineDataset.open(path)
    assert ds.num_transitions == 15 and ds.num_episodes == 3
    assert ds.observation_keys == ("image", "state")
    actions = np.concatenate([e["actions"] for e in eps])
    assert ds.metadata == {"env_id": "x", "gt_return_mean": 1.5, "seed": 3,
                           "action_min": actions.min(0).tolist(), "action_max": actions.max(0).tolist()}
    np.testing.assert_array_equal(ds.actions, actions)
    np.testing.assert_array_equal(ds.timeouts, np.concatenate([e["timeouts"] for e in eps]))
    np.testing.assert_array_equal(ds.episode_index, [0] * 5 + [1] * 3 + [2] * 7)
    np.testing.assert_array_equal(ds.step_index, list(range(5)) + list(range(3)) + list(range(7)))
    obs = np.concatenate([e["observations"]["image"][:-1] for e in eps])
    nxt = np.concatenate([e["observations"]["image"][1:] for e in eps])
    idx = np.arange(15)
    np.testing.assert_array_equal(ds.observations("image", idx), obs)
    np.testing.assert_array_equal(ds.next_observations("image", idx), nxt)
    st = np.concatenate([e["observations"]["state"][1:] for e in eps])
    np.testing.assert_array_equal(ds.load_all("state", next=True), st)
    gt = ds.ground_truth()
    np.testing.assert_array_equal(gt.reward, np.concatenate([e["reward"] for e in eps]))
    np.testing.assert_array_equal(gt.success, np.concatenate([e["success"] for e in eps]))
    np.testing.assert_allclose(episode_returns(gt.reward, ds.episode_index),
                               [e["reward"].sum() for e in eps], rtol=1e-5)
    assert list(episode_success(gt.success, ds.episode_index)) == [e["success"].any() for e in eps]
    np.testing.assert_array_equal(ds.episode_frames("image", 1), eps[1]["observations"]["image"])


def test_unsorted_duplicate_and_nd_indices(written):
    path, eps = written
    ds = OfflineDataset.open(path)
    full = ds.observations("image", np.arange(15))
    idx = np.array([14, 0, 3, 3, 14, 7, 0, 9])
    np.testing.assert_array_equal(ds.observations("image", idx), full[idx])
    two = np.array([[4, 2], [2, 11]])
    assert ds.observations("state", two).shape == (2, 2, 4)
    np.testing.assert_array_equal(ds.observations("image", two), full[two])
    np.testing.assert_array_equal(ds.observations("image", [-1]), full[[14]])
    assert ds.observations("image", np.array([], int)).shape == (0, 16, 16, 3)
    with pytest.raises(DatasetError, match="out of range"):
        ds.observations("image", [15])
    with pytest.raises(DatasetError, match="integers"):
        ds.observations("image", [0.5])


def test_lazy_images_and_chunking(written):
    path, _ = written
    ds = OfflineDataset.open(path)
    with h5py.File(path, "r") as f:
        d = f["observations/image"]
        assert d.chunks == (1, 16, 16, 3) and d.compression is not None
    # nothing but the small index columns is in RAM: the reader keeps an h5py handle, no arrays
    assert not any(isinstance(v, np.ndarray) and v.ndim == 4 for v in vars(ds).values())


def test_ground_truth_hidden_view(written):
    path, _ = written
    view = OfflineDataset.open(path).without_ground_truth()
    with pytest.raises(GroundTruthHidden):
        view.ground_truth()
    assert not view.has_ground_truth
    assert "gt_return_mean" not in view.metadata and view.metadata["env_id"] == "x"
    for name in ("_file", "_h5", "_dset", "_read_full", "_base"):
        with pytest.raises(AttributeError):
            getattr(view, name)
    with pytest.raises(AttributeError):
        view.x = 1
    assert view.observations("state", [1]).shape == (1, 4)
    assert view.num_transitions == 15


def test_pickle_reopens(written):
    import pickle

    path, _ = written
    ds = OfflineDataset.open(path)
    ds.observations("image", [0])
    ds2 = pickle.loads(pickle.dumps(ds))
    np.testing.assert_array_equal(ds2.observations("image", [2, 1]), ds.observations("image", [2, 1]))


def test_interrupted_write_leaves_no_dataset(tmp_path):
    path = tmp_path / "d.h5"
    rng = np.random.default_rng(0)
    with pytest.raises(RuntimeError):
        with DatasetWriter(path) as w:
            w.add_episode(**_episode(rng, 4))
            raise RuntimeError("killed")
    assert not path.exists() and not (tmp_path / "d.h5.partial").exists()
    # a .partial left by a killed process is refused with a hint
    w = DatasetWriter(path)
    w.open()
    w.add_episode(**_episode(rng, 4))
    w._file.close()
    with pytest.raises(DatasetError, match="interrupted"):
        OfflineDataset.open(path)


def test_bad_files(tmp_path, written):
    with pytest.raises(DatasetError, match="does not exist"):
        OfflineDataset.open(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(DatasetError, match="junk.h5"):
        OfflineDataset.open(junk)
    path, _ = written
    data = path.read_bytes()
    trunc = tmp_path / "trunc.h5"
    trunc.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="trunc.h5"):
        OfflineDataset.open(trunc)
    broken = tmp_path / "broken.h5"
    broken.write_bytes(data)
    with h5py.File(broken, "a") as f:
        del f["timeouts"]
    with pytest.raises(DatasetError, match="'timeouts'"):
        OfflineDataset.open(broken)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(DatasetError, match="not an orlvlmf dataset"):
        OfflineDataset.open(other)


def test_missing_observation_key_and_no_ground_truth(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "d.h5"
    with DatasetWriter(path) as w:
        w.add_episode(**_episode(rng, 3, gt=False))
    ds = OfflineDataset.open(path)
    with pytest.raises(DatasetError, match=r"point_cloud.*\['image', 'state'\]"):
        ds.require(["state", "point_cloud"])
    with pytest.raises(DatasetError, match="has"):
        ds.observations("point_cloud", [0])
    with pytest.raises(DatasetError, match="no ground-truth"):
        ds.ground_truth()


def test_writer_rejects_bad_episodes(tmp_path):
    rng = np.random.default_rng(2)
    with pytest.raises(DatasetError, match="T\\+1 frames"):
        with DatasetWriter(tmp_path / "a.h5") as w:
            ep = _episode(rng, 3)
            ep["observations"]["state"] = ep["observations"]["state"][:-1]
            w.add_episode(**ep)
    with pytest.raises(DatasetError, match="all or none"):
        with DatasetWriter(tmp_path / "b.h5") as w:
            w.add_episode(**_episode(rng, 3))
            w.add_episode(**_episode(rng, 3, gt=False))
    with pytest.raises(DatasetError, match="uint8"):
        with DatasetWriter(tmp_path / "c.h5") as w:
            ep = _episode(rng, 3)
            ep["observations"]["image"] = ep["observations"]["image"].astype(np.float32)
            w.add_episode(**ep)
    with pytest.raises(DatasetError, match="no episodes"):
        with DatasetWriter(tmp_path / "d.h5"):
            pass
    assert not list(tmp_path.iterdir())


def test_sparse_reads_match_numpy(tmp_path):
    rng = np.random.default_rng(5)
    path = tmp_path / "big.h5"
    eps = [_episode(rng, 60, size=8) for _ in range(4)]
    with DatasetWriter(path) as w:
        for ep in eps:
            w.add_episode(**ep)
    ds = OfflineDataset.open(path)
    full = np.concatenate([e["observations"]["image"][:-1] for e in eps])
    nxt = np.concatenate([e["observations"]["state"][1:] for e in eps])
    for idx in ([239, 3, 120, 3, 121, 122, 239, 0], [200, 7], [50, 50, 50]):
        idx = np.array(idx)
        np.testing.assert_array_equal(ds.observations("image", idx), full[idx])
        np.testing.assert_array_equal(ds.next_observations("state", idx), nxt[idx])
    idx = rng.integers(0, 240, 64)
    np.testing.assert_array_equal(ds.observations("image", idx), full[idx])


WRITE_UNTIL_FULL = """
import sys
import numpy as np
from orlvlmf.data.dataset import DatasetWriter, DiskFull
rng = np.random.default_rng(0)
try:
    with DatasetWriter(sys.argv[1], {}) as w:  # no expected_episodes: the write itself fails
        for e in range(1000):
            img = rng.integers(0, 255, (51, 64, 64, 3), dtype=np.uint8)  # incompressible
            w.add_episode(observations={"image": img}, actions=np.zeros((50, 2)))
except DiskFull as err:
    print("DISKFULL", err)
"""


def test_a_write_that_hits_a_full_disk_raises_disk_full_and_leaves_nothing(tmp_path, small_disk):
    """Issue 12, item 10: h5py's errors on a full disk, then a segfault at exit (exit 139)."""
    import subprocess
    import sys

    disk = small_disk.mount(4096)
    out = subprocess.run([sys.executable, "-c", WRITE_UNTIL_FULL, str(disk / "d.h5")],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and "Traceback" not in out.stderr, (out.returncode, out.stderr[-2000:])
    assert "DISKFULL disk full writing" in out.stdout and "MiB free there" in out.stdout, out.stdout
    assert list(disk.iterdir()) == []
