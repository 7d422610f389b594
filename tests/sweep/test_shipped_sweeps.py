"""The shipped sweep configs compose a valid run config for every cell (no stage runs)."""

import pytest

from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.methods import BUILTIN_METHODS
from orlvlmf.sweep.paper import paper_number
from orlvlmf.pipeline.runner import load_stage
from orlvlmf.sweep.cells import cells_of, compose


@pytest.mark.parametrize("name,protocol", [("table1.yaml", "reduced"), ("table1.yaml", "full"),
                                           ("table2.yaml", "reduced")])
def test_every_cell_composes(name, protocol, tmp_path):
    cfg, file = load_sweep_config(name, [f"protocol={protocol}", f"out_dir={tmp_path}", "seeds=[0]"])
    cells = cells_of(cfg, file)
    assert len(cells) == len(cfg.tasks) * len(cfg.qualities) * len(cfg.methods)
    for cell in cells:
        run = compose(cell, cfg)
        stages = list(run.stages)
        wanted = BUILTIN_METHODS[cell.method].stages
        assert [s for s in stages if s in wanted] == wanted  # the method's stages, in order,
        for i, name in enumerate(stages):                      # plus whatever their inputs need
            for ref in load_stage(name).input_refs(run):
                assert ref.split("/")[0] in stages[:i]
        assert run.dataset.quality == cell.quality
        if cell.method == "gail":
            assert run.policy.name == "gail"
        if cell.method == "flip_50":
            assert run.feedback.noise == "flip" and run.feedback.flip_p == 0.5
        if cell.method == "iql_gt":
            assert run.train.reward == "ground_truth"
        if protocol == "reduced" and cell.task.name == "drawer":
            assert run.dataset.episodes == 100 and run.dataset.image_size == 64
            assert run.train.steps == (100 if cell.method == "gail" else 15000)


def test_paper_numbers():
    assert paper_number("I", "drawer", "random", "ours") == (0.91, 0.08)
    assert paper_number("I", "cartpole", "medium", "gail") == (-431.31, None)
    assert paper_number("II", "cartpole", "random", "proximity") == (-214.92, 8.19)
    assert paper_number("II", "drawer", "random", "bc") is None
    assert paper_number("none", "drawer", "random", "ours") is None


def test_ours_vlm_labels_with_the_simulated_vlm(tmp_path):
    """The "Ours, VLM-like teacher" column: simulated VLM with position bias 0.3 and proximity noise,
    everything else as "ours" (same stages, so it shares the dataset but not the labels)."""
    cfg, file = load_sweep_config("table1.yaml", [f"out_dir={tmp_path}", "seeds=[0]",
                                                   "methods=[ours,ours_vlm]", "tasks=[drawer]"])
    by_method = {c.method: compose(c, cfg) for c in cells_of(cfg, file) if c.quality == "random"}
    vlm, ours = by_method["ours_vlm"], by_method["ours"]
    assert vlm.feedback.name == "simulated_vlm" and ours.feedback.name == "scripted"
    assert vlm.feedback.position_bias == 0.3 and vlm.feedback.flip_p == 0.3
    assert vlm.feedback.proximity_scale == 0.2 and vlm.feedback.unsure_p == 0.5
    assert list(vlm.stages) == list(ours.stages) and vlm.dataset == ours.dataset


@pytest.mark.parametrize("name", ["table1.yaml", "table2.yaml"])
def test_soccer_and_rope_cells_use_the_measured_settings(name, tmp_path):
    """The per-task settings of docs/results/soccer_rope_investigation.md reach every soccer and rope
    cell (IQL's gamma only the IQL cells of the reduced protocol); drawer keeps its shipped env;
    no cell writes rollout GIFs."""
    from orlvlmf.config import load_config

    for protocol, episodes in (("reduced", None), ("full", 1000)):
        cfg, file = load_sweep_config(name, [f"protocol={protocol}", f"out_dir={tmp_path}", "seeds=[0]",
                                             "tasks=[soccer,rope,drawer]", "qualities=[random]"])
        seen = set()
        for cell in cells_of(cfg, file):
            run = compose(cell, cfg)
            task, shipped = cell.task.name, load_config(cell.config_path)
            seen.add(task)
            assert run.evaluation.save_videos == 0
            if task == "soccer":
                assert run.env.jitter is True and run.env.success_threshold == 0.1
                assert list(run.env.hand_init) == [0, 0.56, 0.05]
                assert run.dataset.episodes == (episodes or 100)
                if run.policy.name == "iql":
                    assert run.policy.gamma == (0.95 if protocol == "reduced" else shipped.policy.gamma)
                else:  # the imitation learners keep their own defaults (GAIL's PPO has a gamma)
                    own = load_config(cell.config_path, [f"policy.name={run.policy.name}"]).policy
                    assert run.policy.get("gamma") == own.get("gamma")
                assert shipped.env.jitter is False  # the preset itself is unchanged
            elif task == "rope":
                assert run.env.max_move == 0.06 and shipped.env.max_move == 0.03
                assert run.dataset.episodes == (episodes or 300)
            else:
                assert run.env == shipped.env
                if run.policy.name == "iql":
                    assert run.policy.gamma == shipped.policy.gamma
        assert seen == {"soccer", "rope", "drawer"}


def test_rope_point_cloud_row(tmp_path):
    """Table I's extra row: rope with the VLM shown images and the reward learned from point clouds
    (PointNet++), with rope's table settings, quoted against the paper's rope numbers."""
    cfg, file = load_sweep_config("table1.yaml", [f"out_dir={tmp_path}", "seeds=[0]", "qualities=[random]",
                                                   "tasks=[rope,rope_pointcloud]", "methods=[ours]"])
    rope, cloud = (compose(c, cfg) for c in cells_of(cfg, file))
    assert cloud.reward.observation == "point_cloud" and cloud.reward.encoder.name == "pointnet2"
    assert "point_cloud" in cloud.dataset.observations and cloud.env.point_cloud_points == 256
    assert rope.reward.encoder.name == "resnet"
    for key in ("episodes", "quality"):
        assert cloud.dataset[key] == rope.dataset[key]
    assert cloud.env.max_move == rope.env.max_move == 0.06
    assert paper_number("I", "rope", "random", "ours") is not None


def test_table1_and_table2_share_one_cache_and_their_common_cells(tmp_path):
    """Both shipped tables use <out_dir>/cache, and every stage of their IQL-GT cells (and of "ours"
    against "flip_0" after the label stage) reads identical config sections, so Table II reuses Table
    I's datasets, IQL-GT runs and reward models."""
    from orlvlmf.pipeline.runner import _section
    from orlvlmf.sweep.cells import cache_dir

    over = [f"out_dir={tmp_path}", "seeds=[0]", "tasks=[drawer,cartpole,soccer,rope]"]
    runs = {}
    for name in ("table1.yaml", "table2.yaml"):
        cfg, file = load_sweep_config(name, over)
        assert cache_dir(cfg) == tmp_path / "cache"
        for cell in cells_of(cfg, file):
            if cell.method in ("iql_gt", "ours", "flip_0"):
                runs[name, cell.task.name, cell.quality, cell.method] = compose(cell, cfg)

    def sections(run, skip=()):
        return {s: {sec: _section(run, sec) for sec in load_stage(s).config_sections(run)}
                for s in run.stages if s not in skip}

    checked = 0
    for (name, task, quality, method), run in runs.items():
        if name != "table1.yaml" or method == "flip_0":
            continue
        other = runs["table2.yaml", task, quality, "iql_gt" if method == "iql_gt" else "flip_0"]
        skip = () if method == "iql_gt" else ("label",)
        assert list(run.stages) == list(other.stages)
        assert sections(run, skip) == sections(other, skip), (task, quality, method)
        checked += 1
    assert checked == 4 * 3 * 2


@pytest.mark.parametrize("name", ["table1.yaml", "table2.yaml"])
def test_cartpole_expert_cells_ask_only_the_pairs_its_data_has(name, tmp_path):
    """A ``task/quality`` protocol key reaches that quality only, after the task's own overrides:
    cartpole expert asks 100 queries (its 64 px frames hold 105 distinct pairs), the other
    qualities the protocol's 2000."""
    cfg, file = load_sweep_config(name, [f"out_dir={tmp_path}", "seeds=[0]", "tasks=[cartpole]",
                                         "methods=[ours]"])
    asked = {cell.quality: compose(cell, cfg).pairs.num_queries for cell in cells_of(cfg, file)}
    assert asked == {"random": 2000, "medium": 2000, "expert": 100}


@pytest.mark.parametrize("key", ["cartpol", "cartpole/experts"])
def test_misspelt_protocol_task_key_fails_loudly(key, tmp_path):
    """A protocol ``tasks`` key that names no task config is refused when the sweep is loaded."""
    import yaml

    from orlvlmf.sweep.schema import SweepConfigError

    sweep = {"kind": "sweep", "name": "t", "tasks": ["cartpole"], "qualities": ["random", "expert"],
             "methods": ["iql_gt"], "protocols": {"p": {"tasks": {key: ["dataset.episodes=3"]}}},
             "protocol": "p"}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sweep))
    with pytest.raises(SweepConfigError, match=f"protocols.p.tasks: '{key}' names no task"):
        load_sweep_config(str(tmp_path / "s.yaml"))
    sweep["protocols"]["p"]["tasks"] = {"cartpole/expert": ["dataset.episodes=3"], "soccer": []}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(sweep))
    load_sweep_config(str(tmp_path / "s.yaml"))  # a task/quality key, and a task not in `tasks`
