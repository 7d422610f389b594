import pytest
import torch

from orlvlmf.encoders import EncoderInputError
from orlvlmf.registry import REGISTRY


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


def test_the_one_mlp_builder_layers_activations_and_orthogonal_init():
    from torch import nn

    from orlvlmf.encoders.mlp import mlp

    net = mlp([3, 8, 2], "tanh")
    assert [type(m) for m in net] == [nn.Linear, nn.Tanh, nn.Linear]
    net = mlp([3, 8, 8], "mish", layer_norm=True, last_activation=True)
    assert [type(m) for m in net] == [nn.Linear, nn.LayerNorm, nn.Mish, nn.Linear, nn.LayerNorm, nn.Mish]
    torch.manual_seed(0)
    net = mlp([16, 8, 4], init="orthogonal")
    w1, w2 = net[0].weight, net[2].weight  # rows orthonormal, times the gain (sqrt 2, then 1)
    assert torch.allclose(w1 @ w1.T, 2 * torch.eye(8), atol=1e-5)
    assert torch.allclose(w2 @ w2.T, torch.eye(4), atol=1e-5)
    assert not net[0].bias.any() and not net[2].bias.any()
    with pytest.raises(ValueError, match="activation 'swish'"):
        mlp([2, 2], "swish")
