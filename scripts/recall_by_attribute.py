#!/usr/bin/env python
"""Where a model misses heads on synthetic varied scenes: recall by who the heads are.

Scene ``i`` of --seed (``p2pcount.data.synthetic.draw_item``, --count crowd scenes of the
varied style with the families of --hold-out left out, as ``scripts/make_synthetic.py``
draws them, JPEG-encoded at the same quality) is counted with each WEIGHTS file at
--threshold, and its predicted points are matched one to one to the annotated heads within
--radius px (``p2pcount.evaluate.metrics.match_points``, as ``p2pcount eval``). Printed per
model: recall by head style, headwear, pose, body shape and head size (half-height in px),
and the false heads per scene. Nothing is written to disk.

For example, the held-out families of ``scripts/evaluate_synthetic_demo.py`` (helmet heads,
fractal backgrounds) on a seed that no evaluation or training uses:

    .venv/bin/python scripts/recall_by_attribute.py weights/synthetic-demo.safetensors \\
        --seed 910 --hold-out classic,shaded,blob,textured,noise,gradient,clutter

Usage: .venv/bin/python scripts/recall_by_attribute.py WEIGHTS... [--seed 910] [--count 30]
       [--hold-out FAMILIES] [--min-size 256] [--max-size 1024] [--threshold 0.5] [--radius 8]
"""

from __future__ import annotations

import argparse
import io
import sys
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pcount import Counter  # noqa: E402
from p2pcount.data.synthetic import People, Style, draw_item, varied  # noqa: E402
from p2pcount.data.synthetic.crowd import BACK, FRONT, TOP  # noqa: E402
from p2pcount.data.synthetic.dataset import JPEG_QUALITY  # noqa: E402
from p2pcount.errors import P2PCountError  # noqa: E402
from p2pcount.evaluate.metrics import match_points  # noqa: E402

POSES = {FRONT: "front", BACK: "back", TOP: "top"}
#: Head sizes (half-height, px): the upper bound of each bin but the last.
SIZES = ((8.0, "r < 8 px"), (16.0, "8-16 px"), (float("inf"), "r >= 16 px"))
ATTRIBUTES = ("all", "style", "wear", "pose", "body", "size")


@dataclass
class Breakdown:
    """Heads found and heads in all, per (attribute, value); false heads over the scenes."""

    found: Tally = field(default_factory=Tally)
    heads: Tally = field(default_factory=Tally)
    false_heads: int = 0
    scenes: int = 0

    def add(self, people: People, hit: np.ndarray, false_heads: int) -> None:
        """Add a scene: its K heads' ``people``, (K,) bool ``hit`` (matched by a prediction)
        and its count of unmatched predictions."""
        for k in range(len(hit)):
            for key in attributes(people, k):
                self.found[key] += int(hit[k])
                self.heads[key] += 1
        self.false_heads += false_heads
        self.scenes += 1


def attributes(people: People, k: int) -> list[tuple[str, str]]:
    """The (attribute, value) pairs of head ``k``: all, style, wear, pose, body, size."""
    size = next(name for bound, name in SIZES if people.radius[k] < bound)
    return [
        ("all", "all"),
        ("style", people.style[k]),
        ("wear", people.wear[k]),
        ("pose", POSES[int(people.pose[k])]),
        ("body", people.body),
        ("size", size),
    ]


def tally(scenes: Iterable[tuple[np.ndarray, People, np.ndarray]], radius: float) -> Breakdown:
    """Recall counts over ``scenes`` of (truth (K, 2) px, its people, predicted (P, 2) px)."""
    result = Breakdown()
    for truth, people, predicted in scenes:
        predicted_index, truth_index = match_points(predicted, truth, radius)
        hit = np.zeros(len(truth), bool)
        hit[truth_index] = True
        result.add(people, hit, len(predicted) - len(predicted_index))
    return result


def table(names: list[str], breakdowns: list[Breakdown]) -> str:
    """A Markdown table: a row per (attribute, value) of the first breakdown (attributes in
    :data:`ATTRIBUTES` order, values by name, sizes small to large), a column per model of
    ``found/heads = recall``; then false heads per scene."""
    sizes = [name for _, name in SIZES]

    def order(key: tuple[str, str]) -> tuple[int, int, str]:
        rank = sizes.index(key[1]) if key[0] == "size" else 0
        return ATTRIBUTES.index(key[0]), rank, key[1]

    keys = sorted(breakdowns[0].heads, key=order)
    lines = ["| heads | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
    for key in keys:
        cells = [
            f"{b.found[key]}/{b.heads[key]} = {b.found[key] / b.heads[key]:.3f}" for b in breakdowns
        ]
        lines.append(f"| {key[0]}: {key[1]} | " + " | ".join(cells) + " |")
    cells = [f"{b.false_heads / max(b.scenes, 1):.2f}" for b in breakdowns]
    lines.append("| false heads per scene | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scenes(
    seed: int, count: int, style: Style, min_size: int = 256, max_size: int = 1024
) -> Iterator[tuple[Image.Image, np.ndarray, People]]:
    """The first ``count`` crowd scenes of ``seed`` and ``style`` (no person-free ones),
    sides in [min_size, max_size] px: (image, truth (K, 2) px, people), each image
    JPEG-encoded as written datasets are."""
    for index in range(count):
        image, truth, people = draw_item(
            seed, index, min_size, max_size, empty_fraction=0.0, style=style
        )
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY)
        yield Image.open(buffer).convert("RGB"), truth, people


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights", nargs="+")
    parser.add_argument("--seed", type=int, default=910)
    parser.add_argument("--count", type=int, default=30, help="crowd scenes")
    parser.add_argument("--hold-out", default="", help="families left out, comma-separated")
    parser.add_argument("--min-size", type=int, default=256, help="px")
    parser.add_argument("--max-size", type=int, default=1024, help="px")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--radius", type=float, default=8.0, help="match radius, px")
    args = parser.parse_args()
    try:  # bad families or weights: one line and exit 2
        style = varied(name for name in args.hold_out.split(",") if name)
        counters = [Counter.from_weights(w, device="cpu", precision="fp32") for w in args.weights]
    except (P2PCountError, ValueError) as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    rows: list[list[tuple[np.ndarray, People, np.ndarray]]] = [[] for _ in counters]
    for image, truth, people in scenes(args.seed, args.count, style, args.min_size, args.max_size):
        for row, counter in zip(rows, counters, strict=True):
            row.append((truth, people, counter.count(image, args.threshold).points))
    print(table(args.weights, [tally(row, args.radius) for row in rows]))


if __name__ == "__main__":
    main()
