"""A cell's identity is the fingerprints of its stage runs (issue 14 §2): config fields no stage of
the cell reads leave finished cells finished; a changed section a stage reads reruns that stage."""

import dataclasses
import json

import pytest

from orlvlmf.config import schema
from orlvlmf.sweep.cells import cache_dir, cells_of, compose
from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.plan import plan_ids, recorded_fingerprints
from orlvlmf.sweep.runner import run_sweep
from tests.sweep.helpers import CALLS, INTERRUPT, write_sweep

QUIET = dict(echo=lambda s: None)


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    INTERRUPT.clear()


def _with_new_field(monkeypatch, section: str | None):
    """The run config schema as it will be once someone adds a field (top level or in a section)."""
    if section is None:
        grown = dataclasses.make_dataclass("RunConfig", [("notes", str, "added later")],
                                           bases=(schema.RunConfig,))
    else:
        base = type(getattr(schema.RunConfig(), section))
        sub = dataclasses.make_dataclass(base.__name__, [("new_knob", int, 3)], bases=(base,))
        grown = dataclasses.make_dataclass(
            "RunConfig", [(section, sub, dataclasses.field(default_factory=sub))], bases=(schema.RunConfig,))
    monkeypatch.setattr(schema, "RunConfig", grown)


def test_new_unrelated_field_leaves_cells_finished_and_a_read_section_reruns(tmp_path, monkeypatch):
    cfg, file = load_sweep_config(write_sweep(tmp_path))
    first = run_sweep(cfg, file, **QUIET)
    assert len(first.ran) == 8 and CALLS["train"] == 8
    result = json.loads((tmp_path / "out/tiny/results/toy_random_one_seed1.json").read_text())
    assert set(result["stages"]) == {"sweeptest_collect", "sweeptest_train@seed1", "sweeptest_eval@seed1"}

    _with_new_field(monkeypatch, None)  # a new top-level field: every composed config changes ...
    cell = cells_of(cfg, file)[0]
    assert compose(cell, cfg).notes == "added later"
    again = run_sweep(cfg, file, **QUIET)  # ... but no stage reads it
    assert len(again.skipped) == 8 and not again.ran and CALLS["train"] == 8

    # sections that exist but no stage of these cells reads (the fake stages read env, dataset, train)
    cfg2, _ = load_sweep_config(file, ["overrides=[evaluation.episodes=7, reward.max_epochs=1]"])
    assert len(run_sweep(cfg2, file, **QUIET).skipped) == 8

    # a changed section a stage reads: that stage and its dependants rerun, upstream ones are reused
    cfg3, _ = load_sweep_config(file, ["custom_methods.one.overrides=[train.reward_scale=1.5]"])
    summary = run_sweep(cfg3, file, **QUIET)
    assert sorted(summary.ran) == sorted(c.id for c in cells_of(cfg3, file) if c.method == "one")
    assert CALLS["train"] == 12 and CALLS["collect:random"] == 1

    # a new field inside a section the collect stage reads: collect reruns in every cell's group;
    # the fake dataset comes out byte-identical, so the downstream fingerprints hold and train is reused
    _with_new_field(monkeypatch, "dataset")
    summary = run_sweep(cfg, file, **QUIET)
    assert len(summary.ran) == 8 and CALLS["collect:random"] == 2 and CALLS["collect:expert"] == 2
    assert CALLS["train"] == 12


def test_identity_comes_from_records_without_running(tmp_path):
    cfg, file = load_sweep_config(write_sweep(tmp_path))
    cell = [c for c in cells_of(cfg, file) if c.id == "toy_random_two_seed1"][0]
    run_cfg = compose(cell, cfg)
    assert recorded_fingerprints(run_cfg, cache_dir(cfg)) is None  # nothing ran: not finished
    # only another method's cells ran: the shared dataset is recorded, this cell's train is not
    run_sweep(cfg, file, only=lambda c: c.method == "one" and c.quality == "random", **QUIET)
    assert recorded_fingerprints(run_cfg, cache_dir(cfg)) is None
    run_sweep(cfg, file, only=lambda c: c.id == cell.id, **QUIET)
    fps = recorded_fingerprints(run_cfg, cache_dir(cfg))
    manifest = json.loads((tmp_path / "out/tiny/cells/toy_random/two_seed1/manifest.json").read_text())
    assert fps == {k: v["fingerprint"] for k, v in manifest["stages"].items()}

    # plan ids: from the config alone; equal for a stage two cells share, different otherwise
    other = compose([c for c in cells_of(cfg, file) if c.id == "toy_random_one_seed1"][0], cfg)
    mine, theirs = plan_ids(run_cfg), plan_ids(other)
    assert mine["sweeptest_collect"] == theirs["sweeptest_collect"]
    assert mine["sweeptest_train@seed1"] != theirs["sweeptest_train@seed1"]


def test_a_sweep_name_is_one_plain_folder_name(tmp_path):
    """Issue 12, item 2, for sweeps: ``name`` is the sweep's folder under out_dir."""
    from orlvlmf.sweep.schema import SweepConfigError

    file = write_sweep(tmp_path)
    for bad in ("..", "/elsewhere", "a/b"):
        with pytest.raises(SweepConfigError, match="'name' must be one plain folder name"):
            load_sweep_config(file, [f"name={bad}"])
    with pytest.raises(SweepConfigError, match="'seeds' must hold numbers >= 0"):
        load_sweep_config(file, ["seeds=[0,-1]"])
