"""Baseline learners ``bc``, ``diffusion``, ``gail`` (registered in :mod:`orlvlmf.policy.learners`)."""
