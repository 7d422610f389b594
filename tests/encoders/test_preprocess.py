import numpy as np
import pytest
import torch

from orlvlmf.encoders import preprocess as pp


def test_images_to_float_and_resize():
    x = torch.randint(0, 256, (2, 20, 30, 3), dtype=torch.uint8)
    f = pp.images_to_float(x)
    assert f.shape == (2, 3, 20, 30) and f.dtype == torch.float32
    assert torch.allclose(f[1, 2], x[1, :, :, 2].float() / 255)
    assert pp.resize(f, 16).shape == (2, 3, 16, 16)
    assert pp.resize(f, None) is f and pp.resize(f, (20, 30)) is f
    with pytest.raises(ValueError, match="batch, height, width, channels"):
        pp.images_to_float(x[0])


def test_random_shift_is_a_crop_of_the_padded_image_and_seeded():
    x = torch.rand(4, 3, 12, 12)
    pad = 2
    out = pp.random_shift(x, pad, torch.Generator().manual_seed(0))
    again = pp.random_shift(x, pad, torch.Generator().manual_seed(0))
    assert torch.equal(out, again) and out.shape == x.shape
    padded = torch.nn.functional.pad(x, (pad,) * 4, mode="replicate")
    for b in range(4):
        crops = [padded[b, :, i:i + 12, j:j + 12] for i in range(2 * pad + 1) for j in range(2 * pad + 1)]
        assert any(torch.equal(out[b], c) for c in crops)
    assert pp.random_shift(x, 0) is x


def test_normalize_per_channel():
    x = torch.ones(1, 3, 2, 2)
    y = pp.normalize(x, [0.5, 0.0, 1.0], [0.5, 1.0, 2.0])
    assert y[0, :, 0, 0].tolist() == [1.0, 1.0, 0.0]
    with pytest.raises(ValueError, match="channels"):
        pp.normalize(x, [0.1, 0.2], [1.0, 1.0])


def test_center_points_keeps_features():
    x = torch.randn(2, 50, 4) + 3.0
    c = pp.center_points(x)
    assert torch.allclose(c[..., :3].mean(1), torch.zeros(2, 3), atol=1e-5)
    assert torch.equal(c[..., 3], x[..., 3])


def test_sample_points_eval_is_deterministic_per_cloud_and_augment_is_seeded():
    x = torch.randn(3, 100, 3)
    a = pp.sample_points(x, 40)
    b = pp.sample_points(x[1:2], 40)
    assert a.shape == (3, 40, 3) and torch.equal(a[1:2], b)  # independent of the batch around it
    r1 = pp.sample_points(x, 40, augment=True, generator=torch.Generator().manual_seed(3))
    r2 = pp.sample_points(x, 40, augment=True, generator=torch.Generator().manual_seed(3))
    assert torch.equal(r1, r2) and not torch.equal(r1, a)
    # every sampled point is one of the cloud's points, without repeats when P >= n
    for k in range(3):
        rows = {tuple(p.tolist()) for p in r1[k]}
        assert len(rows) == 40 and rows <= {tuple(p.tolist()) for p in x[k]}
    small = pp.sample_points(x[:, :10], 25)
    assert small.shape == (3, 25, 3)
    assert np.isin(small[0, :, 0].numpy(), x[0, :10, 0].numpy()).all()
