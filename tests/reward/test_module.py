import math

import pytest
import torch

from orlvlmf.reward.module import RewardModel


def _module(ensemble=2):
    torch.manual_seed(0)
    return RewardModel({"encoder": {"name": "mlp", "hidden": [8]}, "obs_shape": [3], "ensemble": ensemble,
                        "observation": "state"}, lr=1e-2)


def test_segment_returns_sum_member_rewards_over_h():
    m = _module().eval()
    seg0, seg1 = torch.randn(4, 3, 3), torch.randn(4, 3, 3)
    ret0, ret1 = m.returns({"seg0": seg0, "seg1": seg1}, augment=False)
    assert ret0.shape == (2, 4)
    with torch.no_grad():
        per = m.net(seg0.reshape(12, 3)).view(2, 4, 3)
    assert torch.allclose(ret0, per.sum(-1), atol=1e-6)


def test_training_step_loss_is_eq2_averaged_over_members():
    m = _module()
    batch = {"seg0": torch.randn(5, 1, 3), "seg1": torch.randn(5, 1, 3), "target": torch.tensor([0., 1., 1., 0., 1.])}
    m.log = lambda *a, **k: None  # no trainer attached
    loss = m.training_step(batch, 0)
    with torch.no_grad():
        ret0, ret1 = m.returns(batch, augment=False)
    expect = 0.0
    for k in range(2):
        for j in range(5):
            p1 = math.exp(ret1[k, j]) / (math.exp(ret0[k, j]) + math.exp(ret1[k, j]))
            expect -= math.log(p1 if batch["target"][j] == 1 else 1 - p1)
    assert loss.item() == pytest.approx(expect / 10, rel=1e-5)


def test_cosine_lr_schedule_decays_to_zero_over_the_fit():
    import lightning as L

    m = RewardModel({"encoder": {"name": "mlp", "hidden": [8]}, "obs_shape": [3], "ensemble": 1,
                     "observation": "state"}, lr=1e-2, lr_schedule="cosine")
    m.log = lambda *a, **k: None
    data = [{"seg0": torch.randn(4, 1, 3), "seg1": torch.randn(4, 1, 3), "target": torch.ones(4)}] * 5
    lrs = []

    class Record(L.Callback):
        def on_train_batch_start(self, trainer, *_):
            lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    L.Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, callbacks=[Record()]).fit(
        m, torch.utils.data.DataLoader(data, batch_size=None))
    assert len(lrs) == 10 and lrs[0] == pytest.approx(1e-2)
    expect = [1e-2 * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(10)]
    assert lrs == pytest.approx(expect, rel=1e-6)


def test_unknown_lr_schedule_is_one_clear_error():
    with pytest.raises(ValueError, match="reward.lr_schedule must be one of constant, cosine"):
        RewardModel({"encoder": {"name": "mlp"}, "obs_shape": [3], "ensemble": 1, "observation": "state"},
                    lr_schedule="linear")
