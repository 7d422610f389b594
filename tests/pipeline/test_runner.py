"""Stage orchestration with fake stages: skip, redo downstream, resume, atomic artifacts."""

import json

import pytest

from orlvlmf.config import load_config
from orlvlmf.pipeline.runner import Pipeline
from orlvlmf.pipeline.stage import Stage, StageError
from orlvlmf.registry import RegistryError, register

CALLS: list[str] = []


class Interrupt(Exception):
    pass


@register("stages", "t_source")
class SourceStage(Stage):
    sections = ("dataset.episodes",)
    outputs = ("data.json",)

    def run(self, ctx):
        CALLS.append("source")
        n = ctx.cfg.dataset.episodes
        ctx.output("data.json").write_text(json.dumps(list(range(n))))
        return {"episodes": n}


@register("stages", "t_train")
class TrainStage(Stage):
    """Counts to ``train.steps`` with a checkpoint per step; may be told to stop midway."""

    sections = ("train.steps",)
    inputs = ("t_source/data.json",)
    outputs = ("model.json",)
    per_seed = True
    stop_after: int | None = None

    def run(self, ctx):
        CALLS.append(f"train@{ctx.seed}")
        ckpt = ctx.work_dir / "ckpt.json"
        state = json.loads(ckpt.read_text()) if ckpt.exists() else {"step": 0, "started_at": []}
        state["started_at"].append(state["step"])
        data = json.loads(ctx.input("data.json").read_text())
        out = ctx.output("model.json")
        out.write_text("partial")  # a half artifact: must never appear in the run dir
        while state["step"] < ctx.cfg.train.steps:
            state["step"] += 1
            ckpt.write_text(json.dumps(state))
            if TrainStage.stop_after is not None and state["step"] == TrainStage.stop_after:
                TrainStage.stop_after = None
                raise Interrupt("killed")
        out.write_text(json.dumps({"sum": sum(data) * ctx.seed, "made_by": self.version, **state}))
        return {"steps": state["step"]}


def make_cfg(tmp_path, *overrides):
    return load_config(
        None,
        [f"run_dir={tmp_path}", "name=t", "env.name=unused", "seeds=[1,2]", *overrides],
        schema=_schema(),
    )


def _schema():
    from dataclasses import dataclass, field
    from typing import List

    from orlvlmf.data.config import DatasetConfig
    from orlvlmf.policy.config import TrainConfig

    @dataclass
    class S:
        name: str = "???"
        run_dir: str = "runs"
        seeds: List[int] = field(default_factory=lambda: [0])
        env: dict = field(default_factory=dict)
        dataset: DatasetConfig = field(default_factory=DatasetConfig)
        train: TrainConfig = field(default_factory=TrainConfig)

    return S


@pytest.fixture(autouse=True)
def _clear():
    CALLS.clear()
    TrainStage.stop_after = None


def run(cfg, *names):
    return Pipeline(cfg, echo=lambda _: None).run(list(names) or ["t_source", "t_train"])


def test_second_run_skips_everything(tmp_path):
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=4")
    first = run(cfg)
    assert [r.status for r in first] == ["ran", "ran", "ran"]
    assert CALLS == ["source", "train@1", "train@2"]
    CALLS.clear()
    second = run(cfg)
    assert [r.status for r in second] == ["skipped"] * 3 and CALLS == []
    model = json.loads((tmp_path / "t" / "seed_2" / "model.json").read_text())
    assert model["sum"] == 3 * 2 and model["step"] == 4


def test_changed_upstream_config_redoes_downstream(tmp_path):
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2"))
    CALLS.clear()
    run(make_cfg(tmp_path, "dataset.episodes=5", "train.steps=2"))
    assert CALLS == ["source", "train@1", "train@2"]


def test_changed_downstream_config_keeps_upstream(tmp_path):
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2"))
    CALLS.clear()
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=3"))
    assert CALLS == ["train@1", "train@2"]


def test_unrelated_config_change_skips(tmp_path):
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2"))
    CALLS.clear()
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2", "dataset.image_size=32"))
    assert CALLS == []


def test_edited_artifact_is_detected_and_redone(tmp_path):
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2")
    run(cfg)
    (tmp_path / "t" / "data.json").write_text("[7]")
    CALLS.clear()
    run(cfg)
    # the source is redone; it comes out byte-identical, so downstream stays up to date
    assert CALLS == ["source"]
    assert (tmp_path / "t" / "data.json").read_text() == "[0, 1, 2]"
    (tmp_path / "t" / "seed_2" / "model.json").unlink()
    CALLS.clear()
    run(cfg)
    assert CALLS == ["train@2"]


def test_interrupted_stage_leaves_no_artifact_and_resumes(tmp_path):
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=6", "seeds=[1]")
    TrainStage.stop_after = 4
    with pytest.raises(Interrupt):
        run(cfg)
    assert not (tmp_path / "t" / "seed_1" / "model.json").exists()
    run(cfg)
    model = json.loads((tmp_path / "t" / "seed_1" / "model.json").read_text())
    assert model["step"] == 6 and model["started_at"] == [0, 4]  # continued from the checkpoint
    assert not any((tmp_path / "t" / ".work").iterdir())


def test_stage_alone_needs_its_inputs(tmp_path):
    cfg = make_cfg(tmp_path, "train.steps=1")
    with pytest.raises(StageError, match="needs 't_source/data.json'.*orlvlmf t_source"):
        run(cfg, "t_train")


def test_unknown_pipeline_stage_fails_before_work(tmp_path):
    cfg = make_cfg(tmp_path)
    with pytest.raises(RegistryError, match="unknown stage 't_nope'"):
        run(cfg, "t_source", "t_nope")
    assert CALLS == []


def test_saved_config_keeps_env_interpolation_unresolved(tmp_path, monkeypatch):
    monkeypatch.setenv("ORLVLMF_TEST_SECRET", "sk-very-secret")
    cfg = make_cfg(tmp_path, "dataset.path=${oc.env:ORLVLMF_TEST_SECRET}")
    Pipeline(cfg, echo=lambda _: None)
    text = (tmp_path / "t" / "config.yaml").read_text()
    assert "sk-very-secret" not in text and "oc.env:ORLVLMF_TEST_SECRET" in text


@register("stages", "t_summary")
class SummaryStage(Stage):
    """Not per seed: reads every seed's model."""

    inputs = ("t_train/model.json",)
    outputs = ("summary.json",)

    def run(self, ctx):
        CALLS.append("summary")
        sums = {k: json.loads(p.read_text())["sum"] for k, p in sorted(ctx.inputs.items())}
        ctx.output("summary.json").write_text(json.dumps(sums))


def test_stage_reading_all_seeds_gets_one_input_per_seed(tmp_path):
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=1")
    run(cfg, "t_source", "t_train", "t_summary")
    summary = json.loads((tmp_path / "t" / "summary.json").read_text())
    assert summary == {"t_train/model.json@seed1": 3, "t_train/model.json@seed2": 6}


def test_bumped_stage_version_reruns_it_and_its_dependants(tmp_path, monkeypatch):
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=1")
    stages = ("t_source", "t_train", "t_summary")
    run(cfg, *stages)
    CALLS.clear()
    monkeypatch.setattr(TrainStage, "version", "2")  # its behaviour changed: model.json differs
    assert [r.status for r in run(cfg, *stages)] == ["skipped", "ran", "ran", "ran"]
    assert CALLS == ["train@1", "train@2", "summary"]
    assert json.loads((tmp_path / "t" / "seed_1" / "model.json").read_text())["made_by"] == "2"
    CALLS.clear()
    run(cfg, *stages)
    assert CALLS == []


@register("stages", "t_per_seed_eval")
class PerSeedEvalStage(Stage):
    """Per seed, reads the same seed's model; writes a folder output; fingerprints all of train."""

    sections = ("train",)
    inputs = ("t_train/model.json",)
    outputs = ("videos",)
    per_seed = True

    def run(self, ctx):
        CALLS.append(f"eval@{ctx.seed}")
        model = json.loads(ctx.input("t_train/model.json").read_text())
        videos = ctx.output("videos")
        videos.mkdir()
        (videos / f"every_{ctx.cfg.train.log_every}.txt").write_text(str(model["sum"]))


def test_per_seed_stage_reads_its_own_seed_and_folder_outputs_are_replaced(tmp_path):
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=1", "train.log_every=5")
    run(cfg, "t_source", "t_train", "t_per_seed_eval")
    for seed in (1, 2):  # sum(range(3)) * seed, read from this seed's model.json
        assert (tmp_path / "t" / f"seed_{seed}" / "videos" / "every_5.txt").read_text() == str(3 * seed)
    CALLS.clear()
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=1", "train.log_every=7"),
        "t_source", "t_train", "t_per_seed_eval")
    assert CALLS == ["eval@1", "eval@2"]
    for seed in (1, 2):  # the old folder is replaced whole, nothing left beside it
        assert sorted(p.name for p in (tmp_path / "t" / f"seed_{seed}").iterdir()) == ["model.json", "videos"]
        assert [p.name for p in (tmp_path / "t" / f"seed_{seed}" / "videos").iterdir()] == ["every_7.txt"]


def test_a_section_is_fingerprinted_with_its_interpolations_resolved(tmp_path):
    # train.log_every interpolates dataset.episodes: the same value written out is the same section
    stages = ("t_source", "t_train", "t_per_seed_eval")
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=1", "train.log_every=${dataset.episodes}"),
        *stages)
    CALLS.clear()
    run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=1", "train.log_every=3"), *stages)
    assert CALLS == []


# -- issue 12 ------------------------------------------------------------------------------------
def test_force_always_starts_clean(tmp_path):
    """Item 5: `--force` must not resume from what an interrupted run left (it may be the broken
    thing the user is forcing away)."""
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=6", "seeds=[1]")
    TrainStage.stop_after = 4
    with pytest.raises(Interrupt):
        run(cfg)
    Pipeline(cfg, echo=lambda _: None).run(["t_source", "t_train"], force=True)
    model = json.loads((tmp_path / "t" / "seed_1" / "model.json").read_text())
    assert model["step"] == 6 and model["started_at"] == [0]


@register("stages", "t_nocheckpoint")
class NoCheckpointStage(Stage):
    """Keeps nothing in its work dir (like collect): an interrupted run starts over."""

    outputs = ("x.txt",)
    fail = False

    def run(self, ctx):
        if NoCheckpointStage.fail:
            NoCheckpointStage.fail = False
            raise Interrupt("killed")
        ctx.output("x.txt").write_text("x")


def test_the_rerun_says_what_really_happens(tmp_path):
    """Item 12: after a kill the rerun said "collect: resuming" while it started over."""
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=6", "seeds=[1]")
    lines: list[str] = []
    NoCheckpointStage.fail = True
    with pytest.raises(Interrupt):
        Pipeline(cfg, echo=lines.append).run(["t_nocheckpoint"])
    Pipeline(cfg, echo=lines.append).run(["t_nocheckpoint"])
    assert "resuming" not in lines[-2] and "starting over" in lines[-2], lines
    TrainStage.stop_after = 4
    with pytest.raises(Interrupt):
        Pipeline(cfg, echo=lines.append).run(["t_source", "t_train"])
    Pipeline(cfg, echo=lines.append).run(["t_source", "t_train"])
    assert "resuming" in lines[-2], lines  # t_train kept a checkpoint: it does resume


def _corrupt_keeping_size_and_mtime(path, old: bytes, new: bytes):
    import os

    st = path.stat()
    data = path.read_bytes()
    assert old in data and len(old) == len(new)
    path.write_bytes(data.replace(old, new, 1))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns


def test_a_corrupted_input_is_named_with_how_to_redo_its_stage(tmp_path):
    """Item 11: a corrupted artifact with unchanged size and mtime was trusted as up to date and the
    next stage died on the read error; the error now names the file and how to redo the stage."""
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2", "seeds=[1]")
    run(cfg)
    _corrupt_keeping_size_and_mtime(tmp_path / "t" / "data.json", b"[0, 1, 2]", b"[0, 1, 2x")
    with pytest.raises(StageError) as info:  # train must run again (its config changed)
        run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=3", "seeds=[1]"), "t_train")
    msg = str(info.value)
    assert "data.json" in msg and "t_source --force" in msg and "delete" in msg, msg


def test_fit_verify_rehashes_every_artifact(tmp_path):
    """Item 11's ``--verify``: every artifact is hashed again; a corrupted one is redone."""
    cfg = make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2", "seeds=[1]")
    run(cfg)
    _corrupt_keeping_size_and_mtime(tmp_path / "t" / "data.json", b"[0, 1, 2]", b"[0, 1, 2x")
    CALLS.clear()
    run(cfg)
    assert CALLS == []  # size and mtime unchanged: trusted without --verify
    Pipeline(cfg, echo=lambda _: None, verify=True).run(["t_source", "t_train"])
    assert CALLS == ["source"] and (tmp_path / "t" / "data.json").read_text() == "[0, 1, 2]"


def test_files_of_a_run_have_one_mode(tmp_path):
    """Item 12: config.yaml and manifest.json were written 0600, the stages' artifacts 0644."""
    import os

    old = os.umask(0o022)
    try:
        run(make_cfg(tmp_path, "dataset.episodes=3", "train.steps=2", "seeds=[1]"))
    finally:
        os.umask(old)
    modes = {p.relative_to(tmp_path).as_posix(): oct(p.stat().st_mode & 0o777)
             for p in (tmp_path / "t").rglob("*") if p.is_file()}
    assert "t/config.yaml" in modes and "t/manifest.json" in modes
    assert set(modes.values()) == {"0o644"}, modes
