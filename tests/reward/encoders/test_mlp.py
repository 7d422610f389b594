import pytest
import torch

from orlvlmf.registry import REGISTRY
from orlvlmf.reward.encoders import EncoderInputError


def test_mlp_shapes_and_determinism():
    torch.manual_seed(0)
    a = REGISTRY.create("encoders", "mlp", (7,), hidden=[32, 16], layer_norm=True)
    torch.manual_seed(0)
    b = REGISTRY.create("encoders", "mlp", (7,), hidden=[32, 16], layer_norm=True)
    x = torch.randn(5, 7, dtype=torch.float64)
    assert a.out_dim == 16 and a.kind == "state"
    assert a.encode(x).shape == (5, 16) and torch.equal(a.encode(x), b.encode(x))
    assert a.preprocess(x).dtype == torch.float32


def test_mlp_bad_input():
    with pytest.raises(EncoderInputError, match="state observations.*resnet"):
        REGISTRY.create("encoders", "mlp", (32, 32, 3))
    with pytest.raises(ValueError, match="at least one hidden"):
        REGISTRY.create("encoders", "mlp", (7,), hidden=[])
    with pytest.raises(ValueError, match="activation 'swish'"):
        REGISTRY.create("encoders", "mlp", (7,), activation="swish")


def test_registry_lists_builtins_with_configs():
    names = REGISTRY.names("encoders")
    assert {"resnet", "pointnet2", "mlp"} <= set(names)
    for n in ("resnet", "pointnet2", "mlp"):
        assert REGISTRY.config_class("encoders", n) is not None
