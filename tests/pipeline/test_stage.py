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


def test_resumable_checks_the_checkpoint_archive_without_loading_it(tmp_path, monkeypatch):
    """A readable checkpoint resumes without being unpickled here (the fit loads it); one whose
    bytes were damaged in the middle (CRC) or cut short is set aside with the work dir, each time
    under a new name."""
    ctx = _ctx({}, tmp_path)
    ctx.work_dir.mkdir(parents=True)
    ckpt = ctx.work_dir / "last.ckpt"
    assert not ctx.resumable(ckpt)  # none there
    torch.save({"weights": torch.arange(4096, dtype=torch.float32)}, ckpt)
    good = ckpt.read_bytes()
    monkeypatch.setattr(torch, "load", lambda *a, **k: (_ for _ in ()).throw(AssertionError("unpickled")))
    assert ctx.resumable(ckpt)
    for damaged in (good[:len(good) // 2],
                    good[:len(good) // 2] + bytes(b ^ 0xFF for b in good[len(good) // 2:][:64])
                    + good[len(good) // 2 + 64:]):
        ckpt.write_bytes(damaged)
        assert not ctx.resumable(ckpt)
        assert not ckpt.exists() and ctx.work_dir.is_dir()  # a fresh, empty work dir
    assert len(list(tmp_path.glob("w.unreadable-*"))) == 2  # both kept, even within one second
