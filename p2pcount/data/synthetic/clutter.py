"""Things in a scene that are not people: background distractors and foreground occluders,
and the ellipse and polygon geometry they share with the people.

Coordinates are continuous pixel coordinates (x right, y down, origin at the top-left).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import ImageDraw

from .palette import Colour, distractor_colour

__all__ = ["Occluder", "box", "draw_clutter", "draw_occluder", "rect_polygon", "sample_occluders"]


@dataclass(frozen=True)
class Occluder:
    """A foreground object drawn between people: a pole, a sign on a pole, or a balloon.

    Attributes:
        kind: ``"pole"``, ``"sign"`` or ``"balloon"``.
        x, y: base point in px (the foot of the pole, the bottom of the balloon string);
            ``y`` is also its depth.
        size: the local head radius in px, which scales the object.
        colour: RGB fill colour.
    """

    kind: str
    x: float
    y: float
    size: float
    colour: Colour


def box(x: float, y: float, rx: float, ry: float) -> tuple[float, float, float, float]:
    """The ImageDraw bounding box (x0, y0, x1, y1) in px of an ellipse centred on (x, y)
    with half-axes rx, ry px."""
    return (x - rx, y - ry, x + rx, y + ry)


def _blob_polygon(
    rng: np.random.Generator, x: float, y: float, radius: float
) -> list[tuple[float, float]]:
    """An irregular closed polygon around (x, y) of mean radius ``radius`` px."""
    n = int(rng.integers(5, 11))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = radius * rng.uniform(0.5, 1.3, n)
    return list(zip(x + radii * np.cos(angles), y + radii * np.sin(angles), strict=True))


def rect_polygon(
    x: float, y: float, half_w: float, half_h: float, angle: float
) -> list[tuple[float, float]]:
    """The 4 corners (x, y) in px of a rectangle centred on (x, y) with half-sides
    ``half_w``, ``half_h`` px, rotated by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    corners = ((-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h))
    return [(x + u * c - v * s, y + u * s + v * c) for u, v in corners]


def _draw_distractor(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, x: float, y: float, size: float
) -> None:
    """One non-head object of about ``size`` px around (x, y): disc, ring, rectangle,
    line or blob."""
    colour = distractor_colour(rng)
    kind = rng.integers(5)
    if kind == 0:
        draw.ellipse(box(x, y, size * rng.uniform(0.5, 1.5), size * rng.uniform(0.5, 1.5)), colour)
    elif kind == 1:
        width = int(max(1, size * rng.uniform(0.1, 0.4)))
        draw.ellipse(box(x, y, size, size * rng.uniform(0.4, 1.2)), outline=colour, width=width)
    elif kind == 2:
        half_w, half_h = size * rng.uniform(0.5, 4, size=2)
        draw.polygon(rect_polygon(x, y, half_w, half_h, rng.uniform(0, math.pi)), colour)
    elif kind == 3:
        length, angle = size * rng.uniform(1.5, 8), rng.uniform(0, math.pi)
        dx, dy = length * math.cos(angle), length * math.sin(angle)
        width = int(max(1, size * rng.uniform(0.05, 0.5)))
        draw.line((x - dx, y - dy, x + dx, y + dy), colour, width)
    else:
        draw.polygon(_blob_polygon(rng, x, y, size * rng.uniform(0.7, 3)), colour)


def draw_clutter(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, width: int, height: int, scale: float
) -> None:
    """Scatter background distractors over the (width, height) px image, at sizes around
    the head scale ``scale`` px."""
    density = rng.uniform(0.05, 1.0) / (40 * scale * scale)
    count = min(int(rng.poisson(width * height * density)), 400)
    for x, y, size in zip(
        rng.uniform(0, width, count),
        rng.uniform(0, height, count),
        scale * np.exp(rng.uniform(-0.7, 1.0, count)),
        strict=True,
    ):
        _draw_distractor(rng, draw, float(x), float(y), float(size))


def sample_occluders(
    rng: np.random.Generator, width: int, height: int, scale: float
) -> list[Occluder]:
    """A few foreground objects standing among the people of a (width, height) px image,
    sized by the head scale ``scale`` px; sorted back to front."""
    count = int(rng.poisson(rng.uniform(0, 2.5) * (1 + width * height / 5e5)))
    kinds = rng.choice(["pole", "pole", "sign", "balloon"], size=count)
    occluders = [
        Occluder(
            kind=str(kind),
            x=float(rng.uniform(0, width)),
            y=float(rng.uniform(0.2, 1.1) * height),
            size=scale * float(rng.uniform(0.6, 1.4)),
            colour=distractor_colour(rng),
        )
        for kind in kinds
    ]
    return sorted(occluders, key=lambda o: o.y)


def draw_occluder(draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, obj: Occluder) -> None:
    """Draw a foreground object on the image and as background (0) on the label map."""
    s, x, y = obj.size, obj.x, obj.y
    top = y - s * 12
    for target, fill in ((draw, obj.colour), (label, 0)):
        if obj.kind == "balloon":
            target.line((x, y, x, y - s * 6), fill, 1)
            target.ellipse(box(x, y - s * 7, s * 0.9, s * 1.1), fill)
            continue
        target.line((x, y, x, top), fill, max(1, int(s * 0.35)))
        if obj.kind == "sign":
            target.polygon(rect_polygon(x, top, s * 2.2, s * 1.2, 0.0), fill)
