"""The brief fit of active selection (reward/active.py)."""

from orlvlmf.reward.active import BRIEF_FIT_SETS, brief_fit_config


def test_brief_fit_sets_exactly_the_keys_it_declares():
    # the label stage leaves BRIEF_FIT_SETS out of its fingerprint: any key the brief fit replaces
    # must be listed, and no listed key may reach the brief fit from the user's config
    user = {"lr": 3e-4, "max_epochs": 40, "ensemble": 5, "patience": 9, "gt_eval_transitions": 500,
            "gt_eval_every": 2}
    cfg = brief_fit_config(user, epochs=3, ensemble=2)
    changed = {k for k in cfg if cfg[k] != user.get(k, object())}
    assert changed == set(BRIEF_FIT_SETS)
    assert cfg["max_epochs"] == 3 and cfg["ensemble"] == 2 and cfg["patience"] == 4 and cfg["lr"] == 3e-4
