"""Augmentation: exact point bookkeeping under scaling, cropping, padding and flipping."""

from __future__ import annotations

import numpy as np
from PIL import Image

from p2pcount.train.augment import (
    MEAN_RGB,
    AugmentConfig,
    crop,
    hflip,
    pad_to,
    random_crops,
    rescale,
)


def test_hflip_mirrors_points_exactly() -> None:
    array = np.zeros((4, 10, 3), np.uint8)
    array[1, 2] = 255  # pixel (x=2, y=1) spans [2, 3): centre 2.5 → 10 − 2.5 = 7.5
    flipped, points = hflip(array, np.array([[2.5, 1.5], [0.0, 0.0]], np.float32))
    assert points.tolist() == [[7.5, 1.5], [10.0, 0.0]]
    assert flipped[1, 7].tolist() == [255, 255, 255]


def test_crop_keeps_points_inside_and_shifts_them() -> None:
    array = np.arange(20 * 20 * 3, dtype=np.uint8).reshape(20, 20, 3)
    points = np.array([[5, 5], [12, 7], [15.9, 15.9], [16, 10], [3, 12]], np.float32)
    window, inside = crop(array, points, left=4, top=4, size=12)
    assert window.shape == (12, 12, 3)
    assert np.array_equal(window, array[4:16, 4:16])
    # (16, 10) is on the crop's right edge (exclusive) and (3, 12) left of it: both out.
    assert np.allclose(inside, [[1, 1], [8, 3], [11.9, 11.9]])


def test_rescale_scales_points_by_the_size_ratio() -> None:
    image = Image.new("RGB", (100, 50))
    scaled, points = rescale(image, np.array([[10, 20], [99, 49]], np.float32), 0.5)
    assert scaled.size == (50, 25)
    assert points.tolist() == [[5, 10], [49.5, 24.5]]


def test_small_images_are_padded_with_the_mean_colour() -> None:
    padded = pad_to(np.zeros((10, 200, 3), np.uint8), 128)
    assert padded.shape == (128, 200, 3)
    assert padded[127, 199].tolist() == list(MEAN_RGB)
    assert padded[5, 5].tolist() == [0, 0, 0]


def test_random_crops_are_deterministic_and_points_follow_pixels() -> None:
    # A white pixel at each point: after any augmentation the point must still be on it.
    rng = np.random.default_rng(0)
    array = np.zeros((300, 400, 3), np.uint8)
    points = np.stack([rng.integers(0, 400, 30), rng.integers(0, 300, 30)], 1) + 0.5
    for x, y in points.astype(int):
        array[y, x] = 255
    image = Image.fromarray(array)
    config = AugmentConfig(scale_min=1.0, scale_max=1.0, crop_size=128, crops=6)
    first = random_crops(image, points.astype(np.float32), np.random.default_rng(5), config)
    again = random_crops(image, points.astype(np.float32), np.random.default_rng(5), config)
    assert len(first) == 6
    for (a, pa), (b, pb) in zip(first, again, strict=True):
        assert a.shape == (128, 128, 3) and np.array_equal(a, b) and np.array_equal(pa, pb)
        for x, y in pa:
            assert a[int(y), int(x)].tolist() == [255, 255, 255]
        assert int((a[..., 0] == 255).sum()) == len(pa)
