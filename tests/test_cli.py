"""The `orlvlmf` command: help everywhere, listing commands, clear errors, a third-party plugin."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from orlvlmf.cli import build_parser, main, stage_commands

ORLVLMF = [sys.executable, "-m", "orlvlmf.cli"]


@pytest.mark.parametrize("command", ["fit", "plugins", "configs", "show-config", "labels", *stage_commands()])
def test_help_everywhere(command, capsys):
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args([command, "--help"])
    assert info.value.code == 0
    assert "usage: orlvlmf" in capsys.readouterr().out


def test_every_registered_stage_has_a_command():
    from orlvlmf.registry import REGISTRY

    assert set(stage_commands()) == set(REGISTRY.names("stages"))
    assert "clip_reward" in stage_commands() and "rewards.npz" in stage_commands()["clip_reward"]
    assert list(stage_commands())[:3] == ["collect", "label", "reward"]  # pipeline order first


def test_configs_lists_shipped(capsys):
    assert main(["configs"]) == 0
    out = capsys.readouterr().out
    assert "drawer.yaml" in out and "base.yaml" in out


def test_config_error_is_one_clear_line(capsys):
    code = main(["show-config", "--config", "drawer.yaml", "reward.encodr.name=mlp"])
    err = capsys.readouterr().err
    assert code == 2
    assert "unknown key 'reward.encodr'" in err and "Did you mean 'reward.encoder'" in err
    assert "Traceback" not in err


def test_unknown_config_name_suggests(capsys):
    assert main(["fit", "--config", "drawr.yaml"]) == 2
    assert "Did you mean 'drawer.yaml'" in capsys.readouterr().err


def test_show_config_composes_base_and_task(capsys):
    assert main(["show-config", "--config", "drawer.yaml", "seeds=[0,1,2]"]) == 0
    out = capsys.readouterr().out
    assert "name: drawer" in out and "num_threads: 2" in out and "- 2" in out


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "orlvlmf-tiny-plugin"
version = "0.0.1"

[project.entry-points."orlvlmf.encoders"]
tiny-enc = "orlvlmf_tiny_plugin:TinyEncoder"
"""

PLUGIN_CODE = '''
from dataclasses import dataclass


@dataclass
class TinyConfig:
    width: int = 2


class TinyEncoder:
    """A third-party encoder registered only through an entry point."""

    Config = TinyConfig

    def __init__(self, width=2):
        self.width = width
'''


@pytest.fixture(scope="module")
def installed_plugin(tmp_path_factory):
    """Build the tiny plugin and pip-install it into a throwaway target directory."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    (src / "orlvlmf_tiny_plugin").mkdir(parents=True)
    (src / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (src / "orlvlmf_tiny_plugin" / "__init__.py").write_text(PLUGIN_CODE)
    target = root / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--no-index", "--target", str(target), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")]))
    return env


def test_third_party_plugin_is_listed_and_selectable(installed_plugin, tmp_path):
    out = subprocess.run(ORLVLMF + ["plugins", "--kind", "encoders"], env=installed_plugin,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = next(l for l in out.stdout.splitlines() if "tiny-enc" in l)
    assert "orlvlmf-tiny-plugin" in line

    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text("extends: drawer.yaml\nreward:\n  encoder:\n    name: tiny-enc\n    width: 7\n")
    code = textwrap.dedent(f"""
        from orlvlmf.config import load_config
        from orlvlmf.registry import REGISTRY
        cfg = load_config({str(cfg_file)!r})
        enc = REGISTRY.create("encoders", cfg.reward.encoder.name, width=cfg.reward.encoder.width)
        print(type(enc).__module__, enc.width)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=installed_plugin, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["orlvlmf_tiny_plugin", "7"]

    bad = subprocess.run(ORLVLMF + ["show-config", "--config", str(cfg_file), "reward.encoder.widht=3"],
                         env=installed_plugin, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Did you mean 'reward.encoder.width'" in bad.stderr


def test_plugins_lists_builtins(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    for kind in ("encoders:", "envs:", "feedback:", "learners:", "datasets:", "stages:"):
        assert kind in out


def test_console_script_is_installed():
    exe = shutil.which("orlvlmf", path=str(Path(sys.executable).parent))
    assert exe is not None, "the orlvlmf console script is missing from the venv: run `make setup`"


def test_sigterm_inside_lightning_is_not_reported_as_success(monkeypatch, capsys):
    """Lightning raises SIGTERMException (a SystemExit with code 0) when killed mid-fit."""
    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    import orlvlmf.cli as cli

    def killed(args):
        raise SIGTERMException

    monkeypatch.setattr(cli, "cmd_show_config", killed)
    assert cli.main(["show-config", "--config", "drawer.yaml"]) == 143
    assert "rerun the same command to resume" in capsys.readouterr().err


NOISE = textwrap.dedent("""
    import logging, sys
    sys.path[:0] = [sys.argv[2], sys.argv[2] + "/feedback"]
    from orlvlmf.cli import configure_logging
    configure_logging(sys.argv[1] == "verbose")
    import OpenGL.GL  # PyOpenGL logs 'No OpenGL_accelerate module loaded' at INFO
    import orlvlmf.policy.base  # Lightning, importable beside this torch
    from lightning.pytorch.utilities._pytree import _tree_flatten
    _tree_flatten(1)  # Lightning's LeafSpec deprecation warning (every policy fit)
    from fake_vlm_server import FakeVLMServer
    from feedback_helpers import make_bar_dataset, run_vlm
    from pathlib import Path
    ds = make_bar_dataset(Path(sys.argv[3]) / "bar.h5")
    with FakeVLMServer() as srv:  # litellm: INFO lines on every API call
        assert run_vlm(ds, Path(sys.argv[3]) / "s.sqlite", srv, n=2).answered.all()
    logging.getLogger("orlvlmf").info("[stage] our own line")
""")


# the verbose run is the control (the noise is really there to silence); slow: a second ~10 s process
@pytest.mark.parametrize("mode", ["quiet", pytest.param("verbose", marks=pytest.mark.slow)])
def test_third_party_noise_only_with_verbose(mode, tmp_path):
    env = {**os.environ, "PYOPENGL_PLATFORM": "egl", "MUJOCO_GL": "egl", "OPENAI_API_KEY": "x"}
    out = subprocess.run([sys.executable, "-c", NOISE, mode, str(Path(__file__).parent), str(tmp_path)],
                         capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout + out.stderr
    assert "[stage] our own line" in text
    noise = ("No OpenGL_accelerate module loaded", "isinstance(treespec, LeafSpec)", "LiteLLM completion()")
    if mode == "quiet":
        assert not [n for n in noise if n in text], text[-3000:]
    else:
        assert all(n in text for n in noise)


def test_verbose_flag_before_or_after_the_command():
    for argv in (["-v", "fit", "-c", "x"], ["fit", "-c", "x", "--verbose"], ["sweep", "-c", "x", "-v"]):
        assert build_parser().parse_args(argv).verbose is True
    assert build_parser().parse_args(["fit", "-c", "x"]).verbose is False


# -- issue 12, item 11: a damaged artifact -------------------------------------------------------
def _image_dataset(path):
    import numpy as np

    from orlvlmf.data.dataset import DatasetWriter

    rng = np.random.default_rng(0)
    with DatasetWriter(path, {"task_text": "make it bright"}) as w:
        for _ in range(3):
            img = rng.integers(0, 255, (21, 16, 16, 3), dtype=np.uint8)
            w.add_episode(observations={"image": img, "state": img.mean((1, 2)).astype(np.float32)},
                          actions=rng.uniform(-1, 1, (20, 2)), reward=img[1:].mean((1, 2, 3)) / 255,
                          success=np.zeros(20, bool))
    return path


def test_a_damaged_dataset_is_named_with_how_to_redo_collect_and_verify_redoes_it(tmp_path, capsys):
    import yaml

    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "dmg", "run_dir": str(tmp_path / "runs"), "stages": ["collect", "label"],
        "dataset": {"source": "file", "path": str(_image_dataset(tmp_path / "src.h5")),
                    "observations": ["image", "state"]},
        "pairs": {"num_queries": 10, "min_gap": 1}}))
    assert main(["collect", "-c", str(cfg)]) == 0
    h5 = tmp_path / "runs" / "dmg" / "dataset.h5"
    st = h5.stat()
    data = bytearray(h5.read_bytes())
    data[:8] = b"XXXXXXXX"  # damaged in place: same size, same mtime
    h5.write_bytes(bytes(data))
    os.utime(h5, ns=(st.st_atime_ns, st.st_mtime_ns))
    capsys.readouterr()
    assert main(["label", "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert str(h5) in err and "orlvlmf collect --force" in err and "Traceback" not in err, err
    assert main(["fit", "--verify", "-c", str(cfg)]) == 0  # hashed again: collect is redone
    out = capsys.readouterr().out
    assert "collect: running" in out or "collect: starting over" in out, out
    assert h5.read_bytes()[:8] != b"XXXXXXXX"
