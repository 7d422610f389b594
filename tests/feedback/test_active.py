import numpy as np
import pytest

from orlvlmf.data.dataset import OfflineDataset
from orlvlmf.feedback.active import Round, RoundLog, candidate_pool, round_sizes, select_most_contested
from orlvlmf.feedback.sampling import PairFilter, disagreement, mutual_information, sample_pairs


def test_round_sizes():
    assert round_sizes(100, 30, 25) == [30, 25, 25, 20]
    assert round_sizes(10, 30, 5) == [10]
    assert round_sizes(60, 30, 30) == [30, 30]
    with pytest.raises(ValueError, match=">= 1 pair"):
        round_sizes(10, 0, 5)


def test_candidate_pool_respects_gap_uniqueness_and_exclusions(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    ep, step = ds.episode_index, ds.step_index
    exclude = {(0, 50), (3, 70)}
    pool = candidate_pool(ep, step, 300, min_gap=5, seed=1, exclude=exclude)
    assert pool.shape == (300, 2)
    same = ep[pool[:, 0]] == ep[pool[:, 1]]
    assert np.all(np.abs(step[pool[:, 0]] - step[pool[:, 1]])[same] >= 5)
    unordered = {(min(a, b), max(a, b)) for a, b in pool.tolist()}
    assert len(unordered) == 300 and not unordered & exclude
    assert np.array_equal(pool, candidate_pool(ep, step, 300, 5, seed=1, exclude=exclude))
    assert not np.array_equal(pool, candidate_pool(ep, step, 300, 5, seed=2))
    small = candidate_pool(np.zeros(4, int), np.arange(4), 100, min_gap=0, seed=0)
    assert len(small) == 6  # all unordered pairs of 4 transitions: the pool ends there


def test_most_contested_new_pairs_are_chosen(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    first = sample_pairs(ds, 10, min_gap=2, seed=0)
    kept = PairFilter(ds, "image")
    kept.offer(np.stack([first.idx0, first.idx1], 1))
    assert len(kept) == 10
    pool = np.concatenate([np.stack([first.idx0[:3], first.idx1[:3]], 1),  # asked before
                           candidate_pool(ds.episode_index, ds.step_index, 40, 2, seed=5)])
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=len(pool))
    scores[:3] = 10.0  # the most contested pairs were asked already: never again
    chosen, s = select_most_contested(pool, scores, kept, k=5)
    assert len(chosen.idx0) == 5 and len(kept) == 15
    asked = {(min(a, b), max(a, b)) for a, b in zip(first.idx0.tolist(), first.idx1.tolist())}
    assert not asked & {(min(a, b), max(a, b)) for a, b in zip(chosen.idx0.tolist(), chosen.idx1.tolist())}
    assert s.tolist() == sorted(s.tolist(), reverse=True)
    picked = {(min(a, b), max(a, b)) for a, b in zip(chosen.idx0.tolist(), chosen.idx1.tolist())}
    passed_over = {(min(a, b), max(a, b)) for (a, b), x in zip(pool.tolist(), scores) if x > s.min()} - picked
    assert passed_over <= asked  # a better-scored pair is passed over only when it was asked before
    assert chosen.pair_keys == kept.keys[10:]


def test_disagreement_is_the_members_spread_on_the_preference():
    r0 = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]])
    r1 = np.array([[5.0, 1.0], [-5.0, 1.0], [0.0, 1.0]])
    d = disagreement(r0, r1)
    assert d[0] > 0.3 and d[1] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="E >= 2"):
        disagreement(np.zeros((1, 3)), np.zeros((1, 3)))


def test_bald_scores_what_a_label_would_settle_not_near_ties():
    # pair 0: every member calls it a near-tie (logit gaps -0.6 / 0.6); pair 1: both members prefer
    # the second frame, one surely (4.0), one barely (1.0); pair 2: sure members that contradict
    r0 = np.zeros((2, 4))
    r1 = np.array([[-0.6, 4.0, 8.0, 2.0], [0.6, 1.0, -8.0, 2.0]])
    d, mi = disagreement(r0, r1), mutual_information(r0, r1)
    assert d[0] > d[1]  # the spread of P ranks the near-tie above pair 1 ...
    assert mi[1] > mi[0]  # ... mutual information ranks it below
    assert mi[2] == pytest.approx(np.log(2), abs=5e-3) and mi[2] == mi.max()
    assert mi[3] == pytest.approx(0.0, abs=1e-12) and np.all(mi >= 0)  # members agree: nothing to learn
    p = 1 / (1 + np.exp(-r1))  # the definition: H(mean P) - mean H(P)
    h = lambda q: -(q * np.log(q) + (1 - q) * np.log(1 - q))
    assert np.allclose(mi, h(p.mean(0)) - h(p).mean(0), atol=1e-9)
    unsure = np.array([[0.0, 0.0, 0.0], [0.1, -0.2, 0.05]])  # every P near 1/2: ~ 2 Var(P), the same order
    assert np.argsort(mutual_information(np.zeros((2, 3)), unsure)).tolist() == \
        np.argsort(disagreement(np.zeros((2, 3)), unsure)).tolist()
    with pytest.raises(ValueError, match="E >= 2"):
        mutual_information(np.zeros((1, 3)), np.zeros((1, 3)))


def test_round_log_round_trip_and_plan_check(tmp_path):
    plan = {"strategy": "disagreement", "initial": 2, "batch": 1, "seed": 0}
    log = RoundLog(plan)
    log.add(Round(0, [1, 2], [5, 6], ["a", "b"]))
    log.add(Round(1, [7], [9], ["c"], pool=40, pool_score=0.1, chosen_score=0.3))
    with pytest.raises(ValueError, match="round 5 added after 2"):
        log.add(Round(5, [], [], []))
    log.save(tmp_path / "rounds.json")
    back = RoundLog.load(tmp_path / "rounds.json", plan)
    pairs, rnd = back.pairs()
    assert pairs.idx0.tolist() == [1, 2, 7] and pairs.pair_keys == ["a", "b", "c"]
    assert rnd.tolist() == [0, 0, 1] and back.num_pairs == 3 and back.rounds[1].chosen_score == 0.3
    assert RoundLog.load(tmp_path / "rounds.json", {**plan, "batch": 2}).rounds == []
    assert RoundLog.load(tmp_path / "missing.json", plan).rounds == []
    assert not (tmp_path / "rounds.json.tmp").exists()


def test_explore_fraction_mixes_random_pool_pairs_into_a_round(bar_dataset):
    ds = OfflineDataset.open(bar_dataset)
    pool = candidate_pool(ds.episode_index, ds.step_index, 60, 2, seed=3)
    scores = np.linspace(1.0, 0.0, len(pool))  # pool order = score order: the top k are the first k
    unordered = lambda c: [(min(a, b), max(a, b)) for a, b in zip(c.idx0.tolist(), c.idx1.tolist())]
    top = [(min(a, b), max(a, b)) for a, b in pool.tolist()]

    def pick(explore, seed=0):
        chosen, s = select_most_contested(pool, scores, PairFilter(ds, "image"), k=10, explore=explore, seed=seed)
        return unordered(chosen), s

    greedy, _ = pick(0.0)
    assert greedy == top[:10]
    mixed, s = pick(0.3)
    assert len(set(mixed)) == 10 and mixed[:7] == top[:7]  # 7 most contested, then 3 drawn from the rest
    assert not set(mixed[7:]) <= set(top[:10])  # not the next three by score
    assert pick(0.3)[0] == mixed and pick(0.3, seed=1)[0] != mixed  # seeded
    assert s[:7].tolist() == sorted(s[:7].tolist(), reverse=True)
    assert pick(1.0)[0] != top[:10]  # all drawn at random
    with pytest.raises(ValueError, match=r"explore must be a share in \[0, 1\]"):
        pick(1.5)


def test_round_plan_records_explore_only_when_used():
    from orlvlmf.feedback.active import RoundPlan

    plan = RoundPlan(num_pairs=10, initial=4, batch=2, pool=20, seed=0, min_gap=1, image_key="image")
    assert "explore" not in plan.log_plan()  # logs from before the option keep resuming
    assert plan.log_plan() != RoundPlan(**{**plan.__dict__, "explore": 0.5}).log_plan()


def test_round_plan_names_its_score_and_refuses_an_unknown_one():
    from orlvlmf.feedback.active import RoundPlan

    plan = RoundPlan(num_pairs=10, initial=4, batch=2, pool=20, seed=0, min_gap=1, image_key="image")
    # logs written when disagreement was the only score had {"strategy": "disagreement", ...}
    assert plan.log_plan()["strategy"] == "disagreement"
    assert RoundPlan(**{**plan.__dict__, "strategy": "bald"}).log_plan()["strategy"] == "bald"
    with pytest.raises(ValueError, match="one of disagreement, bald, got 'std'"):
        RoundPlan(**{**plan.__dict__, "strategy": "std"})
