#!/usr/bin/env python
"""Measure the bundled synthetic-demo model: the figures quoted in the README.

Default report:

- held-out synthetic test set (seed 3, generated if missing): MAE, MSE, MAE as a share of
  the mean count, precision/recall/F1 at 8 px, nAP, and the calibration of the count
  uncertainty (p2pcount.evaluate.calibration); its predicted-vs-true counts plot is
  written to weights/synthetic-demo-eval.png (the README's figure; --figure), and all of
  ``eval --plots``'s figures to --plots DIR if given;
- scenes without people (--empty-images of each kind, 40 by default, seed 99): counts on
  blank backgrounds, on textured ones with the distractors and occluders of crowd scenes,
  and on textured ones without any object (the goal is 0 everywhere).

``--robustness``: issue 18's targets instead, on seeds never used in training or selection
(--sections picks some of them; threshold 0.5, localization at 8 px, F1 micro-averaged):

=========== ============================================================ =====================
section     scenes (256-1024 px, up to 600 people)                       target
=========== ============================================================ =====================
clean       the first --clean-images (60) of seed 3 (classic, --data)     MAE ≤ 3 % of the mean
                                                                          count, F1 ≥ 0.95
corruptions the first --corrupt-images (30) of seed 3, under each         MAE ≤ 10 %, F1 ≥ 0.85
            corruption of p2pcount.data.corruptions at severity 3          for each
            (with the clean figures of those scenes for reference)
person-free --empty-per-kind (20) scenes of each person-free kind of the  mean < 0.5 false heads
            varied generator: blank, textured, noisy (σ up to 40 grey      per image, none > 3,
            levels), cluttered; seed 33, every family, kinds in turn       for each kind
varied      --varied-images (40) crowd scenes of the varied generator:    MAE ≤ 10 %, F1 ≥ 0.8
            seed 32 with only the families v2/v3's training held out       (seed 31: the same
            (helmet heads, fractal backgrounds: --hold-out                 bar, no target of
            classic,shaded,blob,textured,noise,gradient,clutter) and      its own)
            seed 31 with every family
=========== ============================================================ =====================

The scenes are written once under data/ (git-ignored) and reused: --data (seed 3),
data/eval-empty (seed 33), data/eval-heldout (seed 32), data/eval-varied (seed 31). The
markdown table goes to stdout, progress to stderr; --json PATH writes the figures and
--compare JSON adds the column of an earlier run's file (e.g. v2's beside v3's).

Usage: .venv/bin/python scripts/evaluate_synthetic_demo.py [--weights W] [--images 120]
       [--figure PNG] [--plots DIR]
       .venv/bin/python scripts/evaluate_synthetic_demo.py --robustness [--weights W]
       [--sections clean,corruptions,person-free,varied] [--clean-images 60]
       [--corrupt-images 30] [--empty-per-kind 20] [--varied-images 40] [--json OUT]
       [--label NAME] [--compare EARLIER_JSON]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from p2pcount import Counter  # noqa: E402
from p2pcount.data.corruptions import CORRUPTIONS, Corruption  # noqa: E402
from p2pcount.data.datasets import Sample, load_dataset  # noqa: E402
from p2pcount.data.synthetic import (  # noqa: E402
    BACKGROUND_FAMILIES,
    HEAD_STYLES,
    Style,
    generate_background,
    generate_empty,
    varied,
    write_dataset,
)
from p2pcount.data.synthetic.varied_scene import empty_kinds  # noqa: E402
from p2pcount.evaluate.evaluation import ImageEvaluation, evaluate  # noqa: E402
from p2pcount.evaluate.metrics import LocalizationCounts, count_errors  # noqa: E402
from p2pcount.evaluate.plots import write_plots  # noqa: E402
from p2pcount.io.atomic import atomic_path  # noqa: E402
from p2pcount.output.eval_plots import plot_counts_vs_truth  # noqa: E402

SECTIONS = ("clean", "corruptions", "person-free", "varied")
RADIUS = 8.0  # px, the localization radius of F1
SEVERITY = 3
#: The families scripts/train_synthetic_demo_v2.sh's HOLD_OUT keeps out of v2's and v3's training.
TRAINING_HOLD_OUT = ("helmet", "fractal")
#: Reserved evaluation seeds (scripts/train_synthetic_demo_v2.sh lists them).
CLASSIC_SEED, VARIED_SEED, HELD_OUT_SEED, EMPTY_SEED = 3, 31, 32, 33
#: Person-free target: mean false heads per image below this, none above EMPTY_MAX.
EMPTY_MEAN, EMPTY_MAX = 0.5, 3


@dataclass(frozen=True)
class CountTarget:
    """A bar for a crowd set: MAE at most ``max_mae_pct`` % of the mean true count and F1
    (8 px) at least ``min_f1``."""

    max_mae_pct: float
    min_f1: float

    def met(self, mae_pct: float, f1: float) -> bool:
        return mae_pct <= self.max_mae_pct and f1 >= self.min_f1

    def __str__(self) -> str:
        return f"MAE ≤ {self.max_mae_pct:g} %, F1 ≥ {self.min_f1:g}"


CLEAN_TARGET = CountTarget(3.0, 0.95)
CORRUPTION_TARGET = CountTarget(10.0, 0.85)
VARIED_TARGET = CountTarget(10.0, 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", default=str(REPO / "weights" / "synthetic-demo.safetensors"))
    parser.add_argument("--data", default=str(REPO / "data" / "syn-test"), help="seed 3's set")
    parser.add_argument("--images", type=int, default=120)
    parser.add_argument("--threshold", type=float, default=0.5)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--empty-images", type=int, default=40, help="scenes of each empty kind")
    parser.add_argument(
        "--figure",
        default=str(REPO / "weights" / "synthetic-demo-eval.png"),
        help="the predicted-vs-true counts plot of the test set (PNG)",
    )
    parser.add_argument("--plots", help="also write all of eval --plots's figures here")
    robust = parser.add_argument_group("--robustness (issue 18's targets)")
    robust.add_argument("--robustness", action="store_true", help="measure issue 18's targets")
    robust.add_argument("--sections", type=_sections, default=SECTIONS, help=",".join(SECTIONS))
    robust.add_argument("--clean-images", type=_positive, default=60, help="seed 3 scenes")
    robust.add_argument("--corrupt-images", type=_positive, default=30, help="per corruption")
    robust.add_argument("--empty-per-kind", type=_positive, default=20, help="seed 33 scenes")
    robust.add_argument("--varied-images", type=_positive, default=40, help="seeds 31 and 32")
    robust.add_argument("--json", type=Path, help="also write the figures here (JSON)")
    robust.add_argument("--label", help="this model's column header (default: --weights)")
    robust.add_argument("--compare", type=Path, help="an earlier --json file, shown beside")
    args = parser.parse_args()

    if args.robustness:
        _robustness_report(args)
        return
    data = Path(args.data)
    samples = _scenes(data, args.images, CLASSIC_SEED)  # drawn again if it holds fewer
    counter = Counter.from_weights(args.weights, device="cpu", precision=args.precision)
    report = evaluate(counter, samples, threshold=args.threshold, radius=RADIUS)
    mean_count = float(np.mean([len(s.points) for s in samples]))
    loc = report.localization
    print(f"weights: {args.weights} ({args.precision}, threshold {args.threshold})")
    print(f"test set: {len(samples)} images from {data} (seed 3), mean count {mean_count:.1f}")
    print(f"MAE {report.mae:.2f} ({report.mae / mean_count:.1%} of the mean count), "
          f"MSE {report.mse:.2f}")  # fmt: skip
    print(f"precision {loc.precision:.3f}, recall {loc.recall:.3f}, F1 {loc.f1:.3f} (8 px)")
    print("nAP " + ", ".join(f"δ={d}: {v:.3f}" for d, v in report.nap.items()))
    calibration = report.calibration
    print(f"uncertainty: truth within soft count ∓ 1.96 σ on {calibration.coverage:.1%} of "
          f"the images; σ × {calibration.factor:.2f} would cover 95 %")  # fmt: skip
    plot_counts_vs_truth(
        [e.gt for e in report.images],
        [e.predicted for e in report.images],
        Path(args.figure),
        threshold=args.threshold,
    )
    print(f"predicted vs true counts: {args.figure}")
    if args.plots:
        Path(args.plots).mkdir(parents=True, exist_ok=True)
        print("plots: " + ", ".join(map(str, write_plots(report, Path(args.plots)))))

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


def _sections(text: str) -> tuple[str, ...]:
    """--sections: comma-separated names of :data:`SECTIONS`."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = [name for name in names if name not in SECTIONS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected names among {', '.join(SECTIONS)}")
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _robustness_report(args: argparse.Namespace) -> None:
    """Measure the sections of ``args.sections``, print the markdown table (and the
    comparison's column), and write ``args.json`` if given."""
    started = time.monotonic()
    counter = Counter.from_weights(args.weights, device="cpu", precision=args.precision)

    def measure(
        samples: Sequence[Sample], corruption: Corruption | None = None
    ) -> list[ImageEvaluation]:
        images = evaluate(
            counter,
            samples,
            threshold=args.threshold,
            radius=RADIUS,
            with_nap=False,
            corruption=corruption,
        ).images
        print(f"[{time.monotonic() - started:5.0f} s] {len(images)} images"
              f"{f' ({corruption.label})' if corruption else ''}", file=sys.stderr)  # fmt: skip
        return images

    rows: list[dict] = []
    data = REPO / "data"
    if "clean" in args.sections or "corruptions" in args.sections:
        needed = args.clean_images if "clean" in args.sections else 0
        if "corruptions" in args.sections:
            needed = max(needed, args.corrupt_images)
        classic = _scenes(Path(args.data), needed, CLASSIC_SEED)
        clean = measure(classic)
        if "clean" in args.sections:
            first = clean[: args.clean_images]
            rows.append(_count_row("clean", f"clean, seed 3 ({len(first)} scenes)", first,
                                   CLEAN_TARGET))  # fmt: skip
        if "corruptions" in args.sections:
            n = args.corrupt_images
            rows.append(_count_row("clean-subset", f"clean, the {n} scenes corrupted below",
                                   clean[:n], None))  # fmt: skip
            for name in CORRUPTIONS:
                corruption = Corruption(name, SEVERITY)
                images = measure(classic[:n], corruption)
                rows.append(_count_row(f"corruption/{corruption.label}", corruption.label,
                                       images, CORRUPTION_TARGET))  # fmt: skip
    if "person-free" in args.sections:
        style = varied()
        kinds = empty_kinds(style)
        n = args.empty_per_kind
        samples = _scenes(data / "eval-empty", n * len(kinds), EMPTY_SEED, style, 1.0)
        images = measure(samples)
        for i, kind in enumerate(kinds):
            rows.append(_empty_row(kind, images[i :: len(kinds)]))
    if "varied" in args.sections:
        n = args.varied_images
        held = [name for name in HEAD_STYLES + BACKGROUND_FAMILIES if name not in TRAINING_HOLD_OUT]
        sets = {
            "held-out": ("held-out families, seed 32", "eval-heldout", HELD_OUT_SEED, held),
            "varied": ("every family, seed 31", "eval-varied", VARIED_SEED, []),
        }
        for key, (label, folder, seed, hold_out) in sets.items():
            samples = _scenes(data / folder, n, seed, varied(hold_out), 0.0)
            rows.append(_count_row(key, f"varied, {label} ({n} scenes)", measure(samples),
                                   VARIED_TARGET))  # fmt: skip

    seconds = time.monotonic() - started
    label = args.label or args.weights
    document = {
        "label": label,
        "weights": args.weights,
        "precision": args.precision,
        "threshold": args.threshold,
        "radius": RADIUS,
        "severity": SEVERITY,
        "seconds": round(seconds, 1),
        "all_met": all(row["met"] is not False for row in rows),
        "rows": rows,
    }
    earlier = json.loads(args.compare.read_text()) if args.compare else None
    print(_table(document, earlier))
    print(f"{len(rows)} rows in {seconds / 60:.1f} min; every target met: "
          f"{'yes' if document['all_met'] else 'no'}", file=sys.stderr)  # fmt: skip
    if args.json:
        with atomic_path(args.json) as tmp:
            tmp.write_text(json.dumps(document, indent=2) + "\n")


def _scenes(
    folder: Path, count: int, seed: int, style: Style | None = None, empty_fraction: float = 0.05
) -> list[Sample]:
    """The first ``count`` scenes of the synthetic set ``seed`` (classic without ``style``),
    written to ``folder`` first unless it already holds that many."""
    list_path = folder / "list.txt"
    if not list_path.is_file() or len(list_path.read_text().splitlines()) < count:
        print(f"writing {count} scenes of seed {seed} to {folder}", file=sys.stderr)
        extra = {} if style is None else {"style": style, "empty_fraction": empty_fraction}
        write_dataset(folder, count, seed, **extra)
    return load_dataset(list_path)[:count]


def _count_row(
    key: str, label: str, images: Sequence[ImageEvaluation], target: CountTarget | None
) -> dict:
    """A crowd set's row: MAE (people and % of the mean true count), precision, recall and
    F1 at 8 px, and whether ``target`` is met (None without a target)."""
    gts = [e.gt for e in images]
    mae, _ = count_errors(gts, [e.predicted for e in images])
    mean_count = float(np.mean(gts))
    loc = sum((e.localization for e in images), start=LocalizationCounts(0, 0, 0))
    mae_pct = 100.0 * mae / mean_count
    return {
        "key": key,
        "set": label,
        "images": len(images),
        "mean_count": round(mean_count, 2),
        "mae": round(mae, 3),
        "mae_pct": round(mae_pct, 2),
        "precision": round(loc.precision, 4),
        "recall": round(loc.recall, 4),
        "f1": round(loc.f1, 4),
        "target": str(target) if target else None,
        "met": target.met(mae_pct, loc.f1) if target else None,
    }


def _empty_row(kind: str, images: Sequence[ImageEvaluation]) -> dict:
    """A person-free kind's row: the false heads of each image, their mean and maximum."""
    counts = [e.predicted for e in images]
    mean = float(np.mean(counts))
    return {
        "key": f"person-free/{kind}",
        "set": f"person-free, {kind} ({len(counts)} scenes)",
        "images": len(counts),
        "false_heads": counts,
        "mean_false_heads": round(mean, 3),
        "max_false_heads": max(counts),
        "target": f"mean < {EMPTY_MEAN:g}, none > {EMPTY_MAX}",
        "met": mean < EMPTY_MEAN and max(counts) <= EMPTY_MAX,
    }


def _table(document: dict, earlier: dict | None) -> str:
    """The markdown table of ``document``'s rows, with ``earlier``'s results first if
    given (matched by row key; "—" where it lacks a row)."""
    columns = ([earlier] if earlier else []) + [document]
    header = "| set | target | " + " | ".join(f"{c['label']} | met" for c in columns) + " |"
    lines = [header, "|" + " --- |" * (2 + 2 * len(columns))]
    for row in document["rows"]:
        cells = [row["set"], row["target"] or "(reference)"]
        for column in columns:
            match = next((r for r in column["rows"] if r["key"] == row["key"]), None)
            met = {True: "yes", False: "**no**", None: ""}[match["met"]] if match else ""
            cells += [_result(match) if match else "—", met]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _result(row: dict) -> str:
    """A row's figures in a table cell."""
    if "mae" in row:
        return f"MAE {row['mae']:.2f} ({row['mae_pct']:.1f} %), F1 {row['f1']:.3f}"
    return f"{row['mean_false_heads']:.2f} per image, max {row['max_false_heads']}"


if __name__ == "__main__":
    main()
