"""``eval --plots``: an evaluation's four figures, written into a folder.

The curves over thresholds come from the candidates each :class:`ImageEvaluation` keeps
(every one above the lower of the threshold and ``NAP_MIN_SCORE``), thresholded in
NumPy: the network runs once per image, whatever the number of thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from p2pcount.evaluate.curves import best_threshold, localization_sweep
from p2pcount.evaluate.evaluation import DEFAULT_SWEEP, NAP_MIN_SCORE, EvaluationReport
from p2pcount.evaluate.metrics import threshold_sweep
from p2pcount.output.eval_plots import (
    PLOT_SIZE,
    plot_counts_vs_truth,
    plot_error_histogram,
    plot_precision_recall,
    plot_threshold_errors,
)

#: The files :func:`write_plots` writes, in its order.
PLOT_FILES = (
    "pred_vs_truth.png",
    "error_histogram.png",
    "error_vs_threshold.png",
    "precision_recall.png",
)


def write_plots(
    report: EvaluationReport,
    folder: Path,
    thresholds: Sequence[float] = DEFAULT_SWEEP,
    size: tuple[int, int] = PLOT_SIZE,
) -> list[Path]:
    """Write the figures of ``report`` into the existing ``folder`` (replacing earlier
    ones) and return their paths, :data:`PLOT_FILES` in order:

    - ``pred_vs_truth.png``: predicted (at the report's threshold) against ground-truth
      counts, with y = x, MAE and MSE;
    - ``error_histogram.png``: the count errors, predicted − truth;
    - ``error_vs_threshold.png``: MAE and MSE at each of ``thresholds``, the lowest MAE
      marked (:func:`~p2pcount.evaluate.curves.best_threshold`);
    - ``precision_recall.png``: localization precision and recall at each of
      ``thresholds``, matched as the report's at its radius (thresholds that keep no
      prediction, where precision is undefined, are left out).

    Each PNG is ``size`` pixels and written atomically.

    Raises:
        ValueError: a threshold is below the candidates the report kept (below the lower
            of its threshold and ``NAP_MIN_SCORE``), or none is given.
        OSError: a file cannot be written.
    """
    floor = min(report.threshold, NAP_MIN_SCORE)
    if not thresholds or min(thresholds) < floor:
        raise ValueError(f"the plots need thresholds, all at least {floor:g}")
    images = report.images
    truth = [e.gt for e in images]
    predicted = [e.predicted for e in images]
    sweep = threshold_sweep(truth, [e.scores for e in images], thresholds)
    localization = localization_sweep(
        [(e.points, e.scores) for e in images],
        [e.gt_points for e in images],
        thresholds,
        report.radius,
    )
    paths = [folder / name for name in PLOT_FILES]
    used = report.threshold
    plot_counts_vs_truth(truth, predicted, paths[0], threshold=used, size=size)
    plot_error_histogram(truth, predicted, paths[1], threshold=used, size=size)
    plot_threshold_errors(
        [t for t, _, _ in sweep],
        [mae for _, mae, _ in sweep],
        [mse for _, _, mse in sweep],
        paths[2],
        threshold=used,
        best=best_threshold(sweep)[0],
        size=size,
    )
    plot_precision_recall(
        [t for t, _ in localization],
        [counts.precision if counts.tp + counts.fp else math.nan for _, counts in localization],
        [counts.recall for _, counts in localization],
        paths[3],
        threshold=used,
        radius=report.radius,
        size=size,
    )
    return paths
