"""Tiled counting's geometry: which crop of a large image each tile reads and which core of
it each tile answers for. No torch here (the command line reads the defaults for --help).

A tile is a core of ``size`` pixels plus a margin on every side (at least half the
model's receptive field and one cell, aligned to the 16-px grid); it keeps only the
candidates whose anchor lies in its core. Every anchor belongs to exactly one core and no
core output sees a tile's cut edges, so tiled counts equal whole-image counts up to float
rounding, with memory bounded by the tile size.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

#: Default tile core (pixels per side) and the image size (pixels) above which tiling starts:
#: PyTorch's, and every backend's that sets no other (``InferenceBackend.default_tile_size``
#: and ``default_tile_above``, :mod:`p2pcount.infer.backends.base`).
DEFAULT_TILE_SIZE = 1024
DEFAULT_TILE_ABOVE = 2048 * 2048

Box = tuple[int, int, int, int]  # (x0, y0, x1, y1) in pixels, x1 and y1 exclusive


def tile_margin(receptive_field: int, stride: int, divisor: int) -> int:
    """Overlap (pixels, a multiple of ``divisor``) around a tile's core: at least half the
    receptive field plus one cell of ``stride`` pixels, so a core's outputs do not see the
    tile's cut edges."""
    half = receptive_field // 2 + stride
    return math.ceil(half / divisor) * divisor


@dataclass(frozen=True)
class Tile:
    """One tile of an image: the ``crop`` it reads and the ``core`` it answers for."""

    crop: Box
    core: Box


def tile_grid(width: int, height: int, size: int, margin: int) -> Iterator[Tile]:
    """The tiles of a ``width`` × ``height`` image, row by row: cores of ``size`` pixels
    (smaller at the right and bottom edges), crops of the core plus ``margin`` on each side
    inside the image. ``size`` and ``margin`` multiples of 16 keep every crop's origin on
    the model's grid."""
    for top in range(0, height, size):
        for left in range(0, width, size):
            crop = (
                max(0, left - margin),
                max(0, top - margin),
                min(width, left + size + margin),
                min(height, top + size + margin),
            )
            yield Tile(crop, (left, top, min(left + size, width), min(top + size, height)))
