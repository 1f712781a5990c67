"""Whole scenes of the ``varied`` style: a crowd on one background family, restyled people,
distractors and occluders, lighting and camera effects; and its person-free scenes.

A crowd scene is composed in this order, each step drawing from the same generator: the
people's layout, their restyling, the background, distractors, occluders, the people among
the occluders, the lighting, the camera effects.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .backgrounds import apply_lighting, blank_background
from .clutter import draw_clutter, sample_occluders
from .crowd import Crowd, sample_crowd
from .heads import People, VariedPainter, restyle
from .palette import to_uint8
from .people import draw_crowd
from .scene import random_scale
from .styles import Style
from .surfaces import camera_effects, varied_background

__all__ = [
    "VARIED_EMPTY_KINDS",
    "draw_varied_scene",
    "empty_kinds",
    "generate_varied_empty",
    "generate_varied_scene",
]

#: Person-free scenes of the varied style, with the background family each needs (None:
#: any allowed one).
VARIED_EMPTY_KINDS = {"blank": None, "textured": None, "noisy": "noise", "cluttered": "clutter"}


def generate_varied_scene(
    rng: np.random.Generator, width: int, height: int, num_people: int, style: Style
) -> tuple[Image.Image, np.ndarray]:
    """Draw a crowd scene of ``style`` (its head styles and background families).

    Returns:
        An RGB image of size (width, height) and the (K, 2) float32 head centres (x, y) in
        px of the heads left visible, back to front, as :func:`~.scene.generate_scene`.
    """
    image, points, _ = draw_varied_scene(rng, width, height, num_people, style)
    return image, points


def draw_varied_scene(
    rng: np.random.Generator, width: int, height: int, num_people: int, style: Style
) -> tuple[Image.Image, np.ndarray, People]:
    """:func:`generate_varied_scene`, with who the K heads are (their style, headwear,
    pose and size, and the scene's body shape) in the order of the points."""
    if num_people < 0:
        raise ValueError(f"num_people must be >= 0, got {num_people}")
    crowd = sample_crowd(rng, width, height, num_people)
    crowd, painter = restyle(rng, crowd, style.heads)
    scale = float(np.median(crowd.radius)) if num_people else random_scale(rng, width, height)
    family = str(rng.choice(style.backgrounds))
    image, visible = _compose(rng, width, height, scale, family, crowd, painter)
    return image, crowd.xy[visible].astype(np.float32), painter.people(crowd, visible)


def generate_varied_empty(
    rng: np.random.Generator, width: int, height: int, kind: str, style: Style
) -> Image.Image:
    """A person-free scene of ``kind`` (a key of :data:`VARIED_EMPTY_KINDS`): ``blank``
    (a flat colour), ``textured`` (any allowed background with distractors, occluders,
    lighting and camera effects), ``noisy`` and ``cluttered`` (the same on a noise or a
    clutter background)."""
    if kind not in VARIED_EMPTY_KINDS:
        raise ValueError(f"kind must be one of {tuple(VARIED_EMPTY_KINDS)}, got {kind!r}")
    if kind == "blank":
        return Image.fromarray(to_uint8(blank_background(rng, width, height)))
    family = VARIED_EMPTY_KINDS[kind] or str(rng.choice(style.backgrounds))
    scale = random_scale(rng, width, height)
    crowd, painter = restyle(rng, sample_crowd(rng, width, height, 0), style.heads)
    return _compose(rng, width, height, scale, family, crowd, painter)[0]


def empty_kinds(style: Style) -> tuple[str, ...]:
    """The person-free kinds ``style`` allows (those needing a held-out family left out)."""
    return tuple(k for k, f in VARIED_EMPTY_KINDS.items() if f is None or f in style.backgrounds)


def _compose(
    rng: np.random.Generator,
    width: int,
    height: int,
    scale: float,
    family: str,
    crowd: Crowd,
    painter: VariedPainter,
) -> tuple[Image.Image, np.ndarray]:
    """The scene on a ``family`` background sized by ``scale`` (head radius, px), with its
    people, and the (N,) bool mask of the people whose head stays visible."""
    image = Image.fromarray(to_uint8(varied_background(rng, width, height, scale, family)))
    draw = ImageDraw.Draw(image)
    draw_clutter(rng, draw, width, height, scale)
    occluders = sample_occluders(rng, width, height, scale)
    visible = draw_crowd(draw, crowd, occluders, width, height, painter)
    lit = np.asarray(apply_lighting(rng, image), np.float32)
    image = Image.fromarray(to_uint8(camera_effects(rng, lit)))
    return image, visible
