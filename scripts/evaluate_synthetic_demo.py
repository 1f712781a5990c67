#!/usr/bin/env python
"""Measure the bundled synthetic-demo model: the figures quoted in the README.

- held-out synthetic test set (seed 3, generated if missing): MAE, MSE, MAE as a share of
  the mean count, precision/recall/F1 at 8 px, nAP;
- scenes without people (--empty-images of each kind, 40 by default, seed 99): counts on
  blank backgrounds, on textured ones with the distractors and occluders of crowd scenes,
  and on textured ones without any object (the goal is 0 everywhere).

Usage: .venv/bin/python scripts/evaluate_synthetic_demo.py [--weights W] [--images 120]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pcount import Counter  # noqa: E402
from p2pcount.data.datasets import load_dataset  # noqa: E402
from p2pcount.data.synthetic import (  # noqa: E402
    generate_background,
    generate_empty,
    write_dataset,
)
from p2pcount.evaluate.evaluation import evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(REPO / "weights" / "synthetic-demo.safetensors"))
    parser.add_argument("--data", default=str(REPO / "data" / "syn-test"))
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--empty-images", type=int, default=40, help="scenes of each empty kind")
    args = parser.parse_args()

    data = Path(args.data)
    if not (data / "list.txt").is_file():
        write_dataset(data, count=args.images, seed=3)
    samples = load_dataset(data / "list.txt")[: args.images]
    counter = Counter.from_weights(args.weights, device="cpu", precision=args.precision)
    report = evaluate(counter, samples, threshold=args.threshold, radius=8.0)
    mean_count = float(np.mean([len(s.points) for s in samples]))
    loc = report.localization
    print(f"weights: {args.weights} ({args.precision}, threshold {args.threshold})")
    print(f"test set: {len(samples)} images from {data} (seed 3), mean count {mean_count:.1f}")
    print(f"MAE {report.mae:.2f} ({report.mae / mean_count:.1%} of the mean count), "
          f"MSE {report.mse:.2f}")  # fmt: skip
    print(f"precision {loc.precision:.3f}, recall {loc.recall:.3f}, F1 {loc.f1:.3f} (8 px)")
    print("nAP " + ", ".join(f"δ={d}: {v:.3f}" for d, v in report.nap.items()))
    # Calibration of the count uncertainty: how often the truth lies in soft ∓ 1.96 σ, and
    # the factor on σ that would make that interval cover 95 % of these images.
    z = np.array([abs(e.gt - e.soft_count) / max(e.count_std, 1e-9) for e in report.images])
    print(f"uncertainty: truth within soft count ∓ 1.96 σ on {(z <= 1.96).mean():.1%} of the "
          f"images; σ × {np.quantile(z, 0.95) / 1.96:.2f} would cover 95 %")  # fmt: skip

    rng = np.random.default_rng(99)
    n = args.empty_images
    scenes = {
        "blank backgrounds": lambda w, h: generate_empty(rng, w, h, "blank"),
        "textured scenes without people (distractors, occluders)": (
            lambda w, h: generate_empty(rng, w, h, "textured")
        ),
        "textured backgrounds without objects": lambda w, h: generate_background(rng, w, h),
    }
    for name, draw in scenes.items():
        counts = []
        for _ in range(n):
            width, height = (int(v) for v in rng.integers(256, 1025, 2))
            counts.append(counter.count(draw(width, height), threshold=args.threshold).count)
        print(f"{name} ({n}, 256-1024 px): {sum(counts)} false heads, "
              f"{sum(c > 0 for c in counts)} images with any; counts {counts}")  # fmt: skip


if __name__ == "__main__":
    main()
