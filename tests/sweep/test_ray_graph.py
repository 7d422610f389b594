"""The Ray executor's task graph and options, and its refusals before any work (no Ray needed)."""

from collections import Counter

import pytest

from orlvlmf.sweep.cells import cells_of, compose
from orlvlmf.sweep.config import load_sweep_config
from orlvlmf.sweep.ray_executor import check_resources, stage_graph, task_options
from orlvlmf.sweep.runner import run_sweep
from orlvlmf.sweep.schema import SweepConfigError
from tests.sweep.helpers import write_sweep


def _todo(cfg, file, only=lambda c: True):
    return [(c, compose(c, cfg)) for c in cells_of(cfg, file) if only(c)]


def test_table2_row_shares_one_dataset_one_label_set_per_feedback_one_reward_per_seed():
    cfg, file = load_sweep_config("table2.yaml")
    todo = _todo(cfg, file, lambda c: c.task.name == "cartpole" and c.quality == "random")
    nodes, final, of_cell = stage_graph(todo)
    kinds = Counter(n.stage for n in nodes.values())
    # 6 methods x 3 seeds; 5 of them label (flip 0/25/50/75, proximity); iql_gt trains on the GT reward
    assert kinds == {"collect": 1, "label": 5, "reward": 15, "relabel": 15, "train": 18, "evaluate": 18}
    collect = next(n for n in nodes.values() if n.stage == "collect")
    assert all(collect.id in n.deps for n in nodes.values() if n.stage in ("label", "reward", "relabel"))
    for n in nodes.values():  # a reward model waits for its label set, a policy for its rewards
        if n.stage in ("reward", "relabel", "train", "evaluate"):
            assert n.deps and all(d in nodes for d in n.deps)
    assert len(final) == 18 and all(nodes[final[i]].stage == "evaluate" for i in final)
    order = list(nodes)
    assert all(order.index(d) < order.index(nid) for nid, n in nodes.items() for d in n.deps)
    # a node runs its upstream stages (cache hits by then) and its own, in its cell's order
    reward = next(n for n in nodes.values() if n.stage == "reward")
    assert reward.stages == ["collect", "label", "reward"] and todo[reward.cell][0].method == "flip_0"
    assert all(len(ids) == len(set(ids)) for ids in of_cell.values())


def test_a_cell_whose_stages_all_ran_elsewhere_gets_a_linking_task(tmp_path):
    path = write_sweep(tmp_path, "  same: {stages: [sweeptest_collect, sweeptest_train, sweeptest_eval], "
                                 "overrides: [train.reward_scale=1.0]}\n")
    path.write_text(path.read_text().replace("methods: [one, two]", "methods: [one, same]"))
    cfg, file = load_sweep_config(path)
    todo = _todo(cfg, file)
    nodes, final, _ = stage_graph(todo)
    kinds = Counter(n.stage for n in nodes.values())
    assert kinds == {"sweeptest_collect": 2, "sweeptest_train": 4, "sweeptest_eval": 4, None: 4}
    for i, (cell, _) in enumerate(todo):
        last = nodes[final[i]]
        if cell.method == "same":
            assert last.key == "cell" and last.cell == i and len(last.stages) == 3
            assert nodes[last.deps[0]].stage == "sweeptest_eval" and todo[nodes[last.deps[0]].cell][0].method == "one"
        else:
            assert last.stage == "sweeptest_eval" and last.cell == i


def test_resources_options_and_refusals(tmp_path):
    path = write_sweep(tmp_path, "executor:\n  resources: {sweeptest_train: {num_cpus: 2, num_gpus: 1}, "
                                 "default: {num_cpus: 0.5}}\n  max_retries: 5\n")
    cfg, file = load_sweep_config(path)
    assert task_options(cfg, "sweeptest_train") == {"num_cpus": 2, "num_gpus": 1, "max_retries": 5}
    assert task_options(cfg, "sweeptest_collect") == {"num_cpus": 0.5, "max_retries": 5}
    assert task_options(cfg, None) == {"num_cpus": 0.5, "max_retries": 5}
    check_resources(cfg, [{"Alive": True, "Resources": {"CPU": 4, "GPU": 1}}])
    with pytest.raises(SweepConfigError, match=r"sweeptest_train asks for .*GPU.*no node"):
        check_resources(cfg, [{"Alive": True, "Resources": {"CPU": 8}}])

    with pytest.raises(SweepConfigError, match="trian is not a stage"):
        check_resources(load_sweep_config(path, ["executor.resources={trian: {num_cpus: 1}}"])[0])
    with pytest.raises(SweepConfigError, match=r"unknown key\(s\) cpus; use num_cpus, num_gpus, memory"):
        load_sweep_config(path, ["executor.resources={train: {cpus: 1}}"])
    with pytest.raises(SweepConfigError, match="--address and --max-parallel go with --executor ray"):
        run_sweep(cfg, file, address="auto")
    with pytest.raises(SweepConfigError, match="--max-parallel must be at least 1"):
        run_sweep(cfg, file, executor="ray", max_parallel=0)


def test_readme_executor_section_is_a_valid_sweep_config(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = text.split("```yaml\nexecutor:\n", 1)[1].split("```", 1)[0]
    cfg, _ = load_sweep_config(write_sweep(tmp_path, "executor:\n" + block))
    check_resources(cfg, [{"Alive": True, "Resources": {"CPU": 2, "GPU": 1}}])
    for kind in ("train", "reward"):  # a tenth of a GPU each: ten small-net tasks share one
        assert task_options(cfg, kind) == {"num_cpus": 1, "num_gpus": 0.1, "max_retries": 3}
    assert task_options(cfg, "collect")["num_cpus"] == 2 and task_options(cfg, "label")["num_cpus"] == 1
