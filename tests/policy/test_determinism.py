"""A seed fixes a learner's initial weights, whatever the process imported or built before it."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import torch
    torch.manual_seed(123)
    before = torch.get_rng_state()
    import orlvlmf.policy.fast_linear, orlvlmf.policy.learners, orlvlmf.policy.baselines  # noqa
    from orlvlmf.registry import REGISTRY
    REGISTRY.names("learners")
    assert torch.equal(before, torch.get_rng_state()), "an import advanced the global RNG"

    def build():
        cls = REGISTRY.get("learners", "iql")
        torch.manual_seed(7)
        net = cls({"name": "iql"}, {"state": (4,)}, 1)
        return torch.cat([p.detach().flatten() for p in net.parameters()])

    first, second = build(), build()
    assert torch.equal(first, second), "the second learner of a process got other weights"
    print("ok")
""")


def test_imports_leave_the_global_rng_alone_and_seeded_inits_repeat():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
