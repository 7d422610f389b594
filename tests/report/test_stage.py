"""The report stage on its own: a run whose teacher compared states (no images to show)."""

import numpy as np

from orlvlmf.config.loader import load_config
from orlvlmf.data.dataset import DatasetWriter
from orlvlmf.feedback.store import LabelStore
from orlvlmf.pipeline.manifest import write_npz
from orlvlmf.pipeline.stage import StageContext
from orlvlmf.report.stage import ReportStage


def test_state_labels_give_a_report_without_gallery_that_still_renders(tmp_path):
    rng = np.random.default_rng(0)
    ds = tmp_path / "dataset.h5"
    with DatasetWriter(ds) as w:
        for _ in range(3):
            w.add_episode({"state": rng.normal(size=(11, 2)).astype(np.float32)},
                          rng.uniform(-1, 1, (10, 1)).astype(np.float32))
    write_npz(tmp_path / "pairs.npz", {"idx0": np.array([0, 1]), "idx1": np.array([5, 6]),
                                       "label": np.array([0, -1]), "observation": np.asarray("next"),
                                       "image_key": np.asarray("state")})
    LabelStore(tmp_path / "labels.sqlite").close()
    cfg = load_config(None, ["name=r", f"run_dir={tmp_path}", "env=null", "stages=[collect,label,report]"])
    ctx = StageContext(cfg=cfg, run_dir=tmp_path, stage="report", seed=None, staging_dir=tmp_path / "staging",
                       work_dir=tmp_path / "work",
                       inputs={"collect/dataset.h5": ds, "label/pairs.npz": tmp_path / "pairs.npz",
                               "label/labels.sqlite": tmp_path / "labels.sqlite"})
    summary = ReportStage().run(ctx)
    md = (tmp_path / "staging" / "report" / "report.md").read_text()
    assert summary["labels"] == 2 and "−1 rate 50.0%" in md
    assert "Label gallery" not in md and not (tmp_path / "staging" / "report" / "labels.html").exists()
    assert "## Config" in md and (tmp_path / "staging" / "report" / "report.html").is_file()
