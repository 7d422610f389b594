import copy

import pytest
import torch

from orlvlmf.encoders import EncoderInputError, build_encoder
from orlvlmf.registry import REGISTRY


def _frames(n=2, h=40, w=40, c=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, h, w, c), dtype=torch.uint8, generator=g)


def test_resnet_shapes_input_size_and_channels():
    enc = REGISTRY.create("encoders", "resnet", (40, 40, 3), model="resnet10t", image_size=32)
    x = enc.preprocess(_frames())
    assert x.shape == (2, 3, 32, 32)
    assert enc(x).shape == (2, enc.out_dim) and enc.out_dim == 512 and enc.kind == "image"
    gray = REGISTRY.create("encoders", "resnet", (24, 24, 1), model="resnet10t")
    assert gray.encode(_frames(3, 24, 24, 1)).shape == (3, 512)
    with pytest.raises(EncoderInputError, match="in_chans=4 but the frames have 3"):
        REGISTRY.create("encoders", "resnet", (40, 40, 3), model="resnet10t", in_chans=4)


def test_resnet_deterministic_for_a_seed_and_augment_only_when_asked():
    torch.manual_seed(0)
    a = REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t").eval()
    torch.manual_seed(0)
    b = REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t").eval()
    f = _frames(3, 32, 32)
    with torch.no_grad():
        assert torch.equal(a.encode(f), b.encode(f))
    assert torch.equal(a.preprocess(f), a.preprocess(f))
    assert not torch.equal(a.preprocess(f, augment=True, generator=torch.Generator().manual_seed(0)),
                           a.preprocess(f))


def test_resnet_runs_channels_last_and_computes_what_nchw_computes():
    torch.manual_seed(0)
    enc = REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t").eval()
    convs = [p for p in enc.trunk.parameters() if p.dim() == 4]
    assert convs and all(p.is_contiguous(memory_format=torch.channels_last) for p in convs)
    x = enc.preprocess(_frames(3, 32, 32))  # NCHW from preprocess
    nchw = copy.deepcopy(enc.trunk).to(memory_format=torch.contiguous_format)
    with torch.no_grad():
        assert torch.allclose(enc(x), nchw(x.contiguous()), atol=1e-5)


def test_resnet_local_weights_round_trip(tmp_path):
    torch.manual_seed(0)
    a = REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t").eval()
    path = tmp_path / "w.pt"
    torch.save({"state_dict": {**a.trunk.state_dict(), "fc.weight": torch.zeros(2, 512)}}, path)
    torch.manual_seed(5)
    b = REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t", weights=str(path)).eval()
    f = _frames(2, 32, 32)
    with torch.no_grad():
        assert torch.allclose(a.encode(f), b.encode(f))
    with pytest.raises(FileNotFoundError, match="not found"):
        REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t", weights=str(tmp_path / "no.pt"))
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="do not fit"):
        REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t", weights=str(tmp_path / "bad.pt"))


def test_resnet_bad_model_and_wrong_observation_kind():
    with pytest.raises(ValueError, match="unknown model 'resnet999'"):
        REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet999")
    with pytest.raises(EncoderInputError) as err:
        build_encoder("resnet", (39,), observation="state")
    msg = str(err.value)
    assert msg.startswith("observation 'state': encoder 'resnet' takes image observations")
    assert "Use encoder 'mlp'" in msg
    with pytest.raises(EncoderInputError, match="channels-first"):
        REGISTRY.create("encoders", "resnet", (3, 32, 32))
    enc = REGISTRY.create("encoders", "resnet", (32, 32, 3), model="resnet10t")
    with pytest.raises(EncoderInputError, match="does not hold frames"):
        enc.preprocess(_frames(1, 40, 40))
