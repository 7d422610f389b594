"""TensorBoard helpers, read back with TensorBoard's own event reader."""

import io

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from orlvlmf.pipeline import tensorboard as tb

EVERYTHING = {"images": 0, "scalars": 0, "histograms": 0, "tensors": 0}


def read(path) -> EventAccumulator:
    acc = EventAccumulator(str(path), size_guidance=EVERYTHING)
    acc.Reload()
    return acc


def gif_bytes(frames: int = 3, size: int = 16) -> bytes:
    import imageio.v2 as imageio

    buf = io.BytesIO()
    imageio.mimsave(buf, [np.full((size, size + 4, 3), 40 * k, np.uint8) for k in range(frames)],
                    format="GIF", duration=0.05, loop=0)
    return buf.getvalue()


def test_scalars_series_gif_and_figure_round_trip(tmp_path):
    w = tb.stage_writer(tmp_path, "evaluate", 3)
    tb.add_scalars(w, "evaluate", {"success_rate": 0.5, "note": "text", "flag": True, "bad": float("nan"),
                                   "none": None, "n": np.int64(4)})
    tb.add_series(w, "evaluate/episode_return", [1.0, 2.0, 4.0])
    data = gif_bytes()
    tb.add_gif(w, "evaluate/rollout_00", data)
    w.add_figure("fig", tb.episodes_figure([("episode 0", np.arange(5.0), np.arange(5.0) ** 2)], "t"), 0)
    w.close()
    acc = read(tmp_path / "tb" / "evaluate" / "seed_3")
    assert set(acc.Tags()["scalars"]) == {"evaluate/success_rate", "evaluate/n", "evaluate/episode_return"}
    assert [(e.step, e.value) for e in acc.Scalars("evaluate/episode_return")] == [(0, 1.0), (1, 2.0), (2, 4.0)]
    img = acc.Images("evaluate/rollout_00")[0]
    assert img.encoded_image_string == data and (img.width, img.height) == (20, 16)
    assert acc.Images("fig")[0].encoded_image_string[:4] == b"\x89PNG"


def test_add_gif_refuses_what_is_not_a_gif(tmp_path):
    w = tb.stage_writer(tmp_path, "x")
    with pytest.raises(ValueError, match="not a GIF"):
        tb.add_gif(w, "v", b"\x89PNG....")
    w.close()


def test_fresh_writer_drops_old_events_so_a_rerun_draws_once(tmp_path):
    for value in (1.0, 2.0):
        w = tb.stage_writer(tmp_path, "relabel", 0)
        w.add_scalar("a", value, 0)
        w.close()
    events = list((tmp_path / "tb" / "relabel" / "seed_0").glob("events.out.tfevents.*"))
    assert len(events) == 1
    assert [e.value for e in read(events[0].parent).Scalars("a")] == [2.0]


def test_hparams_session_with_metrics(tmp_path):
    w = tb.stage_writer(tmp_path, "hparams", 0)
    tb.add_hparams(w, {"policy.name": "iql", "policy.beta": 3.0, "seed": 0, "list": [1, 2], "none": None},
                   {"final/success_rate": 0.75, "final/nan": float("nan")})
    w.close()
    acc = read(tmp_path / "tb" / "hparams" / "seed_0")
    content = acc.PluginTagToContent("hparams")
    assert "_hparams_/experiment" not in content  # TensorBoard builds the columns from all sessions
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    hp = start.session_start_info.hparams
    assert hp["policy.name"].string_value == "iql" and hp["policy.beta"].number_value == 3.0
    assert hp["list"].string_value == "[1, 2]" and "none" not in hp
    assert [e.value for e in acc.Scalars("final/success_rate")] == [0.75]
    assert "final/nan" not in acc.Tags()["scalars"]


def test_config_text_replaces_the_previous_one(tmp_path):
    tb.log_config(tmp_path, "name: a\n")
    tb.log_config(tmp_path, "name: b\nseeds: [0]\n")
    acc = read(tmp_path / "tb" / "config")
    texts = [t.tensor_proto.string_val[0].decode() for t in acc.Tensors("config/text_summary")]
    assert texts == ["    name: b\n    seeds: [0]"]


def test_pair_grid_draws_every_pair_with_its_caption():
    rng = np.random.default_rng(0)
    pairs = [(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8), rng.integers(0, 255, (8, 8, 3), dtype=np.uint8),
              f"Image 2 better (1). Reason: pair {k}") for k in range(3)]
    fig = tb.pair_grid(pairs, "3 of 9 labeled pairs")
    images = [ax for ax in fig.axes if ax.images]
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert len(images) == 6 and sorted(texts) == [f"Image 2 better (1). Reason: pair {k}" for k in range(3)]
