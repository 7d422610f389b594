"""``resnet``: any timm ResNet variant (``resnet18``, ``resnet10t``, ...) as an image encoder.

Built with ``pretrained=False`` (no model hub); ``weights`` may name a local file holding a state
dict (the classifier ``fc.*`` is ignored).  ``out_dim`` is the pooled feature width
(512 for resnet18 / resnet10t).  timm is imported inside the constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

import torch

from orlvlmf.encoders import preprocess as pp
from orlvlmf.config.structured import ranged
from orlvlmf.encoders.base import Encoder
from orlvlmf.registry import register


@dataclass
class ResNetEncoderConfig:
    model: str = "resnet18"
    image_size: Optional[int] = ranged(None, ge=8, le=2048)  # network input side; None: the stored frame's size
    in_chans: Optional[int] = ranged(None, ge=1)  # None: the stored frame's channels (must match if set)
    weights: Optional[str] = None  # local state-dict file
    random_shift: int = ranged(4, ge=0)  # px of random-shift augmentation at the input size (training only)
    mean: List[float] = field(default_factory=lambda: [0.485, 0.456, 0.406])
    std: List[float] = ranged(default_factory=lambda: [0.229, 0.224, 0.225], gt=0)


def _timm():
    from orlvlmf._compat.torchvision_ops import ensure_torchvision_importable

    ensure_torchvision_importable()
    import timm

    return timm


@register("encoders", "resnet", config=ResNetEncoderConfig)
class ResNetEncoder(Encoder):
    """Global-average-pooled features of a timm ResNet trunk: (B, C, h, w) -> (B, out_dim)."""

    kind = "image"

    def __init__(self, obs_shape: Sequence[int], model: str = "resnet18", image_size: int | None = None,
                 in_chans: int | None = None, weights: str | None = None, random_shift: int = 4,
                 mean: Sequence[float] = (0.485, 0.456, 0.406), std: Sequence[float] = (0.229, 0.224, 0.225)):
        super().__init__(obs_shape)
        if len(self.obs_shape) != 3:
            raise self.reject("an image is (height, width, channels)")
        h, w, c = self.obs_shape
        if c not in (1, 2, 3, 4) and h in (1, 2, 3, 4):
            raise self.reject("frames look channels-first; store them as (height, width, channels)")
        if in_chans is not None and in_chans != c:
            raise self.reject(f"encoder.in_chans={in_chans} but the frames have {c} channels "
                              f"(drop in_chans to follow the data)")
        self.image_size = (h, w) if image_size is None else (int(image_size), int(image_size))
        self.in_chans = c
        self.random_shift_px = int(random_shift)
        self.mean = list(mean) if len(mean) in (1, c) else [sum(mean) / len(mean)]
        self.std = list(std) if len(std) in (1, c) else [sum(std) / len(std)]
        timm = _timm()
        if "resne" not in model or model not in timm.list_models():
            options = ", ".join(timm.list_models("resnet*")[:12])
            raise ValueError(f"encoder 'resnet': unknown model '{model}'. timm ResNet variants include: "
                             f"{options}, ...")
        # channels-last (NHWC) trunk: training runs faster than in NCHW on oneDNN, scoring the same
        # (benchmarks/reward_fit.py, benchmarks/relabel.py)
        self.trunk = timm.create_model(model, pretrained=False, num_classes=0,
                                       in_chans=c).to(memory_format=torch.channels_last)
        self.out_dim = int(self.trunk.num_features)
        if weights:
            self._load_weights(Path(weights))

    def _load_weights(self, path: Path) -> None:
        if not path.is_file():
            raise FileNotFoundError(f"encoder 'resnet': weights file {path} not found (encoder.weights)")
        state = torch.load(path, map_location="cpu", weights_only=True)
        if isinstance(state, dict) and "state_dict" in state:
            state = state["state_dict"]
        state = {k: v for k, v in state.items() if not k.startswith(("fc.", "head.", "classifier."))}
        missing, unexpected = self.trunk.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise ValueError(f"encoder 'resnet': weights in {path} do not fit the trunk "
                             f"(missing {missing[:5]}, unexpected {unexpected[:5]})")

    def preprocess(self, raw: torch.Tensor, augment: bool = False,
                   generator: torch.Generator | None = None) -> torch.Tensor:
        if raw.dim() != 4 or tuple(raw.shape[1:]) != self.obs_shape:
            raise self.reject(f"a batch of shape {tuple(raw.shape)} does not hold frames of shape {self.obs_shape}")
        x = pp.resize(pp.images_to_float(raw), self.image_size)
        if augment:
            x = pp.random_shift(x, self.random_shift_px, generator)
        return pp.normalize(x, self.mean, self.std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk(x.contiguous(memory_format=torch.channels_last))
