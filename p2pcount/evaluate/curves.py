"""Metrics against the score threshold, from candidates scored once.

The counts side is :func:`p2pcount.evaluate.metrics.threshold_sweep` (MAE and MSE per
threshold); here are localization at each threshold, with the same one-to-one matching as
``eval``'s precision, recall and F1 (:func:`~p2pcount.evaluate.metrics.localization_counts`),
and the choice of the best threshold of a sweep.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from p2pcount.evaluate.metrics import LocalizationCounts, PredictionSet, localization_counts


def localization_sweep(
    preds: Sequence[PredictionSet],
    gts: Sequence[np.ndarray],
    thresholds: Sequence[float],
    radius: float,
) -> list[tuple[float, LocalizationCounts]]:
    """Return ``(threshold, counts)`` for each threshold: the TP/FP/FN summed over the
    images (micro-averaged precision, recall, F1) of the predictions scored strictly above
    it, matched to the ground truth one to one within ``radius`` pixels.

    Args:
        preds: per image, candidate points ``(P, 2)`` in pixels and their scores ``(P,)``;
            every candidate above the lowest threshold must be there.
        gts: per image, the ground-truth points ``(G, 2)`` in pixels.
        thresholds: score thresholds (probabilities).
        radius: the matching radius in pixels.

    Raises:
        ValueError: not one prediction set per ground-truth set, or points and scores of
            different lengths.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} prediction sets but {len(gts)} ground-truth sets")
    sets = []
    for i, (points, scores) in enumerate(preds):
        score_arr = np.asarray(scores, dtype=float).reshape(-1)
        if len(score_arr) != len(points):
            raise ValueError(f"preds[{i}] has {len(points)} points but {len(score_arr)} scores")
        sets.append((np.asarray(points, dtype=float), score_arr))
    sweep = []
    for t in thresholds:
        total = LocalizationCounts(0, 0, 0)
        for (points, scores), gt in zip(sets, gts, strict=True):
            total += localization_counts(points[scores > t], gt, radius)
        sweep.append((float(t), total))
    return sweep


def best_threshold(sweep: Sequence[tuple[float, float, float]]) -> tuple[float, float, float]:
    """The ``(threshold, MAE, MSE)`` row of a :func:`threshold_sweep
    <p2pcount.evaluate.metrics.threshold_sweep>` with the lowest MAE; ties go to the lower
    MSE, then to the lower threshold.

    Raises:
        ValueError: the sweep is empty.
    """
    if not sweep:
        raise ValueError("an empty sweep has no best threshold")
    return min(sweep, key=lambda row: (row[1], row[2], row[0]))
