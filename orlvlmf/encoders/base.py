"""What every registered encoder is: ``Encoder(obs_shape, **config)`` with ``kind`` and ``out_dim``."""

from __future__ import annotations

from typing import ClassVar, Sequence

import torch
from torch import nn

KIND_SHAPES = {
    "image": "(height, width, channels) uint8 frames",
    "point_cloud": "(points, 3 + features) float clouds",
    "state": "(state_dim,) float vectors",
}
KIND_ENCODERS = {"image": "resnet", "point_cloud": "pointnet2", "state": "mlp"}


class EncoderInputError(ValueError):
    """An encoder was given observations of a kind or shape it cannot take."""


class Encoder(nn.Module):
    """Base class of the registered encoders.

    ``obs_shape`` is the shape of ONE raw observation as the dataset stores it (no batch axis).
    ``preprocess(raw, augment=False)`` maps a raw batch to network input (see
    :mod:`orlvlmf.encoders.preprocess`); ``forward(x)`` maps that input to ``(B, out_dim)`` features.
    """

    kind: ClassVar[str] = ""
    out_dim: int

    def __init__(self, obs_shape: Sequence[int]):
        super().__init__()
        self.obs_shape = tuple(int(s) for s in obs_shape)

    def preprocess(
        self, raw: torch.Tensor, augment: bool = False, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        raise NotImplementedError

    def encode(self, raw: torch.Tensor, augment: bool = False) -> torch.Tensor:
        """``forward(preprocess(raw))``."""
        return self(self.preprocess(raw, augment=augment))

    def reject(self, why: str) -> EncoderInputError:
        name = getattr(self, "registry_name", type(self).__name__)
        hint = KIND_ENCODERS.get(guess_kind(self.obs_shape))
        return EncoderInputError(
            f"encoder '{name}' takes {self.kind} observations, {KIND_SHAPES[self.kind]}, but got "
            f"observations of shape {self.obs_shape}: {why}."
            + (f" Use encoder '{hint}' for {guess_kind(self.obs_shape)} observations, or pick the "
               f"matching observation key." if hint and hint != name else "")
        )


def guess_kind(shape: Sequence[int]) -> str:
    """``image`` / ``point_cloud`` / ``state`` from the rank of one observation's shape."""
    rank = len(shape)
    if rank == 3:
        return "image"
    if rank == 2:
        return "point_cloud"
    if rank == 1:
        return "state"
    return "unknown"
