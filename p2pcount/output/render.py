"""Drawing decoded points, the count, a heat map and legends over an image. No torch here.

Boxes drawn in a corner (the count label top left, a legend bottom right) are at most
:data:`BOX_MAX_WIDTH` of the image's width and :data:`BOX_MAX_HEIGHT` of its height: their
font shrinks to fit, so that they never hide much of a small image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from math import ceil
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from p2pcount.errors import ConfigError

if TYPE_CHECKING:
    from p2pcount.output.regions import Region
    from p2pcount.output.result import CountResult

RGB = tuple[int, int, int]
Box = tuple[int, int, int, int]  # (left, top, right, bottom) in pixels, inclusive

#: The heat map's colour ramp, probability 0 → 1: matplotlib's perceptually uniform
#: "inferno" (black, purple, orange, pale yellow), its 256-entry table sampled at 17 evenly
#: spaced stops (entries round(k · 255 / 16)) in 0…255, linearly interpolated in between.
_INFERNO_STOPS = np.array(
    [
        [0, 0, 4],
        [11, 7, 36],
        [33, 12, 74],
        [61, 9, 101],
        [87, 16, 110],
        [113, 25, 110],
        [138, 34, 106],
        [163, 44, 97],
        [188, 55, 84],
        [208, 69, 69],
        [227, 89, 51],
        [241, 113, 31],
        [249, 140, 10],
        [252, 170, 15],
        [249, 201, 50],
        [242, 232, 101],
        [252, 255, 164],
    ],
    dtype=np.float32,
)

#: Opacity of the heat map where the probability is 1; it is proportional to the
#: probability, so a cell of probability 0 leaves its pixels exactly as they were.
HEAT_OPACITY = 0.75

#: Fractions of the image's width and height that a corner box may take at most.
BOX_MAX_WIDTH = 1 / 2
BOX_MAX_HEIGHT = 1 / 8

#: ``eval --viz``: predictions matched to a head (dots), false heads (unmatched
#: predictions, crosses) and missed heads (unmatched ground truth, rings).
MATCHED_COLOR: RGB = (0, 200, 83)
FALSE_COLOR: RGB = (255, 48, 48)
MISSED_COLOR: RGB = (255, 214, 0)

#: Outline colours of regions, the i-th region's the i-th (cycled): cyan, lime, magenta,
#: orange, blue, white; bright, and apart from the default red dots.
REGION_COLORS: tuple[RGB, ...] = (
    (0, 229, 255),
    (118, 255, 3),
    (255, 64, 200),
    (255, 145, 0),
    (41, 121, 255),
    (255, 255, 255),
)

_BLACK: RGB = (0, 0, 0)
_WHITE: RGB = (255, 255, 255)


def parse_color(color: str) -> RGB:
    """A CSS colour name or ``#rrggbb`` → (r, g, b); :class:`ConfigError` if unknown."""
    try:
        return ImageColor.getrgb(color)[:3]
    except ValueError:
        raise ConfigError(f"unknown colour {color!r} (use a name like red or #ff0000)") from None


def default_radius(width: int, height: int) -> int:
    """Dot radius in pixels: about 0.4 % of the longer side, at least 2."""
    return max(2, round(0.004 * max(width, height)))


def heat_colors(values: np.ndarray) -> np.ndarray:
    """(...,) probabilities in [0, 1] → (..., 3) uint8 colours of the inferno ramp."""
    position = np.clip(values, 0.0, 1.0) * (len(_INFERNO_STOPS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_INFERNO_STOPS) - 2)
    frac = (position - low)[..., None]
    colors = _INFERNO_STOPS[low] * (1 - frac) + _INFERNO_STOPS[low + 1] * frac
    return colors.round().astype(np.uint8)


def blend_heatmap(image: Image.Image, cell_scores: np.ndarray, stride: int) -> Image.Image:
    """Blend the (ceil(H/S), ceil(W/S)) per-cell probabilities over the RGB image.

    Each cell covers S×S pixels in its :func:`heat_colors` colour at opacity
    :data:`HEAT_OPACITY` × its probability: cells of probability 0 are left unchanged.
    """
    cells_h, cells_w = cell_scores.shape
    opacity = np.round(np.clip(cell_scores, 0.0, 1.0) * HEAT_OPACITY * 255).astype(np.uint8)
    size, crop = (cells_w * stride, cells_h * stride), (0, 0, image.width, image.height)
    heat, mask = (
        Image.fromarray(cells).resize(size, Image.Resampling.NEAREST).crop(crop)
        for cells in (heat_colors(cell_scores), opacity)
    )
    return Image.composite(heat, image, mask)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


@dataclass(frozen=True)
class Swatch:
    """A drawing in a box's line of text, ``width`` font sizes wide, as high as the text.

    ``paint(draw, box)`` draws it inside ``box`` (left, top, right, bottom; pixels).
    """

    width: float
    paint: Callable[[ImageDraw.ImageDraw, Box], None]


Piece = str | Swatch


def _line_box(pieces: Sequence[Piece], size: int) -> Image.Image:
    """White text and swatches on one line in a black box, with a font ``size`` px high."""
    font = _font(size)
    margin, gap = max(1, size // 4), max(1, size // 3)
    _, top, _, bottom = font.getbbox("".join(p for p in pieces if isinstance(p, str)))
    height = max(1, bottom - top)
    widths = [
        ceil(font.getlength(p)) if isinstance(p, str) else max(1, round(p.width * size))
        for p in pieces
    ]
    line_width = sum(widths) + gap * (len(pieces) - 1)
    box = Image.new("RGB", (line_width + 2 * margin, height + 2 * margin), _BLACK)
    draw = ImageDraw.Draw(box)
    x = margin
    for piece, width in zip(pieces, widths, strict=True):
        if isinstance(piece, str):
            draw.text((x, margin - top), piece, font=font, fill=_WHITE)
        else:
            piece.paint(draw, (x, margin, x + width - 1, margin + height - 1))
        x += width + gap
    return box


def corner_box(pieces: Sequence[Piece], width: int, height: int) -> Image.Image:
    """The box of ``pieces`` for a ``width`` × ``height`` px image, within the size caps.

    The font is about 3.5 % of the image's longer side (at least 12 px), smaller while the
    box exceeds the caps; a box that still does (Pillow's bitmap font cannot shrink, a
    1-px font can no further) is scaled down.
    """
    size = max(12, round(0.035 * max(width, height)))
    box = _line_box(pieces, size)
    cap = (max(1, int(width * BOX_MAX_WIDTH)), max(1, int(height * BOX_MAX_HEIGHT)))
    while (box.width > cap[0] or box.height > cap[1]) and size > 1:
        scale = min(cap[0] / box.width, cap[1] / box.height)
        size = max(1, min(size - 1, int(size * scale)))
        box = _line_box(pieces, size)
    box.thumbnail(cap, Image.Resampling.LANCZOS)
    return box


def draw_label(image: Image.Image, text: str) -> Box:
    """Write ``text`` in a black box in the top-left corner; returns the box's pixels."""
    box = corner_box([text], image.width, image.height)
    image.paste(box, (0, 0))
    return 0, 0, box.width - 1, box.height - 1


def draw_legend(image: Image.Image, pieces: Sequence[Piece]) -> None:
    """Draw a legend (text and swatches) in a black box in the bottom-right corner."""
    box = corner_box(pieces, image.width, image.height)
    image.paste(box, (image.width - box.width, image.height - box.height))


def _paint_ramp(draw: ImageDraw.ImageDraw, box: Box) -> None:
    left, top, right, bottom = box
    colors = heat_colors(np.linspace(0.0, 1.0, right - left + 1))
    for x, color in enumerate(colors.tolist(), start=left):
        draw.line((x, top, x, bottom), fill=tuple(color))


HEAT_LEGEND: tuple[Piece, ...] = ("probability 0", Swatch(4.0, _paint_ramp), "1")


def _outline(color: RGB) -> RGB:
    """Black around light colours, white around dark ones."""
    return _BLACK if sum(color) > 300 else _WHITE


def _dot(draw: ImageDraw.ImageDraw, x: float, y: float, r: int, color: RGB) -> None:
    """A filled disc of radius ``r`` px, outlined."""
    draw.ellipse((x - r, y - r, x + r, y + r), fill=color, outline=_outline(color))


def _cross(draw: ImageDraw.ImageDraw, x: float, y: float, r: int, color: RGB) -> None:
    """An × whose arms reach 1.5 ``r`` px from the centre along each axis."""
    arm, width = round(1.5 * r), max(1, round(r / 2))
    draw.line((x - arm, y - arm, x + arm, y + arm), fill=color, width=width)
    draw.line((x - arm, y + arm, x + arm, y - arm), fill=color, width=width)


def _ring(draw: ImageDraw.ImageDraw, x: float, y: float, r: int, color: RGB) -> None:
    """A circle of radius 2 ``r`` px, hollow."""
    draw.ellipse((x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r), outline=color, width=max(1, r // 2))


Marker = Callable[[ImageDraw.ImageDraw, float, float, int, RGB], None]


def _marker_swatch(marker: Marker, color: RGB) -> Swatch:
    """A legend swatch showing ``marker`` sized to the line's height."""

    def paint(draw: ImageDraw.ImageDraw, box: Box) -> None:
        left, top, right, bottom = box
        r = max(1, (bottom - top + 1) // 4)
        marker(draw, (left + right) / 2, (top + bottom) / 2, r, color)

    return Swatch(1.0, paint)


def _paint_square(color: RGB) -> Callable[[ImageDraw.ImageDraw, Box], None]:
    def paint(draw: ImageDraw.ImageDraw, box: Box) -> None:
        draw.rectangle(box, fill=color)

    return paint


def draw_region_outlines(image: Image.Image, regions: Sequence[Region]) -> None:
    """Outline each region (and its holes) in its :data:`REGION_COLORS` colour, lines about
    0.3 % of the image's longer side wide (at least 2 px)."""
    draw = ImageDraw.Draw(image)
    width = max(2, round(0.003 * max(image.width, image.height)))
    for index, region in enumerate(regions):
        polygon = region.polygon(image.width, image.height)
        color = REGION_COLORS[index % len(REGION_COLORS)]
        for ring in (polygon.exterior, *polygon.interiors):
            draw.line(list(ring.coords), fill=color, width=width, joint="curve")


def _below_taken(spot: Box, taken: Sequence[Box]) -> Box:
    """``spot`` moved down past every box of ``taken`` it overlaps (all inclusive pixels)."""
    left, top, right, bottom = spot
    moved = True
    while moved:
        moved = False
        for t_left, t_top, t_right, t_bottom in taken:
            if left <= t_right and right >= t_left and top <= t_bottom and bottom >= t_top:
                top, bottom, moved = t_bottom + 1, bottom + t_bottom + 1 - top, True
    return left, top, right, bottom


def draw_region_labels(
    image: Image.Image, regions: Sequence[Region], counts: Sequence[int], taken: Sequence[Box] = ()
) -> None:
    """Write each region's colour, name and count (``gate B: 12``) in a black box just above
    the top-left corner of the region's bounding box (below it when there is no room above),
    moved inside the image, and down past the boxes already drawn (``taken``, then the
    earlier regions' labels) while it fits."""
    placed = list(taken)
    for index, (region, count) in enumerate(zip(regions, counts, strict=True)):
        swatch = Swatch(0.6, _paint_square(REGION_COLORS[index % len(REGION_COLORS)]))
        box = corner_box([swatch, f"{region.name}: {count}"], image.width, image.height)
        left, top, _, _ = region.polygon(image.width, image.height).bounds
        x = max(0, min(round(left), image.width - box.width))
        y = round(top) - box.height if round(top) >= box.height else round(top)
        y = max(0, min(y, image.height - box.height))
        spot = _below_taken((x, y, x + box.width - 1, y + box.height - 1), placed)
        if spot[3] < image.height:
            x, y = spot[:2]
        image.paste(box, (x, y))
        placed.append((x, y, x + box.width - 1, y + box.height - 1))


def render_overlay(
    image: Image.Image,
    result: CountResult,
    *,
    radius: int | None = None,
    color: str = "red",
    heatmap: bool = False,
    label: bool = True,
    stride: int = 8,
    regions: Sequence[Region] = (),
) -> Image.Image:
    """A copy of the RGB ``image`` (full resolution) with a dot per point.

    ``radius`` in pixels (default: :func:`default_radius`). ``heatmap`` blends the per-cell
    probabilities underneath the dots (:func:`blend_heatmap`) and draws its legend bottom
    right; ``label`` writes the count top left; each of ``regions`` is outlined under the
    dots and labelled with its name and count (points inside it) above them.
    """
    rgb = parse_color(color)
    out = blend_heatmap(image, result.cell_scores, stride) if heatmap else image.copy()
    r = default_radius(out.width, out.height) if radius is None else radius
    draw_region_outlines(out, regions)
    draw = ImageDraw.Draw(out)
    for x, y in result.points:
        _dot(draw, x, y, r, rgb)
    if heatmap:
        draw_legend(out, HEAT_LEGEND)
    taken = [draw_label(out, f"count: {result.count}")] if label else []
    if regions:
        counts = [
            int(region.contains(result.points, out.width, out.height).sum()) for region in regions
        ]
        draw_region_labels(out, regions, counts, taken)
    return out


def render_comparison(
    image: Image.Image,
    gt_points: np.ndarray,
    pred_points: np.ndarray,
    matches: tuple[np.ndarray, np.ndarray],
    *,
    radius: int | None = None,
) -> Image.Image:
    """Predictions and ground truth (G, 2) / (P, 2) px over a copy of ``image``, by outcome.

    ``matches`` = (prediction indices, ground-truth indices) of the matched pairs, as
    :func:`p2pcount.evaluate.metrics.match_points` gives them. Matched predictions are dots in
    :data:`MATCHED_COLOR`, false heads (the other predictions) crosses in
    :data:`FALSE_COLOR`, missed heads (the other ground truth) rings in
    :data:`MISSED_COLOR`; a legend with the three counts is drawn bottom right and both
    totals top left. ``radius`` is the dot radius in pixels (default: :func:`default_radius`).
    """
    out = image.copy()
    r = default_radius(out.width, out.height) if radius is None else radius
    matched = np.zeros(len(pred_points), dtype=bool)
    matched[matches[0]] = True
    found = np.zeros(len(gt_points), dtype=bool)
    found[matches[1]] = True
    draw = ImageDraw.Draw(out)
    # Matched dots last, on top: they are the ones a reader checks against the heads.
    for points, marker, color in (
        (pred_points[~matched], _cross, FALSE_COLOR),
        (gt_points[~found], _ring, MISSED_COLOR),
        (pred_points[matched], _dot, MATCHED_COLOR),
    ):
        for x, y in points:
            marker(draw, x, y, r, color)
    draw_legend(
        out,
        [
            _marker_swatch(_dot, MATCHED_COLOR),
            f"matched {int(matched.sum())}",
            _marker_swatch(_cross, FALSE_COLOR),
            f"false {int((~matched).sum())}",
            _marker_swatch(_ring, MISSED_COLOR),
            f"missed {int((~found).sum())}",
        ],
    )
    draw_label(out, f"gt: {len(gt_points)}  predicted: {len(pred_points)}")
    return out
