"""Drawing decoded points, the count and an optional heat map over an image. No torch here."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PIL import Image, ImageColor, ImageDraw, ImageFont

from p2pcount.errors import ConfigError

if TYPE_CHECKING:
    from p2pcount.counter import CountResult

#: Colour stops of the heat map (low → high probability), an inferno-like ramp.
_HEAT_STOPS = np.array(
    [[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float32
)


def parse_color(color: str) -> tuple[int, int, int]:
    """A CSS colour name or ``#rrggbb`` → (r, g, b); :class:`ConfigError` if unknown."""
    try:
        return ImageColor.getrgb(color)[:3]
    except ValueError:
        raise ConfigError(f"unknown colour {color!r} (use a name like red or #ff0000)") from None


def default_radius(width: int, height: int) -> int:
    """Dot radius in pixels: about 0.4 % of the longer side, at least 2."""
    return max(2, round(0.004 * max(width, height)))


def heat_colors(values: np.ndarray) -> np.ndarray:
    """(...,) values in [0, 1] → (..., 3) uint8 colours of the heat-map ramp."""
    position = np.clip(values, 0.0, 1.0) * (len(_HEAT_STOPS) - 1)
    low = np.floor(position).astype(int).clip(0, len(_HEAT_STOPS) - 2)
    frac = (position - low)[..., None]
    colors = _HEAT_STOPS[low] * (1 - frac) + _HEAT_STOPS[low + 1] * frac
    return colors.round().astype(np.uint8)


def blend_heatmap(
    image: Image.Image, cell_scores: np.ndarray, stride: int, alpha: float = 0.5
) -> Image.Image:
    """Blend the (ceil(H/S), ceil(W/S)) per-cell probabilities over the image, each cell S×S px."""
    heat = Image.fromarray(heat_colors(cell_scores), mode="RGB")
    cells_h, cells_w = cell_scores.shape
    heat = heat.resize((cells_w * stride, cells_h * stride), Image.Resampling.BILINEAR)
    heat = heat.crop((0, 0, image.width, image.height))
    return Image.blend(image, heat, alpha)


def _label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def draw_label(image: Image.Image, text: str) -> None:
    """Write ``text`` in a dark box at the top-left corner, sized to the image."""
    draw = ImageDraw.Draw(image)
    size = max(12, round(0.035 * max(image.width, image.height)))
    font = _label_font(size)
    margin = max(2, size // 4)
    left, top, right, bottom = draw.textbbox((margin, margin), text, font=font)
    draw.rectangle((0, 0, right + margin, bottom + margin), fill=(0, 0, 0))
    draw.text((margin, margin), text, font=font, fill=(255, 255, 255))


def render_overlay(
    image: Image.Image,
    result: CountResult,
    *,
    radius: int | None = None,
    color: str = "red",
    heatmap: bool = False,
    stride: int = 8,
) -> Image.Image:
    """A copy of ``image`` (RGB, full resolution) with a dot per point and the count label.

    ``radius`` in pixels (default: :func:`default_radius`); with ``heatmap`` the per-cell
    probabilities are blended underneath the dots.
    """
    rgb = parse_color(color)
    out = blend_heatmap(image, result.cell_scores, stride) if heatmap else image.copy()
    r = default_radius(out.width, out.height) if radius is None else radius
    draw = ImageDraw.Draw(out)
    outline = (0, 0, 0) if sum(rgb) > 300 else (255, 255, 255)
    for x, y in result.points:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=rgb, outline=outline)
    draw_label(out, f"count: {result.count}")
    return out


def render_comparison(
    image: Image.Image,
    gt_points: np.ndarray,
    pred_points: np.ndarray,
    *,
    radius: int | None = None,
    gt_color: str = "lime",
    pred_color: str = "red",
) -> Image.Image:
    """Ground truth as rings and predictions as dots, with both counts in the label."""
    out = image.copy()
    r = default_radius(out.width, out.height) if radius is None else radius
    draw = ImageDraw.Draw(out)
    ring = parse_color(gt_color)
    for x, y in gt_points:
        draw.ellipse(
            (x - 2 * r, y - 2 * r, x + 2 * r, y + 2 * r), outline=ring, width=max(1, r // 2)
        )
    dot = parse_color(pred_color)
    for x, y in pred_points:
        draw.ellipse((x - r, y - r, x + r, y + r), fill=dot)
    draw_label(out, f"gt: {len(gt_points)}  predicted: {len(pred_points)}")
    return out
