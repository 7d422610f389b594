import numpy as np
import pytest

from orlvlmf.feedback.orders import (AGREE, BOTH_ABSTAIN, CONTRADICT, ONE_ABSTAIN, combine_orders,
                                     first_image_rate, order_stats)


def test_combining_the_two_orders():
    ab = np.array([0, 1, 0, 1, -1, 0, -1])
    ba = np.array([1, 0, 0, 1, 1, -1, -1])
    label, kind = combine_orders(ab, ba)
    assert label.tolist() == [0, 1, -1, -1, -1, -1, -1]
    assert kind.tolist() == [AGREE, AGREE, CONTRADICT, CONTRADICT, ONE_ABSTAIN, ONE_ABSTAIN, BOTH_ABSTAIN]


def test_order_stats_need_no_ground_truth():
    ab = np.array([0, 1, 0, 0, -1])
    ba = np.array([1, 0, 0, 0, -1])
    s = order_stats(ab, ba)
    assert (s["pairs"], s["agree"], s["contradict"], s["one_abstain"], s["both_abstain"]) == (5, 2, 2, 0, 1)
    assert s["consistency_rate"] == 0.5
    assert s["first_image_rate"] == pytest.approx(6 / 8)  # decided answers naming Image 1
    assert s["minus1_rate"] == pytest.approx(2 / 10)
    assert first_image_rate([-1, -1]) is None
    assert order_stats([-1], [-1])["consistency_rate"] is None


def test_bad_answers_are_refused():
    with pytest.raises(ValueError, match="two \\(P,\\) arrays"):
        combine_orders([0, 1], [1])
    with pytest.raises(ValueError, match="0, 1 or -1"):
        combine_orders([2], [0])
