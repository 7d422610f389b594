"""The torchvision shim patches only when torchvision's compiled ops cannot load."""

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip()


def test_broken_compiled_ops_get_patched_and_torchvision_imports():
    out = _run("""
        import orlvlmf._compat.torchvision_ops as tv
        tv._compiled_ops_load = lambda: False          # the situation on a CPU torch + CUDA torchvision
        state = tv.ensure_torchvision_importable()
        import torchvision, timm
        m = timm.create_model("resnet10t", pretrained=False, num_classes=1)
        print(state, type(m).__name__)
    """)
    assert out == "patched ResNet"


def test_working_compiled_ops_are_left_alone():
    out = _run("""
        import torch
        import orlvlmf._compat.torchvision_ops as tv
        tv._compiled_ops_load = lambda: True           # as on a matching torch/torchvision install
        state = tv.ensure_torchvision_importable()
        print(state, tv._LIBRARY is None, tv._op_exists("nms"))
    """)
    assert out == "native True False"  # nothing was defined


def test_second_call_is_a_no_op():
    out = _run("""
        import orlvlmf._compat.torchvision_ops as tv
        a = tv.ensure_torchvision_importable(); lib = tv._LIBRARY
        b = tv.ensure_torchvision_importable()
        print(a == b, tv._LIBRARY is lib)
    """)
    assert out == "True True"
