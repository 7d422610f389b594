"""litellm, imported once and configured quietly (the litellm backend and the cost estimate use it)."""

from __future__ import annotations

import os


def import_litellm():
    """litellm, configured quietly (imported only here: it takes seconds)."""
    # litellm fetches its price table from the network at import unless told not to; use the
    # copy it ships (export LITELLM_LOCAL_MODEL_COST_MAP=False for the remote one).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    litellm.turn_off_message_logging = True  # callbacks never see prompts or images
    litellm.drop_params = True  # e.g. temperature on models that reject it: dropped, not a 400
    return litellm
