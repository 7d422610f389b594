"""Statistics of the simulated VLM's answer model (pure functions, no store, no network)."""

import numpy as np
import pytest

from orlvlmf.feedback.backends.scripted import gt_labels
from orlvlmf.feedback.backends.simulated_vlm import (ABSTAIN, SURE, UNSURE, WRONG, check_config,
                                                     simulated_answers)
from orlvlmf.feedback.config import SimulatedVLMConfig
from orlvlmf.feedback.orders import combine_orders, order_stats

N = 4000


def keys(n, tag="k"):
    return [f"{tag}{i}" for i in range(n)]


def at_gap(cfg, gap, n=N, tag="k", sign=1.0):
    """n queries whose two frames differ by ``gap`` (reward range 1)."""
    r1 = np.zeros(n)
    r2 = np.full(n, sign * gap)
    return simulated_answers(cfg, r1, r2, keys(n, tag), reward_range=1.0)


def close(rate, p, n=N):
    """Within 4 binomial standard deviations (plus a hair for p near 0 or 1)."""
    return abs(rate - p) <= 4 * np.sqrt(p * (1 - p) / n) + 1e-3


def test_without_noise_it_is_the_noiseless_teacher():
    rng = np.random.default_rng(0)
    r1, r2 = rng.uniform(size=500), rng.uniform(size=500)
    r2[:20] = r1[:20]
    a = simulated_answers(SimulatedVLMConfig(), r1, r2, keys(500), reward_range=1.0)
    assert np.array_equal(a.label, gt_labels(r1, r2)) and np.all(a.outcome == SURE)
    assert np.sum(a.label == -1) == 20


def test_abstain_rate_grows_as_states_get_closer():
    cfg = SimulatedVLMConfig(abstain_p=0.6, proximity_scale=0.2)
    rates = []
    for gap in (1e-9, 0.1, 0.2, 0.5, 1.0):  # 0 would be a true tie: -1 by the rule
        a = at_gap(cfg, gap)
        rate = np.mean(a.label == -1)
        assert close(rate, 0.6 * np.exp(-gap / 0.2)), (gap, rate)
        assert np.array_equal(a.label == -1, a.outcome == ABSTAIN)
        rates.append(rate)
    assert rates == sorted(rates, reverse=True) and rates[-1] < 0.02


def test_unsure_answers_name_image_1_with_probability_position_bias():
    cfg = SimulatedVLMConfig(unsure_p=1.0, position_bias=0.3, proximity_scale=1e9)  # always unsure
    a = at_gap(cfg, 0.5)
    assert np.all(a.outcome == UNSURE)
    assert close(np.mean(a.label == 0), 0.3)
    # with the frames swapped the true label flips, the position-driven answers do not
    b = at_gap(cfg, 0.5, sign=-1.0)
    assert close(np.mean(b.label == 0), 0.3)


def test_position_bias_shows_when_both_orders_are_asked():
    cfg = SimulatedVLMConfig(unsure_p=1.0, position_bias=0.3, proximity_scale=1e9)
    rng = np.random.default_rng(1)
    rA, rB = rng.uniform(size=N), rng.uniform(size=N)
    ab = simulated_answers(cfg, rA, rB, keys(N, "ab"), 1.0).label  # (A, B) and (B, A) have
    ba = simulated_answers(cfg, rB, rA, keys(N, "ba"), 1.0).label  # distinct pair keys
    s = order_stats(ab, ba)
    # agree iff one order says Image 1 and the other Image 2: 2 pb (1 - pb)
    assert close(s["consistency_rate"], 2 * 0.3 * 0.7)
    assert close(s["first_image_rate"], 0.3, 2 * N)
    assert s["minus1_rate"] == 0.0
    fair = SimulatedVLMConfig(unsure_p=1.0, position_bias=0.5, proximity_scale=1e9)
    ab = simulated_answers(fair, rA, rB, keys(N, "ab"), 1.0).label
    assert close(np.mean(ab == 0), 0.5)


def test_proximity_flips_and_fixed_error_rate():
    cfg = SimulatedVLMConfig(flip_p=0.4, proximity_scale=0.1)
    for gap in (0.01, 0.1, 0.3):
        a = at_gap(cfg, gap)
        assert close(np.mean(a.label == 0), 0.4 * np.exp(-gap / 0.1))  # truth is 1: 0 is a flip
        assert np.array_equal(a.label == 0, a.outcome == WRONG)
    err = SimulatedVLMConfig(error_p=0.2)
    for gap in (0.05, 0.9):
        assert close(np.mean(at_gap(err, gap).label == 0), 0.2)
    both = SimulatedVLMConfig(flip_p=0.5, error_p=0.2, proximity_scale=1e9)
    assert close(np.mean(at_gap(both, 0.5).label == 0), 1 - 0.5 * 0.8)  # one miss, never a double flip
    ties = at_gap(SimulatedVLMConfig(error_p=1.0), 0.0)
    assert np.all(ties.label == -1)  # no label to flip


def test_answers_are_deterministic_per_key_and_seed_and_monotone_in_p():
    cfg = SimulatedVLMConfig(abstain_p=0.3, unsure_p=0.3, flip_p=0.2, position_bias=0.3)
    rng = np.random.default_rng(2)
    r1, r2 = rng.uniform(size=800), rng.uniform(size=800)
    a = simulated_answers(cfg, r1, r2, keys(800), 1.0)
    again = simulated_answers(cfg, r1[::-1], r2[::-1], keys(800)[::-1], 1.0)
    assert np.array_equal(a.label, again.label[::-1])  # per query, not per position in the batch
    other = simulated_answers(SimulatedVLMConfig(**{**cfg.__dict__, "seed": 1}), r1, r2, keys(800), 1.0)
    assert not np.array_equal(a.label, other.label)
    more = simulated_answers(SimulatedVLMConfig(**{**cfg.__dict__, "abstain_p": 0.6}), r1, r2, keys(800), 1.0)
    assert np.all(more.outcome[a.outcome == ABSTAIN] == ABSTAIN)  # raising p only adds abstentions
    assert (more.outcome == ABSTAIN).sum() > (a.outcome == ABSTAIN).sum()


def test_both_orders_filter_position_and_proximity_errors():
    cfg = SimulatedVLMConfig(unsure_p=0.6, position_bias=0.3, flip_p=0.3, proximity_scale=0.3)
    rng = np.random.default_rng(3)
    rA, rB = rng.uniform(size=N), rng.uniform(size=N)
    truth = gt_labels(rA, rB)
    ab = simulated_answers(cfg, rA, rB, keys(N, "ab"), 1.0).label
    ba = simulated_answers(cfg, rB, rA, keys(N, "ba"), 1.0).label
    one_acc = np.mean(ab[ab >= 0] == truth[ab >= 0])
    both, kind = combine_orders(ab, ba)
    used = both >= 0
    both_acc = np.mean(both[used] == truth[used])
    assert both_acc > one_acc + 0.1, (one_acc, both_acc)
    assert np.mean(kind == 1) > 0.1  # contradictions are seen and counted


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="feedback.position_bias must be in"):
        check_config(SimulatedVLMConfig(position_bias=1.5))
    with pytest.raises(ValueError, match="feedback.proximity_scale must be > 0"):
        check_config(SimulatedVLMConfig(proximity_scale=0))
    with pytest.raises(ValueError, match="one entry per query"):
        simulated_answers(SimulatedVLMConfig(), [0.0], [1.0, 2.0], ["a"], 1.0)


def test_correlated_orders_share_their_draws():
    """order_correlation 1: both orders flip together (an agreed wrong label) and guess the same
    position (a contradiction); 0: independent draws, as above."""
    from orlvlmf.feedback.backends.simulated_vlm import order_free_key

    rng = np.random.default_rng(4)
    rA, rB = rng.uniform(size=N), rng.uniform(size=N)
    truth = gt_labels(rA, rB)
    shared = [order_free_key(2 * i, 2 * i + 1) for i in range(N)]

    def both(**kw):
        cfg = SimulatedVLMConfig(proximity_scale=1e9, **kw)
        ab = simulated_answers(cfg, rA, rB, keys(N, "ab"), 1.0, shared).label
        ba = simulated_answers(cfg, rB, rA, keys(N, "ba"), 1.0, shared).label
        return ab, ba

    ab, ba = both(flip_p=0.3, order_correlation=1.0)
    label, kind = combine_orders(ab, ba)
    assert np.all(kind == 0) and close(np.mean(label != truth), 0.3)  # flips agree: none caught
    ab, ba = both(flip_p=0.3)
    label, kind = combine_orders(ab, ba)
    assert close(np.mean(kind == 1), 2 * 0.3 * 0.7)  # independent flips: one in two orders contradicts
    assert close(np.mean((label != truth) & (label >= 0)), 0.3 * 0.3)
    ab, ba = both(unsure_p=1.0, position_bias=0.3, order_correlation=1.0)
    assert np.all(combine_orders(ab, ba)[1] == 1)  # the same position named twice: all ties
    half = both(flip_p=0.5, order_correlation=0.5)  # correlated: always agree; else p^2 + (1 - p)^2
    assert close(np.mean(combine_orders(*half)[1] == 0), 0.5 + 0.5 * 0.5)
    with pytest.raises(ValueError, match="order_correlation must be in"):
        check_config(SimulatedVLMConfig(order_correlation=2.0))
