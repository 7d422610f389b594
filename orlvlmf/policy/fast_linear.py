"""Linear (+ReLU) layers whose CPU float32 matmuls run through oneDNN instead of MKL's sgemm.

On AMD CPUs MKL's sgemm takes its AVX2 path; oneDNN uses AVX-512 and measured ~2× faster for
the 256-wide layers of IQL's nets (same IEEE float32 arithmetic, only the summation order
differs).  :func:`accelerate_linears` swaps ``nn.Linear`` (and a following ``nn.ReLU``) inside a
module for :class:`FastLinear`, keeping the same parameters and state-dict keys.  Anything that
is not a CPU float32 tensor (CUDA, bf16 autocast, an old torch without the op) takes the plain
``F.linear`` path, so the swap never changes what a layer computes.

Forward ``y = act(x Wᵀ + b)``; backward with ``g̃ = g ⊙ 1(y > 0)`` (ReLU) or ``g̃ = g``::

    ∂x = g̃ W,   ∂W = g̃ᵀ x,   ∂b = Σ_batch g̃
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_OP = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)


def _probe() -> bool:
    if _OP is None or not torch.backends.mkldnn.is_available():
        return False
    try:
        # fixed values, not torch.randn: an import must not advance the global RNG (the first
        # learner built in a process would otherwise get other initial weights than later ones)
        x = torch.linspace(-1.0, 1.0, 12).reshape(4, 3)
        w, b = torch.linspace(0.5, -0.5, 6).reshape(2, 3), torch.tensor([0.1, -0.2])
        return bool(torch.allclose(_OP(x, w, b, "none", [], ""), F.linear(x, w, b), atol=1e-5))
    except Exception:  # pragma: no cover - op missing or unusable on this build
        return False


ONEDNN = _probe()
MIN_WIDTH = 32  # narrower outputs (Q/V heads, actions) stay on addmm: oneDNN is slower there


def _mm(a: torch.Tensor, b_t: torch.Tensor) -> torch.Tensor:
    """a @ b_tᵀ through oneDNN (both 2-D, contiguous)."""
    return _OP(a, b_t, None, "none", [], "")


class _LinearAct(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, relu: bool):
        y = _OP(x, weight, bias, "relu" if relu else "none", [], "")
        ctx.relu = relu
        ctx.save_for_backward(x, weight, y if relu else None)
        return y

    @staticmethod
    def backward(ctx, g):
        x, weight, y = ctx.saved_tensors
        g = g.contiguous()
        if ctx.relu:
            g = torch.ops.aten.threshold_backward(g, y, 0)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            gx = _mm(g, weight.t().contiguous())
        if ctx.needs_input_grad[1]:
            gw = _mm(g.t().contiguous(), x.t().contiguous())
        if ctx.needs_input_grad[2]:
            gb = g.sum(0)
        return gx, gw, gb, None


class FastLinear(nn.Linear):
    """``nn.Linear`` (optionally with a fused ReLU) routed through oneDNN for CPU float32 input."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, relu: bool = False):
        super().__init__(in_features, out_features, bias)
        self.relu = relu

    @classmethod
    def from_linear(cls, lin: nn.Linear, relu: bool) -> "FastLinear":
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = lin.in_features, lin.out_features
        new.weight, new.bias = lin.weight, lin.bias
        new.relu = relu
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (ONEDNN and x.dim() == 2 and x.is_cpu and x.dtype == torch.float32
                and self.weight.dtype == torch.float32 and not torch.is_autocast_cpu_enabled()):
            return _LinearAct.apply(x.contiguous(), self.weight, self.bias, self.relu)
        y = F.linear(x, self.weight, self.bias)
        return F.relu(y) if self.relu else y

    def extra_repr(self) -> str:
        return super().extra_repr() + (", relu=True" if self.relu else "")


def accelerate_linears(module: nn.Module) -> nn.Module:
    """Swap wide ``nn.Linear`` (+ following ``nn.ReLU``) in ``nn.Sequential`` children, in place."""
    if not ONEDNN:
        return module
    for seq in [m for m in module.modules() if isinstance(m, nn.Sequential)]:
        names = list(seq._modules)
        for i, name in enumerate(names):
            lin = seq._modules[name]
            if type(lin) is not nn.Linear or lin.out_features < MIN_WIDTH:
                continue
            nxt = seq._modules[names[i + 1]] if i + 1 < len(names) else None
            relu = type(nxt) is nn.ReLU
            seq._modules[name] = FastLinear.from_linear(lin, relu)
            if relu:
                seq._modules[names[i + 1]] = nn.Identity()
    return module
