"""Evaluating a model on an annotated dataset: count errors, localization, nAP, sweeps.

One forward pass per image gives every candidate above ``NAP_MIN_SCORE`` (or the
threshold, if lower); the hard count at the threshold, the localization metrics, the
ranked predictions of nAP and the threshold sweep all come from those candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from p2pcount.data.corruptions import Corruption
from p2pcount.data.datasets import Sample
from p2pcount.errors import DatasetError, ImageError, WeightsError
from p2pcount.evaluate.calibration import Calibration, interval_calibration
from p2pcount.evaluate.curves import best_threshold
from p2pcount.evaluate.metrics import (
    NAP_DELTAS,
    LocalizationCounts,
    count_errors,
    localization_counts,
    nap,
    threshold_sweep,
)
from p2pcount.infer.counter import Counter
from p2pcount.io.images import load_image

#: Candidates below this probability are left out of nAP's ranking (they would only add
#: false positives at recall levels already reached); documented in the README.
NAP_MIN_SCORE = 0.05

DEFAULT_SWEEP = tuple(round(0.05 * i, 2) for i in range(1, 20))


@dataclass
class ImageEvaluation:
    """One image: ground truth, prediction at the threshold, and its localization counts.

    ``points`` (K, 2) and ``scores`` (K,) hold every candidate above the lower of the
    threshold and :data:`NAP_MIN_SCORE`; ``gt_points`` (G, 2); all in pixels.
    """

    path: str
    gt_points: np.ndarray
    points: np.ndarray
    scores: np.ndarray
    predicted: int
    soft_count: float
    localization: LocalizationCounts
    count_std: float = 0.0  # the soft count's spread, √Σ p(1 − p) (people)

    @property
    def gt(self) -> int:
        return len(self.gt_points)

    @property
    def error(self) -> int:
        return self.predicted - self.gt

    def kept(self, threshold: float) -> np.ndarray:
        """(P, 2) points above ``threshold``."""
        return self.points[self.scores > threshold]

    def row(self) -> dict[str, object]:
        """The per-image record of reports: path, gt, pred, error (pred − gt), soft_count,
        count_std, and the localization's tp, fp, fn."""
        return {
            "path": self.path,
            "gt": self.gt,
            "pred": self.predicted,
            "error": self.error,
            "soft_count": round(self.soft_count, 3),
            "count_std": round(self.count_std, 3),
            "tp": self.localization.tp,
            "fp": self.localization.fp,
            "fn": self.localization.fn,
        }


@dataclass
class EvaluationReport:
    """Dataset-level metrics and per-image results."""

    threshold: float
    radius: float
    images: list[ImageEvaluation]
    mae: float
    mse: float
    localization: LocalizationCounts
    nap: dict[float, float] = field(default_factory=dict)
    sweep: list[tuple[float, float, float]] = field(default_factory=list)

    @property
    def calibration(self) -> Calibration:
        """How often the truth lies in soft count ∓ 1.96 σ, and the factor on σ for 95 %."""
        return interval_calibration(
            [e.gt for e in self.images],
            [e.soft_count for e in self.images],
            [e.count_std for e in self.images],
        )

    def summary(self) -> dict[str, object]:
        """The machine-readable top level: mae, mse, precision, recall, f1, nap, the count
        uncertainty's calibration, settings, and the sweep with its best threshold (null
        without a sweep)."""
        best = best_threshold(self.sweep) if self.sweep else None
        return {
            "images": len(self.images),
            "threshold": self.threshold,
            "radius": self.radius,
            "mae": self.mae,
            "mse": self.mse,
            "precision": self.localization.precision,
            "recall": self.localization.recall,
            "f1": self.localization.f1,
            # null without any ground-truth head to rank against
            "nap": {str(delta): self.nap.get(delta) for delta in NAP_DELTAS},
            "calibration": self.calibration.summary(),
            "sweep": [{"threshold": t, "mae": m, "mse": s} for t, m, s in self.sweep],
            "best_threshold": None
            if best is None
            else {"threshold": best[0], "mae": best[1], "mse": best[2]},
        }


def evaluate_image(
    counter: Counter,
    sample: Sample,
    threshold: float,
    radius: float,
    corruption: Corruption | None = None,
) -> ImageEvaluation:
    """Run the model on one annotated image (pixel grid as stored: no EXIF rotation),
    corrupted first if ``corruption`` is given (seeded by the image's file name)."""
    image = load_image(sample.image, max_pixels=None, exif=False)
    if corruption is not None:
        image = corruption.apply(np.asarray(image), sample.image.name)
    result = counter.count(image, threshold=min(threshold, NAP_MIN_SCORE))
    if not np.isfinite(result.soft_count):
        raise WeightsError(
            f"{counter.source or 'weights'}: probabilities on {sample.image} are not finite "
            "(broken weights?)"
        )
    kept = result.points[result.scores > threshold]
    return ImageEvaluation(
        path=str(sample.image),
        gt_points=sample.points,
        points=result.points,
        scores=result.scores,
        predicted=len(kept),
        soft_count=result.soft_count,
        localization=localization_counts(kept, sample.points, radius),
        count_std=result.count_std,
    )


def evaluate(
    counter: Counter,
    samples: Sequence[Sample],
    threshold: float = 0.5,
    radius: float = 8.0,
    *,
    with_nap: bool = True,
    sweep: Sequence[float] = (),
    on_image: Callable[[ImageEvaluation], None] | None = None,
    on_error: Callable[[ImageError], None] | None = None,
    corruption: Corruption | None = None,
) -> EvaluationReport:
    """Evaluate ``counter`` on ``samples``; ``on_image`` sees each image as it is done.
    With ``corruption``, each image is corrupted before it is counted (points unchanged).

    An unreadable image raises :class:`ImageError`, or, with ``on_error``, is reported
    there and left out of the metrics. Raises :class:`DatasetError` if no image is left.
    """
    images = []
    for sample in samples:
        try:
            evaluation = evaluate_image(counter, sample, threshold, radius, corruption)
        except ImageError as exc:
            if on_error is None:
                raise
            on_error(exc)
            continue
        images.append(evaluation)
        if on_image:
            on_image(evaluation)
    if not images:
        raise DatasetError("no image of the dataset could be read")
    gts = [e.gt for e in images]
    mae, mse = count_errors(gts, [e.predicted for e in images])
    total = sum((e.localization for e in images), start=LocalizationCounts(0, 0, 0))
    report = EvaluationReport(threshold, radius, images, mae, mse, total)
    if with_nap and sum(gts) > 0:
        # The same candidates whatever the threshold: nAP does not depend on it.
        ranked = [e.scores > NAP_MIN_SCORE for e in images]
        preds = [(e.points[r], e.scores[r]) for e, r in zip(images, ranked, strict=True)]
        # A lone head's d_kNN is the dataset's median spacing, or 2 × radius if no image
        # has two heads to measure it from.
        isolated = None if any(e.gt >= 2 for e in images) else 2.0 * radius
        report.nap = nap(preds, [e.gt_points for e in images], isolated_distance=isolated)
    if sweep:
        report.sweep = threshold_sweep(gts, [e.scores for e in images], sweep)
    return report
