"""The ``evaluate`` stage: roll the trained policy out in its env (:mod:`orlvlmf.env.rollout`)."""
