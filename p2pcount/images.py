"""Reading images: any format and mode Pillow reads, EXIF-rotated, as 8-bit RGB.

Also expands the command line's inputs (files, folders, ``-`` for stdin) into image paths.
This module does not import torch.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from p2pcount.config import DEFAULT_MAX_PIXELS
from p2pcount.errors import ImageError

#: File suffixes taken from folders (a file named explicitly is tried whatever its suffix).
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif", ".ppm",
     ".pgm", ".pbm", ".pnm", ".jp2", ".j2k", ".tga", ".ico", ".dib", ".pcx", ".sgi"}
)  # fmt: skip

#: Pillow's decompression-bomb check is switched off on import of this module: the
#: explicit ``max_pixels`` limit (``--max-pixels``) replaces it.
Image.MAX_IMAGE_PIXELS = None


def natural_key(name: str) -> tuple[list[str | int], str]:
    """Sort key ordering digit runs by value (``IMG_2`` before ``IMG_10``), ties by name."""
    parts = re.split(r"(\d+)", name)
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(parts)], name


def list_folder(
    folder: Path, recursive: bool = False, on_error: Callable[[str], None] | None = None
) -> list[Path]:
    """Image files of ``folder`` (by suffix; hidden files skipped), naturally sorted, folder
    by folder; subfolders too if ``recursive``.

    Symlinked subfolders are followed, each real folder listed once (a symlink cycle ends).
    A dangling or looping symlink is kept if its suffix is an image's, so that reading it
    fails with its name. A folder that cannot be listed
    raises :class:`ImageError`, or with ``on_error`` is reported through it (one line naming
    the folder and the reason) and skipped, so that the other folders are still listed.
    """
    found: list[Path] = []
    folders, seen = [folder], set()
    while folders:
        current = folders.pop()
        try:
            info = os.stat(current)
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
            entries = list(os.scandir(current))
        except OSError as exc:
            problem = f"{current}: cannot list folder ({exc.strerror or exc})"
            if on_error is None:
                raise ImageError(problem) from None
            on_error(problem)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            is_image = Path(entry.name).suffix.lower() in IMAGE_SUFFIXES
            try:
                if recursive and entry.is_dir():
                    folders.append(Path(entry.path))
                elif is_image and (entry.is_file() or not os.path.exists(entry.path)):
                    found.append(Path(entry.path))
            except OSError:
                if is_image:
                    found.append(Path(entry.path))
    return sorted(
        found, key=lambda p: ([natural_key(q) for q in p.parent.parts], natural_key(p.name))
    )


def expand_inputs(
    inputs: Iterable[str],
    stdin_lines: Iterable[str] = (),
    recursive: bool = False,
    on_error: Callable[[str], None] | None = None,
) -> Iterator[str]:
    """Yield image paths from command-line inputs, in order.

    A file is yielded as given (a bad one fails later, with its name); a folder yields
    its images; ``-`` yields the non-blank lines of ``stdin_lines``. A missing path is
    yielded too, so that it is reported as an error in its place. A folder that cannot be
    listed goes to ``on_error`` (see :func:`list_folder`).
    """
    for item in inputs:
        if item == "-":
            for line in stdin_lines:
                line = line.rstrip("\r\n")
                if line.strip():
                    yield line
        elif item and os.path.isdir(item):  # False, not an error, for an unreadable path
            yield from (str(p) for p in list_folder(Path(item), recursive, on_error))
        else:
            yield item


def to_rgb(image: Image.Image) -> Image.Image:
    """Any Pillow mode → 8-bit RGB.

    Transparent images are composited over white; 16- and 32-bit greyscale and float
    images are scaled from their full range (not clipped) to 0–255.
    """
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if image.mode.startswith("I;16"):
            low, high = 0.0, 65535.0
        else:
            finite = values[np.isfinite(values)]
            low, high = (float(finite.min()), float(finite.max())) if finite.size else (0, 1)
        scaled = (np.nan_to_num(values, nan=low) - low) / max(high - low, 1e-12) * 255.0
        grey = Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")
        return grey.convert("RGB")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, exif: bool = True
) -> Image.Image:
    """Read an image file as 8-bit RGB with its EXIF orientation applied (if ``exif``).

    Datasets load with ``exif=False``: their annotations refer to the pixel grid as stored.
    GIFs and other multi-frame files give their first frame. Raises :class:`ImageError`
    naming the file for a missing, unreadable, corrupt or over-large (> ``max_pixels``)
    image.
    """
    if str(path) == "":
        raise ImageError("'': empty path")
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(f"{path}: is a directory")
        if not path.exists():
            reason = "broken symbolic link" if path.is_symlink() else "no such file"
            raise ImageError(f"{path}: {reason}")
    except OSError as exc:  # e.g. a parent folder that cannot be searched
        raise ImageError(f"{path}: {exc.strerror or exc}") from None
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageError(
                    f"{path}: {width}x{height} is {width * height:,} pixels, over the "
                    f"--max-pixels limit of {max_pixels:,}"
                )
            opened.load()
            # exif_transpose and copy return new images, valid after the file closes.
            image = ImageOps.exif_transpose(opened) if exif else opened.copy()
            return to_rgb(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file Pillow can read") from None
    except PermissionError as exc:
        raise ImageError(f"{path}: {exc.strerror}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{path}: corrupt or truncated image ({exc})") from None
