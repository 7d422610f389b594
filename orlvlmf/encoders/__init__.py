"""Registered observation encoders, shared by the reward model and the policy learners.

A package of its own below ``reward/`` and ``policy/`` (it imports neither):

    base         the Encoder contract, EncoderInputError
    preprocess   raw observations -> network input, identical in reward training, relabeling, policies
    mlp          the one MLP builder, and the ``mlp`` state encoder
    resnet       ``resnet`` (timm ResNets, images);  pointnet2: ``pointnet2`` (point clouds)

Uniform constructor (every encoder, built-in or third-party)::

    enc = REGISTRY.create("encoders", name, obs_shape, **options)
    # obs_shape: shape of ONE raw observation as stored in the dataset, no batch axis:
    #   image (H, W, C) uint8 | point_cloud (P, 3 + F) float | state (S,) float
    # options: the encoder's config node without ``name`` (checked against its Config dataclass)

    x = enc.preprocess(raw_batch, augment=False)   # (B, *obs_shape) tensor -> network input
    feats = enc(x)                                  # (B, enc.out_dim)
    enc.kind      # "image" | "point_cloud" | "state": the observation kind it takes
    enc.out_dim   # feature width

A shape of the wrong kind raises :class:`EncoderInputError` at construction.  ``preprocess`` is
the one place observations become tensors (see :mod:`orlvlmf.encoders.preprocess`), so training,
relabeling and policies see identical inputs; ``augment=True`` only while training.

Built-ins: ``resnet`` (timm ResNets), ``pointnet2`` (PointNet++), ``mlp`` (state vectors).
"""

from __future__ import annotations

from typing import Any, Sequence

from orlvlmf.encoders import mlp, pointnet2, resnet  # noqa: F401  (registers them)
from orlvlmf.encoders.base import Encoder, EncoderInputError, guess_kind

__all__ = ["Encoder", "EncoderInputError", "build_encoder", "guess_kind"]


def build_encoder(name: str, obs_shape: Sequence[int], observation: str | None = None,
                  **options: Any) -> Encoder:
    """``REGISTRY.create("encoders", name, obs_shape, **options)``, naming ``observation`` in errors.

    A config node ``{name: ..., **options}`` builds as ``build_encoder(obs_shape=..., **node)``.
    """
    from orlvlmf.registry import REGISTRY

    try:
        return REGISTRY.create("encoders", name, tuple(obs_shape), **options)
    except EncoderInputError as err:
        if observation is None:
            raise
        raise EncoderInputError(f"observation '{observation}': {err}") from None
