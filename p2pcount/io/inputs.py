"""Expanding the command line's inputs (files, folders, ``-`` for stdin) into image and video
paths.

Expansion is lazy: paths are yielded as they are found, and stdin is read line by line as
the paths are consumed, so ``inotifywait -m … | p2pcount count -`` counts each image as its
path arrives. No torch here.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

#: Formats Pillow registers but cannot decode: MPEG (it reads only the header; a video).
_UNDECODABLE = frozenset({"MPEG"})


@functools.cache
def image_suffixes() -> frozenset[str]:
    """Lower-case suffixes (``.jpg``, ``.avif`` …) of the formats the installed Pillow can
    open, taken from its registered extensions, so folders list every image it reads.

    Formats Pillow only writes (PDF), stubs that need a handler of the caller's (HDF5,
    GRIB, BUFR, WMF), MPEG and, without Ghostscript, PostScript are left out.
    """
    from PIL import EpsImagePlugin, Image, ImageFile

    Image.init()

    def opens(fmt: str) -> bool:
        if fmt not in Image.OPEN:
            return False
        if fmt == "EPS":
            return bool(EpsImagePlugin.has_ghostscript())
        factory = Image.OPEN[fmt][0]
        stub = isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile)
        return not stub and fmt not in _UNDECODABLE

    extensions = Image.registered_extensions()
    return frozenset(ext.lower() for ext, fmt in extensions.items() if opens(fmt))


def natural_key(name: str) -> tuple[list[str | int], str]:
    """Sort key ordering digit runs by value (``IMG_2`` before ``IMG_10``), ties by name."""
    parts = re.split(r"(\d+)", name)
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(parts)], name


def list_folder(
    folder: Path,
    recursive: bool = False,
    on_error: Callable[[str, str], None] | None = None,
    *,
    videos: bool = False,
) -> list[Path]:
    """Image files of ``folder`` (by suffix, see :func:`image_suffixes`; hidden files
    skipped), and video files too if ``videos`` (by suffix, see
    :data:`~p2pcount.io.video.VIDEO_SUFFIXES`), naturally sorted, folder by folder;
    subfolders too if ``recursive``.

    Symlinked subfolders are followed, each real folder listed once (a symlink cycle ends).
    A dangling or looping symlink is kept if its suffix is listed, so that reading it
    fails with its name. A folder that cannot be listed raises
    :class:`~p2pcount.errors.ImageError`, or with ``on_error`` is reported through it, as
    ``on_error(folder, "cannot list folder (reason)")``, and skipped, so that the other
    folders are still listed.
    """
    from p2pcount.errors import ImageError

    suffixes = image_suffixes()
    if videos:
        from p2pcount.io.video import VIDEO_SUFFIXES

        suffixes |= VIDEO_SUFFIXES
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
            reason = f"cannot list folder ({exc.strerror or exc})"
            if on_error is None:
                raise ImageError(f"{current}: {reason}") from None
            on_error(str(current), reason)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            listed = Path(entry.name).suffix.lower() in suffixes
            try:
                if recursive and entry.is_dir():
                    folders.append(Path(entry.path))
                elif listed and (entry.is_file() or not os.path.exists(entry.path)):
                    found.append(Path(entry.path))
            except OSError:
                if listed:
                    found.append(Path(entry.path))
    return sorted(
        found, key=lambda p: ([natural_key(q) for q in p.parent.parts], natural_key(p.name))
    )


class InputScan:
    """The image and video paths of command-line inputs, yielded in order as they are found.

    A file is yielded as given (a bad one fails later, with its name, as typed: a URL keeps
    its ``//``); a folder yields its images and videos; ``-`` yields the non-blank lines of
    ``stdin_lines`` as they are read, a folder named there expanded like one named as an
    argument. A missing path is yielded too, so that it is reported as an error in its
    place. A folder that cannot be listed goes to ``on_error(folder, reason)`` (see
    :func:`list_folder`): when stdin is read lazily, that call may come from another thread.

    After iterating, :attr:`found` is the number of paths yielded, :attr:`unlisted` the
    number of folders that could not be listed, :attr:`empty_folders` the folders given that
    held none, and :meth:`nested_folder` one whose images are all in subfolders.
    """

    def __init__(
        self,
        inputs: Iterable[str],
        stdin_lines: Iterable[str] = (),
        recursive: bool = False,
        on_error: Callable[[str, str], None] | None = None,
    ) -> None:
        self.inputs, self.stdin_lines, self.recursive = list(inputs), stdin_lines, recursive
        self.on_error = on_error
        self.found = 0
        self.unlisted = 0
        self.empty_folders: list[str] = []

    @property
    def reads_stdin(self) -> bool:
        return "-" in self.inputs

    def __iter__(self) -> Iterator[str]:
        for item in self.inputs:
            names = self._stdin() if item == "-" else (item,)
            for name in names:
                for path in self._expand(name):
                    self.found += 1
                    yield path

    def _stdin(self) -> Iterator[str]:
        for line in self.stdin_lines:
            line = line.rstrip("\r\n")
            if line.strip():
                yield line

    def _expand(self, name: str) -> Iterable[str]:
        if not (name and os.path.isdir(name)):  # False, not an error, for unreadable paths
            return (name,)

        def report(folder: str, reason: str) -> None:
            self.unlisted += 1
            if self.on_error is not None:
                self.on_error(folder, reason)

        listed = [str(p) for p in list_folder(Path(name), self.recursive, report, videos=True)]
        if not listed:
            self.empty_folders.append(name)
        return listed

    def nested_folder(self) -> str | None:
        """Without ``recursive``: the first folder given that held no image itself but has
        some in its subfolders, else None. Call after iterating."""
        if self.recursive:
            return None
        for folder in self.empty_folders:
            if list_folder(Path(folder), True, lambda *_: None, videos=True):
                return folder
        return None


def expand_inputs(
    inputs: Iterable[str],
    stdin_lines: Iterable[str] = (),
    recursive: bool = False,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[str]:
    """Yield the image paths of command-line inputs in order (see :class:`InputScan`)."""
    return iter(InputScan(inputs, stdin_lines, recursive, on_error))
