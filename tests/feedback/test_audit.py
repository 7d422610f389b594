import numpy as np
import pytest

from orlvlmf.feedback.audit import audit_labels, audit_pairs, format_audit


def test_agreement_overall_and_by_gap_bucket():
    r0 = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    r1 = np.array([0.01, 0.02, 0.5, 0.6, 0.9, 1.0])  # gaps (range 1): 0.01, 0.02, 0.5, 0.6, 0.9, 1.0
    label = np.array([0, 1, 1, -1, 1, 0])  # wrong, right, right, abstain, right, wrong
    a = audit_labels(label, r0, r1)
    o = a["overall"]
    assert o["n"] == 6 and o["n_decided"] == 5 and o["agreement"] == pytest.approx(3 / 5)
    assert o["abstain_rate"] == pytest.approx(1 / 6)
    first, last = a["buckets"][0], a["buckets"][-1]
    assert (first["gap_lo"], first["n"], first["agreement"]) == (0.0, 2, 0.5)
    assert (last["gap_hi"], last["n"], last["n_decided"]) == (1.0, 4, 3)
    assert last["agreement"] == pytest.approx(2 / 3)
    assert sum(b["n"] for b in a["buckets"]) == 6
    assert "agreement" in format_audit(a)


def test_audit_pairs_uses_the_whole_reward_range():
    reward = np.array([0.0, 10.0, 1.0, 2.0])
    a = audit_pairs([2], [3], [1], reward)
    assert a["reward_range"] == 10.0 and a["buckets"][2]["n"] == 1  # gap 0.1 -> [0.1, 0.2)
    assert a["overall"]["agreement"] == 1.0
