import itertools

import pytest
import torch

from orlvlmf.encoders import EncoderInputError
from orlvlmf.encoders.pointnet2 import ball_query, farthest_point_sample, gather_points
from orlvlmf.registry import REGISTRY


def brute_fps(pts: torch.Tensor, npoint: int) -> list[int]:
    chosen = [0]
    for _ in range(npoint - 1):
        best, best_d = None, -1.0
        for i in range(len(pts)):
            d = min(float(((pts[i] - pts[j]) ** 2).sum()) for j in chosen)
            if d > best_d:
                best, best_d = i, d
        chosen.append(best)
    return chosen


def brute_ball(pts: torch.Tensor, centre: torch.Tensor, r: float, k: int) -> list[int]:
    hits = [i for i in range(len(pts)) if float(((pts[i] - centre) ** 2).sum()) <= r * r][:k]
    return hits + [hits[0]] * (k - len(hits))


def test_fps_matches_brute_force_reference():
    g = torch.Generator().manual_seed(0)
    xyz = torch.rand(3, 40, 3, generator=g, dtype=torch.float64)
    idx = farthest_point_sample(xyz, 10)
    assert idx.shape == (3, 10)
    for b in range(3):
        assert idx[b].tolist() == brute_fps(xyz[b], 10)


def test_fps_picks_distinct_points_and_rejects_too_many():
    xyz = torch.rand(2, 16, 3)
    idx = farthest_point_sample(xyz, 16)
    assert all(len(set(row.tolist())) == 16 for row in idx)
    with pytest.raises(ValueError, match="cannot sample"):
        farthest_point_sample(xyz, 17)


def test_ball_query_matches_brute_force_reference():
    g = torch.Generator().manual_seed(1)
    xyz = torch.rand(2, 60, 3, generator=g, dtype=torch.float64)
    centres = gather_points(xyz, farthest_point_sample(xyz, 8))
    for r, k in itertools.product((0.15, 0.3, 2.0), (4, 16)):
        idx = ball_query(xyz, centres, r, k)
        assert idx.shape == (2, 8, k)
        for b in range(2):
            for s in range(8):
                assert idx[b, s].tolist() == brute_ball(xyz[b], centres[b, s], r, k), (r, k, b, s)


def test_ball_query_far_centre_falls_back_to_nearest_point():
    xyz = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [5.0, 0, 0]]])
    centre = torch.tensor([[[4.0, 0, 0]]])
    assert ball_query(xyz, centre, 0.1, 3).tolist() == [[[2, 2, 2]]]


def _cfg(**kw):
    base = dict(num_points=64, npoints=[16, 8], radii=[0.2, 0.4], nsamples=[8, 8],
                mlps=[[16, 16], [16, 32]], global_mlp=[32, 48])
    return base | kw


def test_pointnet2_shapes_and_determinism_for_a_seed():
    clouds = torch.randn(3, 100, 3) * 0.3
    torch.manual_seed(0)
    a = REGISTRY.create("encoders", "pointnet2", (100, 3), **_cfg()).eval()
    torch.manual_seed(0)
    b = REGISTRY.create("encoders", "pointnet2", (100, 3), **_cfg()).eval()
    assert a.out_dim == 48 and a.kind == "point_cloud"
    with torch.no_grad():
        fa, fb = a.encode(clouds), b.encode(clouds)
    assert fa.shape == (3, 48) and torch.equal(fa, fb)
    # translation invariant (centring) and independent of the batch around a cloud
    with torch.no_grad():
        assert torch.allclose(a.encode(clouds + 5.0), fa, atol=1e-4)
        assert torch.allclose(a.encode(clouds[1:2]), fa[1:2], atol=1e-5)
    torch.manual_seed(1)
    c = REGISTRY.create("encoders", "pointnet2", (100, 3), **_cfg()).eval()
    with torch.no_grad():
        assert not torch.allclose(c.encode(clouds), fa)


def test_pointnet2_uses_extra_features_and_trains():
    enc = REGISTRY.create("encoders", "pointnet2", (80, 6), **_cfg())
    x = enc.preprocess(torch.randn(4, 80, 6), augment=True)
    assert x.shape == (4, 64, 6)
    out = enc(x)
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters())
    plain = REGISTRY.create("encoders", "pointnet2", (80, 6), use_features=False, **_cfg())
    assert plain.preprocess(torch.randn(4, 80, 6)).shape == (4, 64, 3)


def test_pointnet2_rejects_images_and_bad_levels():
    with pytest.raises(EncoderInputError, match="point_cloud observations.*resnet"):
        REGISTRY.create("encoders", "pointnet2", (32, 32, 3))
    with pytest.raises(ValueError, match="must decrease"):
        REGISTRY.create("encoders", "pointnet2", (100, 3), **_cfg(npoints=[8, 16]))
