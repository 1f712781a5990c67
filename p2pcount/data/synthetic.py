"""Deterministic synthetic crowd scenes with head-centre point annotations.

A scene is a textured, cluttered background with people drawn back to front under a
perspective (heads grow towards the bottom of the image), a few foreground occluders,
non-head distractors and a random illumination. Every function takes its randomness from
a :class:`numpy.random.Generator`, so a seed fixes the pixels and the points.

Coordinates are continuous pixel coordinates: origin at the top-left corner of the image,
x to the right, y down, pixel ``(i, j)`` covering ``[j, j + 1) × [i, i + 1)``. A point is
the centre of a head's face+hair ellipse. This module imports only numpy and PIL (no torch).
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

__all__ = [
    "EMPTY_KINDS",
    "generate_background",
    "generate_empty",
    "generate_item",
    "generate_scene",
    "write_dataset",
]

#: The kinds of person-free scene :func:`generate_empty` draws.
EMPTY_KINDS = ("blank", "textured")
JPEG_QUALITY = 92
MIN_HEAD_RADIUS = 3.0
MAX_HEAD_RADIUS = 40.0

Colour = tuple[int, int, int]

# Base RGB tones, light to dark; each person gets one plus a small jitter.
_SKIN_TONES = np.array(
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
# black, dark brown, brown, light brown, blond, light blond, auburn, grey, white
_HAIR_COLOURS = np.array(
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
_HAIR_WEIGHTS = np.array([0.3, 0.22, 0.14, 0.08, 0.06, 0.04, 0.04, 0.07, 0.05])

# Person poses: facing the camera, seen from behind, seen from above.
_FRONT, _BACK, _TOP = 0, 1, 2


@dataclass(frozen=True)
class _Crowd:
    """The people of one scene, sorted back to front (by increasing head-centre y).

    Attributes:
        xy: (N, 2) float64 head centres (x, y) in px, on a 0.01 px grid.
        radius: (N,) float64 head half-height in px.
        aspect: (N,) float64 head half-width / half-height.
        pose: (N,) int64, one of ``_FRONT``, ``_BACK``, ``_TOP``.
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


@dataclass(frozen=True)
class _Occluder:
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


# --------------------------------------------------------------------------- public API


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
    crowd = _sample_crowd(rng, width, height, num_people)
    scale = float(np.median(crowd.radius)) if num_people else _random_scale(rng, width, height)
    image = Image.fromarray(_to_uint8(_textured_background(rng, width, height, scale)))
    draw = ImageDraw.Draw(image)
    _draw_clutter(rng, draw, width, height, scale)
    occluders = _sample_occluders(rng, width, height, scale)
    visible = _draw_crowd(draw, crowd, occluders, width, height)
    image = _apply_lighting(rng, image)
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
    scale = _random_scale(rng, width, height)
    background = _textured_background(rng, width, height, scale)
    return _apply_lighting(rng, Image.fromarray(_to_uint8(background)))


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
        return Image.fromarray(_to_uint8(_blank_background(rng, width, height)))
    if kind == "textured":
        return generate_scene(rng, width, height, 0)[0]
    raise ValueError(f"kind must be one of {EMPTY_KINDS}, got {kind!r}")


def generate_item(
    seed: int,
    index: int,
    min_size: int = 256,
    max_size: int = 1024,
    max_people: int = 600,
    empty_fraction: float = 0.05,
) -> tuple[Image.Image, np.ndarray]:
    """Draw image ``index`` of the dataset ``seed``, independently of the other images.

    Sizes are uniform in ``[min_size, max_size]`` (width and height independently). Images
    whose index falls on the ``empty_fraction`` stride are empty, alternately blank and
    textured; the others hold 1..max_people people, log-uniform with a uniform share so
    that both sparse and dense scenes are common.

    Returns:
        The RGB image and its (K, 2) float32 head centres in px (K = 0 for empty scenes).
    """
    _check_dataset_args(min_size, max_size, max_people, empty_fraction)
    rng = np.random.default_rng([seed, index])
    width, height = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    empty_rank = math.floor(index * empty_fraction)
    if math.floor((index + 1) * empty_fraction) > empty_rank or max_people == 0:
        kind = EMPTY_KINDS[empty_rank % len(EMPTY_KINDS)]
        return generate_empty(rng, width, height, kind), np.zeros((0, 2), np.float32)
    return generate_scene(rng, width, height, _sample_count(rng, max_people))


def write_dataset(
    out_dir: Path,
    count: int,
    seed: int,
    min_size: int = 256,
    max_size: int = 1024,
    max_people: int = 600,
    empty_fraction: float = 0.05,
) -> Path:
    """Write ``count`` synthetic scenes with their point annotations.

    Layout under ``out_dir``: ``images/00000.jpg`` (JPEG quality 92),
    ``annotations/00000.txt`` (one ``x y`` line per head, px, 2 decimals; empty when there
    is nobody) and ``list.txt`` (lines ``images/00000.jpg annotations/00000.txt``, relative
    to the list file). Image ``i`` is :func:`generate_item` ``(seed, i, ...)``, so the same
    arguments give byte-identical files.

    Returns:
        The path of ``list.txt``.
    """
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    _check_dataset_args(min_size, max_size, max_people, empty_fraction)
    out_dir = Path(out_dir)
    (out_dir / "images").mkdir(parents=True, exist_ok=True)
    (out_dir / "annotations").mkdir(parents=True, exist_ok=True)
    lines = []
    for index in range(count):
        image, points = generate_item(seed, index, min_size, max_size, max_people, empty_fraction)
        image_rel, ann_rel = f"images/{index:05d}.jpg", f"annotations/{index:05d}.txt"
        image.save(out_dir / image_rel, format="JPEG", quality=JPEG_QUALITY)
        (out_dir / ann_rel).write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in points))
        lines.append(f"{image_rel} {ann_rel}\n")
    list_path = out_dir / "list.txt"
    list_path.write_text("".join(lines))
    return list_path


# --------------------------------------------------------------------------- checks


def _check_size(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, got {width}x{height}")


def _check_dataset_args(
    min_size: int, max_size: int, max_people: int, empty_fraction: float
) -> None:
    if not 1 <= min_size <= max_size:
        raise ValueError(f"need 1 <= min_size <= max_size, got {min_size}, {max_size}")
    if max_people < 0:
        raise ValueError(f"max_people must be >= 0, got {max_people}")
    if not 0.0 <= empty_fraction <= 1.0:
        raise ValueError(f"empty_fraction must be in [0, 1], got {empty_fraction}")


def _sample_count(rng: np.random.Generator, max_people: int) -> int:
    """A people count in 1..max_people: log-uniform 3 times in 4, else uniform."""
    if rng.random() < 0.25:
        return int(rng.integers(1, max_people + 1))
    return int(np.clip(round(math.exp(rng.uniform(0.0, math.log(max_people)))), 1, max_people))


# --------------------------------------------------------------------------- colours


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float RGB in [0, 255] (clipped) -> (H, W, 3) uint8."""
    return np.clip(rgb + 0.5, 0, 255).astype(np.uint8)


def _hsv_colour(
    rng: np.random.Generator, sat: tuple[float, float], val: tuple[float, float]
) -> np.ndarray:
    """(3,) float32 RGB in [0, 255] with a random hue and saturation/value in the ranges."""
    rgb = colorsys.hsv_to_rgb(rng.random(), rng.uniform(*sat), rng.uniform(*val))
    return np.array(rgb, dtype=np.float32) * 255


def _jitter(rng: np.random.Generator, base: np.ndarray, sigma: float) -> np.ndarray:
    """Add Gaussian noise of ``sigma`` (0..255 units) to RGB colours of shape (..., 3)."""
    return np.clip(base + rng.normal(0.0, sigma, base.shape), 0, 255)


def _as_tuples(rgb: np.ndarray) -> list[Colour]:
    """(N, 3) RGB floats -> N tuples of ints, the form ImageDraw wants."""
    return [tuple(c) for c in np.rint(rgb).astype(int).tolist()]


def _distractor_colour(rng: np.random.Generator) -> Colour:
    """A colour that is skin-like, hair-like or arbitrary, so blobs can fool a detector."""
    u = rng.random()
    if u < 0.3:
        base = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
    elif u < 0.55:
        base = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), p=_HAIR_WEIGHTS)]
    else:
        base = _hsv_colour(rng, (0.0, 1.0), (0.1, 1.0))
    return _as_tuples(_jitter(rng, base[None], 10.0))[0]


# --------------------------------------------------------------------------- backgrounds


def _random_scale(rng: np.random.Generator, width: int, height: int) -> float:
    """A plausible head radius in px for a scene without people, to scale its clutter."""
    return float(
        rng.uniform(MIN_HEAD_RADIUS, min(MAX_HEAD_RADIUS, max(4.0, min(width, height) / 6)))
    )


def _smooth_noise(rng: np.random.Generator, width: int, height: int, cell: float) -> np.ndarray:
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
        total += _smooth_noise(rng, width, height, cell / 2**octave) / 2**octave
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
    return _hsv_colour(rng, (0.0, 0.55), (0.15, 0.95))


def _bg_noise(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """Two muted colours blended by multi-scale noise: soft clutter."""
    t = _fractal_noise(rng, width, height, scale * rng.uniform(2, 14), octaves=4)
    return _mix(_earthy(rng), _earthy(rng), t)


def _bg_gradient(rng: np.random.Generator, width: int, height: int, scale: float) -> np.ndarray:
    """A two-colour gradient with a little noise."""
    noise = _smooth_noise(rng, width, height, scale * rng.uniform(1, 6))
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
    fine = _smooth_noise(rng, width, height, rng.uniform(1, 3))
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
    fine = _smooth_noise(rng, width, height, rng.uniform(1, 2.5))
    coarse = _smooth_noise(rng, width, height, scale * rng.uniform(4, 15))
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
    noise = _smooth_noise(rng, width, height, max(width, height) * rng.uniform(0.1, 0.4))
    return np.clip((noise - rng.uniform(0.3, 0.7)) * rng.uniform(4, 30) + 0.5, 0, 1)


def _textured_background(
    rng: np.random.Generator, width: int, height: int, scale: float
) -> np.ndarray:
    """(height, width, 3) float32 RGB: one or two background types, plus film grain."""
    first = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
    rgb = first(rng, width, height, scale)
    if rng.random() < 0.55:
        second = _BACKGROUNDS[rng.integers(len(_BACKGROUNDS))]
        mask = _region_mask(rng, width, height)[..., None]
        rgb = rgb * (1 - mask) + second(rng, width, height, scale) * mask
    return rgb + rng.normal(0.0, rng.uniform(0, 4), (height, width, 1)).astype(np.float32)


def _blank_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height, width, 3) float32 RGB: a flat colour with an optional slight gradient."""
    colour = _hsv_colour(rng, (0.0, 1.0), (0.0, 1.0))
    strength = rng.uniform(0, 0.15) if rng.random() < 0.7 else 0.0
    shade = 1 + strength * (_ramp(rng, width, height) - 0.5)
    return colour * shade[..., None]


# --------------------------------------------------------------------------- clutter


def _box(x: float, y: float, rx: float, ry: float) -> tuple[float, float, float, float]:
    """The ImageDraw bounding box of an ellipse centred on (x, y) with half-axes rx, ry."""
    return (x - rx, y - ry, x + rx, y + ry)


def _blob_polygon(
    rng: np.random.Generator, x: float, y: float, radius: float
) -> list[tuple[float, float]]:
    """An irregular closed polygon around (x, y) of mean radius ``radius`` px."""
    n = int(rng.integers(5, 11))
    angles = np.sort(rng.uniform(0, 2 * math.pi, n))
    radii = radius * rng.uniform(0.5, 1.3, n)
    return list(zip(x + radii * np.cos(angles), y + radii * np.sin(angles), strict=True))


def _rect_polygon(
    x: float, y: float, half_w: float, half_h: float, angle: float
) -> list[tuple[float, float]]:
    """The corners of a rectangle centred on (x, y), rotated by ``angle`` radians."""
    c, s = math.cos(angle), math.sin(angle)
    corners = ((-half_w, -half_h), (half_w, -half_h), (half_w, half_h), (-half_w, half_h))
    return [(x + u * c - v * s, y + u * s + v * c) for u, v in corners]


def _draw_distractor(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, x: float, y: float, size: float
) -> None:
    """One non-head object of about ``size`` px around (x, y): disc, ring, rectangle,
    line or blob."""
    colour = _distractor_colour(rng)
    kind = rng.integers(5)
    if kind == 0:
        draw.ellipse(_box(x, y, size * rng.uniform(0.5, 1.5), size * rng.uniform(0.5, 1.5)), colour)
    elif kind == 1:
        width = int(max(1, size * rng.uniform(0.1, 0.4)))
        draw.ellipse(_box(x, y, size, size * rng.uniform(0.4, 1.2)), outline=colour, width=width)
    elif kind == 2:
        half_w, half_h = size * rng.uniform(0.5, 4, size=2)
        draw.polygon(_rect_polygon(x, y, half_w, half_h, rng.uniform(0, math.pi)), colour)
    elif kind == 3:
        length, angle = size * rng.uniform(1.5, 8), rng.uniform(0, math.pi)
        dx, dy = length * math.cos(angle), length * math.sin(angle)
        width = int(max(1, size * rng.uniform(0.05, 0.5)))
        draw.line((x - dx, y - dy, x + dx, y + dy), colour, width)
    else:
        draw.polygon(_blob_polygon(rng, x, y, size * rng.uniform(0.7, 3)), colour)


def _draw_clutter(
    rng: np.random.Generator, draw: ImageDraw.ImageDraw, width: int, height: int, scale: float
) -> None:
    """Scatter background distractors at sizes around the head scale ``scale`` px."""
    density = rng.uniform(0.05, 1.0) / (40 * scale * scale)
    count = min(int(rng.poisson(width * height * density)), 400)
    for x, y, size in zip(
        rng.uniform(0, width, count),
        rng.uniform(0, height, count),
        scale * np.exp(rng.uniform(-0.7, 1.0, count)),
        strict=True,
    ):
        _draw_distractor(rng, draw, float(x), float(y), float(size))


# --------------------------------------------------------------------------- crowd layout


def _sample_crowd(rng: np.random.Generator, width: int, height: int, n: int) -> _Crowd:
    """Lay out and dress ``n`` people; the result is sorted back to front."""
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
    rng: np.random.Generator, width: int, height: int, horizon: float, profile
) -> tuple[np.ndarray, int, float, float]:
    """Where people stand: a coarse (gh, gw) probability grid, flattened, with gw and the
    cell width/height in px.

    Density is higher where heads are smaller (far away), modulated by clusters, and zero
    above the horizon.
    """
    gw, gh = max(1, math.ceil(width / 16)), max(1, math.ceil(height / 16))
    cell_w, cell_h = width / gw, height / gh
    centres_y = (np.arange(gh) + 0.5) * cell_h
    weight = np.repeat((1 / profile(centres_y) ** 2)[:, None], gw, axis=1)
    clusters = _smooth_noise(rng, gw, gh, max(gw, gh) * rng.uniform(0.15, 0.5))
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
    profile,
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


def _dress(rng: np.random.Generator, xy: np.ndarray, radius: np.ndarray) -> _Crowd:
    """Give each of the N heads at ``xy`` a pose, colours and accessories."""
    n = len(radius)
    elevation = rng.random()
    p_top = 0.85 * elevation**2
    p_back = rng.uniform(0, 0.6) * (1 - p_top)
    pose = rng.choice(3, size=n, p=[1 - p_top - p_back, p_back, p_top])
    hair = _HAIR_COLOURS[rng.choice(len(_HAIR_COLOURS), size=n, p=_HAIR_WEIGHTS)]
    grey = rng.uniform(15, 235, (n, 1))
    cloth = grey + (rng.uniform(0, 255, (n, 3)) - grey) * rng.uniform(0, 1, (n, 1)) ** 1.5
    return _Crowd(
        xy=xy,
        radius=radius,
        aspect=np.where(pose == _TOP, rng.uniform(0.85, 1.0, n), rng.uniform(0.75, 0.92, n)),
        pose=pose,
        hair_cover=rng.uniform(0.12, 0.45, n),
        build=rng.uniform(0.85, 1.2, n),
        long_hair=rng.random(n) < 0.2,
        hat=rng.random(n) < rng.uniform(0, 0.2),
        highlight=rng.random(n) < 0.5,
        forehead=rng.random(n) < 0.5,
        skin=_as_tuples(_jitter(rng, _SKIN_TONES[rng.integers(len(_SKIN_TONES), size=n)], 8)),
        hair=_as_tuples(_jitter(rng, hair, 6)),
        cloth=_as_tuples(np.clip(cloth, 0, 255)),
        hat_colour=_as_tuples(rng.uniform(0, 255, (n, 3))),
    )


def _sample_occluders(
    rng: np.random.Generator, width: int, height: int, scale: float
) -> list[_Occluder]:
    """A few foreground objects standing among the people, sized by the head scale ``scale``
    px; sorted back to front."""
    count = int(rng.poisson(rng.uniform(0, 2.5) * (1 + width * height / 5e5)))
    kinds = rng.choice(["pole", "pole", "sign", "balloon"], size=count)
    occluders = [
        _Occluder(
            kind=str(kind),
            x=float(rng.uniform(0, width)),
            y=float(rng.uniform(0.2, 1.1) * height),
            size=scale * float(rng.uniform(0.6, 1.4)),
            colour=_distractor_colour(rng),
        )
        for kind in kinds
    ]
    return sorted(occluders, key=lambda o: o.y)


# --------------------------------------------------------------------------- drawing people


def _draw_occluder(draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, obj: _Occluder) -> None:
    """Draw a foreground object on the image and as background (0) on the label map."""
    s, x, y = obj.size, obj.x, obj.y
    top = y - s * 12
    for target, fill in ((draw, obj.colour), (label, 0)):
        if obj.kind == "balloon":
            target.line((x, y, x, y - s * 6), fill, 1)
            target.ellipse(_box(x, y - s * 7, s * 0.9, s * 1.1), fill)
            continue
        target.line((x, y, x, top), fill, max(1, int(s * 0.35)))
        if obj.kind == "sign":
            target.polygon(_rect_polygon(x, top, s * 2.2, s * 1.2, 0.0), fill)


def _draw_body(
    draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: _Crowd, i: int
) -> None:
    """Shoulders/torso (and a neck) of person i, below the head or around it from above."""
    (x, y), r = crowd.xy[i], crowd.radius[i]
    half_w = 2.1 * r * crowd.build[i]
    for target, fill, skin in ((draw, crowd.cloth[i], crowd.skin[i]), (label, 0, 0)):
        if crowd.pose[i] == _TOP:
            target.ellipse((x - half_w, y - 0.3 * r, x + half_w, y + 1.2 * r), fill)
            continue
        target.rounded_rectangle((x - half_w, y + r, x + half_w, y + 7 * r), 1.3 * r, fill)
        target.rectangle((x - 0.33 * r, y + 0.5 * r, x + 0.33 * r, y + 1.3 * r), skin)


def _draw_head(
    draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: _Crowd, i: int
) -> None:
    """Hair, face and hat of person i on the image, and its silhouette (i + 1) on the label."""
    (x, y), r = crowd.xy[i], crowd.radius[i]
    rx = r * crowd.aspect[i]
    pose, skin, hair = crowd.pose[i], crowd.skin[i], crowd.hair[i]
    head = _box(x, y, rx, r)
    if crowd.long_hair[i] and pose != _TOP:
        draw.ellipse((x - 1.12 * rx, y - r, x + 1.12 * rx, y + 1.3 * r), hair)
    if pose == _BACK and r >= 6:
        draw.ellipse(_box(x - rx, y + 0.1 * r, 0.22 * r, 0.3 * r), skin)
        draw.ellipse(_box(x + rx, y + 0.1 * r, 0.22 * r, 0.3 * r), skin)
    draw.ellipse(head, hair)
    if crowd.highlight[i] and r >= 5:
        shine = tuple(min(255, int(c * 1.3 + 25)) for c in hair)
        draw.ellipse(_box(x - 0.3 * rx, y - 0.45 * r, 0.35 * rx, 0.25 * r), shine)
    if pose == _FRONT:
        _draw_face(draw, x, y, rx, r, crowd.hair_cover[i], skin)
    elif pose == _TOP and crowd.forehead[i]:
        draw.ellipse((x - 0.55 * rx, y + 0.05 * r, x + 0.55 * rx, y + 0.9 * r), skin)
    label.ellipse(head, i + 1)
    if crowd.hat[i]:
        _draw_hat(draw, label, x, y, rx, r, pose == _TOP, crowd.hat_colour[i], i + 1)


def _draw_face(
    draw: ImageDraw.ImageDraw, x: float, y: float, rx: float, r: float, cover: float, skin: Colour
) -> None:
    """A face below a hair cap covering ``cover`` of the head height, with eyes if large."""
    top = y - r + 2 * r * cover
    draw.ellipse((x - 0.9 * rx, top, x + 0.9 * rx, y + r), skin)
    if r >= 7:
        eye_y, eye_r = top + 0.38 * (y + r - top), max(1.0, 0.1 * r)
        dark = tuple(c // 4 for c in skin)
        draw.ellipse(_box(x - 0.35 * rx, eye_y, eye_r, eye_r), dark)
        draw.ellipse(_box(x + 0.35 * rx, eye_y, eye_r, eye_r), dark)


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
    """A hat on the head at (x, y): a brimmed disc from above, a crown and brim otherwise."""
    darker = tuple(int(c * 0.75) for c in colour)
    if from_above:
        brim, crown = _box(x, y, 1.3 * rx, 1.3 * r), _box(x, y, 0.8 * rx, 0.8 * r)
        draw.ellipse(brim, colour)
        draw.ellipse(crown, darker)
        label.ellipse(brim, label_id)
        return
    brim = _box(x, y - 0.3 * r, 1.35 * rx, 0.16 * r)
    crown = _box(x, y - 0.3 * r, 1.02 * rx, 0.85 * r)
    draw.chord(crown, 180, 360, colour)
    draw.ellipse(brim, darker)
    label.chord(crown, 180, 360, label_id)
    label.ellipse(brim, label_id)


def _draw_crowd(
    draw: ImageDraw.ImageDraw,
    crowd: _Crowd,
    occluders: list[_Occluder],
    width: int,
    height: int,
) -> np.ndarray:
    """Draw people and occluders back to front; return the (N,) bool mask of the people
    whose head has at least one visible pixel."""
    label_image = Image.new("I", (width, height), 0)
    label = ImageDraw.Draw(label_image)
    pending = iter(occluders)
    next_occluder = next(pending, None)
    for i in range(len(crowd.radius)):
        while next_occluder is not None and next_occluder.y < crowd.xy[i, 1]:
            _draw_occluder(draw, label, next_occluder)
            next_occluder = next(pending, None)
        _draw_body(draw, label, crowd, i)
        _draw_head(draw, label, crowd, i)
    while next_occluder is not None:
        _draw_occluder(draw, label, next_occluder)
        next_occluder = next(pending, None)
    labels = np.asarray(label_image).ravel()
    return np.bincount(labels, minlength=len(crowd.radius) + 1)[1:] > 0


# --------------------------------------------------------------------------- lighting


def _apply_lighting(rng: np.random.Generator, image: Image.Image) -> Image.Image:
    """Multiply by a smooth illumination field, jitter brightness/contrast/colour, and
    optionally blur and add sensor noise."""
    width, height = image.size
    rgb = np.asarray(image, dtype=np.float32)
    field = 1 + rng.uniform(0, 0.4) * (_ramp(rng, width, height) - 0.5)
    cell = max(width, height) * rng.uniform(0.15, 0.6)
    field = field + rng.uniform(0, 0.5) * (_smooth_noise(rng, width, height, cell) - 0.5)
    mean = float(rgb.mean())
    contrast, brightness = rng.uniform(0.7, 1.25), rng.uniform(0.7, 1.2)
    cast = rng.uniform(0.9, 1.1, 3).astype(np.float32)
    rgb = ((rgb - mean) * contrast + mean * brightness) * field[..., None] * cast
    if rng.random() < 0.5:
        rgb = rgb + rng.normal(0, rng.uniform(1, 6), rgb.shape).astype(np.float32)
    out = Image.fromarray(_to_uint8(rgb))
    if rng.random() < 0.3:
        out = out.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return out
