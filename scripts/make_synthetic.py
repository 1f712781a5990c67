"""Write a synthetic crowd-counting dataset: JPEG images, point annotations and a list file.

Usage: python scripts/make_synthetic.py OUT_DIR --count 100 --seed 0

Works from a repository checkout without installation as well as with p2pcount installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _load_write_dataset() -> Callable[..., Path]:
    """Import :func:`p2pcount.data.synthetic.write_dataset`, from this checkout if not installed."""
    try:
        from p2pcount.data.synthetic import write_dataset
    except ModuleNotFoundError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from p2pcount.data.synthetic import write_dataset
    return write_dataset


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
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Write the dataset and print the path of its list file."""
    args = _parse_args(argv)
    write_dataset = _load_write_dataset()
    try:
        list_path = write_dataset(
            args.out_dir,
            args.count,
            args.seed,
            min_size=args.min_size,
            max_size=args.max_size,
            max_people=args.max_people,
            empty_fraction=args.empty_fraction,
        )
    except ValueError as exc:
        print(f"make_synthetic: error: {exc}", file=sys.stderr)
        return 2
    print(list_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
