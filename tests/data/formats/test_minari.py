"""``minari``: import (keys such as gymnasium's ``pixels``, declared action bounds) and export."""

import numpy as np
import pytest

from orlvlmf.data.dataset import DatasetError, OfflineDataset
from orlvlmf.data.formats import read_any
from robot_fixtures import synth_episodes, write_minari


def test_minari_round_trip(tmp_path, monkeypatch):
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "minari"))
    from orlvlmf.data.formats.minari import export_minari, import_minari
    from orlvlmf.data.stage import collect_dataset

    src = tmp_path / "src.h5"
    collect_dataset("cartpole", src, quality="medium", episodes=3, horizon=12, image_size=16)
    a = OfflineDataset.open(src)
    mds = export_minari(a, "orlvlmf/cartpole/test-v0")
    assert mds.total_episodes == 3 and mds.total_steps == 36
    import_minari("orlvlmf/cartpole/test-v0", tmp_path / "back.h5")
    b = OfflineDataset.open(tmp_path / "back.h5")
    idx = np.arange(a.num_transitions)
    for k in ("image", "state"):
        np.testing.assert_array_equal(b.observations(k, idx), a.observations(k, idx))
        np.testing.assert_array_equal(b.next_observations(k, idx), a.next_observations(k, idx))
    np.testing.assert_array_equal(b.actions, a.actions)
    np.testing.assert_array_equal(b.timeouts, a.timeouts)
    np.testing.assert_array_equal(b.terminals, a.terminals)
    np.testing.assert_array_equal(b.ground_truth().reward, a.ground_truth().reward)
    np.testing.assert_array_equal(b.ground_truth().success, a.ground_truth().success)
    # the registered reader imports the same dataset by id, and by its directory
    c = read_any("minari", "orlvlmf/cartpole/test-v0", tmp_path / "c.h5", observations=("state",))
    assert c.num_transitions == a.num_transitions and c.observation_keys == ("state",)
    d = read_any("minari", tmp_path / "minari" / "orlvlmf" / "cartpole" / "test-v0", tmp_path / "d.h5",
                 observations=("state",))
    assert d.num_transitions == a.num_transitions
    with pytest.raises(DatasetError, match="cannot load Minari dataset 'nope/none-v0'"):
        import_minari("nope/none-v0", tmp_path / "x.h5")


def test_minari_pixels_and_action_bounds(tmp_path):
    """gymnasium's rendered key ``pixels`` is the camera without renaming the data; a Box action
    space of [-2, 2] × [-1, 1] is recorded beside the actions' own range."""
    eps = synth_episodes(3, 8)
    write_minari(tmp_path / "m", "synth/bar-v0", eps)
    ds = read_any("minari", tmp_path / "m" / "synth" / "bar-v0", tmp_path / "d.h5",
                  observations=("image", "state"), image_size=32)
    assert ds.observation_shape("image") == (32, 32, 3) and ds.metadata["keys"]["image"] == "pixels"
    assert ds.metadata["keys"]["state"] == "agent_pos"
    assert ds.metadata["action_space_low"] == [-2.0, -1.0] and ds.metadata["action_space_high"] == [2.0, 1.0]
    assert max(abs(v) for v in ds.metadata["action_min"] + ds.metadata["action_max"]) > 1
    np.testing.assert_array_equal(ds.actions[:7], eps[0]["action"][:-1])
