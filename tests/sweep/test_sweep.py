"""The sweep on a tiny grid of fake (instant) stages: sharing, skipping, resuming, tables."""

import csv

import pytest

from orlvlmf.sweep.cells import cells_of
from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.runner import run_sweep
from orlvlmf.sweep.schema import SweepConfigError
from tests.sweep.helpers import CALLS, INTERRUPT, STAGES, write_sweep


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()
    INTERRUPT.clear()


def test_tiny_grid_shares_skips_resumes_and_writes_tables(tmp_path):
    cfg, file = load_sweep_config(write_sweep(tmp_path))
    assert len(cells_of(cfg, file)) == 8
    quiet = dict(echo=lambda s: None)

    INTERRUPT["at"] = "expert:2.0:0"  # the run stops inside this cell's train stage
    with pytest.raises(KeyboardInterrupt):
        run_sweep(cfg, file, **quiet)
    done = sorted(p.stem for p in (tmp_path / "out/tiny/results").glob("*.json"))
    assert done == sorted(["toy_random_one_seed0", "toy_random_one_seed1", "toy_random_two_seed0",
                           "toy_random_two_seed1", "toy_expert_one_seed0", "toy_expert_one_seed1"])
    # one dataset per task/quality, shared by both methods and all seeds
    assert CALLS["collect:random"] == 1 and CALLS["collect:expert"] == 1

    summary = run_sweep(cfg, file, **quiet)  # resume
    assert sorted(summary.skipped) == done
    assert sorted(summary.ran) == ["toy_expert_two_seed0", "toy_expert_two_seed1"]
    assert CALLS["resumed"] == 1  # the interrupted stage found its work dir
    assert CALLS["collect:expert"] == 1 and CALLS["train"] == 8

    again = run_sweep(cfg, file, **quiet)  # everything finished: nothing runs
    assert len(again.skipped) == 8 and not again.ran and CALLS["train"] == 8

    root = tmp_path / "out/tiny"
    rows = list(csv.DictReader((root / "table.csv").open()))
    by = {(r["quality"], r["method"]): r for r in rows}
    assert float(by[("expert", "two")]["mean"]) == pytest.approx(-205.0)  # -200 - 10·seed, seeds 0, 1
    assert float(by[("expert", "two")]["std"]) == pytest.approx(5.0)
    assert float(by[("random", "one")]["mean"]) == pytest.approx(-155.0)
    md = (root / "table.md").read_text()
    assert "| toy | random | -155.00 (5.00) | -255.00 (5.00) |" in md
    assert "Method one" in md
    assert (root / "plots" / "toy.png").stat().st_size > 1000


def test_changed_cell_config_reruns_only_that_method(tmp_path):
    cfg, file = load_sweep_config(write_sweep(tmp_path))
    run_sweep(cfg, file, echo=lambda s: None)
    assert CALLS["train"] == 8
    cfg2, _ = load_sweep_config(file, ["custom_methods.two.overrides=[train.reward_scale=3.0]"])
    summary = run_sweep(cfg2, file, echo=lambda s: None)
    assert len(summary.ran) == 4 and all("_two_" in c for c in summary.ran)
    assert CALLS["collect:random"] == 1  # the dataset is still shared
    assert CALLS["train"] == 12


def test_bumped_stage_version_reruns_it_and_its_dependants_through_the_cache(tmp_path, monkeypatch):
    from tests.sweep.helpers import FakeTrain

    cfg, file = load_sweep_config(write_sweep(tmp_path))
    quiet = dict(echo=lambda s: None, only=lambda c: c.quality == "random")  # 4 cells
    run_sweep(cfg, file, **quiet)
    assert (CALLS["train"], CALLS["eval"]) == (4, 4)
    monkeypatch.setattr(FakeTrain, "version", "2")  # its behaviour changed: policy.ckpt differs
    summary = run_sweep(cfg, file, **quiet)
    assert len(summary.ran) == 4 and not summary.skipped  # finished cells are not trusted
    assert (CALLS["train"], CALLS["eval"]) == (8, 8)  # train and its dependant eval rerun
    assert CALLS["collect:random"] == 1  # the upstream stage is still shared
    assert len(run_sweep(cfg, file, **quiet).skipped) == 4
    monkeypatch.setattr(FakeTrain, "version", "1")  # back: the cache still holds version 1's runs
    summary = run_sweep(cfg, file, **quiet)
    assert len(summary.ran) == 4 and (CALLS["train"], CALLS["eval"]) == (8, 8)


def test_a_stage_run_published_first_by_another_process_is_adopted(tmp_path):
    """Two sweep processes run one shared stage at the same time and its two runs' bytes differ: the
    one that publishes second takes the published outputs, so its later stages read them and its
    cell is recorded as finished (before the fix: "stage records are missing")."""
    from orlvlmf.pipeline.runner import run_dir_of
    from orlvlmf.sweep.cache import SharedPipeline
    from orlvlmf.sweep.cells import cache_dir, compose
    from orlvlmf.sweep.results import is_finished, record_done

    cfg, file = load_sweep_config(write_sweep(tmp_path))
    (tmp_path / "out/tiny").mkdir(parents=True)
    (tmp_path / "out/tiny/bytes_vary").write_text("")
    cells = {c.id: c for c in cells_of(cfg, file)}
    first, second = (compose(cells[f"toy_random_one_seed{k}"], cfg) for k in (0, 1))
    SharedPipeline(first, cache_dir(cfg), echo=lambda s: None).run()  # publishes the dataset
    late = SharedPipeline(second, cache_dir(cfg), echo=lambda s: None)
    late.run(["sweeptest_collect"], force=True)  # ran while the first one's was not published yet
    late.run()
    assert CALLS["collect:random"] == 2
    data = [(run_dir_of(c) / "dataset.h5").read_text() for c in (first, second)]
    assert data[0] == data[1]  # the published bytes, not its own
    record_done(cfg, cells["toy_random_one_seed1"], second, 1.0)
    assert is_finished(cfg, cells["toy_random_one_seed1"], second)


def test_a_failing_cell_is_reported_and_retried(tmp_path):
    extra = "  bad: {stages: [sweeptest_collect, sweeptest_train], overrides: []}\n"
    path = write_sweep(tmp_path, "")
    text = path.read_text().replace("methods: [one, two]", "methods: [one, bad]") + extra
    path.write_text(text)
    cfg, file = load_sweep_config(path)
    summary = run_sweep(cfg, file, echo=lambda s: None, only=lambda c: c.quality == "random")
    assert len(summary.failed) == 2 and "eval.json" in next(iter(summary.failed.values()))
    md = (tmp_path / "out/tiny/table.md").read_text()
    assert "failed" in md and "Failed cells" in md
    again = run_sweep(cfg, file, echo=lambda s: None, only=lambda c: c.quality == "random")
    assert len(again.failed) == 2  # failed cells are not marked done


def test_a_finished_cell_that_fails_on_a_rerun_keeps_its_last_result(tmp_path):
    import json

    cfg, file = load_sweep_config(write_sweep(tmp_path))
    only = lambda c: c.quality == "random" and c.method == "one"  # noqa: E731
    run_sweep(cfg, file, echo=lambda s: None, only=only)
    path = tmp_path / "out/tiny/results/toy_random_one_seed0.json"
    done = json.loads(path.read_text())
    assert done["status"] == "done"
    # each stage run's summary travels with the result: the evidence behind the metrics
    assert set(done["summaries"]) == set(done["stages"])
    assert done["summaries"]["sweeptest_collect"]["episodes"] == 3
    for _ in range(2):  # reward scale 13 makes the fake train stage raise; twice: kept, not dropped
        bad, _ = load_sweep_config(file, ["custom_methods.one.overrides=[train.reward_scale=13]"])
        assert len(run_sweep(bad, file, echo=lambda s: None, only=only).failed) == 2
        failed = json.loads(path.read_text())
        assert failed["status"] == "failed" and "unlucky" in failed["error"]
        assert failed["last_done"]["metrics"] == done["metrics"]
        assert failed["last_done"]["stages"] == done["stages"]
        assert failed["last_done"]["summaries"] == done["summaries"]


def test_bad_sweep_configs_say_what_is_wrong(tmp_path):
    (tmp_path / "run.yaml").write_text("extends: base.yaml\nname: x\nenv: {name: cartpole}\n")
    with pytest.raises(SweepConfigError, match="not a sweep config"):
        load_sweep_config(tmp_path / "run.yaml")
    path = write_sweep(tmp_path)
    with pytest.raises(SweepConfigError, match="unknown method 'onee'.*did you mean 'one'"):
        load_sweep_config(path, ["methods=[onee]"])
    with pytest.raises(SweepConfigError, match="protocol 'fast' is not defined"):
        load_sweep_config(path, ["protocol=fast"])
    with pytest.raises(SweepConfigError, match="no default metric"):
        load_sweep_config(path, ["tasks=[toy]"])


def test_layered_overrides_replace_a_component_whose_name_changes():
    from omegaconf import OmegaConf

    from orlvlmf.sweep.overrides import layered_overrides

    base = OmegaConf.create({"policy": {"name": "iql", "beta": 3.0}})
    items = ["policy.encoder={name: mlp}", "policy.beta=1.0", "train.steps=5", "policy.name=bc",
             "policy.loss=mse"]
    assert layered_overrides(items, base) == ["train.steps=5", "policy.name=bc", "policy.loss=mse"]
    same = ["policy.beta=1.0", "policy.name=iql"]  # the same component: its options stay
    assert layered_overrides(same, base) == same
    node = ["policy.hidden=[3]", "policy={name: gail, hidden: [4]}"]
    assert layered_overrides(node, base) == ["policy={name: gail, hidden: [4]}"]


def test_custom_tasks_are_rows_named_in_tasks(tmp_path):
    """A `custom_tasks` entry is a row only when `tasks` names it; it takes its run configs, its
    overrides and (without its own) the metric of its paper_name; a typo in it fails loudly."""
    from orlvlmf.sweep.cells import cells_of, compose
    from orlvlmf.sweep.config import task_specs

    extra = ('custom_tasks:\n  toy_scaled: {config: "toy_{quality}.yaml", paper_name: cartpole, '
             'overrides: [train.reward_scale=7.0]}\n')
    path = write_sweep(tmp_path, extra)
    cfg, file = load_sweep_config(path)
    assert [t.name for t in task_specs(cfg)] == ["toy"]  # defined, not listed: not run
    cfg, file = load_sweep_config(path, ["tasks=[toy_scaled]", "methods=[one]", "seeds=[0]"])
    (spec,) = task_specs(cfg)
    assert spec.name == "toy_scaled" and spec.metric == "return_mean"  # cartpole's
    cells = cells_of(cfg, file)
    assert {c.task.name for c in cells} == {"toy_scaled"} and len(cells) == 2
    run = compose(cells[0], cfg)
    assert run.train.reward_scale == 1.0  # the method's override comes after the task's
    assert "train.reward_scale=7.0" in cells[0].overrides
    assert "cells/toy_scaled_random" in run.run_dir.replace("\\", "/")
    with pytest.raises(SweepConfigError, match="confg.*Did you mean.*config"):
        load_sweep_config(write_sweep(tmp_path, 'custom_tasks:\n  bad: {confg: "x.yaml"}\n'))


def test_two_sweeps_with_one_cache_dir_share_their_stage_runs(tmp_path):
    from orlvlmf.sweep.cells import cache_dir

    first, file = load_sweep_config(write_sweep(tmp_path, "cache_dir: shared\n"))
    assert cache_dir(first) == tmp_path / "out" / "shared"
    run_sweep(first, file, echo=lambda s: None)
    assert CALLS["train"] == 8 and CALLS["collect:random"] == 1
    # another sweep (own name, own cells and results) whose cells overlap: method one is the same
    # cell, method three is new but shares the datasets
    second, _ = load_sweep_config(file, ["name=other", "methods=[one,three]",
                                         "custom_methods.three={stages: " + STAGES + ", "
                                         "overrides: [train.reward_scale=3.0]}"])
    summary = run_sweep(second, file, echo=lambda s: None)
    assert len(summary.ran) == 8  # every cell is new to this sweep's results ...
    assert CALLS["collect:random"] == 1 and CALLS["collect:expert"] == 1  # ... but no dataset is
    assert CALLS["train"] == 8 + 4  # only method three's four trains run; method one's are linked
    assert sorted(p.name for p in (tmp_path / "out" / "other" / "results").glob("toy_*_one_*.json")) == \
        sorted(p.name for p in (tmp_path / "out" / "tiny" / "results").glob("toy_*_one_*.json"))
    assert not (tmp_path / "out" / "tiny" / "cache").exists() and not (tmp_path / "out" / "other" / "cache").exists()
    absolute, _ = load_sweep_config(file, [f"cache_dir={tmp_path / 'elsewhere'}"])
    assert cache_dir(absolute) == tmp_path / "elsewhere"
