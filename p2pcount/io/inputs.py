"""Expanding the command line's inputs (files, folders, ``-`` for stdin) into image paths.

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

#: Why a command has nothing to do, when no folder was given.
NO_INPUTS = "no input images (give files, folders, or - to read paths from stdin)"

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
    folder: Path, recursive: bool = False, on_error: Callable[[str, str], None] | None = None
) -> list[Path]:
    """Image files of ``folder`` (by suffix, see :func:`image_suffixes`; hidden files
    skipped), naturally sorted, folder by folder; subfolders too if ``recursive``.

    Symlinked subfolders are followed, each real folder listed once (a symlink cycle ends).
    A dangling or looping symlink is kept if its suffix is an image's, so that reading it
    fails with its name. A folder that cannot be listed raises
    :class:`~p2pcount.errors.ImageError`, or with ``on_error`` is reported through it, as
    ``on_error(folder, "cannot list folder (reason)")``, and skipped, so that the other
    folders are still listed.
    """
    from p2pcount.errors import ImageError

    suffixes = image_suffixes()
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
            is_image = Path(entry.name).suffix.lower() in suffixes
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


class InputScan:
    """The image paths of command-line inputs, yielded in order as they are found.

    A file is yielded as given (a bad one fails later, with its name, as typed: a URL keeps
    its ``//``); a folder yields its images; ``-`` yields the non-blank lines of
    ``stdin_lines`` as they are read, a folder named there expanded like one named as an
    argument. A missing path is yielded too, so that it is reported as an error in its
    place. A folder that cannot be listed goes to ``on_error(folder, reason)`` (see
    :func:`list_folder`): when stdin is read lazily, that call may come from another thread.

    After iterating, :attr:`found` is the number of paths yielded, :attr:`unlisted` the
    number of folders that could not be listed, and :meth:`why_empty` explains an empty scan.
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

        listed = [str(p) for p in list_folder(Path(name), self.recursive, report)]
        if not listed:
            self.empty_folders.append(name)
        return listed

    def why_empty(self) -> str:
        """Why no image was found, with a hint: ``-r`` for folders whose images are all in
        subfolders. Call after iterating."""
        if not self.recursive:
            nested = [f for f in self.empty_folders if list_folder(Path(f), True, lambda *_: None)]
            if nested:
                return f"no input images in {nested[0]}: its images are in subfolders (add -r)"
        if self.empty_folders:
            return f"no input images in {self.empty_folders[0]}"
        return NO_INPUTS


def expand_inputs(
    inputs: Iterable[str],
    stdin_lines: Iterable[str] = (),
    recursive: bool = False,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[str]:
    """Yield the image paths of command-line inputs in order (see :class:`InputScan`)."""
    return iter(InputScan(inputs, stdin_lines, recursive, on_error))
