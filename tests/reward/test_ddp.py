"""The reward model trains in a 2-process DDP on CPU (gloo) with its ranks kept in sync."""

import numpy as np
import torch

from orlvlmf.data.dataset import OfflineDataset
from tests.policy.helpers import REPO, run_ddp
from tests.reward.conftest import make_dataset, scripted_pairs


def test_reward_model_two_process_ddp_on_cpu(tmp_path):
    dataset = make_dataset(tmp_path / "dataset.h5")
    with OfflineDataset.open(dataset) as ds:
        idx0, idx1, label = scripted_pairs(ds.ground_truth().reward, 200, seed=1, tie_eps=0.01)
    np.savez(tmp_path / "pairs.npz", idx0=idx0, idx1=idx1, label=label)
    outs = run_ddp(str(REPO / "tests" / "reward" / "ddp_worker.py"),
                   [str(tmp_path), str(dataset), str(tmp_path / "pairs.npz")])
    assert sum("done after 2 epochs" in o for o in outs) == 2, outs
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    for name, a in r0["state"].items():
        assert torch.allclose(a, r1["state"][name], atol=1e-6), f"{name} differs between ranks"
    moved = [n for n, v in r0["state"].items() if v.is_floating_point() and not torch.equal(v, r0["init"][n])]
    assert moved, "no parameter changed: the model did not train"
