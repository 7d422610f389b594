"""``lerobot``: v2.1 and v3.0 datasets (AV1, h264, hevc and mpeg4 video) written by their own layout."""

import json
import shutil

import numpy as np
import pytest

from orlvlmf.data.dataset import DatasetError
from orlvlmf.data.formats import read_any
from orlvlmf.data.importer import resize_frames
from robot_fixtures import TASK, synth_episodes, write_lerobot_v21, write_lerobot_v30, write_video

CODEC_NAME = {"libsvtav1": "av1", "mpeg4": "mpeg4", "libx264": "h264", "libx265": "hevc"}


def _check_import(ds, eps, codec, size=32):
    assert ds.num_episodes == len(eps) and ds.num_transitions == sum(len(e["state"]) - 1 for e in eps)
    assert ds.metadata["task_text"] == TASK and ds.metadata["source"] == "lerobot"
    assert ds.metadata["video_codecs"] == {"observation.images.front": CODEC_NAME[codec]}
    for e, ep in enumerate(eps):
        sl = ds.episode_slice(e)
        frames = ds.episode_frames("image", e)
        assert frames.shape == (len(ep["state"]), size, size, 3)
        err = np.abs(frames.astype(int) - resize_frames(ep["frames"], size)).mean()
        assert err < 8, f"episode {e}: frames differ by {err:.2f} on average"
        np.testing.assert_array_equal(ds.episode_frames("state", e), ep["state"])
        np.testing.assert_array_equal(ds.actions[sl], ep["action"][:-1])  # the last action is dropped
        np.testing.assert_array_equal(ds.ground_truth().reward[sl], ep["reward"][:-1])
    assert ds.metadata["action_min"][0] < -1 and ds.metadata["action_max"][0] > 1


@pytest.mark.parametrize("codec", ["libsvtav1", "mpeg4", "libx264", "libx265"])
def test_v21_with_info_json_that_lies(tmp_path, codec):
    """info.json declares h264 and the wrong video folder layout; two cameras need keys.image."""
    eps = synth_episodes(3, 10)
    root = write_lerobot_v21(tmp_path / "ds", eps, codec=codec, declared_codec="h264",
                             swap_video_dirs=True, extra_cam="observation.images.wrist")
    with pytest.raises(DatasetError, match=r"several cameras for 'image': observation.images.front, "
                                           r"observation.images.wrist.*dataset.keys.image"):
        read_any("lerobot", root, tmp_path / "x.h5", observations=("image", "state"))
    ds = read_any("lerobot", root, tmp_path / "d.h5", observations=("image", "state"), image_size=32,
                  keys={"image": "observation.images.front"})
    _check_import(ds, eps, codec)
    assert ds.metadata["lerobot_version"] == "v2.1" and ds.metadata["files_not_at_template"] == 3


@pytest.mark.parametrize("codec", ["libsvtav1", "mpeg4"])
def test_v30_several_episodes_per_file(tmp_path, codec):
    eps = synth_episodes(5, 9, seed=1)
    root = write_lerobot_v30(tmp_path / "ds", eps, codec=codec, per_file=2)
    ds = read_any("lerobot", root, tmp_path / "d.h5", observations=("image", "state"), image_size=32)
    _check_import(ds, eps, codec)
    assert ds.metadata["lerobot_version"] == "v3.0" and ds.metadata["files_not_at_template"] == 0
    assert ds.metadata["keys"] == {"image": "observation.images.front", "state": "observation.state",
                                   "actions": "action", "reward": "next.reward"}


def test_missing_or_short_videos_are_named(tmp_path):
    eps = synth_episodes(4, 8, seed=2)
    root = write_lerobot_v30(tmp_path / "ds", eps, codec="mpeg4", per_file=2)
    video = root / "videos/observation.images.front/chunk-000/file-001.mp4"
    cut = np.concatenate([eps[2]["frames"], eps[3]["frames"][:5]])  # episode 3 loses 3 frames
    write_video(video, cut, 10, "mpeg4")
    with pytest.raises(DatasetError, match=r"file-001.mp4: episode 3, key 'observation.images.front'"
                                           r".*ends at t=1.*frame 5"):
        read_any("lerobot", root, tmp_path / "x.h5", observations=("image",))
    video.unlink()
    with pytest.raises(DatasetError, match=r"episode 2: camera 'observation.images.front' file missing"):
        read_any("lerobot", root, tmp_path / "x.h5", observations=("image",))
    assert not (tmp_path / "x.h5").exists()
    shutil.rmtree(root / "meta" / "episodes")
    with pytest.raises(DatasetError, match=r"no meta/episodes"):
        read_any("lerobot", root, tmp_path / "x.h5", observations=("image",))


def test_bad_values_stop_the_import(tmp_path):
    """NaN in a state column: one error naming the parquet file, the episode and the key."""
    import pyarrow.parquet as pq

    eps = synth_episodes(2, 6)
    root = write_lerobot_v21(tmp_path / "ds", eps, codec="mpeg4")
    path = root / "data/chunk-000/episode_000001.parquet"
    table = pq.read_table(path).to_pylist()
    table[3]["observation.state"][1] = float("nan")
    import pyarrow as pa

    pq.write_table(pa.Table.from_pylist(table), path)
    with pytest.raises(DatasetError, match=r"episode_000001.parquet: episode 1: key "
                                           r"'observation.state' has 1 non-finite"):
        read_any("lerobot", root, tmp_path / "x.h5", observations=("image", "state"))
    info = json.loads((root / "meta/info.json").read_text())
    info["codebase_version"] = "v1.6"
    (root / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetError, match=r"codebase_version 'v1.6' is not one we read"):
        read_any("lerobot", root, tmp_path / "x.h5", observations=("image",))


def test_png_images_in_parquet(tmp_path):
    """Features of dtype ``image`` (PNG bytes in the parquet, as LIBERO conversions store them)."""
    eps = synth_episodes(2, 7)
    root = write_lerobot_v21(tmp_path / "ds", eps, png_images=True)
    ds = read_any("lerobot", root, tmp_path / "d.h5", observations=("image", "state"), image_size=20)
    for e, ep in enumerate(eps):
        np.testing.assert_array_equal(ds.episode_frames("image", e), resize_frames(ep["frames"], 20))
