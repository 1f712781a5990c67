"""Drawing the people of a crowd (bodies, heads, faces, hats) back to front among the
foreground occluders, with a label map that tells which heads stay visible.

Coordinates are continuous pixel coordinates (x right, y down, origin at the top-left).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw

from .clutter import Occluder, box, draw_occluder
from .crowd import BACK, FRONT, TOP, Crowd
from .palette import Colour

__all__ = ["Painter", "draw_crowd", "draw_person"]

#: Draws person i of a crowd on the image and its head's silhouette (i + 1) on the label map.
Painter = Callable[[ImageDraw.ImageDraw, ImageDraw.ImageDraw, Crowd, int], None]


def _draw_body(draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: Crowd, i: int) -> None:
    """Shoulders/torso (and a neck) of person i, below the head or around it from above."""
    (x, y), r = crowd.xy[i], crowd.radius[i]
    half_w = 2.1 * r * crowd.build[i]
    for target, fill, skin in ((draw, crowd.cloth[i], crowd.skin[i]), (label, 0, 0)):
        if crowd.pose[i] == TOP:
            target.ellipse((x - half_w, y - 0.3 * r, x + half_w, y + 1.2 * r), fill)
            continue
        target.rounded_rectangle((x - half_w, y + r, x + half_w, y + 7 * r), 1.3 * r, fill)
        target.rectangle((x - 0.33 * r, y + 0.5 * r, x + 0.33 * r, y + 1.3 * r), skin)


def _draw_head(draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: Crowd, i: int) -> None:
    """Hair, face and hat of person i on the image, and its silhouette (i + 1) on the label."""
    (x, y), r = crowd.xy[i], crowd.radius[i]
    rx = r * crowd.aspect[i]
    pose, skin, hair = crowd.pose[i], crowd.skin[i], crowd.hair[i]
    head = box(x, y, rx, r)
    if crowd.long_hair[i] and pose != TOP:
        draw.ellipse((x - 1.12 * rx, y - r, x + 1.12 * rx, y + 1.3 * r), hair)
    if pose == BACK and r >= 6:
        draw.ellipse(box(x - rx, y + 0.1 * r, 0.22 * r, 0.3 * r), skin)
        draw.ellipse(box(x + rx, y + 0.1 * r, 0.22 * r, 0.3 * r), skin)
    draw.ellipse(head, hair)
    if crowd.highlight[i] and r >= 5:
        shine = tuple(min(255, int(c * 1.3 + 25)) for c in hair)
        draw.ellipse(box(x - 0.3 * rx, y - 0.45 * r, 0.35 * rx, 0.25 * r), shine)
    if pose == FRONT:
        _draw_face(draw, x, y, rx, r, crowd.hair_cover[i], skin)
    elif pose == TOP and crowd.forehead[i]:
        draw.ellipse((x - 0.55 * rx, y + 0.05 * r, x + 0.55 * rx, y + 0.9 * r), skin)
    label.ellipse(head, i + 1)
    if crowd.hat[i]:
        _draw_hat(draw, label, x, y, rx, r, pose == TOP, crowd.hat_colour[i], i + 1)


def _draw_face(
    draw: ImageDraw.ImageDraw, x: float, y: float, rx: float, r: float, cover: float, skin: Colour
) -> None:
    """A face on the head centred on (x, y) with half-axes rx, r px, below a hair cap
    covering ``cover`` of the head height, with eyes if large."""
    top = y - r + 2 * r * cover
    draw.ellipse((x - 0.9 * rx, top, x + 0.9 * rx, y + r), skin)
    if r >= 7:
        eye_y, eye_r = top + 0.38 * (y + r - top), max(1.0, 0.1 * r)
        dark = tuple(c // 4 for c in skin)
        draw.ellipse(box(x - 0.35 * rx, eye_y, eye_r, eye_r), dark)
        draw.ellipse(box(x + 0.35 * rx, eye_y, eye_r, eye_r), dark)


def _draw_hat(
    draw: ImageDraw.ImageDraw,
    label: ImageDraw.ImageDraw,
    x: float,
    y: float,
    rx: float,
    r: float,
    from_above: bool,
    colour: Colour,
    label_id: int,
) -> None:
    """A hat on the head at (x, y) with half-axes rx, r px: a brimmed disc from above, a
    crown and brim otherwise; drawn as ``label_id`` on the label map."""
    darker = tuple(int(c * 0.75) for c in colour)
    if from_above:
        brim, crown = box(x, y, 1.3 * rx, 1.3 * r), box(x, y, 0.8 * rx, 0.8 * r)
        draw.ellipse(brim, colour)
        draw.ellipse(crown, darker)
        label.ellipse(brim, label_id)
        return
    brim = box(x, y - 0.3 * r, 1.35 * rx, 0.16 * r)
    crown = box(x, y - 0.3 * r, 1.02 * rx, 0.85 * r)
    draw.chord(crown, 180, 360, colour)
    draw.ellipse(brim, darker)
    label.chord(crown, 180, 360, label_id)
    label.ellipse(brim, label_id)


def draw_person(
    draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: Crowd, i: int
) -> None:
    """The classic look of person i: body, then hair, face and hat (a :data:`Painter`)."""
    _draw_body(draw, label, crowd, i)
    _draw_head(draw, label, crowd, i)


def draw_crowd(
    draw: ImageDraw.ImageDraw,
    crowd: Crowd,
    occluders: list[Occluder],
    width: int,
    height: int,
    paint: Painter = draw_person,
) -> np.ndarray:
    """Draw people (each by ``paint``) and occluders back to front on the (width, height) px
    image; return the (N,) bool mask of the people whose head has at least one visible
    pixel."""
    label_image = Image.new("I", (width, height), 0)
    label = ImageDraw.Draw(label_image)
    pending = iter(occluders)
    next_occluder = next(pending, None)
    for i in range(len(crowd.radius)):
        while next_occluder is not None and next_occluder.y < crowd.xy[i, 1]:
            draw_occluder(draw, label, next_occluder)
            next_occluder = next(pending, None)
        paint(draw, label, crowd, i)
    while next_occluder is not None:
        draw_occluder(draw, label, next_occluder)
        next_occluder = next(pending, None)
    labels = np.asarray(label_image).ravel()
    return np.bincount(labels, minlength=len(crowd.radius) + 1)[1:] > 0
