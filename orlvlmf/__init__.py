"""orlvlmf: Offline RL-VLM-F.

An unlabeled offline robot dataset + one sentence of task text → VLM preference labels →
Bradley-Terry reward model → relabeled dataset → Implicit Q-Learning policy.

Importing this package is deliberately light: heavy dependencies (torch, timm, lightning,
litellm, mujoco) load only when the component that needs them is used.
"""

__version__ = "0.1.0"

from orlvlmf.registry import REGISTRY, register  # noqa: E402  (light: stdlib only)

__all__ = ["REGISTRY", "register", "__version__"]
