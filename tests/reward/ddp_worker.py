"""One rank of the reward model's DDP smoke test (started by tests/policy/helpers.run_ddp)."""

import os
import sys
from pathlib import Path

import torch

torch.set_num_threads(1)
from orlvlmf.data.dataset import OfflineDataset  # noqa: E402
from orlvlmf.reward.data import load_pairs  # noqa: E402
from orlvlmf.reward.model import RewardNet  # noqa: E402
from orlvlmf.reward.train import train_reward_model  # noqa: E402

out, dataset, pairs_file = (Path(a) for a in sys.argv[1:4])
cfg = dict(observation="state", encoder={"name": "mlp", "hidden": [16]}, head_hidden=[], ensemble=2,
           segment=1, ties="drop", lr=1e-2, weight_decay=0.0, batch_size=32, max_epochs=2, patience=5,
           val_fraction=0.25, augment=False, gt_eval_transitions=0, gt_eval_every=0, seed=0)
init = RewardNet(cfg["encoder"], (2,), ensemble=2, seed=0).state_dict()
trainer = {"accelerator": "cpu", "devices": 2, "strategy": "ddp", "num_threads": 1, "progress": False}
with OfflineDataset.open(dataset) as ds:
    view = ds.without_ground_truth()
    pairs = load_pairs(pairs_file, view.num_transitions)
    net, summary = train_reward_model(view, pairs, cfg, trainer=trainer, work_dir=out / "work",
                                      tb_dir=out / "tb")
rank = int(os.environ["RANK"])
torch.save({"state": net.state_dict(), "init": init, "summary": summary}, out / f"rank{rank}.pt")
print(f"rank {rank} done after {summary['epochs']} epochs")
