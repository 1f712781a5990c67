"""Naming and writing overlay files without ever touching an input file.

No torch here, and no Pillow at import: the command line imports this module to list
:class:`OverlayFormat` in its help.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from p2pcount.errors import ConfigError
from p2pcount.io.atomic import atomic_path

if TYPE_CHECKING:
    from PIL import Image


class OverlayFormat(str, Enum):
    """The file formats of overlays; each value is the file extension."""

    png = "png"
    jpg = "jpg"
    webp = "webp"


#: Pillow's format name and save options of each overlay format: JPEG and WebP at
#: quality 90, which keeps an overlay of a photo about as large as the photo.
_SAVE_AS: dict[OverlayFormat, tuple[str, dict[str, int]]] = {
    OverlayFormat.png: ("PNG", {}),
    OverlayFormat.jpg: ("JPEG", {"quality": 90}),
    OverlayFormat.webp: ("WEBP", {"quality": 90}),
}

#: The EXIF "Software" tag (0x0131) and its value, written into every overlay (a video's:
#: its container's "comment"; a plot's: its PNG "Software" text), so that an overlay can be
#: told from a user's file that only has an overlay's name.
_SOFTWARE_TAG, SOFTWARE = 0x0131, "p2pcount"

#: Names p2pcount gives overlays: ``<stem>_p2p.<ext>`` or ``<stem>_p2p-N.<ext>``.
_OVERLAY_NAME = re.compile(
    r".+_p2p(-[0-9]+)?(\.(" + "|".join(re.escape(f.value) for f in OverlayFormat) + ")"
    r"|\.mp4|_counts\.png)"
)


class OverlayNamer:
    """Chooses ``<stem>_p2p.<ext>`` names in ``output_dir`` for a run's inputs.

    A name already given in this run (two inputs with the same stem) or that would be an
    input file itself gets a numbered variant, ``<stem>_p2p-2.<ext>`` …, so one run never
    overwrites its own outputs or any input. An earlier run's overlay (skipped, not an
    input) is replaced: running ``viz`` again leaves the same files.
    """

    def __init__(
        self, output_dir: Path, inputs: Iterable[str], fmt: OverlayFormat = OverlayFormat.png
    ) -> None:
        self.output_dir = output_dir
        self.extension = fmt.value
        self._inputs = {Path(p).resolve() for p in inputs}
        self._given: set[Path] = set()

    def name_for(self, input_path: str, extension: str | None = None, tail: str = "") -> Path:
        """``<stem>_p2p[-N]<tail>.<extension>`` (default: this run's format) in the output
        folder, for ``input_path``: a video's overlay is ``…_p2p.mp4``, its plot
        ``…_p2p_counts.png``."""
        stem = Path(input_path.split("?")[0].rstrip("/")).stem or "stream"
        number = 1
        while True:
            suffix = "" if number == 1 else f"-{number}"
            name = f"{stem}_p2p{suffix}{tail}.{extension or self.extension}"
            candidate = self.output_dir / name
            if candidate not in self._given and candidate.resolve() not in self._inputs:
                self._given.add(candidate)
                return candidate
            number += 1


def write_overlay_atomic(
    image: Image.Image, target: Path, fmt: OverlayFormat = OverlayFormat.png
) -> None:
    """Save ``image`` in ``fmt`` at ``target`` via a temporary file and a rename, marked as
    p2pcount's in its EXIF "Software" tag."""
    from PIL import Image

    pillow_format, options = _SAVE_AS[fmt]
    exif = Image.Exif()
    exif[_SOFTWARE_TAG] = SOFTWARE
    with atomic_path(target) as tmp:
        image.save(tmp, format=pillow_format, exif=exif.tobytes(), **options)


def is_own_overlay(path: str | Path) -> bool:
    """Whether ``path`` is an overlay p2pcount wrote (an image's, a video's or its count
    plot): named like one and marked as p2pcount's."""
    from PIL import Image

    if not _OVERLAY_NAME.fullmatch(Path(path).name):
        return False
    if str(path).endswith(".mp4"):
        return _video_comment(path) == SOFTWARE
    try:
        with Image.open(path) as image:
            marks = (image.getexif().get(_SOFTWARE_TAG), image.info.get("Software"))
            return SOFTWARE in marks
    except (OSError, SyntaxError, ValueError):  # not an image Pillow reads: not ours
        return False


def _video_comment(path: str | Path) -> str | None:
    import av

    try:
        with av.open(str(path)) as container:
            return container.metadata.get("comment")
    except (av.FFmpegError, OSError):
        return None


def split_own_overlays(inputs: list[str], output_dir: Path) -> tuple[list[str], list[str]]:
    """(inputs to draw, skipped inputs) in input order.

    An input is skipped when it lies in ``output_dir`` (both resolved) and is an overlay
    p2pcount wrote (see :func:`is_own_overlay`): drawing over it would make an overlay of
    an overlay. A user's file that only has an overlay's name is an input like any other.
    """
    folder = output_dir.resolve()
    kept: list[str] = []
    skipped: list[str] = []
    for path in inputs:
        own = Path(path).parent.resolve() == folder and is_own_overlay(path)
        (skipped if own else kept).append(path)
    return kept, skipped


def prepare_output_dir(folder: Path) -> None:
    """Create ``folder`` if missing; refuse one that is not a writable directory."""
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(f"{folder}: output path exists and is not a directory")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create output directory ({exc.strerror})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(f"{folder}: output directory is not writable")
