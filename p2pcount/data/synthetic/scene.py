"""Whole scenes: a crowd scene, a background alone, and person-free scenes.

A crowd scene is composed in this order, each step drawing from the same generator:
the people's layout, a textured background, distractors, occluders, the people among the
occluders, and the lighting.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from .backgrounds import apply_lighting, blank_background, textured_background
from .clutter import draw_clutter, sample_occluders
from .crowd import MAX_HEAD_RADIUS, MIN_HEAD_RADIUS, sample_crowd
from .palette import to_uint8
from .people import draw_crowd

__all__ = ["EMPTY_KINDS", "generate_background", "generate_empty", "generate_scene", "random_scale"]

#: The kinds of person-free scene :func:`generate_empty` draws.
EMPTY_KINDS = ("blank", "textured")


def generate_scene(
    rng: np.random.Generator, width: int, height: int, num_people: int
) -> tuple[Image.Image, np.ndarray]:
    """Draw a crowd scene.

    Args:
        rng: the source of all randomness.
        width, height: image size in px.
        num_people: number of people to place (>= 0).

    Returns:
        An RGB image of size (width, height) and a float32 array of shape (K, 2) with the
        head centres (x, y) in px, each inside ``[0, width) × [0, height)``, back to front.
        ``K`` is ``num_people`` minus the heads that ended up fully occluded: a few at most,
        unless the image is too small to hold ``num_people`` heads of radius 3 px.
    """
    _check_size(width, height)
    if num_people < 0:
        raise ValueError(f"num_people must be >= 0, got {num_people}")
    crowd = sample_crowd(rng, width, height, num_people)
    scale = float(np.median(crowd.radius)) if num_people else random_scale(rng, width, height)
    image = Image.fromarray(to_uint8(textured_background(rng, width, height, scale)))
    draw = ImageDraw.Draw(image)
    draw_clutter(rng, draw, width, height, scale)
    occluders = sample_occluders(rng, width, height, scale)
    visible = draw_crowd(draw, crowd, occluders, width, height)
    image = apply_lighting(rng, image)
    return image, crowd.xy[visible].astype(np.float32)


def generate_background(rng: np.random.Generator, width: int, height: int) -> Image.Image:
    """Draw the textured background of a crowd scene with its lighting, and nothing on it:
    no people, distractors or occluders (the ``"textured"`` empty scene minus its objects).

    Args:
        rng: the source of all randomness.
        width, height: image size in px.

    Returns:
        An RGB image of size (width, height).
    """
    _check_size(width, height)
    scale = random_scale(rng, width, height)
    background = textured_background(rng, width, height, scale)
    return apply_lighting(rng, Image.fromarray(to_uint8(background)))


def generate_empty(rng: np.random.Generator, width: int, height: int, kind: str) -> Image.Image:
    """Draw a scene without any person.

    Args:
        rng: the source of all randomness.
        width, height: image size in px.
        kind: ``"blank"`` (a flat colour with a slight gradient) or ``"textured"`` (the
            backgrounds, distractors, occluders and lighting of crowd scenes, no heads).

    Returns:
        An RGB image of size (width, height).
    """
    _check_size(width, height)
    if kind == "blank":
        return Image.fromarray(to_uint8(blank_background(rng, width, height)))
    if kind == "textured":
        return generate_scene(rng, width, height, 0)[0]
    raise ValueError(f"kind must be one of {EMPTY_KINDS}, got {kind!r}")


def _check_size(width: int, height: int) -> None:
    """Raise ValueError unless the image size (px) is positive."""
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")


def random_scale(rng: np.random.Generator, width: int, height: int) -> float:
    """A plausible head radius in px for a scene without people, to scale its clutter."""
    return float(
        rng.uniform(MIN_HEAD_RADIUS, min(MAX_HEAD_RADIUS, max(4.0, min(width, height) / 6)))
    )
