"""``robomimic``: HDF5 demos written by robomimic's layout (h5py)."""

import numpy as np
import pytest

from orlvlmf.data.dataset import DatasetError
from orlvlmf.data.formats import read_any
from robot_fixtures import TASK, synth_episodes, write_robomimic

STATE = ["robot0_eef_pos", "robot0_gripper_qpos"]


def test_robomimic_import(tmp_path):
    eps = synth_episodes(3, 10)
    path = write_robomimic(tmp_path / "demo.hdf5", eps)
    with pytest.raises(DatasetError, match=r"several candidates for 'state': robot0_eef_pos, "
                                           r"robot0_gripper_qpos.*list of keys"):
        read_any("robomimic", path, tmp_path / "x.h5", observations=("image", "state"))
    ds = read_any("robomimic", path, tmp_path / "d.h5", observations=("image", "state"),
                  keys={"state": STATE}, image_size=24)
    assert ds.num_episodes == 3 and ds.num_transitions == 27  # obs + the last next_obs: all actions kept
    assert ds.metadata["task_text"] == TASK and ds.metadata["robomimic_env_args"]["env_name"] == "Synthetic"
    for e, ep in enumerate(eps):
        sl = ds.episode_slice(e)
        np.testing.assert_array_equal(ds.episode_frames("state", e), ep["state"])
        np.testing.assert_array_equal(ds.actions[sl], ep["action"][:-1])
        np.testing.assert_array_equal(ds.ground_truth().reward[sl], ep["reward"][1:])
        assert ds.terminals[sl][-1] and not ds.terminals[sl][:-1].any()
        assert ds.episode_frames("image", e).shape == (10, 24, 24, 3)


def test_robomimic_bad_input(tmp_path):
    eps = synth_episodes(2, 6)
    eps[1]["action"][2, 1] = np.inf
    path = write_robomimic(tmp_path / "demo.hdf5", eps)
    with pytest.raises(DatasetError, match=r"demo.hdf5: data/demo_1: key 'actions' has 1 non-finite"):
        read_any("robomimic", path, tmp_path / "x.h5", observations=("image",))
    with pytest.raises(DatasetError, match=r"'nope' is not a key of this source"):
        read_any("robomimic", path, tmp_path / "x.h5", observations=("image",), keys={"image": "nope"})
    (tmp_path / "junk.hdf5").write_bytes(b"not hdf5")
    with pytest.raises(DatasetError, match="not a readable HDF5 file"):
        read_any("robomimic", tmp_path / "junk.hdf5", tmp_path / "x.h5")
