"""``orlvlmf sweep``: tasks × dataset qualities × methods × seeds through the stage machinery,
with Table I / II-shaped results.  See :mod:`orlvlmf.sweep.config` (the sweep config schema) and
:mod:`orlvlmf.sweep.runner` (sharing, skipping, resuming)."""

from orlvlmf.sweep.config import SweepConfig, SweepConfigError, load_sweep_config

__all__ = ["SweepConfig", "SweepConfigError", "load_sweep_config", "run_sweep"]


def run_sweep(*args, **kwargs):
    """See :func:`orlvlmf.sweep.runner.run_sweep`."""
    from orlvlmf.sweep.runner import run_sweep as _run

    return _run(*args, **kwargs)
