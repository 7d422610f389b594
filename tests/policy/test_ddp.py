import torch

from tests.policy.helpers import REPO, run_ddp


def test_iql_two_process_ddp_on_cpu_keeps_ranks_in_sync(tmp_path):
    outs = run_ddp(str(REPO / "tests" / "policy" / "ddp_worker.py"), [str(tmp_path)])
    assert any("done at step 8" in o for o in outs)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert not torch.equal(r0["generator"], r1["generator"])  # each rank sampled its own batches
    for (name, a), b in zip(r0["state"].items(), r1["state"].values()):
        assert torch.allclose(a, b, atol=1e-6), f"{name} differs between ranks: gradients not averaged"
    moved = [n for n, v in r0["state"].items() if v.is_floating_point() and v.numel()
             and not torch.equal(v, r0["init"][n])]
    assert any(n.startswith("value.") for n in moved) and any(n.startswith("q.") for n in moved)
    assert any(n.startswith("actor.") for n in moved)
