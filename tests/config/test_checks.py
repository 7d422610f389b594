"""Values checked when a config is loaded (issue 12, items 2, 6b and 9): before any paid or long
work, `show-config` included, with one message naming the key and the file that set it."""

from dataclasses import dataclass, field
from typing import List, Optional

import pytest
import yaml

from orlvlmf.cli import main
from orlvlmf.config import ConfigError, build, load_config


def write(tmp_path, name, data):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data))
    return p


# -- item 9: every numeric field's range -------------------------------------------------------
# (override, what the message must say): each of these used to pass the config check and fail
# only later (after paid labeling, in a traceback, a MemoryError, or by silently doing nothing)
BAD_VALUES = [
    ("reward.batch_size=0", "reward.batch_size"),
    ("reward.val_fraction=1.5", "reward.val_fraction"),
    ("reward.lr=-1", "reward.lr"),
    ("policy.batch_size=0", "policy.batch_size"),
    ("evaluation.episodes=-1", "evaluation.episodes"),
    ("trainer.num_threads=0", "trainer.num_threads"),
    ("dataset.image_size=100000", "dataset.image_size"),
    ("train.steps=-1", "train.steps"),
    ("seeds=[]", "seeds"),
    ("pairs.num_queries=0", "pairs.num_queries"),
    ("feedback.concurrency=0", "feedback.concurrency"),  # a backend's own config (component)
    ("reward.encoder.image_size=-3", "reward.encoder.image_size"),  # an encoder's (component)
    ("env.max_angle_deg=-30", "env.max_angle_deg"),  # an env plugin's (entry point)
]


@pytest.mark.parametrize("override,key", BAD_VALUES)
def test_out_of_range_values_fail_at_load_naming_key_and_source(override, key):
    with pytest.raises(ConfigError) as info:
        load_config("cartpole_random.yaml", [override, "feedback.name=litellm"]
                    if override.startswith("feedback.") else [override])
    msg = str(info.value)
    assert f"'{key}'" in msg and "the command line" in msg, msg


def test_the_file_that_set_a_bad_value_is_named(tmp_path):
    p = write(tmp_path, "run.yaml", {"extends": "cartpole_random.yaml", "reward": {"val_fraction": 1.5}})
    with pytest.raises(ConfigError) as info:
        load_config(p)
    assert str(p) in str(info.value) and "reward.val_fraction" in str(info.value)
    assert "[0, 1)" in str(info.value)  # and says what is allowed


def test_show_config_refuses_them_too(capsys):
    assert main(["show-config", "--config", "cartpole_random.yaml", "train.steps=-1"]) == 2
    err = capsys.readouterr().err
    assert "train.steps" in err and "Traceback" not in err


def test_boundaries_and_optional_values_are_accepted():
    cfg = load_config("cartpole_random.yaml", ["reward.val_fraction=0", "evaluation.episodes=1",
                                        "feedback.name=litellm", "feedback.max_cost_usd=null",
                                        "dataset.horizon=null", "seeds=[0,1]"])
    assert cfg.reward.val_fraction == 0 and cfg.feedback.max_cost_usd is None


def test_every_shipped_config_passes_its_checks():
    from orlvlmf.config.loader import shipped_config_dir, shipped_configs

    for name in shipped_configs():
        text = (shipped_config_dir() / name).read_text()
        if name != "base.yaml" and "kind: sweep" not in text:  # sweep specs are not run configs
            load_config(name)


def test_a_dataclass_declares_its_own_ranges_and_build_checks_them():
    from orlvlmf.config.structured import ranged

    @dataclass
    class PluginOpts:  # a third-party component's config
        steps: int = ranged(10, ge=1)
        rate: Optional[float] = ranged(None, gt=0, le=1)
        sizes: List[int] = ranged(default_factory=lambda: [4], ge=1, min_items=1)

    assert build(PluginOpts, {"steps": 3, "rate": 1}) == PluginOpts(3, 1, [4])
    for bad, key in [({"steps": 0}, "opts.steps"), ({"rate": 0}, "opts.rate"),
                     ({"sizes": []}, "opts.sizes"), ({"sizes": [4, 0]}, "opts.sizes")]:
        with pytest.raises(ConfigError, match=key):
            build(PluginOpts, bad, "opts")


# -- item 2: the run name is one plain folder name ---------------------------------------------
@pytest.mark.parametrize("name", ["..", ".", "", "/tmp/elsewhere", "a/b", "../x", "a\\b"])
def test_a_run_name_that_is_not_one_plain_folder_name_is_refused(name, tmp_path):
    with pytest.raises(ConfigError, match="'name'"):
        load_config("cartpole_random.yaml", [f"name={name}", f"run_dir={tmp_path / 'runs'}"])


def test_name_dotdot_writes_nothing_beside_the_run_dir(tmp_path, capsys):
    """The reported case: ``name=..`` wrote config.yaml, manifest.json, .staging, .work beside runs/."""
    runs = tmp_path / "runs"
    runs.mkdir()
    (tmp_path / "config.yaml").write_text("mine: true\n")  # the user's own file beside run_dir
    assert main(["collect", "--config", "cartpole_random.yaml", "name=..", f"run_dir={runs}",
                 "dataset.episodes=1", "dataset.horizon=2", "dataset.observations=[state]"]) == 2
    assert "'name'" in capsys.readouterr().err
    assert (tmp_path / "config.yaml").read_text() == "mine: true\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml", "runs"]
    assert list(runs.iterdir()) == []


def test_the_pipeline_refuses_such_a_name_even_without_the_loader(tmp_path):
    from omegaconf import OmegaConf

    from orlvlmf.pipeline.runner import Pipeline
    from orlvlmf.pipeline.stage import StageError

    with pytest.raises(StageError, match="name"):
        Pipeline(OmegaConf.create({"name": "..", "run_dir": str(tmp_path / "runs"), "seeds": [0]}))
    assert not (tmp_path / "config.yaml").exists()


# -- item 6b: a key pasted where its variable's name belongs ------------------------------------
@pytest.mark.parametrize("value", ["sk-proj-Abc123Def456Ghi789", "my key", "1ABC",
                                   "AIzaSyDx3k9QwErTyUiOpAsDfGhJkLzXcVbNm12"])
def test_api_key_env_must_be_a_variable_name_and_the_value_is_never_echoed(value, tmp_path, capsys):
    args = ["label", "--config", "cartpole_random.yaml", "feedback.name=litellm",
            f"feedback.api_key_env={value}", f"run_dir={tmp_path / 'runs'}"]
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert "feedback.api_key_env" in err and "environment variable" in err
    assert value not in out + err
    assert not any(value[i:i + 6] in out + err for i in range(len(value) - 5) if len(value) > 8)
    assert not (tmp_path / "runs").exists()  # no config.yaml, no store


def test_a_variable_name_is_accepted():
    cfg = load_config("cartpole_random.yaml", ["feedback.name=litellm", "feedback.api_key_env=OPENAI_API_KEY"])
    assert cfg.feedback.api_key_env == "OPENAI_API_KEY"


def test_checked_fields_run_their_own_check():
    from orlvlmf.config.structured import checked

    @dataclass
    class Opts:
        mode: str = checked("a", lambda v: None if v in ("a", "b") else "must be a or b")

    assert build(Opts, {"mode": "b"}).mode == "b"
    with pytest.raises(ConfigError, match="'x.mode' must be a or b"):
        build(Opts, {"mode": "c"}, "x")
