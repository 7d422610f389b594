import numpy as np
import pytest
import torch

from orlvlmf.policy.buffer import BufferError, TransitionBuffer


def _arrays(n=50, s=3, a=2):
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(n, s)).astype(np.float32)
    return obs, rng.uniform(-1, 1, (n, a)).astype(np.float32), np.arange(n, dtype=np.float32), obs + 100


def test_packed_sampling_keeps_fields_aligned():
    obs, act, rew, nxt = _arrays()
    terminals = np.zeros(50, bool)
    terminals[7] = True
    buf = TransitionBuffer(obs, act, rew, terminals, next_obs=nxt)
    assert buf.packed
    b = buf.sample(400, torch.Generator().manual_seed(0))
    i = b.rewards.long()  # reward i identifies transition i
    assert torch.equal(b.obs, torch.from_numpy(obs)[i])
    assert torch.equal(b.actions, torch.from_numpy(act)[i])
    assert torch.equal(b.next_obs, torch.from_numpy(nxt)[i])
    assert torch.equal(b.masks, (i != 7).float())


def test_frame_rows_path_matches_episode_layout():
    # two episodes of 2 and 3 transitions: frames 3 + 4, o'_i is the frame after o_i
    frames = np.arange(7 * 2 * 2 * 1, dtype=np.uint8).reshape(7, 2, 2, 1)
    rows = np.array([0, 1, 3, 4, 5])
    buf = TransitionBuffer(frames, np.zeros((5, 1)), np.arange(5), np.zeros(5, bool), frame_rows=rows)
    assert not buf.packed
    b = buf.gather(torch.tensor([1, 4]))
    assert torch.equal(b.obs, torch.from_numpy(frames[[1, 5]]))
    assert torch.equal(b.next_obs, torch.from_numpy(frames[[2, 6]]))


def test_normalisation_applied_once_and_stats():
    obs, act, rew, nxt = _arrays()
    buf = TransitionBuffer(obs, act, rew, np.zeros(50, bool), next_obs=nxt)
    mean, std = buf.observation_stats()
    assert torch.allclose(mean, torch.from_numpy(obs.mean(0)), atol=1e-5)
    buf.normalize_(mean, std)
    b = buf.gather(torch.arange(50))
    assert torch.allclose(b.obs, (torch.from_numpy(obs) - mean) / std, atol=1e-5)
    assert torch.allclose(b.next_obs, (torch.from_numpy(nxt) - mean) / std, atol=1e-4)
    buf.normalize_(mean, std)  # the same statistics again: nothing happens
    assert torch.equal(buf.gather(torch.arange(50)).obs, b.obs)
    with pytest.raises(BufferError, match="already normalised"):
        buf.normalize_(mean + 1, std)


@pytest.mark.parametrize("bad", ["rewards", "nan"])
def test_bad_input_is_refused(bad):
    obs, act, rew, nxt = _arrays()
    if bad == "rewards":
        rew = rew[:10]
    else:
        rew = rew.copy()
        rew[3] = np.nan
    with pytest.raises(BufferError):
        TransitionBuffer(obs, act, rew, np.zeros(50, bool), next_obs=nxt)


@pytest.mark.parametrize("key", ["state", "image"])
def test_buffer_from_dataset_bootstraps_through_timeouts_not_terminals(tmp_path, key):
    """Every shipped dataset ends its episodes with timeouts: they must keep mask 1 (bootstrap),
    only terminals get mask 0; o'_i is the frame after o_i within the episode."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.policy.buffer import buffer_from_dataset
    from tests.policy.helpers import timeout_dataset

    ds = OfflineDataset.open(timeout_dataset(tmp_path / "d.h5"))
    assert ds.timeouts.sum() == 2 and ds.terminals.sum() == 1  # the fixture has both
    n = ds.num_transitions
    buf = buffer_from_dataset(ds, key, np.arange(n, dtype=np.float32))
    b = buf.gather(torch.arange(n))
    expected_mask = np.ones(n, np.float32)
    expected_mask[7] = 0.0  # the last transition of episode 1 (5 + 3 - 1) is the only terminal
    assert b.masks.numpy().tolist() == expected_mask.tolist()
    assert b.masks[ds.timeouts].tolist() == [1.0, 1.0]
    # frames: episode e's transition t has o = row t + e + start and o' = the next row
    row = np.arange(n) + ds.episode_index
    first = lambda x: x.reshape(n, -1)[:, 0].numpy()  # noqa: E731 - frame value = its row
    assert first(b.obs).tolist() == row.tolist()
    assert first(b.next_obs).tolist() == (row + 1).tolist()
    assert b.rewards.numpy().tolist() == list(range(n))


def test_aligned_image_arrays_are_stored_as_interleaved_frames_and_survive_to():
    """Images given as aligned (o, o') arrays: frames 2i and 2i + 1; every field stays aligned,
    also after moving the buffer (``to``)."""
    n = 6
    obs = np.arange(n * 4, dtype=np.uint8).reshape(n, 2, 2, 1)
    nxt = obs + 100
    act = np.stack([np.arange(n), -np.arange(n)], 1).astype(np.float32)
    term = np.zeros(n, bool)
    term[2] = True
    buf = TransitionBuffer(obs, act, np.arange(n), term, next_obs=nxt)
    assert not buf.packed and buf.obs_shape == (2, 2, 1) and len(buf.frames) == 2 * n
    buf.to("cpu")
    for b in (buf.gather(torch.arange(n)), buf.sample(64, torch.Generator().manual_seed(0))):
        i = b.rewards.long()
        assert torch.equal(b.obs, torch.from_numpy(obs)[i])
        assert torch.equal(b.next_obs, torch.from_numpy(nxt)[i])
        assert torch.equal(b.actions, torch.from_numpy(act)[i])
        assert torch.equal(b.masks, (i != 2).float())
    assert buf.device == torch.device("cpu")


@pytest.mark.parametrize("case,match", [
    ("actions_1d", "actions must be a non-empty"), ("no_actions", "actions must be a non-empty"),
    ("short_terminals", "one entry per transition"), ("inf_reward", "NaN or inf"),
    ("both", "give either next_obs or frame_rows"), ("neither", "give either next_obs or frame_rows"),
    ("next_shape", r"must both be \(N=50"), ("rows_len", "frame_rows must hold one row per transition"),
    ("rows_past_end", "frame_rows must hold"), ("rows_negative", "frame_rows must hold")])
def test_each_inconsistency_is_named(case, match):
    obs, act, rew, nxt = _arrays()
    term = np.zeros(50, bool)
    kw = {"next_obs": nxt}
    frames = np.zeros((51, 2, 2, 1), np.uint8)
    if case == "actions_1d":
        act = act[:, 0]
    elif case == "no_actions":
        act, rew, term = act[:0], rew[:0], term[:0]
    elif case == "short_terminals":
        term = term[:-1]
    elif case == "inf_reward":
        rew = rew.copy()
        rew[0] = np.inf
    elif case == "both":
        kw["frame_rows"] = np.arange(50)
    elif case == "neither":
        kw = {}
    elif case == "next_shape":
        kw["next_obs"] = nxt[:, :2]
    else:
        obs = frames
        rows = {"rows_len": np.arange(49), "rows_past_end": np.arange(50) + 1,
                "rows_negative": np.arange(50) - 1}[case]
        kw = {"frame_rows": rows}
    with pytest.raises(BufferError, match=match):
        TransitionBuffer(obs, act, rew, term, **kw)
    if case == "rows_past_end":  # the last row may be 49: its o' is frame 50, the last one
        TransitionBuffer(frames, act, rew, term, frame_rows=np.arange(50))


def test_observation_stats_are_population_std_plus_eps():
    obs, act, rew, nxt = _arrays(n=5)
    obs[:, 1] = 4.0  # a constant dimension: std eps, never 0 or negative
    buf = TransitionBuffer(obs, act, rew, np.zeros(5, bool), next_obs=nxt)
    mean, std = buf.observation_stats(eps=1e-3)
    assert np.allclose(std.numpy(), obs.astype(np.float64).std(0) + 1e-3, atol=1e-6)
    assert std[1].item() == pytest.approx(1e-3)
    image = TransitionBuffer(np.zeros((5, 2, 2, 1), np.uint8), act, rew, np.zeros(5, bool),
                             next_obs=np.zeros((5, 2, 2, 1), np.uint8))
    with pytest.raises(BufferError, match="flat \\(state\\) observations only"):
        image.observation_stats()


@pytest.mark.parametrize("key", ["state", "image"])
def test_buffer_from_dataset_uses_given_actions_and_kept_transitions(tmp_path, key):
    """The learners hand scaled actions and, with held-out episodes, a subset of the transitions."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.policy.buffer import buffer_from_dataset
    from tests.policy.helpers import timeout_dataset

    ds = OfflineDataset.open(timeout_dataset(tmp_path / "d.h5"))
    n = ds.num_transitions
    scaled = np.full((n, ds.action_dim), 0.25, np.float32) * np.arange(n)[:, None]
    keep = np.arange(n)[ds.episode_index == 1]
    buf = buffer_from_dataset(ds, key, np.arange(n, dtype=np.float32), actions=scaled, transitions=keep)
    assert buf.packed == (key == "state") and buf.num_transitions == len(keep)
    b = buf.gather(torch.arange(len(keep)))
    assert b.rewards.numpy().tolist() == keep.tolist()
    assert np.array_equal(b.actions.numpy(), scaled[keep])
    assert b.obs.dtype == (torch.float32 if key == "state" else torch.from_numpy(ds.observations(key, [0])).dtype)
    first = lambda x: x.reshape(len(keep), -1)[:, 0].numpy()  # noqa: E731 - frame value = its row
    assert first(b.obs).tolist() == (keep + 1).tolist()  # episode 1: rows shifted by one
