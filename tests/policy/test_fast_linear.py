import copy

import torch

import orlvlmf.policy.fast_linear as fl

torch.set_num_threads(1)


def test_fast_linear_matches_nn_linear():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(7, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64),
                              torch.nn.ReLU(), torch.nn.Linear(64, 1))
    fast = fl.accelerate_linears(copy.deepcopy(net))
    assert list(net.state_dict()) == list(fast.state_dict())
    x = torch.randn(32, 7)
    y0, y1 = net(x), fast(x)
    assert torch.allclose(y0, y1, atol=1e-5)
    y0.square().sum().backward()
    y1.square().sum().backward()
    for p, q in zip(net.parameters(), fast.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-4)
    if fl.ONEDNN:
        assert isinstance(fast[0], fl.FastLinear) and fast[0].relu


def test_fallback_path_for_non_cpu_float32_input():
    lin = fl.FastLinear(4, 64, relu=True)
    x = torch.randn(3, 4, dtype=torch.float64)
    lin = lin.double()
    y = lin(x)
    assert y.dtype == torch.float64
    assert torch.allclose(y, torch.relu(x @ lin.weight.t() + lin.bias))
