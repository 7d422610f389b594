"""``orlvlmf fit`` on imported robot data without a simulator, labeled by the local VLM stand-in.

The README's "Your own robot data" config runs as written (path and VLM endpoint pointed at a
generated episode folder and the stand-in); each importer's fixture runs through ``fit``; stages
that need a simulator are skipped or refused; a mismatched env is refused before any work.
"""

import logging
import os
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from orlvlmf.cli import main

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "feedback"))
sys.path.insert(0, str(HERE / "data" / "formats"))

os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 banner off

import robot_fixtures as rf  # noqa: E402
from fake_vlm_server import FakeVLMServer  # noqa: E402

FAST = ["pairs.num_queries=30", "pairs.min_gap=2", "reward.max_epochs=2", "reward.batch_size=8",
        "reward.ensemble=2", "train.steps=60", "train.log_every=20", "train.checkpoint_every=60",
        "trainer.progress=false", "trainer.num_threads=1", "dataset.image_size=32",
        "feedback.image_size=32", "feedback.concurrency=4"]


@pytest.fixture
def vlm(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-stand-in")
    server = FakeVLMServer().start()
    yield server
    server.stop()


def readme_config() -> str:
    text = (HERE.parent / "README.md").read_text()
    section = text[text.index("## Your own robot data"):]
    return re.search(r"```yaml\n(.*?)```", section, re.S).group(1)


def _episode_dir(root: Path, eps: list[dict], P: int = 64) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for e, ep in enumerate(eps):
        n = len(ep["state"])
        cloud = rng.normal(size=(n, P, 3)).astype(np.float32)
        cloud[:, :, 0] += ep["length"][:, None]  # the cloud moves with the bar
        np.savez(root / f"ep_{e:03d}.npz", image=ep["frames"], point_cloud=cloud, state=ep["state"],
                 actions=ep["action"][:-1])
    return root


def _report(run: Path) -> str:
    report = (run / "report" / "report.md").read_text()
    for section in ("## Dataset", "## Preference labels", "## Reward model",
                    "## Learned reward along episodes", "### Offline diagnostics"):
        assert section in report
    assert "None" not in report and "env_id" not in report
    assert (run / "report" / "reward_extremes.png").stat().st_size > 1000
    return report


def test_readme_robot_data_config_runs_as_written(tmp_path, vlm, capsys):
    cfg = tmp_path / "my_robot.yaml"
    cfg.write_text(readme_config())
    logs = _episode_dir(tmp_path / "logs", rf.synth_episodes(5, 12))
    small_cloud_net = ["reward.encoder.num_points=32", "reward.encoder.npoints=[16,8]",
                       "reward.encoder.nsamples=[8,8]", "reward.encoder.global_mlp=[64,64]"]
    args = ["fit", "--config", str(cfg), f"run_dir={tmp_path / 'runs'}", f"dataset.path={logs}",
            f"feedback.api_base={vlm.url}", *FAST, *small_cloud_net]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "evaluate: skipped (evaluate rolls the policy out in a simulator" in out
    assert re.search(r"collect: done .*transitions=55, episodes=5", out)
    run = tmp_path / "runs" / "my_robot"
    assert not list(run.glob("seed_*/eval.json"))
    report = _report(run)
    assert "fold the towel in half" in report and "| observations | image, point_cloud, state |" in report
    assert len(vlm.records()) >= 30  # every label came from the stand-in
    # evaluate asked for explicitly: refused before any work
    assert main(["evaluate", "--config", str(cfg), f"run_dir={tmp_path / 'runs'}", f"dataset.path={logs}",
                 f"feedback.api_base={vlm.url}", *FAST]) == 2
    assert "stage 'evaluate' cannot run: evaluate rolls the policy out in a simulator" in capsys.readouterr().err


FORMATS = {
    "lerobot_v21_av1": ("lerobot", lambda p, eps: rf.write_lerobot_v21(p, eps, codec="libsvtav1"), []),
    "lerobot_v30_mpeg4": ("lerobot", lambda p, eps: rf.write_lerobot_v30(p, eps, codec="mpeg4"), []),
    "robomimic": ("robomimic", lambda p, eps: rf.write_robomimic(p.with_suffix(".hdf5"), eps),
                  ["dataset.keys.state=[robot0_eef_pos,robot0_gripper_qpos]"]),
    "rlds": ("rlds", lambda p, eps: rf.write_rlds(p, eps), []),
    # Minari datasets carry no task sentence: the config gives it
    "minari": ("minari", lambda p, eps: (rf.write_minari(p, "synth/bar-v0", eps), p / "synth" / "bar-v0")[1],
               [f"task={rf.TASK}"]),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_importer_through_fit(tmp_path, vlm, fmt, capsys, caplog):
    source, write, extra = FORMATS[fmt]
    eps = rf.synth_episodes(5, 10)
    written = write(tmp_path / "src", eps)
    path = written if isinstance(written, Path) and written.exists() else tmp_path / "src"
    args = ["fit", "--config", "base.yaml", "name=real", f"run_dir={tmp_path / 'runs'}",
            f"dataset.source={source}", f"dataset.path={path}", "feedback.name=litellm",
            "feedback.model=openai/fake-vlm", f"feedback.api_base={vlm.url}",
            "reward.observation=state", "reward.encoder.name=mlp", *FAST, *extra]
    caplog.set_level(logging.INFO, logger="orlvlmf")
    assert main(args) == 0
    out = capsys.readouterr().out + caplog.text  # stage logs go through logging
    assert re.search(r"collect: done .*transitions=45, episodes=5", out)
    assert "actions outside [-1, 1]: trained scaled to [-1, 1]" in out
    report = _report(tmp_path / "runs" / "real")
    assert rf.TASK in report  # the task sentence came from the source


def test_simulator_stages_refused_or_skipped_before_any_work(tmp_path, vlm, capsys):
    eps = rf.synth_episodes(3, 8)
    src = rf.write_lerobot_v30(tmp_path / "src", eps, codec="mpeg4")
    base = ["--config", "base.yaml", "name=r", f"run_dir={tmp_path / 'runs'}", "dataset.source=lerobot",
            f"dataset.path={src}", "feedback.name=litellm", "feedback.model=openai/fake-vlm",
            f"feedback.api_base={vlm.url}", *FAST]
    run = tmp_path / "runs" / "r"
    cases = [
        (["stages=[collect,label,evaluate]"], "stage 'evaluate' cannot run: evaluate rolls the policy out"),
        (["policy.name=gail"], "stage 'train' cannot run: policy 'gail' learns by interacting with a simulator"),
        (["dataset.source=collect"], "stage 'collect' cannot run: dataset.source=collect rolls out a "
                                     "simulator, but the config has no env"),
    ]
    for extra, msg in cases:
        assert main(["fit", *base, *extra]) == 2
        assert msg in capsys.readouterr().err
        assert not (run / "dataset.h5").exists() and not vlm.records()
    # an env whose sizes differ from the data's: refused naming both, before the import
    assert main(["fit", *base, "env.name=cartpole"]) == 2
    err = capsys.readouterr().err
    assert "env 'cartpole' has actions (1,) and states (4,), but the dataset" in err
    assert "has actions (2,) and states (2,)" in err
    assert not (run / "dataset.h5").exists() and not vlm.records()
