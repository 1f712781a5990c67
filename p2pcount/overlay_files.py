"""Naming and writing overlay files without ever touching an input file. No torch here."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from p2pcount.atomic import atomic_path
from p2pcount.errors import ConfigError


class OverlayNamer:
    """Chooses ``<stem>_p2p.png`` names in ``output_dir`` for a run's inputs.

    A name already given in this run (two inputs with the same stem) or that would be an
    input file itself gets a numbered variant, ``<stem>_p2p-2.png`` …, so one run never
    overwrites its own outputs or any input.
    """

    def __init__(self, output_dir: Path, inputs: Iterable[str]) -> None:
        self.output_dir = output_dir
        self._inputs = {Path(p).resolve() for p in inputs}
        self._given: set[Path] = set()

    def name_for(self, input_path: str) -> Path:
        stem = Path(input_path).stem
        number = 1
        while True:
            suffix = "" if number == 1 else f"-{number}"
            candidate = self.output_dir / f"{stem}_p2p{suffix}.png"
            if candidate not in self._given and candidate.resolve() not in self._inputs:
                self._given.add(candidate)
                return candidate
            number += 1


def write_png_atomic(image: Image.Image, target: Path) -> None:
    """Save ``image`` as PNG at ``target`` via a temporary file and a rename."""
    with atomic_path(target) as tmp:
        image.save(tmp, format="PNG")


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
