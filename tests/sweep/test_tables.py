"""The sweep's table writer (orlvlmf/sweep/tables.py): column order and the failed-cells list."""

from orlvlmf.sweep.schema import SweepConfig
from orlvlmf.sweep.tables import markdown


def _row(task, quality, method, values=(), failed=()):
    v = list(values)
    return {"task": task, "quality": quality, "method": method, "label": method,
            "metric": "success_rate", "values": v, "seeds": list(range(len(v))), "failed": list(failed),
            "seeds_planned": 3, "paper": None,
            "mean": sum(v) / len(v) if v else None, "std": 0.0 if v else None}


def _header(text):
    return next(line for line in text.splitlines() if line.startswith("| Task"))


def test_columns_follow_the_config_order_even_when_the_first_row_has_only_a_later_column():
    cfg = SweepConfig(name="t", table="none", tasks=["drawer"], methods=["iql_gt", "ours", "ours_vlm"])
    rows = [_row("drawer", "random", "ours_vlm", [0.9]),  # the first row: only the last column
            _row("drawer", "medium", "iql_gt", [1.0]), _row("drawer", "medium", "ours", [1.0]),
            _row("drawer", "medium", "ours_vlm", [1.0])]
    head = [c.strip() for c in _header(markdown(cfg, rows)).strip("|").split("|")]
    assert head[2:] == ["IQL GT reward", "Offline RL-VLM-F (Ours)", "Ours, VLM-like teacher"]
    random_row = next(line for line in markdown(cfg, rows).splitlines() if line.startswith("| drawer | random"))
    assert random_row.split("|")[3:6] == [" – ", " – ", " 0.90 (0.00) [1/3 seeds] "]


def test_cells_failing_with_one_error_share_one_line_that_names_each_cell():
    cfg = SweepConfig(name="t", table="none", tasks=["drawer"], methods=["iql_gt", "clip"])
    err = "StageError: clip_reward: no CLIP weights"
    rows = [_row("drawer", q, "clip", failed=[err]) for q in ("random", "medium")]
    rows.append(_row("drawer", "expert", "iql_gt", failed=["StageError: train: diverged"]))
    text = markdown(cfg, rows)
    failed = text.split("Failed cells:")[1].strip().splitlines()
    assert failed == [f"- drawer/random/clip, drawer/medium/clip: {err}",
                      "- drawer/expert/iql_gt: StageError: train: diverged"]
