import numpy as np
import pytest
import torch

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.reward.data import build_preference_tensors, load_pairs
from orlvlmf.reward.model import RewardNet
from orlvlmf.reward.train import GTEval, accuracy, train_reward_model

TRAINER = {"accelerator": "cpu", "devices": 1, "num_threads": 1, "progress": False}


def _cfg(**kw):
    base = dict(observation="image", encoder={"name": "resnet", "model": "resnet10t", "random_shift": 2},
                head_hidden=[], ensemble=1, segment=1, ties="drop", lr=1e-3, weight_decay=0.0,
                batch_size=32, max_epochs=4, patience=3, val_fraction=0.25, augment=True,
                gt_eval_transitions=100, gt_eval_every=2, seed=0)
    return base | kw


def _gt(ds, key):
    idx = np.arange(0, ds.num_transitions, 2)
    return GTEval(torch.from_numpy(ds.next_observations(key, idx)), ds.ground_truth().reward[idx], idx)


def test_image_reward_learns_from_scripted_labels(tiny_dataset, tiny_pairs, tmp_path):
    with OfflineDataset.open(tiny_dataset) as ds:
        view = ds.without_ground_truth()
        pairs = load_pairs(tiny_pairs, view.num_transitions)
        data = build_preference_tensors(view, pairs, "image")
        torch.manual_seed(0)
        chance = accuracy(RewardNet(_cfg()["encoder"], (32, 32, 3), ensemble=1, seed=0), data, 256)
        net, summary = train_reward_model(view, pairs, _cfg(), trainer=TRAINER, work_dir=tmp_path / "w",
                                          tb_dir=tmp_path / "tb", gt=_gt(ds, "image"))
    assert summary["pairs_used"] == (pairs.label != -1).sum()
    assert summary["val_acc"] >= 0.8 and summary["val_acc"] > chance + 0.2, (chance, summary)
    assert summary["gt_spearman"] >= 0.7, summary
    events = list((tmp_path / "tb" / "seed_0").glob("events.out.tfevents.*"))
    assert events, "TensorBoard events expected"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = set()
    for e in events:
        acc = EventAccumulator(str(e))
        acc.Reload()
        tags |= set(acc.Tags()["scalars"])
    assert {"train/acc", "val/acc", "train/loss", "val/loss", "gt/spearman", "gt/pearson"} <= tags


def test_state_reward_with_segments_ties_half_and_resume(tiny_dataset, tiny_pairs, tmp_path):
    cfg = _cfg(observation="state", encoder={"name": "mlp", "hidden": [32, 32]}, ensemble=3, segment=2,
               ties="half", lr=3e-3, max_epochs=2, patience=50, batch_size=64)
    with OfflineDataset.open(tiny_dataset) as ds:
        view = ds.without_ground_truth()
        pairs = load_pairs(tiny_pairs, view.num_transitions)
        _, first = train_reward_model(view, pairs, cfg, trainer=TRAINER, work_dir=tmp_path / "w",
                                      tb_dir=tmp_path / "tb")
        assert first["epochs"] == 2 and not first["resumed"] and first["ties"] > 0
        assert (tmp_path / "w" / "checkpoints" / "last.ckpt").is_file()
        net, second = train_reward_model(view, pairs, cfg | {"max_epochs": 12}, trainer=TRAINER,
                                         work_dir=tmp_path / "w", tb_dir=tmp_path / "tb")
    assert second["resumed"] and second["epochs"] == 12
    assert second["val_acc"] >= 0.8, second
    assert len(net.encoders) == 3


def test_training_refuses_a_dataset_with_visible_ground_truth(tiny_dataset, tiny_pairs, tmp_path):
    with OfflineDataset.open(tiny_dataset) as ds:
        pairs = load_pairs(tiny_pairs, ds.num_transitions)
        with pytest.raises(ValueError, match="without_ground_truth"):
            train_reward_model(ds, pairs, _cfg(), trainer=TRAINER, work_dir=tmp_path, tb_dir=tmp_path)
