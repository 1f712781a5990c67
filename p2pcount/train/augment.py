"""Training augmentation as in the original release: random scale, random crops, flips.

Points are (K, 2) float32 arrays of (x, y) pixels; a pixel k spans [k, k + 1), so a
horizontal flip of a W-pixel-wide image maps x to W − x exactly. No torch here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from p2pcount.model.config import IMAGENET_MEAN

#: RGB of the ImageNet mean: padding with it is padding with zeros after normalization.
MEAN_RGB = tuple(round(255 * m) for m in IMAGENET_MEAN)


@dataclass(frozen=True)
class AugmentConfig:
    """Random scale in [scale_min, scale_max], then ``crops`` crops of crop_size² px;
    images smaller than a crop are padded with ``fill`` (RGB, the model's mean colour)."""

    scale_min: float = 0.7
    scale_max: float = 1.3
    crop_size: int = 128
    crops: int = 4
    flip: bool = True
    fill: tuple[int, int, int] = MEAN_RGB


def rescale(
    image: Image.Image, points: np.ndarray, factor: float
) -> tuple[Image.Image, np.ndarray]:
    """Resize by ``factor`` (bilinear); points scale with the image's actual size ratio."""
    width = max(1, round(image.width * factor))
    height = max(1, round(image.height * factor))
    ratio = np.array([width / image.width, height / image.height], dtype=np.float32)
    return image.resize((width, height), Image.Resampling.BILINEAR), points * ratio


def pad_to(array: np.ndarray, size: int, fill: tuple[int, int, int] = MEAN_RGB) -> np.ndarray:
    """Pad an (H, W, 3) array on the right/bottom with ``fill`` to at least size²."""
    height, width = array.shape[:2]
    if height >= size and width >= size:
        return array
    out = np.empty((max(height, size), max(width, size), 3), dtype=array.dtype)
    out[...] = fill
    out[:height, :width] = array
    return out


def crop(
    array: np.ndarray, points: np.ndarray, left: int, top: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The size² window at (left, top) and the points inside it, shifted to its origin."""
    inside = (
        (points[:, 0] >= left)
        & (points[:, 0] < left + size)
        & (points[:, 1] >= top)
        & (points[:, 1] < top + size)
    )
    shifted = points[inside] - np.array([left, top], dtype=np.float32)
    return array[top : top + size, left : left + size], shifted


def hflip(array: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left–right: x → W − x."""
    flipped = points.copy()
    flipped[:, 0] = array.shape[1] - flipped[:, 0]
    return array[:, ::-1], flipped


def random_crops(
    image: Image.Image, points: np.ndarray, rng: np.random.Generator, config: AugmentConfig
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``config.crops`` augmented (crop_size, crop_size, 3) uint8 crops with their points."""
    factor = rng.uniform(config.scale_min, config.scale_max)
    image, points = rescale(image, points.astype(np.float32), factor)
    array = pad_to(np.asarray(image), config.crop_size, config.fill)
    height, width = array.shape[:2]
    out = []
    for _ in range(config.crops):
        left = int(rng.integers(0, width - config.crop_size + 1))
        top = int(rng.integers(0, height - config.crop_size + 1))
        window, inside = crop(array, points, left, top, config.crop_size)
        if config.flip and rng.random() < 0.5:
            window, inside = hflip(window, inside)
        out.append((np.ascontiguousarray(window), inside))
    return out
