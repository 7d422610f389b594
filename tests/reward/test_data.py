import numpy as np
import pytest
import torch

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.reward.data import (PairsError, build_preference_tensors, load_pairs, pair_loader,
                                 segment_indices, split_rows)


def test_load_pairs_checks_range_and_labels(tmp_path, tiny_pairs):
    pairs = load_pairs(tiny_pairs, 200)
    assert len(pairs) == 240 and pairs.idx0.dtype == np.int64
    bad = tmp_path / "bad.npz"
    np.savez(bad, idx0=np.array([0, 5]), idx1=np.array([1, 250]), label=np.array([0, 1]))
    with pytest.raises(PairsError) as err:
        load_pairs(bad, 200, "ds.h5")
    msg = str(err.value)
    assert "refer to transitions missing from ds.h5" in msg and "[250]" in msg and "orlvlmf label" in msg
    np.savez(bad, idx0=np.array([0]), idx1=np.array([1]), label=np.array([3]))
    with pytest.raises(PairsError, match="labels must be 0, 1 or -1"):
        load_pairs(bad, 200)
    np.savez(bad, idx0=np.array([0]), idx1=np.array([1, 2]), label=np.array([1]))
    with pytest.raises(PairsError, match="one length"):
        load_pairs(bad, 200)
    np.savez(bad, first=np.array([0]))
    with pytest.raises(PairsError, match="missing array"):
        load_pairs(bad, 200)
    with pytest.raises(PairsError, match="orlvlmf label"):
        load_pairs(tmp_path / "none.npz", 200)


def test_segments_clamp_at_episode_end():
    starts = np.array([0, 5, 12])
    seg = segment_indices(np.array([0, 3, 5, 11]), 3, starts)
    assert seg.tolist() == [[0, 1, 2], [3, 4, 4], [5, 6, 7], [11, 11, 11]]


def test_preference_tensors_hold_the_labeled_next_frames(tiny_dataset, tiny_pairs):
    with OfflineDataset.open(tiny_dataset) as ds:
        view = ds.without_ground_truth()
        pairs = load_pairs(tiny_pairs, view.num_transitions)
        data = build_preference_tensors(view, pairs, "image", segment=2, ties="drop")
        kept = pairs.label != -1
        assert len(data) == kept.sum() and data.seg0.shape == (kept.sum(), 2)
        j = 7
        i0 = pairs.idx0[data.pair_index[j]]
        assert torch.equal(data.frames[data.seg0[j, 0]], torch.from_numpy(ds.next_observations("image", [i0])[0]))
        assert data.target[j].item() == pairs.label[data.pair_index[j]]
        half = build_preference_tensors(view, pairs, "state", ties="half")
        assert len(half) == len(pairs) and (half.target == 0.5).sum() == (~kept).sum()
        batch = next(iter(pair_loader(data, 16, shuffle=True)))
        assert batch["seg0"].shape == (16, 2, 32, 32, 3) and batch["target"].shape == (16,)


def test_split_rows():
    tr, va = split_rows(10, 0.2, seed=0)
    assert len(va) == 2 and sorted(np.concatenate([tr, va]).tolist()) == list(range(10))
    assert np.array_equal(split_rows(10, 0.2, 0)[1], va)
    assert len(split_rows(3, 0.01, 0)[1]) == 1
    with pytest.raises(PairsError, match="at least 2"):
        split_rows(1, 0.2, 0)
    with pytest.raises(ValueError, match="val_fraction"):
        split_rows(10, 1.0, 0)
