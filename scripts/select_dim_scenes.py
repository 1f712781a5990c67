#!/usr/bin/env python
"""Print the lines of a dataset list file whose image is dim: mean grey level below --below.

The grey level is PIL's ``L`` conversion of the image (0-255, ITU-R 601 luma), averaged over
every pixel. Lines are printed unchanged and in the list's order, so the output is a list
file for the same directory as LIST (paths in it stay relative to that directory). Blank and
``#`` comment lines are dropped. A list that cannot be read, or an image that cannot be
opened, is a one-line error on stderr and exit status 1 (nothing is printed then).

``scripts/train_synthetic_demo_v2.sh`` stage 16 uses it to mine false heads on the dim
person-free scenes (where most of v4's and v5's false heads on cluttered scenes were) and to
add dim crowd scenes to the training mix.

Usage: .venv/bin/python scripts/select_dim_scenes.py LIST [--below 30] > DIM_LIST
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from PIL import Image, ImageStat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pcount.data.datasets import load_dataset, text_lines  # noqa: E402
from p2pcount.errors import P2PCountError  # noqa: E402


def mean_grey(image: Path) -> float:
    """Mean grey level (0-255) of the image file at ``image``."""
    with Image.open(image) as opened:
        return ImageStat.Stat(opened.convert("L")).mean[0]


def dim_lines(list_file: Path, below: float) -> list[str]:
    """The entry lines of ``list_file`` (without line endings) whose image's mean grey level
    is below ``below``.

    Raises:
        P2PCountError: the list or one of its files is missing or malformed.
        OSError: an image cannot be decoded.
    """
    samples = load_dataset(list_file, "list")  # one sample per entry line, in the list's order
    entries = [line for _, line in text_lines(list_file)]  # the lines load_dataset reads
    return [line for line, s in zip(entries, samples, strict=True) if mean_grey(s.image) < below]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("list_file", type=Path, metavar="LIST")
    parser.add_argument("--below", type=float, default=30.0, help="mean grey level, 0-255")
    args = parser.parse_args()
    try:
        selected = dim_lines(args.list_file, args.below)
    except (P2PCountError, OSError) as exc:
        sys.exit(f"error: {exc}")
    for line in selected:
        print(line)


if __name__ == "__main__":
    main()
