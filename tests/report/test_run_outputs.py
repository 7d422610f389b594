"""What a finished run shows a user: the summary block, TensorBoard, the report (in a browser).

All read from one tiny `orlvlmf fit` (the session fixture ``tiny_fit``); TensorBoard's event files
are read with TensorBoard's own reader.
"""

import json
import re

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
from tensorboard.plugins.hparams import plugin_data_pb2

from browser import console_errors, open_page


@pytest.fixture(scope="module")
def board(tiny_fit):
    mux = EventMultiplexer(size_guidance={"images": 0, "scalars": 0, "histograms": 0, "tensors": 0})
    mux.AddRunsFromDirectory(str(tiny_fit.run_dir / "tb"))
    mux.Reload()
    return mux


def evals(run):
    return {s: json.loads((run / f"seed_{s}" / "eval.json").read_text()) for s in (0, 1)}


def test_fit_ends_with_what_it_achieved_and_where_to_look(tiny_fit):
    run, out = tiny_fit.run_dir, tiny_fit.stdout
    episodes = [e for ev in evals(run).values() for e in ev["episodes"]]
    success = np.array([float(e["success"]) for e in episodes])
    returns = np.array([e["return"] for e in episodes])
    assert (f"success {success.mean():.2f} ± {success.std():.2f} per episode (6 episodes, 2 seeds); GT return "
            f"{returns.mean():.1f} ± {returns.std():.1f} per episode") in out
    acc = [json.loads((run / f"seed_{s}" / "reward_metrics.json").read_text())["val_acc"] for s in (0, 1)]
    assert f"held-out accuracy {np.mean(acc):.3f} ± {np.std(acc):.3f}" in out and "Pearson" in out
    for stage in ("collect", "label", "reward", "relabel", "train", "evaluate", "report"):
        assert re.search(rf"time .*\b{stage} [\d.]+ (s|min)", out)
    assert f"report       {run / 'report' / 'report.md'}" in out
    assert re.search(rf"tensorboard  \S*tensorboard --logdir {re.escape(str(run / 'tb'))}\n", out)


def test_tensorboard_has_every_stage_and_pictures(board):
    runs = set(board.Runs())
    assert {"config", "collect", "label", "hparams/seed_0", "hparams/seed_1"} <= runs
    for stage in ("reward", "relabel", "train", "evaluate"):
        assert {f"{stage}/seed_0", f"{stage}/seed_1"} <= runs


def test_collect_scalars_per_episode(tiny_fit, board):
    from orlvlmf.data.dataset import OfflineDataset, episode_returns

    with OfflineDataset.open(tiny_fit.run_dir / "dataset.h5") as ds:
        returns = episode_returns(ds.ground_truth().reward, ds.episode_index)
    assert board.Scalars("collect", "collect/episodes")[0].value == 6
    assert [e.value for e in board.Scalars("collect", "collect/episode_return")] == pytest.approx(returns)


def test_label_statistics_against_the_number_of_labels_and_a_pair_grid(tiny_fit, board):
    labels = np.load(tiny_fit.run_dir / "pairs.npz")["label"]
    curve = board.Scalars("label", "labels/minus1_rate")
    assert len(curve) > 10 and curve[-1].step == len(labels) == 120
    for point in curve:
        assert point.value == pytest.approx(np.mean(labels[:point.step] == -1))
    assert {p.step for p in board.Scalars("label", "label/agreement")} == {120}  # the audit, at the count
    grid = board.Images("label", "labels/pairs")[0]
    assert grid.encoded_image_string[:4] == b"\x89PNG" and grid.step == 120


def test_relabel_histogram_and_learned_vs_true_reward_along_episodes(tiny_fit, board):
    z = np.load(tiny_fit.run_dir / "seed_0" / "rewards.npz")
    hist = board.Histograms("relabel/seed_0", "relabel/learned_reward")[0].histogram_value
    assert hist.num == len(z["reward"]) == 600
    assert hist.min == pytest.approx(z["reward"].min()) and hist.max == pytest.approx(z["reward"].max())
    tags = board.Runs()["relabel/seed_0"]["scalars"]
    learned = sorted(t for t in tags if t.endswith("/learned"))
    assert len(learned) == 4 and all(t.replace("/learned", "/true") in tags for t in learned)
    assert learned[0].startswith("reward_along_episodes/episode_")
    e = int(learned[0].split("/")[1].removeprefix("episode_"))
    from orlvlmf.data.dataset import OfflineDataset

    with OfflineDataset.open(tiny_fit.run_dir / "dataset.h5") as ds:
        sl = ds.episode_slice(e)
    assert [p.value for p in board.Scalars("relabel/seed_0", learned[0])] == pytest.approx(z["reward"][sl])
    assert board.Images("relabel/seed_0", "relabel/reward_along_episodes")


def test_evaluation_rollouts_as_video_and_scalars(tiny_fit, board):
    ev = evals(tiny_fit.run_dir)
    for s in (0, 1):
        gifs = [board.Images(f"evaluate/seed_{s}", f"evaluate/rollout_0{k}")[0] for k in range(2)]
        assert all(g.encoded_image_string[:6] == b"GIF89a" for g in gifs)
        assert board.Scalars(f"evaluate/seed_{s}", "evaluate/success_rate")[0].value == \
            pytest.approx(ev[s]["success_rate"])


def test_hparams_with_final_metrics_and_the_config_text(tiny_fit, board):
    ev = evals(tiny_fit.run_dir)
    for s in (0, 1):
        content = board.PluginRunToTagToContent("hparams")[f"hparams/seed_{s}"]
        hp = plugin_data_pb2.HParamsPluginData.FromString(
            content["_hparams_/session_start_info"]).session_start_info.hparams
        assert hp["policy.name"].string_value == "iql" and hp["seed"].number_value == s
        assert hp["pairs.num_queries"].number_value == 120 and hp["env.name"].string_value == "cartpole"
        assert board.Scalars(f"hparams/seed_{s}", "final/success_rate")[0].value == \
            pytest.approx(ev[s]["success_rate"])
        assert board.Scalars(f"hparams/seed_{s}", "final/reward_gt_spearman")
    text = board.Tensors("config", "config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "name: tiny" in text and "num_queries: 120" in text


def test_report_answers_the_questions_people_ask(tiny_fit):
    run = tiny_fit.run_dir
    md = (run / "report" / "report.md").read_text()
    ev = evals(run)
    for s in (0, 1):  # per-episode spread beside the across-seed one
        succ = [float(e["success"]) for e in ev[s]["episodes"]]
        assert (f"| {s} | 3 | {ev[s]['success_rate']:.3f} ± {np.std(succ):.3f} | "
                f"{ev[s]['return_mean']:.1f} ± {ev[s]['return_std']:.1f} |") in md
    assert "| **mean (std across seeds)** |" in md and "![GT return of every evaluation episode" in md
    gifs = re.findall(r"\]\((videos/seed_\d_episode_\d\d\.gif)\)", md)
    assert len(gifs) == 4 and all((run / "report" / g).read_bytes()[:6] == b"GIF89a" for g in gifs)
    timings = md.split("## Stage timings")[1].split("##")[0]
    keys = re.findall(r"^\| (\w+(?:@seed\d)?) \| [\d.]+ \|", timings, flags=re.M)
    assert keys == ["collect", "label", "reward@seed0", "reward@seed1", "relabel@seed0", "relabel@seed1",
                    "train@seed0", "train@seed1", "evaluate@seed0", "evaluate@seed1"]
    assert "## Config" in md and "\nname: tiny\n" in md
    health = md.split("### Training health")[1].split("###")[0]
    assert health.count("Mean Q(s, a)") + health.count("**Q") >= 2 and "Clipped advantage weights" in health
    assert "[Label gallery](labels.html)" in md and (run / "report" / "labels.html").is_file()
    assert "## Summary" in md and "--logdir" in md


def test_report_and_label_gallery_open_in_headless_chromium(tiny_fit, tmp_path):
    report = tiny_fit.run_dir / "report"
    md = (report / "report.md").read_text()
    decoded, total, log = open_page(report / "report.html", tmp_path / "p1")
    assert total == md.count("![") and decoded == total and not console_errors(log)
    decoded, total, log = open_page(report / "labels.html", tmp_path / "p2")
    assert total == 48 and decoded == total and not console_errors(log)
