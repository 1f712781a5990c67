"""Backgrounds and camera effects of ``varied`` scenes: one background family of
:data:`~.styles.BACKGROUND_FAMILIES` per image, then low light, colour casts and sensor
noise.

Arrays are (height, width, 3) float32 RGB in 0..255 units (not yet clipped), indexed
(row, column) = (y, x) in pixels.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from .backgrounds import smooth_noise, textured_background
from .clutter import box, rect_polygon
from .palette import as_tuples, hsv_colour, to_uint8

__all__ = ["camera_effects", "varied_background"]


def varied_background(
    rng: np.random.Generator, width: int, height: int, scale: float, family: str
) -> np.ndarray:
    """The background of one family; ``scale`` (the scene's head radius, px) sizes its
    features (clutter is drawn at head size, to look like heads to a careless detector)."""
    if family == "textured":
        return textured_background(rng, width, height, scale)
    if family == "noise":
        return _noisy(rng, width, height)
    if family == "gradient":
        return _gradient(rng, width, height)
    if family == "fractal":
        return _fractal(rng, width, height, scale)
    if family == "clutter":
        return _clutter(rng, width, height, scale)
    raise ValueError(f"unknown background family {family!r}")


def camera_effects(rng: np.random.Generator, rgb: np.ndarray) -> np.ndarray:
    """What a cheap camera adds, each with its own chance: a colour cast (1 in 3, channel
    gains 0.7–1.3), low light (1 in 4: ×0.15–0.5 and a gamma of 1.2–2), per-pixel sensor
    noise (1 in 2: σ 2–40 grey levels, colour or luminance, at most the scene's own contrast:
    the standard deviation of its luminance before the noise).

    The cap keeps the heads above the noise: without it one varied scene in 18 (all of them
    dimmed) had a contrast below a third of the noise's σ, a picture of noise that still
    carried its head labels. It only lowers σ (the random draws are the same), so the scenes
    it does not bind are unchanged."""
    if rng.random() < 1 / 3:
        rgb = rgb * rng.uniform(0.7, 1.3, 3).astype(np.float32)
    if rng.random() < 1 / 4:
        dimmed = np.clip(rgb * rng.uniform(0.15, 0.5), 0, 255) / 255
        rgb = 255 * dimmed ** rng.uniform(1.2, 2.0)
    if rng.random() < 1 / 2:
        channels = 3 if rng.random() < 0.5 else 1
        sigma = min(rng.uniform(2, 40), float(rgb.mean(axis=-1).std()))
        rgb = rgb + rng.normal(0, sigma, (*rgb.shape[:2], channels)).astype(np.float32)
    return rgb.astype(np.float32)


def _ramp(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width) float32 in [0, 1]: linear along a random direction, or radial."""
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    if rng.random() < 0.7:
        angle = rng.uniform(0, 2 * math.pi)
        t = xs * math.cos(angle) + ys * math.sin(angle)
    else:
        t = np.hypot(xs - rng.uniform(0, width), ys - rng.uniform(0, height))
    low, high = float(t.min()), float(t.max())
    return (t - low) / max(high - low, 1e-6)


def _stops(rng: np.random.Generator, t: np.ndarray, count: int) -> np.ndarray:
    """Colour ``t`` (H, W) in [0, 1] through ``count`` random colours -> (H, W, 3)."""
    colours = np.stack([hsv_colour(rng, (0.0, 1.0), (0.05, 1.0)) for _ in range(count)])
    positions = np.linspace(0, 1, count)
    return np.stack([np.interp(t, positions, colours[:, c]) for c in range(3)], -1).astype(
        np.float32
    )


def _noisy(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A flat or graded colour under per-pixel Gaussian noise of σ 5–40 grey levels."""
    base = _stops(rng, _ramp(rng, width, height) * rng.uniform(0, 1), 2)
    channels = 3 if rng.random() < 0.5 else 1
    noise = rng.normal(0, rng.uniform(5, 40), (height, width, channels)).astype(np.float32)
    return base + noise


def _gradient(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A 2- to 4-colour gradient, linear or radial."""
    return _stops(rng, _ramp(rng, width, height), int(rng.integers(2, 5)))


def _fractal(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Multi-octave value noise (features from head size to 30 heads) through 2–4 colours."""
    total = np.zeros((height, width), np.float32)
    cell = scale * rng.uniform(4, 30)
    persistence = rng.uniform(0.4, 0.8)
    for octave in range(6):
        total += smooth_noise(rng, width, height, cell / 2**octave) * persistence**octave
    low, high = float(total.min()), float(total.max())
    return _stops(rng, (total - low) / max(high - low, 1e-6), int(rng.integers(2, 5)))


def _clutter(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """A gradient crowded with head-sized discs, rings, boxes, lines and blobs of any colour
    (several thousand on a large image): photo-like clutter."""
    image = Image.fromarray(to_uint8(_gradient(rng, width, height)))
    draw = ImageDraw.Draw(image)
    count = min(int(width * height / (scale * scale * rng.uniform(3, 20))), 6000)
    xs, ys = rng.uniform(0, width, count), rng.uniform(0, height, count)
    sizes = scale * np.exp(rng.uniform(-0.5, 0.7, count))
    kinds = rng.integers(5, size=count)
    colours = as_tuples(rng.uniform(0, 255, (count, 3)))
    for x, y, s, kind, colour in zip(xs, ys, sizes, kinds, colours, strict=True):
        if kind == 0:
            draw.ellipse(box(x, y, s, s * rng.uniform(0.6, 1.4)), colour)
        elif kind == 1:
            draw.ellipse(box(x, y, s, s), outline=colour, width=max(1, int(s / 4)))
        elif kind == 2:
            draw.polygon(
                rect_polygon(x, y, s, s * rng.uniform(0.3, 2), rng.uniform(0, 3.2)), colour
            )
        elif kind == 3:
            dx, dy = s * 3 * _direction(rng)
            draw.line((x - dx, y - dy, x + dx, y + dy), colour, max(1, int(s / 3)))
        else:
            angles = np.sort(rng.uniform(0, 2 * math.pi, 7))
            radii = s * rng.uniform(0.5, 1.3, 7)
            draw.polygon(
                list(zip(x + radii * np.cos(angles), y + radii * np.sin(angles), strict=True)),
                colour,
            )
    return np.asarray(image, np.float32)


def _direction(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(0, math.pi)
    return np.array([math.cos(angle), math.sin(angle)])
