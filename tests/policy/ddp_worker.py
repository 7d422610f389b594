"""One rank of the DDP smoke test (started by tests/policy/helpers.run_ddp)."""

import os
import sys

import torch

torch.set_num_threads(1)
from tests.policy.helpers import make_learner, random_buffer  # noqa: E402

out_dir = sys.argv[1]
learner = make_learner(seed=0)
init = {k: v.clone() for k, v in learner.state_dict().items()}
learner.fit(random_buffer(), 8, seed=5, log_every=4,
            trainer={"accelerator": "cpu", "devices": 2, "strategy": "ddp", "progress": False})
rank = learner.trainer.global_rank
assert learner.trainer.world_size == 2, learner.trainer.world_size
torch.save({"state": learner.state_dict(), "init": init, "generator": learner._generator.get_state()},
           os.path.join(out_dir, f"rank{rank}.pt"))
print(f"rank {rank} done at step {learner.step}")
