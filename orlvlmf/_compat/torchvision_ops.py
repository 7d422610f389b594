"""Let torchvision import beside a CPU-only torch whose build does not match torchvision's wheel.

PyPI's torchvision wheel carries compiled ops built against a CUDA torch.  Beside the CPU torch
wheel those ops fail to load, and ``import torchvision`` then dies registering Python fallbacks
for ``torchvision::nms`` (``operator torchvision::nms does not exist``).  timm and lightning import
torchvision, so orlvlmf calls :func:`ensure_torchvision_importable` before importing them.

The fix defines the two op *schemas* torchvision's Python side expects (``nms`` and ``qnms``) so
its fake-tensor registrations succeed.  The ops stay unimplemented (calling them raises), which
is fine: orlvlmf never uses detection ops.  When torchvision's compiled ops load, nothing is done.
"""

from __future__ import annotations

import importlib.util
import sys

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY = None  # keeps the torch.library.Library alive: dropping it removes the schemas
_state: str | None = None


def _compiled_ops_load() -> bool:
    """True when torchvision's C++ extension loads and defines its ops."""
    import torch

    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True  # torchvision absent: nothing to patch
    import glob
    import os

    libs = []
    for loc in spec.submodule_search_locations:
        libs += glob.glob(os.path.join(loc, "_C*.so")) + glob.glob(os.path.join(loc, "_C*.pyd"))
    if not libs:
        return False
    try:
        torch.ops.load_library(libs[0])
    except (OSError, RuntimeError):
        return False
    return _op_exists("nms")


def _op_exists(name: str) -> bool:
    import torch

    try:
        torch._C._dispatch_find_schema_or_throw(f"torchvision::{name}", "")
        return True
    except RuntimeError:
        return False


def ensure_torchvision_importable() -> str:
    """Make ``import torchvision`` work; returns ``"native"``, ``"patched"`` or ``"absent"``.

    Idempotent and cheap after the first call.  Must run before torchvision is imported.
    """
    global _LIBRARY, _state
    if _state is not None:
        return _state
    if "torchvision" in sys.modules:
        _state = "native" if _op_exists("nms") else "patched"
        return _state
    if importlib.util.find_spec("torchvision") is None:
        _state = "absent"
        return _state
    if _compiled_ops_load():
        _state = "native"
        return _state
    import torch

    _LIBRARY = torch.library.Library("torchvision", "FRAGMENT")  # noqa: PLW0603
    for name, schema in _SCHEMAS.items():
        if not _op_exists(name):
            _LIBRARY.define(schema)
    _state = "patched"
    return _state
