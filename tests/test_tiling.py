"""Tiled inference equals whole-image inference; the margin covers the receptive field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from p2pcount import Counter
from p2pcount.infer.tiling import tile_margin
from p2pcount.model.folding import fold_batchnorm, inference_network, receptive_field
from p2pcount.model.network import P2PNet
from tests.conftest import constant_model, random_model


def _random_model(seed: int = 0) -> P2PNet:
    torch.manual_seed(seed)
    model = P2PNet().eval()
    with torch.no_grad():  # make scores spread around 0.5 so the threshold matters
        model.classification.output.weight.mul_(20)
    return model


def test_bookkeeping_with_a_position_independent_model() -> None:
    array = np.zeros((203, 317, 3), np.uint8)
    whole = Counter(constant_model(logit=1.0), device="cpu", tile_above=0).count(array)
    tiled = Counter(constant_model(logit=1.0), device="cpu", tile_size=112, tile_above=1)
    assert tiled.needs_tiling(317, 203)
    result = tiled.count(array)
    assert result.count == whole.count == 79 * 51  # anchors x < 317: 79; y < 203: 51
    assert np.array_equal(result.points, whole.points)  # same order, nothing twice
    assert np.array_equal(result.cell_scores, whole.cell_scores)
    assert result.soft_count == pytest.approx(whole.soft_count, rel=1e-6)


def test_tiles_equal_the_whole_image_with_a_random_model() -> None:
    model = _random_model()
    rng = np.random.default_rng(0)
    array = rng.integers(0, 255, (336, 352, 3), np.uint8)
    whole = Counter(model, device="cpu", tile_above=0).count(array)
    tiled = Counter(model, device="cpu", tile_size=176, tile_above=1).count(array)
    assert 0 < whole.count < 336 * 352 // 16
    assert tiled.count == whole.count
    assert tiled.soft_count == pytest.approx(whole.soft_count, rel=1e-5)
    assert np.allclose(tiled.points, whole.points, atol=1e-3)
    assert np.allclose(tiled.cell_scores, whole.cell_scores, atol=1e-5)


def test_margin_covers_the_measured_receptive_field() -> None:
    model = _random_model(1)
    assert receptive_field(model) == 260
    margin = tile_margin(receptive_field(model), model.config.stride, 16)
    assert margin == 144 and margin % 16 == 0
    images = torch.rand(1, 3, 320, 320)
    poked = images.clone()
    poked[..., 160, 160] += 1.0
    with torch.no_grad():
        a, b = model(images)[1], model(poked)[1]
    changed = (a - b).abs().amax(dim=1)[0] > 0  # (h, w) cells whose output moved
    rows, cols = torch.nonzero(changed, as_tuple=True)
    centres = torch.stack([rows, cols], 1).float() * 8 + 4
    reach = (centres - 160).abs().max().item()
    assert 0 < reach <= receptive_field(model) / 2 <= margin


def test_batchnorm_folding_is_exact() -> None:
    model = random_model("vgg16_bn", seed=0)
    net = inference_network(model, torch.device("cpu"))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())  # untouched
    images = torch.rand(2, 3, 48, 32)
    with torch.no_grad():
        for a, b in zip(model(images), net(images), strict=True):
            assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU())
    fold_batchnorm(features)  # nothing to fold: unchanged
    assert isinstance(features[1], torch.nn.ReLU)


def test_bf16_counts_close_to_fp32() -> None:
    model = _random_model(2)
    array = np.random.default_rng(1).integers(0, 255, (96, 128, 3), np.uint8)
    exact = Counter(model, device="cpu", precision="fp32").count(array)
    fast = Counter(model, device="cpu", precision="bf16").count(array)
    assert fast.soft_count == pytest.approx(exact.soft_count, rel=0.02)
    assert abs(fast.count - exact.count) <= max(2, 0.05 * exact.count)


def test_tile_cores_partition_the_image_and_crops_hold_their_margin() -> None:
    from p2pcount.infer.tiling import tile_grid

    tiles = list(tile_grid(100, 40, size=32, margin=16))
    assert [t.core for t in tiles[:4]] == [
        (0, 0, 32, 32), (32, 0, 64, 32), (64, 0, 96, 32), (96, 0, 100, 32),
    ]  # fmt: skip
    assert len(tiles) == 8
    covered = np.zeros((40, 100), int)
    for tile in tiles:
        x0, y0, x1, y1 = tile.core
        covered[y0:y1, x0:x1] += 1
        cx0, cy0, cx1, cy1 = tile.crop
        assert (cx0, cy0) == (max(0, x0 - 16), max(0, y0 - 16))
        assert (cx1, cy1) == (min(100, x0 + 32 + 16), min(40, y0 + 32 + 16))
    assert (covered == 1).all()
