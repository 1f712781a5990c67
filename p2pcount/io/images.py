"""Reading images: any format and mode Pillow reads, EXIF-rotated, as 8-bit RGB.

This module does not import torch.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from p2pcount.errors import ImageError
from p2pcount.io.limits import DEFAULT_MAX_PIXELS

#: Pillow's decompression-bomb check is switched off on import of this module: the
#: explicit ``max_pixels`` limit (``--max-pixels``) replaces it.
Image.MAX_IMAGE_PIXELS = None


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


#: A URL (``scheme://…``): an input that is not a local file.
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def load_image(
    path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS, *, exif: bool = True
) -> Image.Image:
    """Read an image file as 8-bit RGB with its EXIF orientation applied (if ``exif``).

    Datasets load with ``exif=False``: their annotations refer to the pixel grid as stored.
    GIFs and other multi-frame files give their first frame. Raises :class:`ImageError`
    naming the file as given (a string is not normalized: ``https://host/a.jpg`` keeps its
    ``//``) for a URL, a missing, unreadable, corrupt or over-large (> ``max_pixels``) image.
    """
    name = str(path)
    if name == "":
        raise ImageError("'': empty path")
    if _URL.match(name):
        raise ImageError(f"{name}: a URL; images are read from local files (download it first)")
    path = Path(path)
    try:
        if path.is_dir():
            raise ImageError(f"{name}: is a directory")
        if not path.exists():
            reason = "broken symbolic link" if path.is_symlink() else "no such file"
            raise ImageError(f"{name}: {reason}")
    except OSError as exc:  # e.g. a parent folder that cannot be searched
        raise ImageError(f"{name}: {exc.strerror or exc}") from None
    try:
        with Image.open(path) as opened:
            width, height = opened.size
            if max_pixels is not None and width * height > max_pixels:
                raise ImageError(
                    f"{name}: {width}x{height} is {width * height:,} pixels, over the "
                    f"--max-pixels limit of {max_pixels:,}"
                )
            opened.load()
            # exif_transpose and copy return new images, valid after the file closes.
            image = ImageOps.exif_transpose(opened) if exif else opened.copy()
            return to_rgb(image)
    except ImageError:
        raise
    except UnidentifiedImageError:
        raise ImageError(f"{name}: not an image file Pillow can read") from None
    except PermissionError as exc:
        raise ImageError(f"{name}: {exc.strerror}") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name}: corrupt or truncated image ({exc})") from None
