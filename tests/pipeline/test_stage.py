"""StageContext helpers."""

import torch
from omegaconf import OmegaConf

from orlvlmf.pipeline.stage import StageContext


def _ctx(cfg: dict, tmp_path) -> StageContext:
    return StageContext(cfg=OmegaConf.create(cfg), run_dir=tmp_path, stage="s", seed=None,
                        staging_dir=tmp_path / "st", work_dir=tmp_path / "w")


def test_torch_threads_come_from_the_trainer_section(tmp_path):
    before = torch.get_num_threads()
    try:
        assert _ctx({"trainer": {"num_threads": 3}}, tmp_path).set_torch_threads() == 3
        assert torch.get_num_threads() == 3
        assert _ctx({"trainer": {"num_threads": 0}}, tmp_path).set_torch_threads() == 1  # at least 1
        assert _ctx({}, tmp_path).set_torch_threads() == 1  # no trainer section
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_device_of_accelerator(monkeypatch):
    """A stage's own torch work follows trainer.accelerator: gpu/cuda -> cuda, auto -> cuda only when
    one is there, cpu (and anything else) -> cpu."""
    import torch

    from orlvlmf.pipeline.stage import device_of_accelerator

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert [device_of_accelerator(a) for a in ("cpu", "gpu", "cuda", "GPU", "auto")] == \
        ["cpu", "cuda", "cuda", "cuda", "cpu"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert device_of_accelerator("auto") == "cuda"
    assert device_of_accelerator("cpu") == "cpu"
