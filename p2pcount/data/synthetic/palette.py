"""Colours of synthetic scenes: skin and hair tables, random colours, and conversions.

Colours are RGB in 0..255 units: float arrays while they are computed, then tuples of ints
(:data:`Colour`) for :mod:`PIL.ImageDraw`.
"""

from __future__ import annotations

import colorsys

import numpy as np

__all__ = [
    "HAIR_COLOURS",
    "HAIR_WEIGHTS",
    "SKIN_TONES",
    "Colour",
    "as_tuples",
    "distractor_colour",
    "hsv_colour",
    "jitter",
    "to_uint8",
]

Colour = tuple[int, int, int]

#: (8, 3) float32 base skin tones, light to dark; each person gets one plus a small jitter.
SKIN_TONES = np.array(
    [
        [255, 224, 196],
        [241, 194, 160],
        [224, 172, 135],
        [198, 134, 96],
        [161, 102, 67],
        [120, 75, 48],
        [87, 55, 36],
        [60, 40, 28],
    ],
    dtype=np.float32,
)
#: (9, 3) float32 hair colours: black, dark brown, brown, light brown, blond, light blond,
#: auburn, grey, white.
HAIR_COLOURS = np.array(
    [
        [20, 16, 14],
        [45, 30, 22],
        [80, 55, 35],
        [120, 85, 50],
        [185, 150, 95],
        [220, 195, 140],
        [130, 55, 30],
        [140, 140, 140],
        [205, 205, 200],
    ],
    dtype=np.float32,
)
#: (9,) probability of each of :data:`HAIR_COLOURS`.
HAIR_WEIGHTS = np.array([0.3, 0.22, 0.14, 0.08, 0.06, 0.04, 0.04, 0.07, 0.05])


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 255] (clipped) -> (H, W, 3) uint8."""
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def hsv_colour(
    rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]
) -> np.ndarray:
    """(3,) float32 RGB in [0, 255] with a random hue and saturation/value in the ranges."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return np.array(rgb, dtype=np.float32) * 255


def jitter(rng: np.random.Generator, base: np.ndarray, sigma: float) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` (0..255 units) to RGB colours of shape (..., 3)."""
    return np.clip(base + rng.normal(0.0, sigma, base.shape), 0, 255)


def as_tuples(rgb: np.ndarray) -> list[Colour]:
    """(N, 3) RGB floats -> N tuples of ints, the form ImageDraw wants."""
    return [tuple(c) for c in np.rint(rgb).astype(int).tolist()]


def distractor_colour(rng: np.random.Generator) -> Colour:
    """A colour that is skin-like, hair-like or arbitrary, so blobs can fool a detector."""
    u = rng.random()
    if u < 0.3:
        base = SKIN_TONES[rng.integers(len(SKIN_TONES))]
    elif u < 0.55:
        base = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), p=HAIR_WEIGHTS)]
    else:
        base = hsv_colour(rng, (0.0, 1.0), (0.1, 1.0))
    return as_tuples(jitter(rng, base[None], 10.0))[0]
