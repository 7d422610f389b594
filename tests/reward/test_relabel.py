import hashlib

import numpy as np
import pytest
import torch

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.reward.column import load_rewards, normalization, write_rewards
from orlvlmf.reward.inference import score_frames
from orlvlmf.reward.model import RewardNet, load_reward_net, save_reward_net
from orlvlmf.reward.relabel import relabel_dataset


def _net(obs_shape=(32, 32, 3), **kw):
    enc = kw.pop("encoder", {"name": "resnet", "model": "resnet10t"})
    return RewardNet(enc, obs_shape, ensemble=kw.pop("ensemble", 2), observation=kw.pop("observation", "image"),
                     seed=1, **kw)


def _sha(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_relabel_round_trip_matches_direct_scoring(tiny_dataset, tmp_path):
    net = _net()
    ckpt = tmp_path / "reward_model.ckpt"
    save_reward_net(net, ckpt, extra={"note": 1})
    loaded, extra = load_reward_net(ckpt)
    assert extra == {"note": 1} and not loaded.training
    before = _sha(tiny_dataset)
    with OfflineDataset.open(tiny_dataset) as ds:
        view = ds.without_ground_truth()
        mean, std = relabel_dataset(loaded, view, "image", "next", batch_size=37)
        plain, _ = relabel_dataset(loaded, view, "image", "next", batch_size=200)
        cur, _ = relabel_dataset(loaded, view, "image", "current", batch_size=64)
        frames = torch.from_numpy(ds.next_observations("image", np.arange(ds.num_transitions)))
        first = torch.from_numpy(ds.observations("image", np.arange(ds.num_transitions)))
        with torch.no_grad():
            direct = torch.stack([h(e(net.preprocess(frames))).squeeze(-1)
                                  for e, h in zip(net.encoders.eval(), net.heads)])
        episode_index = ds.episode_index
    assert mean.shape == (len(frames),) and std.shape == mean.shape
    np.testing.assert_allclose(mean, direct.mean(0).numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(std, direct.std(0, unbiased=False).numpy(), rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(mean, plain, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(cur, score_frames(loaded, first), rtol=1e-4, atol=1e-4)
    shift, mult = normalization(mean, "minmax", episode_index, scale=2.0)
    out = tmp_path / "rewards.npz"
    write_rewards(out, mean, std, method="minmax", shift=shift, mult=mult, score="next", observation="image",
                  ckpt_sha256="abc", config_hash="def")
    col = load_rewards(out, num_transitions=len(mean))
    assert col.reward.min() == pytest.approx(0.0) and col.reward.max() == pytest.approx(2.0)
    np.testing.assert_allclose(col.reward_raw, mean)
    assert col.provenance["reward_ckpt_sha256"] == "abc" and col.provenance["config_hash"] == "def"
    assert col.provenance["norm_method"] == "minmax" and col.provenance["score"] == "next"
    assert _sha(tiny_dataset) == before  # the dataset is never modified
    with pytest.raises(ValueError, match="holds 200 rewards but the dataset has 7"):
        load_rewards(out, num_transitions=7)


def test_relabel_rejects_shape_mismatch_and_bad_score(tiny_dataset):
    net = _net(obs_shape=(64, 64, 3))
    with OfflineDataset.open(tiny_dataset) as ds:
        with pytest.raises(ValueError, match="trained on 'image' of shape"):
            relabel_dataset(net, ds, "image")
        with pytest.raises(ValueError, match="'next' or 'current'"):
            relabel_dataset(net, ds, "image", score="prev")


def test_point_cloud_and_state_nets_relabel(tiny_dataset):
    pc = _net((64, 3), encoder={"name": "pointnet2", "num_points": 48, "npoints": [16, 8], "radii": [0.1, 0.2],
                                "nsamples": [8, 8], "mlps": [[16], [16]], "global_mlp": [32]},
              observation="point_cloud")
    st = _net((2,), encoder={"name": "mlp", "hidden": [16]}, observation="state")
    with OfflineDataset.open(tiny_dataset) as ds:
        a, _ = relabel_dataset(pc, ds, "point_cloud", batch_size=50)
        b, _ = relabel_dataset(pc, ds, "point_cloud", batch_size=7)
        s, _ = relabel_dataset(st, ds, "state")
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert np.isfinite(s).all() and len(s) == len(a)


def test_load_reward_net_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="orlvlmf reward"):
        load_reward_net(tmp_path / "none.ckpt")
    torch.save({"x": 1}, tmp_path / "other.ckpt")
    with pytest.raises(ValueError, match="not an orlvlmf reward checkpoint"):
        load_reward_net(tmp_path / "other.ckpt")


def test_bf16_precision_is_close_and_checked(tiny_dataset):
    net = _net()
    with OfflineDataset.open(tiny_dataset) as ds:
        ref, _ = relabel_dataset(net, ds, "image", batch_size=100)
        low, _ = relabel_dataset(net, ds, "image", batch_size=100, precision="bf16")
        with pytest.raises(ValueError, match="'32' or 'bf16'"):
            relabel_dataset(net, ds, "image", precision="fp16")
    assert np.corrcoef(ref, low)[0, 1] > 0.99
    assert not np.array_equal(ref, low)  # bf16 really ran: it rounds


def test_relabel_scores_in_batches_of_batch_size_and_reports_each(tiny_dataset):
    """``batch_size`` reaches the scoring loop and ``on_batch`` hears every batch (the progress bar)."""
    net = _net(ensemble=1)
    seen: list[int] = []
    with OfflineDataset.open(tiny_dataset) as ds:
        n = ds.num_transitions
        relabel_dataset(net, ds.without_ground_truth(), "image", batch_size=7, on_batch=seen.append)
    assert seen == [7] * (n // 7) + ([n % 7] if n % 7 else [])


def test_correlations_work_in_a_fresh_process_without_timm():
    """A point-cloud relabel never imports timm; torchmetrics must still import (torchvision shim)."""
    import subprocess
    import sys

    code = ("import numpy as np\nfrom orlvlmf.reward.train import correlations\n"
            "c = correlations(np.arange(5.0), np.arange(5.0) ** 2)\nprint(round(c['spearman'], 6))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "1.0"
