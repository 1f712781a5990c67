"""Deterministic synthetic crowd scenes with head-centre point annotations.

A scene is a textured, cluttered background with people drawn back to front under a
perspective (heads grow towards the bottom of the image), a few foreground occluders,
non-head distractors and a random illumination. Every function takes its randomness from
a :class:`numpy.random.Generator`, so a seed fixes the pixels and the points.

Coordinates are continuous pixel coordinates: origin at the top-left corner of the image,
x to the right, y down, pixel ``(i, j)`` covering ``[j, j + 1) × [i, i + 1)``. A point is
the centre of a head's face+hair ellipse. This package imports only numpy and PIL (no torch).

Modules, each used only by those after it:

- :mod:`.palette`: skin and hair tables, random colours, float/uint8/tuple conversions.
- :mod:`.backgrounds`: noise fields, background textures, and the lighting of a scene.
- :mod:`.clutter`: distractors and foreground occluders, and ellipse/polygon geometry.
- :mod:`.crowd`: where people stand (perspective, clusters) and their looks.
- :mod:`.people`: drawing people back to front among occluders; which heads stay visible.
- :mod:`.scene`: whole scenes: crowd, background alone, person-free.
- :mod:`.styles`: the ``classic`` and ``varied`` styles, and holding families out.
- :mod:`.heads`: the people of varied scenes: head styles, palettes, bodies.
- :mod:`.surfaces`: the backgrounds and camera effects of varied scenes.
- :mod:`.varied_scene`: whole varied scenes, with and without people.
- :mod:`.dataset`: image ``i`` of a seed and style (and who its heads are), and a dataset
  folder written to disk.
"""

from __future__ import annotations

from .dataset import draw_item, generate_item, write_dataset
from .heads import People
from .scene import EMPTY_KINDS, generate_background, generate_empty, generate_scene
from .styles import BACKGROUND_FAMILIES, CLASSIC, HEAD_STYLES, STYLES, Style, varied
from .varied_scene import VARIED_EMPTY_KINDS, generate_varied_empty, generate_varied_scene

__all__ = [
    "BACKGROUND_FAMILIES",
    "CLASSIC",
    "EMPTY_KINDS",
    "HEAD_STYLES",
    "People",
    "STYLES",
    "VARIED_EMPTY_KINDS",
    "Style",
    "draw_item",
    "generate_background",
    "generate_empty",
    "generate_item",
    "generate_scene",
    "generate_varied_empty",
    "generate_varied_scene",
    "varied",
    "write_dataset",
]
