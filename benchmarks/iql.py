"""IQL update steps/s: orlvlmf's learner vs d3rlpy's IQL vs a plain eager PyTorch reference.

Same data (random transitions, state 39, action 4 — MetaWorld's sizes), batch 256, 2×256 nets,
one thread by default, all runners built once and then timed in interleaved rounds (each round
runs every runner for ``--steps`` updates, order rotated per round) so that a CPU shared with
other jobs slows them alike.  Runners:

* ``ours_fit``  — the registered ``iql`` learner inside ``Learner.fit`` (a Lightning Trainer);
  timed from ``on_train_start`` to ``on_train_end`` (Trainer construction excluded, printed apart);
* ``ours_bare`` — the same sample + update with no Trainer (:func:`run_bare` below): the gap to
  ``ours_fit`` is Lightning's per-step overhead;
* ``eager``     — the same update written the way most public PyTorch IQL code is: numpy-indexed
  replay sampling, three optimisers with three backward passes, per-parameter Polyak loop;
* ``d3rlpy``    — ``d3rlpy.algos.IQLConfig(...).create()`` with ``sample_transition_batch`` +
  ``update`` (what its ``fit`` loop does), if d3rlpy is installed.

Usage: ``python benchmarks/iql.py [--steps 200 --rounds 5 --threads 1 --device cpu]``.
Ends with one JSON line: medians of steps/s and of the per-round ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import warnings

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
warnings.filterwarnings("ignore")

S, A = 39, 4


def make_data(n: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, S)).astype(np.float32)
    return {
        "obs": obs,
        "next_obs": (obs + 0.05 * rng.normal(size=(n, S))).astype(np.float32),
        "actions": rng.uniform(-1, 1, size=(n, A)).astype(np.float32),
        "rewards": rng.uniform(0, 1, size=n).astype(np.float32),
        "terminals": (rng.random(n) < 0.005),
    }


# -- ours ---------------------------------------------------------------------------------------
def run_bare(learner, buffer, steps: int, seed: int = 0) -> None:
    """The sample + update loop of ``Learner.fit`` (its ``training_step``) with no Trainer around it."""
    import torch

    if learner.buffer is not buffer:
        learner.prepare(buffer)
        learner.buffer = buffer
    if not learner.current_optimizers():
        learner.without_trainer()
        learner.total_steps = learner.step + steps
        learner._generator = torch.Generator(device=buffer.device).manual_seed(seed)
    for _ in range(steps):
        batch = buffer.sample(learner.batch_size, learner._generator)
        learner.step += 1
        learner.update(batch, False)


class Ours:
    def __init__(self, data: dict, device: str, in_trainer: bool):
        from orlvlmf.policy.buffer import TransitionBuffer
        from orlvlmf.registry import REGISTRY

        self.buffer = TransitionBuffer(data["obs"], data["actions"], data["rewards"],
                                       data["terminals"], next_obs=data["next_obs"]).to(device)
        self.learner = REGISTRY.create("learners", "iql", {"name": "iql"}, {"state": (S,)}, A)
        self.learner.to(device)
        self.device, self.in_trainer = device, in_trainer
        self.setup_s: list[float] = []

    def run(self, n: int) -> float:
        if not self.in_trainer:
            t0 = time.perf_counter()
            run_bare(self.learner, self.buffer, n)
            if self.device != "cpu":
                import torch

                torch.cuda.synchronize()
            return time.perf_counter() - t0
        import lightning as L

        marks = {}

        class Clock(L.Callback):
            def on_train_start(self, trainer, module):
                marks["start"] = time.perf_counter()

            def on_train_end(self, trainer, module):
                if self_device != "cpu":
                    import torch

                    torch.cuda.synchronize()
                marks["end"] = time.perf_counter()

        self_device = self.device
        t0 = time.perf_counter()
        accel = "cpu" if self.device == "cpu" else "gpu"
        self.learner.fit(self.buffer, self.learner.step + n, log_every=0, callbacks=[Clock()],
                         trainer={"accelerator": accel, "devices": 1, "progress": False})
        self.setup_s.append(marks["start"] - t0)
        return marks["end"] - marks["start"]


# -- eager reference ------------------------------------------------------------------------------
class Eager:
    """The same IQL update, written plainly (numpy sampling, three backward passes)."""

    def __init__(self, data: dict, device: str, seed: int = 0):
        import torch
        from torch import nn

        def net(i, o):
            return nn.Sequential(nn.Linear(i, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(),
                                 nn.Linear(256, o)).to(device)

        torch.manual_seed(seed)
        self.d = data
        self.n = len(data["actions"])
        self.dev = device
        self.rng = np.random.default_rng(seed)
        self.v, self.q1, self.q2, self.pi = net(S, 1), net(S + A, 1), net(S + A, 1), net(S, A)
        self.t1, self.t2 = net(S + A, 1), net(S + A, 1)
        self.t1.load_state_dict(self.q1.state_dict())
        self.t2.load_state_dict(self.q2.state_dict())
        self.log_std = torch.zeros(A, device=device, requires_grad=True)
        self.v_opt = torch.optim.Adam(self.v.parameters(), lr=3e-4)
        self.q_opt = torch.optim.Adam(list(self.q1.parameters()) + list(self.q2.parameters()), lr=3e-4)
        self.pi_opt = torch.optim.Adam(list(self.pi.parameters()) + [self.log_std], lr=3e-4)
        self.sched = torch.optim.lr_scheduler.CosineAnnealingLR(self.pi_opt, T_max=1_000_000)

    def sample(self):
        import torch

        idx = self.rng.integers(0, self.n, size=256)
        f = lambda k: torch.from_numpy(self.d[k][idx]).to(self.dev)  # noqa: E731
        return f("obs"), f("actions"), f("rewards"), 1.0 - f("terminals").float(), f("next_obs")

    def step(self) -> None:
        import torch

        s, a, r, m, s2 = self.sample()
        sa = torch.cat([s, a], 1)
        with torch.no_grad():
            tq = torch.min(self.t1(sa), self.t2(sa)).squeeze(-1)
        v = self.v(s).squeeze(-1)
        u = tq - v
        v_loss = (torch.abs(0.7 - (u < 0).float()) * u ** 2).mean()
        self.v_opt.zero_grad()
        v_loss.backward()
        self.v_opt.step()
        with torch.no_grad():
            adv = tq - self.v(s).squeeze(-1)
            w = torch.exp(3.0 * adv).clamp(max=100.0)
        mean = torch.tanh(self.pi(s))
        dist = torch.distributions.Normal(mean, self.log_std.clamp(-5, 2).exp())
        pi_loss = -(w * dist.log_prob(a).sum(-1)).mean()
        self.pi_opt.zero_grad()
        pi_loss.backward()
        self.pi_opt.step()
        self.sched.step()
        with torch.no_grad():
            target = r + 0.99 * m * self.v(s2).squeeze(-1)
        q_loss = ((self.q1(sa).squeeze(-1) - target) ** 2 + (self.q2(sa).squeeze(-1) - target) ** 2).mean()
        self.q_opt.zero_grad()
        q_loss.backward()
        self.q_opt.step()
        with torch.no_grad():
            for q, t in ((self.q1, self.t1), (self.q2, self.t2)):
                for p, tp in zip(q.parameters(), t.parameters()):
                    tp.data.mul_(1 - 0.005).add_(0.005 * p.data)

    def run(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            self.step()
        if self.dev != "cpu":
            import torch

            torch.cuda.synchronize()
        return time.perf_counter() - t0


# -- d3rlpy ---------------------------------------------------------------------------------------
class D3rlpy:
    def __init__(self, data: dict, device: str):
        import d3rlpy

        timeouts = np.zeros(len(data["actions"]), bool)
        timeouts[np.arange(199, len(timeouts), 200)] = True
        terminals = data["terminals"] & ~timeouts
        self.ds = d3rlpy.dataset.MDPDataset(data["obs"], data["actions"], data["rewards"],
                                            terminals.astype(np.float32), timeouts=timeouts)
        dev = False if device == "cpu" else "cuda:0"
        self.algo = d3rlpy.algos.IQLConfig(batch_size=256).create(device=dev)
        self.algo.build_with_dataset(self.ds)
        self.dev = device

    def run(self, n: int) -> float:
        t0 = time.perf_counter()
        for _ in range(n):
            self.algo.update(self.ds.sample_transition_batch(256))
        if self.dev != "cpu":
            import torch

            torch.cuda.synchronize()
        return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200, help="updates per runner per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--transitions", type=int, default=100_000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip", nargs="*", default=[], help="runners to leave out")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()
    import logging

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "d3rlpy"):
        logging.getLogger(name).setLevel(logging.ERROR)
    data = make_data(args.transitions)
    runners: dict = {}
    builders = {"ours_fit": lambda: Ours(data, args.device, True),
                "ours_bare": lambda: Ours(data, args.device, False),
                "eager": lambda: Eager(data, args.device)}
    notes = {}
    try:
        import d3rlpy  # noqa: F401

        builders["d3rlpy"] = lambda: D3rlpy(data, args.device)
    except Exception as err:  # not installed: say so in the result
        notes["d3rlpy"] = f"not available: {type(err).__name__}: {err}"
    for name, build in builders.items():
        if name in args.skip:
            continue
        runners[name] = build()
        runners[name].run(args.warmup)
    times: dict[str, list[float]] = {k: [] for k in runners}
    names = list(runners)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            times[name].append(runners[name].run(args.steps))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(
            f"{k} {args.steps / times[k][-1]:.1f}/s" for k in names), file=sys.stderr)
    sps = {k: statistics.median(args.steps / t for t in v) for k, v in times.items()}

    def ratio(a: str, b: str) -> float | None:
        if a not in times or b not in times:
            return None
        return round(statistics.median(tb / ta for ta, tb in zip(times[a], times[b])), 3)

    result = {
        "benchmark": "iql_update", "device": args.device, "threads": args.threads,
        "batch": 256, "hidden": [256, 256], "steps_per_round": args.steps, "rounds": args.rounds,
        "steps_per_s": {k: round(v, 1) for k, v in sps.items()},
        "ours_vs_d3rlpy": ratio("ours_fit", "d3rlpy"), "ours_vs_eager": ratio("ours_fit", "eager"),
        "lightning_overhead": (round(1 - sps["ours_fit"] / sps["ours_bare"], 3)
                               if "ours_fit" in sps and "ours_bare" in sps else None),
        "trainer_setup_s": (round(statistics.median(runners["ours_fit"].setup_s), 3)
                            if "ours_fit" in runners else None),
        "goals": {"ours_vs_d3rlpy": 1.8, "ours_vs_eager": 1.3},
        **({"notes": notes} if notes else {}),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
