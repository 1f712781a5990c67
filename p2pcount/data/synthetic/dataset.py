"""A synthetic dataset on disk: image ``i`` of a seed, and the folder of JPEG images, point
annotations and list file that the dataset readers load."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from .heads import People
from .scene import EMPTY_KINDS, generate_empty, generate_scene
from .styles import CLASSIC, Style
from .varied_scene import draw_varied_scene, empty_kinds, generate_varied_empty

__all__ = ["JPEG_QUALITY", "draw_item", "generate_item", "write_dataset"]

JPEG_QUALITY = 92


def generate_item(
    seed: int,
    index: int,
    min_size: int = 256,
    max_size: int = 1024,
    max_people: int = 600,
    empty_fraction: float = 0.05,
    style: Style = CLASSIC,
) -> tuple[Image.Image, np.ndarray]:
    """Draw image ``index`` of the dataset ``seed``, independently of the other images.

    Sizes are uniform in ``[min_size, max_size]`` px (width and height independently). Images
    whose index falls on the ``empty_fraction`` stride are empty, in turn of each kind
    (classic: blank, textured; varied: those of :func:`~.varied_scene.empty_kinds`); the others
    hold 1..max_people people, log-uniform with a uniform share so that both sparse and
    dense scenes are common. The ``varied`` style draws from its own generator, so its
    image ``index`` is unrelated to the classic one.

    Returns:
        The RGB image and its (K, 2) float32 head centres in px (K = 0 for empty scenes).
    """
    image, points, _ = draw_item(seed, index, min_size, max_size, max_people, empty_fraction, style)
    return image, points


def draw_item(
    seed: int,
    index: int,
    min_size: int = 256,
    max_size: int = 1024,
    max_people: int = 600,
    empty_fraction: float = 0.05,
    style: Style = CLASSIC,
) -> tuple[Image.Image, np.ndarray, People | None]:
    """:func:`generate_item`, with who the K heads of a varied crowd scene are
    (:class:`~.heads.People`, in the order of the points); None for classic and
    person-free scenes."""
    _check_dataset_args(min_size, max_size, max_people, empty_fraction)
    classic = style.name == "classic"
    rng = np.random.default_rng([seed, index] if classic else [seed, index, 1])
    width, height = (int(v) for v in rng.integers(min_size, max_size + 1, size=2))
    empty_rank = math.floor(index * empty_fraction)
    if math.floor((index + 1) * empty_fraction) > empty_rank or max_people == 0:
        nobody = np.zeros((0, 2), np.float32)
        if classic:
            kind = EMPTY_KINDS[empty_rank % len(EMPTY_KINDS)]
            return generate_empty(rng, width, height, kind), nobody, None
        kinds = empty_kinds(style)
        kind = kinds[empty_rank % len(kinds)]
        return generate_varied_empty(rng, width, height, kind, style), nobody, None
    count = _sample_count(rng, max_people)
    if classic:
        return (*generate_scene(rng, width, height, count), None)
    return draw_varied_scene(rng, width, height, count, style)


def write_dataset(
    out_dir: Path,
    count: int,
    seed: int,
    min_size: int = 256,
    max_size: int = 1024,
    max_people: int = 600,
    empty_fraction: float = 0.05,
    style: Style = CLASSIC,
) -> Path:
    """Write ``count`` synthetic scenes with their point annotations.

    Layout under ``out_dir``: ``images/00000.jpg`` (JPEG quality 92),
    ``annotations/00000.txt`` (one ``x y`` line per head, px, 2 decimals; empty when there
    is nobody) and ``list.txt`` (lines ``images/00000.jpg annotations/00000.txt``, relative
    to the list file). Image ``i`` is :func:`generate_item` ``(seed, i, ..., style)``, so the same
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
        image, points = generate_item(
            seed, index, min_size, max_size, max_people, empty_fraction, style
        )
        image_rel, ann_rel = f"images/{index:05d}.jpg", f"annotations/{index:05d}.txt"
        image.save(out_dir / image_rel, format="JPEG", quality=JPEG_QUALITY)
        (out_dir / ann_rel).write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in points))
        lines.append(f"{image_rel} {ann_rel}\n")
    list_path = out_dir / "list.txt"
    list_path.write_text("".join(lines))
    return list_path


def _check_dataset_args(
    min_size: int, max_size: int, max_people: int, empty_fraction: float
) -> None:
    """Raise ValueError unless 1 <= min_size <= max_size (px), max_people >= 0 and
    0 <= empty_fraction <= 1."""
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
