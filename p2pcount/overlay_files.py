"""Naming and writing overlay files without ever touching an input file. No torch here."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from PIL import Image


class OverlayNamer:
    """Chooses ``<stem>_p2p.png`` names in ``output_dir`` for a run's inputs.

    A name already given in this run (two inputs with the same stem) or that would be an
    input file itself gets a numbered variant, ``<stem>_p2p-2.png`` …, so one run never
    overwrites its own outputs or any input.
    """

    def __init__(self, output_dir: Path, inputs: Iterable[str]) -> None:
        self.output_dir = output_dir
        self._inputs = {_identity(Path(p)) for p in inputs}
        self._given: set[Path] = set()

    def name_for(self, input_path: str) -> Path:
        stem = Path(input_path).stem
        number = 1
        while True:
            suffix = "" if number == 1 else f"-{number}"
            candidate = self.output_dir / f"{stem}_p2p{suffix}.png"
            if candidate not in self._given and _identity(candidate) not in self._inputs:
                self._given.add(candidate)
                return candidate
            number += 1


def _identity(path: Path) -> Path:
    return path.resolve()


def write_png_atomic(image: Image.Image, target: Path) -> None:
    """Save ``image`` as PNG at ``target`` via a temporary file and a rename."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            image.save(handle, format="PNG")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
