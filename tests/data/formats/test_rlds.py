"""``rlds``: TFDS TFRecord shards of tf.train.Example episodes, read without TensorFlow."""

import numpy as np
import pytest

from orlvlmf.data.dataset import DatasetError
from orlvlmf.data.formats import read_any
from orlvlmf.data.importer import resize_frames
from robot_fixtures import TASK, synth_episodes, write_rlds


def test_rlds_import(tmp_path):
    eps = synth_episodes(4, 9)
    folder = write_rlds(tmp_path / "synthetic_bar" / "1.0.0", eps, shards=2)
    ds = read_any("rlds", tmp_path / "synthetic_bar", tmp_path / "d.h5",
                  observations=("image", "state"), image_size=32)
    assert ds.num_episodes == 4 and ds.num_transitions == 32
    assert ds.metadata["task_text"] == TASK and ds.metadata["rlds_name"] == "synthetic_bar"
    assert ds.metadata["keys"] == {"image": "observation/image", "state": "observation/state",
                                   "actions": "action", "reward": "reward"}
    order = [0, 2, 1, 3]  # shard 0 holds episodes 0 and 2, shard 1 episodes 1 and 3
    for e, src in enumerate(order):
        ep, sl = eps[src], ds.episode_slice(e)
        np.testing.assert_array_equal(ds.episode_frames("image", e), resize_frames(ep["frames"], 32))
        np.testing.assert_allclose(ds.episode_frames("state", e), ep["state"])
        np.testing.assert_allclose(ds.actions[sl], ep["action"][:-1])
        np.testing.assert_allclose(ds.ground_truth().reward[sl], ep["reward"][1:])
    with pytest.raises(DatasetError, match="not a TFDS/RLDS dataset folder"):
        read_any("rlds", tmp_path / "missing", tmp_path / "x.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no TFRecord shards"):
        read_any("rlds", tmp_path / "empty", tmp_path / "x.h5")
    (folder / "synthetic_bar-train.tfrecord-00000-of-00002").write_bytes(b"\x05\x00\x00")
    with pytest.raises(DatasetError, match="not a readable TFRecord file"):
        read_any("rlds", folder, tmp_path / "x.h5")
