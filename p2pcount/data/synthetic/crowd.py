"""Where the people of a scene stand and what they look like, before anything is drawn.

Heads are placed under a perspective (smaller towards an optional horizon, denser where
smaller, in clusters) and each person is given a pose, colours and accessories.
Coordinates are continuous pixel coordinates (x right, y down, origin at the top-left).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .backgrounds import smooth_noise
from .palette import HAIR_COLOURS, HAIR_WEIGHTS, SKIN_TONES, Colour, as_tuples, jitter

__all__ = ["BACK", "FRONT", "MAX_HEAD_RADIUS", "MIN_HEAD_RADIUS", "TOP", "Crowd", "sample_crowd"]

#: Bounds of a head's half-height in px.
MIN_HEAD_RADIUS = 3.0
MAX_HEAD_RADIUS = 40.0

#: Person poses: facing the camera, seen from behind, seen from above.
FRONT, BACK, TOP = 0, 1, 2

#: Relative head size at each of an array of image rows y (px), same shape.
_Profile = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Crowd:
    """The people of one scene, sorted back to front (by increasing head-centre y).

    Attributes:
        xy: (N, 2) float64 head centres (x, y) in px, on a 0.01 px grid.
        radius: (N,) float64 head half-height in px.
        aspect: (N,) float64 head half-width / half-height.
        pose: (N,) int64, one of ``FRONT``, ``BACK``, ``TOP``.
        hair_cover: (N,) float64 fraction of a front face's height covered by hair.
        build: (N,) float64 shoulder width relative to the head.
        long_hair, hat, highlight, forehead: (N,) bool options (forehead: a skin patch on
            a head seen from above).
        skin, hair, cloth, hat_colour: N RGB colours each.
    """

    xy: np.ndarray
    radius: np.ndarray
    aspect: np.ndarray
    pose: np.ndarray
    hair_cover: np.ndarray
    build: np.ndarray
    long_hair: np.ndarray
    hat: np.ndarray
    highlight: np.ndarray
    forehead: np.ndarray
    skin: list[Colour]
    hair: list[Colour]
    cloth: list[Colour]
    hat_colour: list[Colour]


def sample_crowd(rng: np.random.Generator, width: int, height: int, n: int) -> Crowd:
    """Lay out and dress ``n`` people in a (width, height) px image; the result is sorted
    back to front."""
    horizon = rng.uniform(0, 0.45) * height if rng.random() < 0.4 else 0.0
    top_ratio = 1.0 if rng.random() < 0.2 else rng.uniform(0.25, 0.9)
    depth_span = max(height - horizon, 1.0)

    def profile(y: np.ndarray) -> np.ndarray:
        """Relative head size at height y: top_ratio at the horizon, 1 at the bottom."""
        return top_ratio + (1 - top_ratio) * np.clip((y - horizon) / depth_span, 0, 1)

    spacing = math.sqrt(width * depth_span / max(n, 1))
    max_radius = min(MAX_HEAD_RADIUS, max(MIN_HEAD_RADIUS, min(width, height) / 6))
    ref = np.clip(spacing * rng.uniform(0.2, 0.42), MIN_HEAD_RADIUS, max_radius)
    bottom_radius = ref / ((1 + top_ratio) / 2)
    xy, radius = _place_heads(rng, width, height, n, horizon, profile, bottom_radius, max_radius)
    order = np.argsort(xy[:, 1], kind="stable")
    xy, radius = xy[order], radius[order]
    return _dress(rng, xy, radius)


def _density_grid(
    rng: np.random.Generator, width: int, height: int, horizon: float, profile: _Profile
) -> tuple[np.ndarray, int, float, float]:
    """Where people stand: a coarse (gh, gw) probability grid, flattened, with gw and the
    cell width/height in px.

    Density is higher where heads are smaller (far away), modulated by clusters, and zero
    above the horizon (a row y in px).
    """
    gw, gh = max(1, math.ceil(width / 16)), max(1, math.ceil(height / 16))
    cell_w, cell_h = width / gw, height / gh
    centres_y = (np.arange(gh) + 0.5) * cell_h
    weight = np.repeat((1 / profile(centres_y) ** 2)[:, None], gw, axis=1)
    clusters = smooth_noise(rng, gw, gh, max(gw, gh) * rng.uniform(0.15, 0.5))
    weight = weight * np.clip(clusters, 0.01, None) ** rng.uniform(0, 3)
    weight[centres_y < horizon] = 0
    if weight.sum() <= 0:  # a horizon below every cell centre (tiny images)
        weight[-1] = 1
    return (weight / weight.sum()).ravel(), gw, cell_w, cell_h


def _place_heads(
    rng: np.random.Generator,
    width: int,
    height: int,
    n: int,
    horizon: float,
    profile: _Profile,
    bottom_radius: float,
    max_radius: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sample n head centres (N, 2) px and radii (N,) px, inside the image.

    Candidates are drawn from the density grid and accepted greedily when they keep a
    (scene-dependent, partly overlapping) distance to the accepted heads; the distance is
    relaxed until all n are placed.
    """
    xy, radius = np.empty((n, 2)), np.empty(n)
    if n == 0:
        return xy, radius
    probs, gw, cell_w, cell_h = _density_grid(rng, width, height, horizon, profile)
    factor, placed = rng.uniform(0.45, 0.95), 0
    while placed < n:
        batch = 2 * (n - placed) + 8
        cells = rng.choice(probs.size, size=batch, p=probs)
        cx = (cells % gw + rng.random(batch)) * cell_w
        cy = (cells // gw + rng.random(batch)) * cell_h
        cx = np.clip(np.floor(cx * 100) / 100, 0, width - 0.01)
        cy = np.clip(np.floor(cy * 100) / 100, 0, height - 0.01)
        cr = bottom_radius * profile(cy) * np.exp(rng.normal(0, 0.12, batch))
        cr = np.clip(cr, MIN_HEAD_RADIUS, max_radius)
        for x, y, r in zip(cx, cy, cr, strict=True):
            if placed:
                d2 = (xy[:placed, 0] - x) ** 2 + (xy[:placed, 1] - y) ** 2
                if np.any(d2 < (factor * (radius[:placed] + r)) ** 2):
                    continue
            xy[placed], radius[placed] = (x, y), r
            placed += 1
            if placed == n:
                break
        factor *= 0.6
    return xy, radius


def _dress(rng: np.random.Generator, xy: np.ndarray, radius: np.ndarray) -> Crowd:
    """Give each of the N heads at ``xy`` (N, 2) px, of half-heights ``radius`` (N,) px,
    a pose, colours and accessories."""
    n = len(radius)
    elevation = rng.random()
    p_top = 0.85 * elevation**2
    p_back = rng.uniform(0, 0.6) * (1 - p_top)
    pose = rng.choice(3, size=n, p=[1 - p_top - p_back, p_back, p_top])
    hair = HAIR_COLOURS[rng.choice(len(HAIR_COLOURS), size=n, p=HAIR_WEIGHTS)]
    grey = rng.uniform(15, 235, (n, 1))
    cloth = grey + (rng.uniform(0, 255, (n, 3)) - grey) * rng.uniform(0, 1, (n, 1)) ** 1.5
    return Crowd(
        xy=xy,
        radius=radius,
        aspect=np.where(pose == TOP, rng.uniform(0.85, 1.0, n), rng.uniform(0.75, 0.92, n)),
        pose=pose,
        hair_cover=rng.uniform(0.12, 0.45, n),
        build=rng.uniform(0.85, 1.2, n),
        long_hair=rng.random(n) < 0.2,
        hat=rng.random(n) < rng.uniform(0, 0.2),
        highlight=rng.random(n) < 0.5,
        forehead=rng.random(n) < 0.5,
        skin=as_tuples(jitter(rng, SKIN_TONES[rng.integers(len(SKIN_TONES), size=n)], 8)),
        hair=as_tuples(jitter(rng, hair, 6)),
        cloth=as_tuples(np.clip(cloth, 0, 255)),
        hat_colour=as_tuples(rng.uniform(0, 255, (n, 3))),
    )
