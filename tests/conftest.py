"""Test-wide settings: nothing waits on a hub, MuJoCo renders headless, litellm stays offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
