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
