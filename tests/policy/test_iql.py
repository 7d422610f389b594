import copy
import math

import numpy as np
import pytest
import torch

from orlvlmf.policy.buffer import TransitionBuffer
from orlvlmf.policy.checkpoint import load_learner
from orlvlmf.policy.errors import LearnerError
from orlvlmf.registry import REGISTRY
from tests.policy.helpers import TINY, make_learner, random_buffer

torch.set_num_threads(1)


def _one_update(learner, buf, metrics=True, total=10):
    """Set the learner up for updates without a Trainer and make one update on a known batch."""
    learner.prepare(buf)
    learner.buffer = buf
    learner.without_trainer()
    learner.total_steps, learner.step = total, 1
    batch = buf.gather(torch.arange(64))
    return batch, learner.update(batch, metrics)


def test_registry_builds_iql_with_paper_defaults():
    learner = REGISTRY.create("learners", "iql", {"name": "iql"}, {"state": (39,)}, 4)
    c = learner.cfg
    assert (c.expectile, c.beta, c.gamma, c.lr, c.batch_size, c.target_rate, c.adv_clip) == (
        0.7, 3.0, 0.99, 3e-4, 256, 0.005, 100.0)
    widths = [m.out_features for m in learner.value.modules() if isinstance(m, torch.nn.Linear)]
    assert widths == [256, 256, 1]  # the paper's 2x256 MLP
    assert learner.actor.log_std.shape == (4,)  # state-independent log-std


def test_unknown_option_and_missing_observation_are_clear_errors():
    with pytest.raises(LearnerError, match="unknown key"):
        REGISTRY.create("learners", "iql", {"name": "iql", "expectle": 0.7}, {"state": (3,)}, 1)
    with pytest.raises(LearnerError, match="observation 'state'"):
        REGISTRY.create("learners", "iql", {"name": "iql"}, {"image": (8, 8, 3)}, 1)


def test_one_update_matches_reference_in_the_original_order():
    learner = make_learner()
    ref = copy.deepcopy(learner)
    buf = random_buffer()
    batch, metrics = _one_update(learner, buf)
    obs, act, r, m, nxt = batch.obs, batch.actions, batch.rewards, batch.masks, batch.next_obs
    opt = {k: torch.optim.Adam(getattr(ref, k).parameters(), lr=3e-4) for k in ("value", "q", "actor")}
    with torch.no_grad():
        tq = torch.minimum(*ref.target_q(obs, act))
        v_old_next = ref.value(nxt)
    u = tq - ref.value(obs)
    (torch.where(u < 0, 0.3, 0.7) * u ** 2).mean().backward()
    opt["value"].step()
    with torch.no_grad():  # actor and Q use the UPDATED value net
        w = torch.exp(3.0 * (tq - ref.value(obs))).clamp(max=100.0)
        y = r + 0.99 * m * ref.value(nxt)
    mean, log_std = ref.actor(obs)
    logp = torch.distributions.Normal(mean, log_std.exp()).log_prob(act).sum(-1)
    (-(w * logp).mean()).backward()
    opt["actor"].step()
    q1, q2 = ref.q(obs, act)
    ((q1 - y) ** 2 + (q2 - y) ** 2).mean().backward()
    opt["q"].step()
    with torch.no_grad():
        for t, p in zip(ref.target_q.parameters(), ref.q.parameters()):
            t.mul_(0.995).add_(0.005 * p)
    assert metrics["value/target"] == pytest.approx(y.mean().item(), abs=1e-6)
    old_target = (r + 0.99 * m * v_old_next).mean().item()
    assert abs(old_target - y.mean().item()) > 1e-5  # the check above can tell the orders apart
    for (name, a), b in zip(learner.state_dict().items(), ref.state_dict().values()):
        if not name.startswith("obs_"):  # the reference copy skipped the normaliser
            assert torch.allclose(a, b, atol=1e-6), name


def test_target_update_is_polyak():
    learner = make_learner({"target_rate": 0.25})
    buf = random_buffer()
    before = [p.detach().clone() for p in learner.target_q.parameters()]
    _one_update(learner, buf, metrics=False)
    for t, old, q in zip(learner.target_q.parameters(), before, learner.q.parameters()):
        assert torch.allclose(t, 0.75 * old + 0.25 * q, atol=1e-6)
        assert not t.requires_grad


def test_terminals_cut_bootstrapping_timeouts_do_not(tmp_path):
    """The learner's own TD target y = r + gamma * m * V(s'), read from its update on one-transition
    batches of a dataset whose episodes end with timeouts (mask 1) and a terminal (mask 0)."""
    from orlvlmf.data.dataset import OfflineDataset
    from orlvlmf.policy.buffer import buffer_from_dataset
    from tests.policy.helpers import timeout_dataset

    ds = OfflineDataset.open(timeout_dataset(tmp_path / "d.h5"))
    buf = buffer_from_dataset(ds, "state", np.full(ds.num_transitions, 0.5, np.float32))
    terminal, timeout = int(np.flatnonzero(ds.terminals)[0]), int(np.flatnonzero(ds.timeouts)[0])
    for i, bootstraps in ((terminal, False), (timeout, True), (1, True)):
        learner = make_learner({"normalize_observations": False}, s=2, a=1)
        with torch.no_grad():  # V(s') = 10 for every s': the bootstrap term is 9.9, easy to see
            for m in learner.value.net.modules():
                if isinstance(m, torch.nn.Linear):
                    m.weight.zero_()
            learner.value.net.head[-1].bias.fill_(10.0)
        learner.prepare(buf)
        learner.buffer = buf
        learner.without_trainer()
        learner.total_steps, learner.step = 10, 1
        batch = buf.gather(torch.tensor([i]))
        metrics = learner.update(batch, True)
        v_next = learner.value(batch.next_obs).item()  # V after its own step, as the target uses
        assert v_next == pytest.approx(10.0, abs=0.01)
        expected = 0.5 + (0.99 * v_next if bootstraps else 0.0)
        assert metrics["value/target"] == pytest.approx(expected, abs=1e-5), (i, bootstraps)


def test_learner_losses_match_reference_formulas_on_a_fixed_batch():
    """The value, actor and Q losses the learner reports equal Eq. 3-5 evaluated independently on
    the same batch (an asymmetric expectile makes swapped weights visible; one Adam step is not)."""
    learner = make_learner({"expectile": 0.9, "beta": 2.0})
    buf = random_buffer()
    learner.prepare(buf)
    first = buf.gather(torch.arange(64))
    with torch.no_grad():  # centre V on the batch so that Q - V takes both signs
        u0 = torch.minimum(*learner.target_q(first.obs, first.actions)) - learner.value(first.obs)
        learner.value.net.head[-1].bias.add_(u0.median())
    ref = copy.deepcopy(learner)
    batch, metrics = _one_update(learner, buf)
    obs, act, r, m, nxt = batch.obs, batch.actions, batch.rewards, batch.masks, batch.next_obs
    with torch.no_grad():
        tq = torch.minimum(*ref.target_q(obs, act))
        u = (tq - ref.value(obs)).double()
        assert (u > 0).any() and (u < 0).any()
        v_loss = (torch.where(u > 0, 0.9, 0.1) * u ** 2).mean()  # |tau - 1(u < 0)| u^2
    assert metrics["loss/value"] == pytest.approx(v_loss.item(), rel=1e-4)
    swapped = (torch.where(u > 0, 0.1, 0.9) * u ** 2).mean().item()
    assert abs(swapped - v_loss.item()) > 0.05 * v_loss.item()  # the check above tells them apart
    with torch.no_grad():  # actor and Q use V after its step: the learner's own value net now
        v_new, v_next = learner.value(obs).double(), learner.value(nxt).double()
        y = r.double() + 0.99 * m.double() * v_next
        w = torch.exp(2.0 * (tq.double() - v_new)).clamp(max=100.0)
        mean, log_std = ref.actor(obs)
        std = log_std.double().exp()
        logp = (-0.5 * ((act.double() - mean.double()) / std) ** 2 - torch.log(std)
                - 0.5 * math.log(2 * math.pi)).sum(-1)
        q1, q2 = ref.q(obs, act)
        q = ((q1.double() - y) ** 2 + (q2.double() - y) ** 2).mean()
    assert metrics["loss/actor"] == pytest.approx(-(w * logp).mean().item(), rel=1e-4)
    assert metrics["loss/q"] == pytest.approx(q.item(), rel=1e-4)
    assert metrics["value/target"] == pytest.approx(y.mean().item(), abs=1e-5)


def test_learns_best_action_of_a_contextual_bandit():
    """One-step episodes, random actions, r = -(a - s/2)^2: the policy must learn a* = s/2."""
    rng = np.random.default_rng(0)
    n = 4000
    s = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    a = rng.uniform(-1, 1, (n, 1)).astype(np.float32)
    r = -((a - 0.5 * s) ** 2).ravel() * 5
    buf = TransitionBuffer(s, a, r, np.ones(n, bool), next_obs=s)
    learner = make_learner({"beta": 3.0, "encoder": {"name": "mlp", "hidden": [64, 64]},
                            "batch_size": 256, "lr": 1e-3}, s=1, a=1)
    learner.fit(buf, 1500, log_every=500, seed=0)
    probe = np.array([[-0.8], [0.0], [0.8]], np.float32)
    got = learner.act(probe).ravel()
    assert np.abs(got - 0.5 * probe.ravel()).max() < 0.1, got
    assert learner.history[-1]["step"] == 1500


def test_save_and_load_round_trip(tmp_path):
    learner = make_learner()
    learner.fit(random_buffer(), 5, log_every=0)
    path = learner.save(tmp_path / "policy.ckpt")
    loaded = load_learner(path)
    obs = np.random.default_rng(0).normal(size=(4, 5)).astype(np.float32)
    assert np.allclose(loaded.act(obs), learner.act(obs))
    assert loaded.act(obs[0]).shape == (2,)
    assert np.all(np.abs(loaded.act(obs * 100)) <= 1.0)
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(LearnerError, match="cannot read"):
        load_learner(tmp_path / "junk.ckpt")
    with pytest.raises(LearnerError, match="does not exist"):
        load_learner(tmp_path / "missing.ckpt")


def test_resume_after_interruption_gives_the_uninterrupted_result(tmp_path):
    import lightning as L

    full = make_learner(seed=0)
    full.fit(random_buffer(), 40, seed=3, log_every=10)

    class Interrupt(L.Callback):
        def on_train_batch_end(self, trainer, module, *args):
            if module.step == 30:
                raise RuntimeError("simulated crash")

    ckpt = tmp_path / "last.ckpt"
    first = make_learner(seed=0)
    with pytest.raises(RuntimeError, match="simulated crash"):
        first.fit(random_buffer(), 40, seed=3, log_every=10, checkpoint=(ckpt, 20),
                  callbacks=[Interrupt()])
    assert ckpt.exists()
    resumed = make_learner(seed=123)  # different init: everything must come from the checkpoint
    resumed.fit(random_buffer(), 40, seed=3, log_every=10, checkpoint=(ckpt, 20))
    assert resumed.fit_start_step == 20 and resumed.step == 40
    assert [h["step"] for h in resumed.history] == [10, 20, 30, 40]
    for (name, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name


def test_two_fits_equal_one_longer_fit():
    # (the cosine schedule's horizon is each fit's `steps`, so it is off here)
    one = make_learner({"actor_cosine_decay": False}, seed=0)
    one.fit(random_buffer(), 30, seed=2, log_every=0)
    two = make_learner({"actor_cosine_decay": False}, seed=0)
    buf = random_buffer()
    two.fit(buf, 12, seed=2, log_every=0)
    two.fit(buf, 30, seed=2, log_every=0)
    for (name, a), b in zip(one.state_dict().items(), two.state_dict().values()):
        assert torch.allclose(a, b, atol=1e-6), name
