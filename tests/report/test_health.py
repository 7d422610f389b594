"""Training-health notes from logged curves: each fires on the shape it describes, with its numbers."""

from orlvlmf.report.health import q_notes, success_notes, training_notes, weight_notes


def history(q, loss=None, clipped=None, every=1000):
    rows = []
    for i, v in enumerate(q):
        row = {"step": every * (i + 1), "value/q": v}
        if loss is not None:
            row["loss/q"] = loss[i]
        if clipped is not None:
            row["actor/weight_clipped"] = clipped[i]
        rows.append(row)
    return rows


def test_linearly_climbing_q_is_noted_with_its_slope():
    notes = q_notes(history([2.0 * k for k in range(1, 16)]), gamma=0.99, r_max=1.0)
    assert notes[0].startswith("**Q still rising**")
    assert "from 16 (step 8000) to 30 (step 15000)" in notes[0] and "+2 per 1k steps" in notes[0]
    assert "bound r_max / (1 − γ) is 100" in notes[0]


def test_levelled_q_is_not_flagged():
    q = [10 * (1 - 0.5 ** k) for k in range(1, 16)]
    notes = q_notes(history(q), gamma=0.99, r_max=1.0)
    assert len(notes) == 1 and not notes[0].startswith("**") and "no unbounded growth" in notes[0]


def test_q_above_the_discounted_bound_is_overestimation():
    notes = q_notes(history([50, 80, 120, 150, 160, 170]), gamma=0.99, r_max=1.0)
    assert notes[0].startswith("**Q above its bound**") and "170" in notes[0] and "= 100" in notes[0]


def test_q_loss_rising_after_its_minimum():
    notes = q_notes(history([1, 1, 1, 1, 1, 1], loss=[0.5, 0.2, 0.1, 0.2, 0.4, 0.6]), gamma=0.99, r_max=1.0)
    assert any(n.startswith("**Q loss rising**") and "0.1 at step 3000" in n and "6.0×" in n for n in notes)


def test_clipped_weights():
    many = weight_notes(history([0] * 6, clipped=[0.0, 0.0, 0.0, 0.2, 0.3, 0.1]), adv_clip=100.0)
    assert many[0].startswith("**Many advantage weights clipped**") and "20.0%" in many[0]
    few = weight_notes(history([0] * 6, clipped=[0.01] * 6), adv_clip=100.0)
    assert not few[0].startswith("**") and "1.0%" in few[0]


def test_success_falling_late():
    evals = [{"step": s, "eval/success_rate": v} for s, v in ((5000, 0.6), (10000, 0.9), (15000, 0.5))]
    assert success_notes(evals)[0].startswith("**Success fell late in training**")
    assert "peaked at 0.90 (step 10000) and ended at 0.50 (step 15000)" in success_notes(evals)[0]
    steady = [{"step": s, "eval/success_rate": v} for s, v in ((5000, 0.6), (10000, 0.9), (15000, 0.85))]
    assert not success_notes(steady)[0].startswith("**")


def test_training_notes_reads_train_metrics_and_needs_some_history():
    metrics = {"history": history([1, 2, 3, 4, 5, 6, 7, 8], clipped=[0.0] * 8), "evals": [],
               "reward": {"max": 1.0}}
    notes = training_notes(metrics, {"gamma": 0.99, "adv_clip": 100.0})
    assert notes[0].startswith("**Q still rising**") and "Clipped advantage weights: 0.0%" in notes[1]
    assert training_notes({"history": [], "evals": []}) == []
