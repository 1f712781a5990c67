"""Crowd-counting datasets with point annotations, read for training and evaluation.

Five layouts are understood (see :data:`FORMATS`); :func:`load_dataset` turns any of them
into a list of :class:`Sample`, one per image, each holding the image's path and its head
points in pixels. Datasets are only read, never written to.

Every annotation is checked against its image, whose width and height are read from the
image header (no pixel decoding, no EXIF rotation: the annotations of these datasets refer to
the pixel grid as stored on disk):

* A point within 1 px outside the image (a coordinate in ``[-1, 0)`` or ``[size, size + 1]``,
  e.g. ``x == width`` or ``x == -0.5``, as annotation rounding produces) is clamped into it.
* A point farther out is dropped, and a warning says how many were dropped from which file.
* Anything else that is wrong (a missing file, an unparsable line, a non-finite coordinate, an
  empty dataset) raises :class:`~p2pcount.errors.DatasetError` naming the file.

This module does not import torch.
"""

from __future__ import annotations

import json
import math
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from p2pcount.data.layouts import FORMATS
from p2pcount.errors import ConfigError, DatasetError, ImageError
from p2pcount.io.inputs import list_folder

#: Dataset layouts :func:`load_dataset` reads.

#: Suffixes (lower case) of files :func:`detect_format` takes as list files.
LIST_SUFFIXES = (".txt", ".list")

#: How far outside the image (pixels) a point may lie and still be clamped into it.
BORDER_TOLERANCE = 1.0

_SHANGHAITECH_GT_DIRS = ("ground-truth", "ground_truth")
_UNDETECTABLE = (
    "expected a list file (*.txt, *.list), a directory holding images/ and ground-truth/GT_*.mat "
    "(shanghaitech), images/ and jsons/ (nwpu), images/ and gt/*.txt (jhu), "
    "or images with sidecar <stem>.txt files (folder)"
)

Warn = Callable[[str], None]
PointReader = Callable[[Path], np.ndarray]


@dataclass(frozen=True, eq=False)
class Sample:
    """One annotated image.

    Attributes:
        image: path of the image file.
        points: float32 array of shape (K, 2), one ``(x, y)`` head position per row, in pixels
            of the image as stored on disk, origin at its top-left corner; K may be 0. Every
            point satisfies ``0 <= x < width`` and ``0 <= y < height``. The array is not
            copied for callers: copy it before modifying it in place.
    """

    image: Path
    points: np.ndarray


def detect_format(path: Path | str) -> str:
    """Return which of :data:`FORMATS` the dataset at ``path`` is in.

    A ``*.txt``/``*.list`` file is a ``"list"``; a directory holding ``images/`` is
    ``"shanghaitech"`` with ``ground-truth/`` (or ``ground_truth/``) holding ``GT_*.mat``,
    ``"nwpu"`` with ``jsons/``, ``"jhu"`` with ``gt/`` holding ``*.txt``; a directory of
    images of which at least one has a sidecar ``<stem>.txt`` is a ``"folder"``.

    Raises:
        DatasetError: ``path`` does not exist or fits none of the layouts.
    """
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or directory")
    if path.is_file():
        if path.suffix.lower() in LIST_SUFFIXES:
            return "list"
    elif path.is_dir():
        if (path / "images").is_dir():
            if _shanghaitech_gt_dir(path) is not None:
                return "shanghaitech"
            if (path / "jsons").is_dir():
                return "nwpu"
            if (path / "gt").is_dir() and any((path / "gt").glob("*.txt")):
                return "jhu"
        if any(_sidecar(image).is_file() for image in _image_files(path)):
            return "folder"
        lists = sorted(f.name for f in path.iterdir() if f.suffix.lower() in LIST_SUFFIXES)
        if lists:  # e.g. the folder scripts/make_synthetic.py writes, given for its list.txt
            raise DatasetError(
                f"{path}: cannot detect the dataset format; if {' or '.join(lists[:3])} is a "
                "list file, pass that file instead of the folder"
            )
    raise DatasetError(f"{path}: cannot detect the dataset format: {_UNDETECTABLE}")


def load_dataset(
    path: Path | str, fmt: str | None = None, *, on_warning: Warn | None = None
) -> list[Sample]:
    """Read every sample of the dataset at ``path``.

    Args:
        path: a list file or a dataset directory (see :func:`detect_format`).
        fmt: one of :data:`FORMATS`; None detects it.
        on_warning: called with a one-line message for each annotation file that had points
            outside its image dropped; None issues them with :func:`warnings.warn`.

    Returns:
        The samples in a deterministic order: a list file's order, or else the natural order
        of the image names (``IMG_2`` before ``IMG_10``).

    Raises:
        ConfigError: ``fmt`` is not one of :data:`FORMATS`.
        DatasetError: a file is missing or malformed, or the dataset has no samples.
    """
    path = Path(path)
    fmt = detect_format(path) if fmt is None else fmt
    if fmt not in _READERS:
        raise ConfigError(f"unknown dataset format {fmt!r} (known: {', '.join(FORMATS)})")
    list_pairs, read_points = _READERS[fmt]
    pending: list[str] = []
    warn = pending.append if on_warning is None else on_warning
    samples = [
        _load_sample(image, annotation, read_points, warn) for image, annotation in list_pairs(path)
    ]
    for message in pending:
        warnings.warn(message, stacklevel=2)
    if not samples:
        raise DatasetError(f"{path}: empty dataset, no annotated images found")
    return samples


def summarize(samples: Sequence[Sample]) -> dict[str, int | float]:
    """Count statistics of ``samples``.

    Returns:
        ``images`` (number of samples), ``points`` (total annotated heads), and the
        ``mean_count``, ``min_count`` and ``max_count`` of heads per image (all 0 when
        ``samples`` is empty).
    """
    counts = [len(sample.points) for sample in samples]
    return {
        "images": len(counts),
        "points": sum(counts),
        "mean_count": sum(counts) / len(counts) if counts else 0.0,
        "min_count": min(counts, default=0),
        "max_count": max(counts, default=0),
    }


# --- one sample ----------------------------------------------------------------------------


def _load_sample(image: Path, annotation: Path, read_points: PointReader, warn: Warn) -> Sample:
    """Read ``annotation`` with ``read_points`` and fit its points to ``image``."""
    if not annotation.is_file():
        raise DatasetError(f"{annotation}: annotation file not found (for image {image})")
    points = read_points(annotation)
    width, height = _image_size(image)
    return Sample(image, _fit_to_image(points, width, height, annotation, warn))


def _image_size(image: Path) -> tuple[int, int]:
    """Width and height of ``image`` in pixels, from its header only."""
    if not image.is_file():
        raise DatasetError(f"{image}: image not found")
    try:
        with Image.open(image) as opened:
            return opened.size
    except (OSError, Image.DecompressionBombError) as exc:
        raise DatasetError(f"{image}: not a readable image ({exc})") from None


def _fit_to_image(
    points: np.ndarray, width: int, height: int, annotation: Path, warn: Warn
) -> np.ndarray:
    """Clamp (K, 2) pixel ``points`` within :data:`BORDER_TOLERANCE` of the image into it and
    drop the others, warning about them; return float32 (K', 2) points inside the image."""
    size = np.array([width, height], dtype=np.float64)
    near = ((points >= -BORDER_TOLERANCE) & (points <= size + BORDER_TOLERANCE)).all(axis=1)
    dropped = len(points) - int(near.sum())
    if dropped:
        warn(
            f"{annotation}: dropped {dropped} of {len(points)} points outside the "
            f"{width}x{height} image"
        )
    # Clamp after the float32 cast, which may round a coordinate just below the size up to it.
    largest = np.nextafter(size.astype(np.float32), np.float32(0))
    return np.clip(points[near].astype(np.float32), np.float32(0), largest)


# --- annotation files ----------------------------------------------------------------------


def _read_xy_text(path: Path) -> np.ndarray:
    """Points of a text file of ``x y`` lines, as float64 (K, 2) pixels.

    Coordinates are separated by whitespace, commas or semicolons (``10 20``, ``10,20``,
    ``10; 20``); columns after the first two are ignored, as are blank lines and ``#``
    comments.
    """
    rows: list[tuple[float, float]] = []
    for number, line in text_lines(path):
        fields = _FIELD_SEPARATORS.split(line.split("#", 1)[0].strip())
        if fields == [""]:
            continue
        try:
            x, y = float(fields[0]), float(fields[1])
        except (IndexError, ValueError):
            raise DatasetError(
                f"{path}: line {number}: expected 'x y', got {line.strip()!r}"
            ) from None
        if not (math.isfinite(x) and math.isfinite(y)):
            raise DatasetError(f"{path}: line {number}: non-finite point {line.strip()!r}")
        rows.append((x, y))
    return np.array(rows, dtype=np.float64).reshape(-1, 2)


def _read_shanghaitech_mat(path: Path) -> np.ndarray:
    """Points of a ShanghaiTech ``GT_*.mat``: ``image_info[0, 0][0, 0][0]``, float64 (K, 2)."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except Exception as exc:  # loadmat raises many kinds of errors on malformed files
        raise DatasetError(f"{path}: not a readable .mat file ({exc})") from None
    try:
        location = mat["image_info"][0, 0][0, 0][0]
    except (KeyError, IndexError, TypeError, ValueError):
        raise DatasetError(
            f"{path}: no image_info[0, 0][0, 0][0] point array (not a ShanghaiTech annotation)"
        ) from None
    return _as_points(location, path)


def _read_nwpu_json(path: Path) -> np.ndarray:
    """Points of an NWPU-Crowd json file's ``"points"`` list of ``[x, y]``, float64 (K, 2)."""
    try:
        with path.open(encoding="utf-8-sig") as file:
            content = json.load(file)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(content, dict) or "points" not in content:
        raise DatasetError(f'{path}: no "points" key')
    return _as_points(content["points"], path)


def _as_points(values: object, path: Path) -> np.ndarray:
    """``values`` as float64 (K, 2) finite points; columns after the first two are ignored."""
    try:
        points = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise DatasetError(f"{path}: points are not a list of [x, y] numbers") from None
    if points.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if points.ndim != 2 or points.shape[1] < 2:
        raise DatasetError(f"{path}: expected (K, 2) x, y points, got shape {points.shape}")
    points = points[:, :2]
    bad = np.flatnonzero(~np.isfinite(points).all(axis=1))
    if bad.size:
        raise DatasetError(f"{path}: point {bad[0]} is not finite: {points[bad[0]].tolist()}")
    return points


_FIELD_SEPARATORS = re.compile(r"[\s,;]+")


def text_lines(path: Path) -> list[tuple[int, str]]:
    """The lines of a text file that are neither blank nor whole-line ``#`` comments, as
    (line number, line without its line ending)."""
    try:
        with path.open(encoding="utf-8-sig") as file:
            lines = [(number, line.rstrip("\r\n")) for number, line in enumerate(file, 1)]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc})") from None
    return [(n, line) for n, line in lines if line.strip() and not line.lstrip().startswith("#")]


# --- layouts: (image, annotation) pairs ----------------------------------------------------


def _list_pairs(list_file: Path) -> list[tuple[Path, Path]]:
    """Pairs of a list file of ``image_path annotation_path`` lines, in file order.

    Relative paths are relative to the list file's directory; blank lines and lines starting
    with ``#`` are ignored (a ``#`` inside a path is part of it). The two paths are separated
    by a tab if the line has one, else by whitespace; a path with spaces needs the tab, unless
    exactly one way of cutting the line names two existing files.
    """
    if not list_file.is_file():
        raise DatasetError(f"{list_file}: list file not found")
    base = list_file.parent
    return [
        _list_line_pair(list_file, number, line, base) for number, line in text_lines(list_file)
    ]


def _list_line_pair(list_file: Path, number: int, line: str, base: Path) -> tuple[Path, Path]:
    """The (image, annotation) paths of one list-file line (see :func:`_list_pairs`)."""
    if "\t" in line:
        fields = [field.strip() for field in line.split("\t") if field.strip()]
        if len(fields) == 2:
            return base / fields[0], base / fields[1]
    else:
        fields = line.split()
        if len(fields) == 2:
            return base / fields[0], base / fields[1]
        # A path with spaces: keep the cut where both sides name existing files.
        text = line.strip()
        cuts = [
            (base / text[: gap.start()], base / text[gap.end() :])
            for gap in re.finditer(r"\s+", text)
        ]
        existing = [(image, ann) for image, ann in cuts if image.is_file() and ann.is_file()]
        if len(existing) == 1:
            return existing[0]
    raise DatasetError(
        f"{list_file}: line {number}: expected 'image_path annotation_path' (separate paths "
        f"with spaces by a tab), got {line.strip()!r}"
    )


def _shanghaitech_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Pairs ``images/IMG_n.jpg`` with ``ground-truth/GT_IMG_n.mat`` (or ``ground_truth/``)."""
    gt_dir = _shanghaitech_gt_dir(root)
    if gt_dir is None:
        raise DatasetError(f"{root}: no ground-truth/ (or ground_truth/) directory of GT_*.mat")
    return [(image, gt_dir / f"GT_{image.stem}.mat") for image in _images_dir_files(root)]


def _nwpu_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Pairs ``images/<id>.jpg`` with ``jsons/<id>.json``."""
    jsons = _require_dir(root / "jsons")
    return [(image, jsons / f"{image.stem}.json") for image in _images_dir_files(root)]


def _jhu_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Pairs ``images/<id>.jpg`` with ``gt/<id>.txt``."""
    gt = _require_dir(root / "gt")
    return [(image, gt / f"{image.stem}.txt") for image in _images_dir_files(root)]


def _folder_pairs(root: Path) -> list[tuple[Path, Path]]:
    """Pairs every image of ``root`` with its sidecar ``<stem>.txt``, which must exist."""
    pairs = [(image, _sidecar(image)) for image in _image_files(_require_dir(root))]
    for image, sidecar in pairs:
        if not sidecar.is_file():
            raise DatasetError(f"{image}: no sidecar annotation file {sidecar.name}")
    return pairs


_READERS: dict[str, tuple[Callable[[Path], list[tuple[Path, Path]]], PointReader]] = {
    "list": (_list_pairs, _read_xy_text),
    "shanghaitech": (_shanghaitech_pairs, _read_shanghaitech_mat),
    "nwpu": (_nwpu_pairs, _read_nwpu_json),
    "jhu": (_jhu_pairs, _read_xy_text),
    "folder": (_folder_pairs, _read_xy_text),
}


# --- directories ---------------------------------------------------------------------------


def _shanghaitech_gt_dir(root: Path) -> Path | None:
    """The first of ``ground-truth/`` and ``ground_truth/`` in ``root`` holding GT_*.mat."""
    for name in _SHANGHAITECH_GT_DIRS:
        candidate = root / name
        if candidate.is_dir() and any(candidate.glob("GT_*.mat")):
            return candidate
    return None


def _images_dir_files(root: Path) -> list[Path]:
    """The image files of ``root/images``, naturally sorted."""
    return _image_files(_require_dir(root / "images"))


def _image_files(directory: Path) -> list[Path]:
    """The image files (by suffix, hidden files excepted) of ``directory``, naturally sorted."""
    try:
        return list_folder(directory)
    except ImageError as exc:
        raise DatasetError(str(exc)) from None


def _require_dir(path: Path) -> Path:
    """``path``, which must be a directory."""
    if not path.is_dir():
        raise DatasetError(f"{path}: directory not found")
    return path


def _sidecar(image: Path) -> Path:
    """The ``<stem>.txt`` annotation file next to ``image``."""
    return image.with_suffix(".txt")
