"""Write a synthetic crowd-counting dataset: JPEG images, point annotations and a list file.

Usage: python scripts/make_synthetic.py OUT_DIR --count 100 --seed 0 [--style varied
[--hold-out blob,fractal]]

Works from a repository checkout without installation as well as with p2pcount installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType


def _load_synthetic() -> ModuleType:
    """Import :mod:`p2pcount.data.synthetic`, from this checkout if not installed."""
    try:
        import p2pcount.data.synthetic as synthetic
    except ModuleNotFoundError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        import p2pcount.data.synthetic as synthetic
    return synthetic


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, help="directory to write into (created)")
    parser.add_argument("--count", type=int, default=100, help="number of images")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--min-size", type=int, default=256, help="smallest side, px")
    parser.add_argument("--max-size", type=int, default=1024, help="largest side, px")
    parser.add_argument("--max-people", type=int, default=600, help="most people per image")
    parser.add_argument(
        "--empty-fraction", type=float, default=0.05, help="share of person-free images"
    )
    parser.add_argument(
        "--style",
        choices=("classic", "varied"),
        default="classic",
        help="classic: the first generator's scenes, unchanged; varied: head styles and "
        "background families mixed per image",
    )
    parser.add_argument(
        "--hold-out",
        default="",
        metavar="NAME,...",
        help="head styles or background families switched off (varied only): "
        "classic, shaded, blob, helmet; textured, noise, gradient, fractal, clutter",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dataset and print the path of its list file."""
    args = _parse_args(argv)
    synthetic = _load_synthetic()
    try:
        hold_out = [name for name in args.hold_out.split(",") if name]
        if hold_out and args.style != "varied":
            raise ValueError("--hold-out needs --style varied")
        style = synthetic.varied(hold_out) if args.style == "varied" else synthetic.CLASSIC
        list_path = synthetic.write_dataset(
            args.out_dir,
            args.count,
            args.seed,
            min_size=args.min_size,
            max_size=args.max_size,
            max_people=args.max_people,
            empty_fraction=args.empty_fraction,
            style=style,
        )
    except ValueError as exc:
        print(f"make_synthetic: error: {exc}", file=sys.stderr)
        return 2
    print(list_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
