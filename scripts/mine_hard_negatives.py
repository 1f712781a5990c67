#!/usr/bin/env python
"""Mine hard examples for training: crops of annotated scenes around a model's false heads.

Each image of DATASET (a list file or dataset directory, see ``p2pcount.data.datasets``) is
counted with WEIGHTS at --threshold; a predicted head with no annotated head within --radius
px is a false head. Around the false heads, highest score first, a --crop × --crop px window
centred on each (moved inside the image; the whole image where it is smaller) is cut unless
the head already lies in the inner half of a window cut from that image (or the window,
moved inside the image, is one already cut), at most --max-per-image windows per image.
Each window is written with the annotated heads inside it (shifted into its coordinates) as
a dataset of its own:

    OUT/images/00000.png        the crop, lossless
    OUT/annotations/00000.txt   one "x y" line per annotated head inside it (px, 2 decimals)
    OUT/list.txt                "images/00000.png annotations/00000.txt" lines
    OUT/mined.json              per crop: source image, window (left, top, right, bottom),
                                false heads inside; and the totals

A random 128 px training crop of a 1024 px person-free scene rarely holds the one spot the
model mistakes for a head; a 256 px crop around it almost always does.
``scripts/train_synthetic_demo_v2.sh`` stage 6 trains on such crops of person-free scenes.

Usage: .venv/bin/python scripts/mine_hard_negatives.py WEIGHTS DATASET OUT [--crop 256]
       [--threshold 0.5] [--radius 8] [--max-per-image 4]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pcount import Counter  # noqa: E402
from p2pcount.data.datasets import load_dataset  # noqa: E402
from p2pcount.errors import P2PCountError  # noqa: E402
from p2pcount.io.atomic import atomic_path  # noqa: E402


def false_heads(predicted: np.ndarray, truth: np.ndarray, radius: float) -> np.ndarray:
    """Boolean (K,) mask of the (K, 2) ``predicted`` points (px) with no point of the
    (M, 2) ``truth`` within ``radius`` px."""
    if len(truth) == 0:
        return np.ones(len(predicted), bool)
    distances = np.linalg.norm(predicted[:, None, :] - truth[None, :, :], axis=-1)
    return distances.min(axis=1) > radius


def windows(
    heads: np.ndarray, width: int, height: int, crop: int, most: int
) -> list[tuple[int, int, int, int]]:
    """Crop windows (left, top, right, bottom) px around ``heads`` (K, 2), in the given order:
    a window of crop × crop px (the image's own size where it is smaller) centred on a head
    and moved inside the image, skipped when that head lies in the inner half of a window
    already cut or when the move makes it one already cut; at most ``most`` windows."""
    cut: list[tuple[int, int, int, int]] = []
    w, h = min(crop, width), min(crop, height)
    for x, y in heads:
        if len(cut) == most:
            break
        if any(_inner(window, x, y) for window in cut):
            continue
        left = int(np.clip(round(x - w / 2), 0, width - w))
        top = int(np.clip(round(y - h / 2), 0, height - h))
        window = (left, top, left + w, top + h)
        if window not in cut:
            cut.append(window)
    return cut


def _inner(window: tuple[int, int, int, int], x: float, y: float) -> bool:
    """Whether (x, y) px lies in the inner half of ``window`` (a quarter in from each side)."""
    left, top, right, bottom = window
    qw, qh = (right - left) / 4, (bottom - top) / 4
    return bool(_in_window(np.array([[x, y]]), (left + qw, top + qh, right - qw, bottom - qh))[0])


def _in_window(points: np.ndarray, window: tuple[float, float, float, float]) -> np.ndarray:
    """Boolean (K,) mask of the (K, 2) ``points`` (px) in [left, right) × [top, bottom)."""
    left, top, right, bottom = window
    x, y = points[:, 0], points[:, 1]
    return (x >= left) & (x < right) & (y >= top) & (y < bottom)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("weights")
    parser.add_argument("dataset")
    parser.add_argument("out", type=Path)
    parser.add_argument("--crop", type=int, default=256, help="window side, px")
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--radius", type=float, default=8.0, help="px from an annotated head")
    parser.add_argument("--max-per-image", type=int, default=4)
    args = parser.parse_args()
    if (args.out / "list.txt").exists():
        parser.error(f"{args.out / 'list.txt'} exists: choose another OUT")
    try:  # bad weights, list or image: one line and exit 2, before OUT is made
        samples = load_dataset(args.dataset)
        counter = Counter.from_weights(args.weights, device="cpu")
    except P2PCountError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    (args.out / "images").mkdir(parents=True, exist_ok=True)
    (args.out / "annotations").mkdir(parents=True, exist_ok=True)

    lines, crops, found = [], [], 0
    for number, sample in enumerate(samples, 1):
        result = counter.count(sample.image, threshold=args.threshold)
        wrong = false_heads(result.points, sample.points, args.radius)
        found += int(wrong.sum())
        order = np.argsort(-result.scores[wrong], kind="stable")
        heads = result.points[wrong][order]
        cut = windows(heads, result.width, result.height, args.crop, args.max_per_image)
        if cut:
            with Image.open(sample.image) as opened:
                image = opened.convert("RGB")
        for window in cut:
            index = len(lines)
            name_image, name_points = f"images/{index:05d}.png", f"annotations/{index:05d}.txt"
            image.crop(window).save(args.out / name_image)
            inside = sample.points[_in_window(sample.points, window)]
            inside = inside - np.array(window[:2], np.float32)
            text = "".join(f"{x:.2f} {y:.2f}\n" for x, y in inside)
            (args.out / name_points).write_text(text)
            lines.append(f"{name_image} {name_points}\n")
            crops.append(
                {
                    "image": str(sample.image),
                    "window": list(window),
                    "false_heads": int(_in_window(heads, window).sum()),
                }
            )
        print(f"\r{number}/{len(samples)} images, {found} false heads, {len(lines)} crops",
              end="", file=sys.stderr)  # fmt: skip
    print(file=sys.stderr)
    summary = {
        "weights": args.weights,
        "dataset": args.dataset,
        "threshold": args.threshold,
        "radius": args.radius,
        "crop": args.crop,
        "images": len(samples),
        "false_heads": found,
        "crops": crops,
    }
    with atomic_path(args.out / "mined.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    with atomic_path(args.out / "list.txt") as tmp:
        tmp.write_text("".join(lines))
    print(f"{len(lines)} crops of {len(samples)} images ({found} false heads): {args.out}")


if __name__ == "__main__":
    main()
