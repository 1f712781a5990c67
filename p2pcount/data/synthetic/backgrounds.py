"""Per-pixel fields of synthetic scenes: noise, background textures and lighting.

Arrays are indexed (row, column) = (y, x) in pixels: a (height, width) field or a
(height, width, 3) float32 RGB image in 0..255 units (not yet clipped).
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageFilter

from .palette import hsv_colour, to_uint8

__all__ = ["apply_lighting", "blank_background", "smooth_noise", "textured_background"]


def smooth_noise(rng: np.random.Generator, width: int, height: int, cell: float) -> np.ndarray:
    """(height, width) float32 value noise, roughly in [0, 1], with features ``cell`` px wide."""
    cell = max(cell, 1.0)
    grid = rng.random((math.ceil(height / cell) + 2, math.ceil(width / cell) + 2), np.float32)
    smooth = Image.fromarray(grid).resize((width, height), Image.Resampling.BICUBIC)
    return np.asarray(smooth)


def _fractal_noise(
    rng: np.random.Generator, width: int, height: int, cell: float, octaves: int
) -> np.ndarray:
    """(height, width) float32 multi-scale noise stretched to [0, 1]; the coarsest octave
    has features ``cell`` px wide, each next one half as wide and half as strong."""
    total = np.zeros((height, width), np.float32)
    for octave in range(octaves):
        total += smooth_noise(rng, width, height, cell / 2**octave) / 2**octave
    low, high = float(total.min()), float(total.max())
    return (total - low) / max(high - low, 1e-6)


def _ramp(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width) float32 linear ramp in [0, 1] along a random direction."""
    angle = rng.uniform(0, 2 * math.pi)
    xs = np.arange(width, dtype=np.float32)[None, :] * math.cos(angle)
    ys = np.arange(height, dtype=np.float32)[:, None] * math.sin(angle)
    ramp = xs + ys
    low, high = float(ramp.min()), float(ramp.max())
    return (ramp - low) / max(high - low, 1e-6)


def _mix(c0: np.ndarray, c1: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Blend two (3,) colours by a (H, W) weight map -> (H, W, 3) float32."""
    return c0 + (c1 - c0) * t[..., None]


def _earthy(rng: np.random.Generator) -> np.ndarray:
    """A (3,) float32 RGB background colour, mostly muted."""
    return hsv_colour(rng, (0.0, 0.55), (0.15, 0.95))


# Background types: (rng, width, height, scale) -> (height, width, 3) float32 RGB, where
# ``scale`` is the scene's head radius in px, which sizes their features.


def _bg_noise(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Two muted colours blended by multi-scale noise: soft clutter."""
    t = _fractal_noise(rng, width, height, scale * rng.uniform(2, 14), octaves=4)
    return _mix(_earthy(rng), _earthy(rng), t)


def _bg_gradient(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """A two-colour gradient with a little noise."""
    noise = smooth_noise(rng, width, height, scale * rng.uniform(1, 6))
    t = np.clip(_ramp(rng, width, height) + 0.2 * (noise - 0.5), 0, 1)
    return _mix(_earthy(rng), _earthy(rng), t)


def _bg_tiles(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Pavement: (brick-offset) tiles with per-tile shade and grout lines."""
    tile_w = scale * rng.uniform(1.5, 7)
    tile_h = tile_w * rng.uniform(0.4, 1.2)
    ys = np.arange(height, dtype=np.float32)[:, None]
    xs = np.arange(width, dtype=np.float32)[None, :]
    row = (ys // tile_h).astype(np.int64)
    shifted = xs + (row % 2) * tile_w * 0.5 * float(rng.random() < 0.6)
    col = (shifted // tile_w).astype(np.int64)
    shades = rng.uniform(-1, 1, (int(row.max()) + 1, int(col.max()) + 1)).astype(np.float32)
    grout = max(1.0, tile_w * rng.uniform(0.03, 0.1))
    is_grout = (ys % tile_h < grout) | (shifted % tile_w < grout)
    base = _earthy(rng)
    rgb = base * (1 + rng.uniform(0.04, 0.2) * shades[row, col])[..., None]
    grout_colour = base * rng.uniform(0.4, 1.3)
    rgb = np.where(is_grout[..., None], grout_colour, rgb)
    fine = smooth_noise(rng, width, height, rng.uniform(1, 3))
    return rgb * (0.9 + 0.2 * fine)[..., None]


def _bg_stripes(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Soft or hard parallel stripes (road markings, railings, fabric)."""
    period = scale * rng.uniform(1.5, 10)
    t = 0.5 + 0.5 * np.sin(_ramp(rng, width, height) * (math.hypot(width, height) / period))
    if rng.random() < 0.5:
        t = (t > rng.uniform(0.2, 0.8)).astype(np.float32)
    return _mix(_earthy(rng), _earthy(rng), t)


def _bg_grass(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Grass- or gravel-like fine noise over a slowly varying green/brown/grey base."""
    hue = rng.choice([rng.uniform(0.2, 0.35), rng.uniform(0.05, 0.12), rng.random()])
    sat = rng.uniform(0.1, 0.7)
    dark = np.array(colorsys.hsv_to_rgb(hue, sat, rng.uniform(0.1, 0.35)), np.float32) * 255
    light = np.array(colorsys.hsv_to_rgb(hue, sat * 0.8, rng.uniform(0.45, 0.9)), np.float32) * 255
    fine = smooth_noise(rng, width, height, rng.uniform(1, 2.5))
    coarse = smooth_noise(rng, width, height, scale * rng.uniform(4, 15))
    t = np.clip(0.65 * fine + 0.35 * coarse, 0, 1)
    return _mix(dark, light, t)


_BACKGROUNDS = (_bg_noise, _bg_gradient, _bg_tiles, _bg_stripes, _bg_grass)


def _region_mask(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width) float32 in [0, 1]: a soft horizon split or a soft noise blob mask."""
    if rng.random() < 0.5:
        ys = np.arange(height, dtype=np.float32)[:, None] - rng.uniform(0.1, 0.6) * height
        soft = rng.uniform(0.5, 0.03 * height + 1)
        tilt = np.arange(width, dtype=np.float32)[None, :] * rng.uniform(-0.15, 0.15)
        return np.clip(0.5 + (ys + tilt) / (2 * soft), 0, 1)
    noise = smooth_noise(rng, width, height, max(width, height) * rng.uniform(0.1, 0.4))
    return np.clip((noise - rng.uniform(0.3, 0.7)) * rng.uniform(4, 30) + 0.5, 0, 1)


def textured_background(
    rng: np.random.Generator, width: int, height: int, scale: float
) -> np.ndarray:
    """(height, width, 3) float32 RGB: one or two background types, plus film grain.

    ``scale`` is the scene's head radius in px; it sizes tiles, stripes and noise features.
    """
    first = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
    rgb = first(rng, width, height, scale)
    if rng.random() < 0.55:
        second = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
        mask = _region_mask(rng, width, height)[..., None]
        rgb = rgb * (1 - mask) + second(rng, width, height, scale) * mask
    return rgb + rng.normal(0.0, rng.uniform(0, 4), (height, width, 1)).astype(np.float32)


def blank_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width, 3) float32 RGB: a flat colour with an optional slight gradient."""
    colour = hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
    strength = rng.uniform(0, 0.15) if rng.random() < 0.7 else 0.0
    shade = 1 + strength * (_ramp(rng, width, height) - 0.5)
    return colour * shade[..., None]


def apply_lighting(rng: np.random.Generator, image: Image.Image) -> Image.Image:
    """Multiply by a smooth illumination field, jitter brightness/contrast/colour, and
    optionally blur and add sensor noise; the result is an RGB image of the same size."""
    width, height = image.size
    rgb = np.asarray(image, dtype=np.float32)
    field = 1 + rng.uniform(0, 0.4) * (_ramp(rng, width, height) - 0.5)
    cell = max(width, height) * rng.uniform(0.15, 0.6)
    field = field + rng.uniform(0, 0.5) * (smooth_noise(rng, width, height, cell) - 0.5)
    mean = float(rgb.mean())
    contrast, brightness = rng.uniform(0.7, 1.25), rng.uniform(0.7, 1.2)
    cast = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    rgb = ((rgb - mean) * contrast + mean * brightness) * field[..., None] * cast
    if rng.random() < 0.5:
        rgb = rgb + rng.normal(0, rng.uniform(1, 6), rgb.shape).astype(np.float32)
    out = Image.fromarray(to_uint8(rgb))
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return out
