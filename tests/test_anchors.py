"""Anchors and decoding against hand-computed values (seed: shared/seeds/000_*)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from p2pcount.infer.counting import hard_count, soft_count, soft_variance
from p2pcount.model.anchors import (
    AnchorCache,
    PointDecoder,
    anchor_offsets,
    decode,
    make_anchors,
    valid_anchor_mask,
)
from p2pcount.model.config import ModelConfig
from p2pcount.model.decoding import NumpyDecoder, numpy_anchors, sigmoid


def test_anchor_offsets_order_for_four_anchors() -> None:
    # (−,−), (+,−), (−,+), (+,+) for (x, y), delta = S // 4 = 2 px at S = 8.
    dx, dy = anchor_offsets(4, 8)
    assert dx == [-2.0, 2.0, -2.0, 2.0]
    assert dy == [-2.0, -2.0, 2.0, 2.0]


def test_make_anchors_matches_hand_computed_16x24_grid() -> None:
    # H = 16, W = 24: a 2 × 3 grid. Cell (i, j) centre = ((j + .5)·8, (i + .5)·8).
    anchors = make_anchors(16, 24)
    assert anchors.shape == (2, 4, 2, 3)
    x, y = anchors[0], anchors[1]
    # Cell (row 1, column 2): centre (20, 12); anchors (18,10), (22,10), (18,14), (22,14).
    assert x[:, 1, 2].tolist() == [18.0, 22.0, 18.0, 22.0]
    assert y[:, 1, 2].tolist() == [10.0, 10.0, 14.0, 14.0]
    # x depends on the column only, y on the row only (the seed's (i, j) vs (x, y) warning).
    assert x[0].tolist() == [[2.0, 10.0, 18.0], [2.0, 10.0, 18.0]]
    assert y[0].tolist() == [[2.0, 2.0, 2.0], [10.0, 10.0, 10.0]]


def test_make_anchors_equals_the_seed_reference_implementation() -> None:
    def seed_make_anchors(height: int, width: int, stride: int = 8) -> torch.Tensor:
        hf, wf = height // stride, width // stride
        ys = (torch.arange(hf) + 0.5) * stride
        xs = (torch.arange(wf) + 0.5) * stride
        grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
        grid_x = grid_x.unsqueeze(0).repeat(4, 1, 1)
        grid_y = grid_y.unsqueeze(0).repeat(4, 1, 1)
        delta = stride // 4
        grid_x[[0, 2]] -= delta
        grid_x[[1, 3]] += delta
        grid_y[[0, 1]] -= delta
        grid_y[[2, 3]] += delta
        return torch.stack([grid_x, grid_y], dim=0)

    for height, width in [(8, 8), (16, 24), (64, 40), (120, 96)]:
        assert torch.equal(make_anchors(height, width), seed_make_anchors(height, width))


def test_decode_adds_scaled_offsets_with_x_channels_first() -> None:
    anchors = make_anchors(16, 24)  # (2, 4, 2, 3)
    offsets = torch.zeros(1, 8, 2, 3)
    offsets[0, 1, 1, 2] = 0.5  # x-offset of anchor 1 in cell (1, 2)
    offsets[0, 4 + 3, 0, 0] = -0.25  # y-offset of anchor 3 in cell (0, 0)
    logits = torch.zeros(1, 4, 2, 3)
    decoded = decode(offsets, logits, anchors, offset_scale=10.0)
    assert decoded.points.shape == (1, 2, 4, 2, 3)
    assert decoded.points[0, :, 1, 1, 2].tolist() == [22.0 + 5.0, 10.0]
    assert decoded.points[0, :, 3, 0, 0].tolist() == [6.0, 6.0 - 2.5]
    assert torch.equal(decoded.points[0, :, 0], anchors[:, 0])
    assert torch.allclose(decoded.scores, torch.full((1, 4, 2, 3), 0.5))


def test_hard_and_soft_counts() -> None:
    scores = np.array([[0.9, 0.8, 0.5, 0.1], [0.81, 0.2, 0.0, 1.0]], np.float32).reshape(2, 4, 1, 1)
    assert hard_count(scores, 0.8).tolist() == [1, 2]  # strictly above the threshold
    assert hard_count(scores, 0.0).tolist() == [4, 3]
    assert np.allclose(soft_count(scores), [2.3, 2.01])
    mask = np.array([True, False, True, True]).reshape(4, 1, 1)
    assert hard_count(scores, 0.4, mask).tolist() == [2, 2]
    assert np.allclose(soft_count(scores, mask), [1.5, 1.81])
    # Σ p(1 − p): 0.09 + 0.25 + 0.09 and 0.1539 + 0 + 0 over the masked-in candidates.
    assert np.allclose(soft_variance(scores, mask), [0.43, 0.1539])


def test_valid_anchor_mask_drops_padding() -> None:
    # A 17 × 33 (W × H) image is padded to 32 × 48: grid 6 × 4. Anchors x < 17 are
    # 2, 6, 10, 14 (columns 0–1); y < 33 are 2, 6, …, 30 (rows 0–3): 4 × 8 = 32 valid.
    anchors = make_anchors(48, 32)
    mask = valid_anchor_mask(anchors, height=33, width=17)
    assert mask.shape == (4, 6, 4)
    assert int(mask.sum()) == 32
    assert mask[:, :4, :2].all() and not mask[:, 4:].any() and not mask[:, :, 2:].any()


def test_anchor_cache_reuses_tensors_per_shape_device_dtype() -> None:
    cache = AnchorCache()
    first = cache.get(2, 3, torch.device("cpu"), torch.float32)
    assert cache.get(2, 3, torch.device("cpu"), torch.float32) is first
    assert torch.equal(first, make_anchors(16, 24))
    assert cache.get(2, 3, torch.device("cpu"), torch.float64).dtype == torch.float64
    assert cache.get(3, 3, torch.device("cpu"), torch.float32).shape == (2, 4, 3, 3)


def test_nine_anchors_sit_on_a_three_by_three_lattice() -> None:
    dx, dy = anchor_offsets(9, 12)
    assert dx == [-4.0, 0.0, 4.0] * 3
    assert dy == [-4.0] * 3 + [0.0] * 3 + [4.0] * 3


def test_anchor_cache_is_bounded() -> None:
    cache = AnchorCache(size=2)
    cpu = torch.device("cpu")
    first = cache.get(1, 1, cpu, torch.float32)
    cache.get(1, 2, cpu, torch.float32)
    assert cache.get(1, 1, cpu, torch.float32) is first  # now most recent
    cache.get(1, 3, cpu, torch.float32)  # evicts (1, 2)
    assert cache.get(1, 1, cpu, torch.float32) is first
    assert len(cache._cache) == 2


def test_point_decoder_is_decode_with_anchors_and_the_padding_mask() -> None:
    from p2pcount.model.anchors import PointDecoder
    from p2pcount.model.config import ModelConfig

    config = ModelConfig()
    offsets = torch.randn(2, 8, 2, 3)  # a 16 × 24 padded input: 2 × 3 cells
    logits = torch.randn(2, 4, 2, 3)
    anchors = make_anchors(16, 24, 8, 4)
    expected = decode(offsets, logits, anchors, config.offset_scale)
    for cache_size in (0, 8):
        decoder = PointDecoder(config, cache_size=cache_size)
        decoded = decoder(offsets, logits, image_size=(13, 21))
        assert torch.equal(decoded.points, expected.points)
        assert torch.equal(decoded.scores, expected.scores)
        assert torch.equal(decoded.anchors, anchors)
        # Anchors at x = 2, 6, 10, 14, 18, 22 and y = 2, 6, 10, 14: x 22 and y 14 are outside.
        assert torch.equal(decoded.valid, (anchors[0] < 21) & (anchors[1] < 13))
        assert int(decoded.valid.sum()) == 5 * 3
        assert decoder(offsets, logits).valid is None


def test_numpy_anchors_are_the_torch_anchors_and_shared_read_only() -> None:
    for grid_h, grid_w, n in [(1, 1, 4), (2, 3, 4), (6, 5, 9), (15, 20, 1)]:
        anchors = numpy_anchors(grid_h, grid_w, 8, n)
        assert anchors.dtype == np.float32 and anchors.shape == (2, n, grid_h, grid_w)
        assert np.array_equal(anchors, make_anchors(grid_h * 8, grid_w * 8, 8, n).numpy())
    assert numpy_anchors(2, 3, 8, 4) is numpy_anchors(2, 3, 8, 4)
    with pytest.raises(ValueError, match="read-only"):
        numpy_anchors(2, 3, 8, 4)[0, 0, 0, 0] = 1.0


@pytest.mark.parametrize("image_size", [(13, 21), (37, 50), (16, 16)])
def test_numpy_decode_equals_the_torch_decode_of_training(image_size: tuple[int, int]) -> None:
    # Random maps of the padded grid, with logits far into both tails of the sigmoid.
    height, width = image_size
    grid_h, grid_w = -(-height // 16) * 2, -(-width // 16) * 2
    rng = np.random.default_rng(height)
    offsets = rng.normal(0, 0.5, (3, 8, grid_h, grid_w)).astype(np.float32)
    logits = rng.normal(0, 8, (3, 4, grid_h, grid_w)).astype(np.float32)
    logits[0, 0, 0, :2] = [-200.0, 200.0]
    config = ModelConfig()
    ours = NumpyDecoder(config)(offsets, logits, image_size=image_size)
    theirs = PointDecoder(config)(
        torch.from_numpy(offsets), torch.from_numpy(logits), image_size=image_size
    )
    assert ours.points.dtype == ours.scores.dtype == np.float32
    assert np.array_equal(ours.points, theirs.points.numpy())  # the same float32 arithmetic
    assert np.allclose(ours.scores, theirs.scores.numpy(), rtol=0, atol=1e-6)
    assert np.array_equal(ours.anchors, theirs.anchors.numpy())
    assert np.array_equal(ours.valid, theirs.valid.numpy())
    assert ours.scores[0, 0, 0, :2].tolist() == [0.0, 1.0]


def test_sigmoid_saturates_without_overflow_warnings() -> None:
    logits = np.array([-1000.0, -88.0, 0.0, 3.0, 1000.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probabilities = sigmoid(logits)
    assert probabilities.dtype == np.float32
    assert np.allclose(probabilities, [0.0, 6.054601e-39, 0.5, 0.95257413, 1.0], rtol=1e-6)
    assert probabilities[0] == 0.0 and probabilities[-1] == 1.0
