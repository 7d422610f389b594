import numpy as np
import pytest

from feedback_helpers import bar_frame
from orlvlmf.data.dataset import DatasetWriter, OfflineDataset
from orlvlmf.feedback.images import pair_key
from orlvlmf.feedback.sampling import PairSamplingError, order_by_disagreement, sample_pairs


def test_pairs_respect_gap_are_unique_seeded_and_keyed(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    p = sample_pairs(ds, 60, min_gap=8, seed=3)
    assert len(p.idx0) == len(p.idx1) == len(p.pair_keys) == 60
    same = ds.episode_index[p.idx0] == ds.episode_index[p.idx1]
    assert np.all(np.abs(ds.step_index[p.idx0] - ds.step_index[p.idx1])[same] >= 8)
    assert same.any() and (~same).any()
    assert len({(min(a, b), max(a, b)) for a, b in zip(p.idx0, p.idx1)}) == 60
    f = ds.next_observations("image", np.stack([p.idx0[:5], p.idx1[:5]], 1))
    assert [pair_key(a, b) for a, b in f] == p.pair_keys[:5]
    q = sample_pairs(ds, 60, min_gap=8, seed=3)
    assert np.array_equal(p.idx0, q.idx0) and np.array_equal(p.idx1, q.idx1)
    r = sample_pairs(ds, 60, min_gap=8, seed=4)
    assert not np.array_equal(p.idx0, r.idx0)


def test_prefix_stable(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    small, big = sample_pairs(ds, 7, 2, 0), sample_pairs(ds, 70, 2, 0)
    assert np.array_equal(small.idx0, big.idx0[:7]) and small.pair_keys == big.pair_keys[:7]


def test_identical_images_are_skipped(tmp_path):
    frame = bar_frame(10, 0)
    with DatasetWriter(tmp_path / "d.h5", {"task": "t"}) as w:
        w.add_episode({"image": np.stack([frame] * 11)}, np.zeros((10, 1)))
        w.add_episode({"image": np.stack([bar_frame(i, 99) for i in range(11)])}, np.zeros((10, 1)))
    ds = OfflineDataset.open(tmp_path / "d.h5")
    p = sample_pairs(ds, 30, min_gap=0, seed=0)
    f = ds.next_observations("image", np.stack([p.idx0, p.idx1], 1))
    assert all(not np.array_equal(a, b) for a, b in f)
    both_first = (ds.episode_index[p.idx0] == 0) & (ds.episode_index[p.idx1] == 0)
    assert not both_first.any()


def test_impossible_request_is_a_clear_error(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    with pytest.raises(PairSamplingError, match="Lower pairs.num_queries"):
        sample_pairs(ds, 100000, min_gap=1, seed=0)
    with pytest.raises(PairSamplingError, match="pairs.image_key 'rgb' is not"):
        sample_pairs(ds, 5, image_key="rgb")


def test_order_by_disagreement_puts_contested_pairs_first():
    r = np.array([[0.0, 1.0, 5.0, 0.0], [0.0, 1.0, -5.0, 0.0], [0.0, 1.0, 0.0, 0.0]])
    idx0, idx1 = np.array([0, 0, 3]), np.array([1, 2, 0])
    order = order_by_disagreement(idx0, idx1, r)
    assert order[0] == 1  # members disagree strongly on (0, 2)
    assert order[-1] == 2  # all agree on (3, 0)


def test_order_by_disagreement_matches_a_reference_with_stable_ties():
    """Order by the std over members of P_e = sigmoid(r_e[idx1] - r_e[idx0]), largest first,
    ties in pair order; written out independently (scipy's expit, a sort on (-std, position))."""
    from scipy.special import expit

    rng = np.random.default_rng(0)
    r = rng.normal(0, 2, (4, 30))
    pairs = rng.permutation([(i, j) for i in range(30) for j in range(i + 1, 30)])[:100]
    idx0, idx1 = np.arange(200) % 30, np.arange(200) % 30  # even positions: a frame with itself,
    idx0[1::2], idx1[1::2] = pairs[:, 0], pairs[:, 1]  # P = 0.5 for every member (100 tied at std 0)

    def expected(rewards):
        std = expit(rewards[:, idx1] - rewards[:, idx0]).std(axis=0)
        return sorted(range(len(idx0)), key=lambda k: (-std[k], k))

    assert order_by_disagreement(idx0, idx1, r).tolist() == expected(r)
    assert order_by_disagreement(idx0, idx1, r.astype(np.float32)).tolist() == expected(
        r.astype(np.float32).astype(np.float64))  # computed in float64 whatever the input
    assert order_by_disagreement(idx0, idx1, r[:2]).tolist() == expected(r[:2])  # 2 members suffice
    with pytest.raises(ValueError, match=r"E >= 2, N\), got shape \(1, 30\)"):
        order_by_disagreement(idx0, idx1, r[:1])
    with pytest.raises(ValueError, match="got shape"):
        order_by_disagreement(idx0, idx1, r[0])


def test_the_same_two_pictures_are_asked_once(tmp_path):
    frames = np.stack([bar_frame(i % 3, 0) for i in range(31)])  # only 3 distinct pictures
    with DatasetWriter(tmp_path / "d.h5", {"task_text": "t"}) as w:
        w.add_episode({"image": frames}, np.zeros((30, 1)))
    ds = OfflineDataset.open(tmp_path / "d.h5")
    p = sample_pairs(ds, 3, min_gap=0, seed=0)  # 3 unordered pairs of distinct pictures exist
    assert len(set(p.pair_keys)) == 3
    assert list(zip(p.idx0.tolist(), p.idx1.tolist())) == _reference_pairs(ds, 3, 0, 0)
    with pytest.raises(PairSamplingError):
        sample_pairs(ds, 4, min_gap=0, seed=0)


def test_min_gap_binds_only_within_an_episode_and_allows_equality(tmp_path):
    """All valid pairs, found by brute force: i != j and, within one episode,
    |step_i - step_j| >= min_gap.  Pairs from different episodes are exempt from the gap, and a gap
    exactly equal to min_gap is allowed; the sampler must find exactly this set and no more."""
    lengths, min_gap = (6, 5, 3), 4
    fid = 0
    with DatasetWriter(tmp_path / "d.h5", {"task_text": "t"}) as w:
        for t in lengths:
            w.add_episode({"image": np.stack([bar_frame(fid % 32, fid + k) for k in range(t + 1)])},
                          np.zeros((t, 1)))
            fid += t + 1
    ds = OfflineDataset.open(tmp_path / "d.h5")
    ep, step, n = ds.episode_index, ds.step_index, ds.num_transitions
    valid = {(i, j) for i in range(n) for j in range(i + 1, n)
             if ep[i] != ep[j] or abs(int(step[i]) - int(step[j])) >= min_gap}
    same_ep_gaps = sorted({abs(int(step[i]) - int(step[j])) for i, j in valid if ep[i] == ep[j]})
    assert same_ep_gaps == [4, 5]  # gap 4 (== min_gap) occurs: steps (0,4), (1,5) of episode 0, (0,4) of 1
    p = sample_pairs(ds, len(valid), min_gap=min_gap, seed=0)
    assert {(min(a, b), max(a, b)) for a, b in zip(p.idx0.tolist(), p.idx1.tolist())} == valid
    with pytest.raises(PairSamplingError):
        sample_pairs(ds, len(valid) + 1, min_gap=min_gap, seed=0)


def _reference_pairs(ds, k, min_gap, seed):
    """The documented sampler written out plainly: candidates (i, j) from one seeded stream in
    chunks of 256, kept in order when valid and new (as indices and as images)."""
    rng = np.random.default_rng(seed)
    n, ep, step = ds.num_transitions, ds.episode_index, ds.step_index
    shown = [f.tobytes() for f in ds.next_observations("image", np.arange(n))]
    seen, seen_images, out = set(), set(), []
    while True:
        for a, b in rng.integers(0, n, size=(256, 2)).tolist():
            if a == b or (ep[a] == ep[b] and abs(int(step[a]) - int(step[b])) < min_gap):
                continue
            if shown[a] == shown[b] or frozenset((a, b)) in seen:
                continue
            if frozenset((shown[a], shown[b])) in seen_images:
                continue
            seen.add(frozenset((a, b)))
            seen_images.add(frozenset((shown[a], shown[b])))
            out.append((a, b))
            if len(out) == k:
                return out


def test_pairs_are_the_documented_stream(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    p = sample_pairs(ds, 80, min_gap=3, seed=5)
    assert list(zip(p.idx0.tolist(), p.idx1.tolist())) == _reference_pairs(ds, 80, 3, 5)
    assert p.idx0.dtype == p.idx1.dtype == np.int64
    default = sample_pairs(ds, 20)  # defaults: min_gap 10, seed 0
    assert list(zip(default.idx0.tolist(), default.idx1.tolist())) == _reference_pairs(ds, 20, 10, 0)


def test_pairs_follow_the_stream_through_many_repeats(tmp_path):
    """30 distinct frames, 435 possible pairs, 400 asked: most late candidates repeat a kept pair."""
    with DatasetWriter(tmp_path / "d.h5", {"task_text": "t"}) as w:
        w.add_episode({"image": np.stack([bar_frame(i, i) for i in range(31)])}, np.zeros((30, 1)))
    ds = OfflineDataset.open(tmp_path / "d.h5")
    p = sample_pairs(ds, 400, min_gap=0, seed=1)
    assert list(zip(p.idx0.tolist(), p.idx1.tolist())) == _reference_pairs(ds, 400, 0, 1)


def test_smallest_requests_and_datasets(tmp_path):
    with DatasetWriter(tmp_path / "two.h5", {"task_text": "t"}) as w:
        w.add_episode({"image": np.stack([bar_frame(i, i) for i in range(3)])}, np.zeros((2, 1)))
    ds = OfflineDataset.open(tmp_path / "two.h5")  # 2 transitions: exactly one pair
    p = sample_pairs(ds, 1, min_gap=0, seed=0)
    assert sorted([int(p.idx0[0]), int(p.idx1[0])]) == [0, 1]
    with pytest.raises(PairSamplingError, match="pairs.num_queries must be positive, got 0"):
        sample_pairs(ds, 0)
    with pytest.raises(PairSamplingError, match="pairs.min_gap must be >= 0, got -1"):
        sample_pairs(ds, 1, min_gap=-1)
    with DatasetWriter(tmp_path / "one.h5", {"task_text": "t"}) as w:
        w.add_episode({"image": np.stack([bar_frame(i, i) for i in range(2)])}, np.zeros((1, 1)))
    with pytest.raises(PairSamplingError, match=r"the dataset has 1 transition\(s\); at least 2"):
        sample_pairs(OfflineDataset.open(tmp_path / "one.h5"), 1)
