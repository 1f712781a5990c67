"""``eval --plots``'s figures, as PNG files: counts against the truth, the count errors,
count errors against the threshold, and localization precision–recall.

No torch; matplotlib is imported by each function, not with this module (see
:mod:`p2pcount.output.figure`). Each function draws plain numbers (people, probabilities,
fractions) and writes its PNG of exactly ``size`` pixels atomically; the numbers are
computed by :mod:`p2pcount.evaluate`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from p2pcount.output.figure import new_figure, save_png
from p2pcount.text import plural

#: The size (width, height in pixels) every plot is designed at, and written at by default.
PLOT_SIZE = (900, 700)

#: Error histograms spanning at most this many people get one bar per whole number.
_UNIT_BINS_UP_TO = 60

#: Thresholds labelled on the precision–recall curve (those of the sweep among them).
_LABELLED = (0.1, 0.3, 0.5, 0.7, 0.9)


def plot_counts_vs_truth(
    truth: Sequence[float],
    predicted: Sequence[float],
    target: Path,
    *,
    threshold: float,
    size: tuple[int, int] = PLOT_SIZE,
) -> None:
    """Predicted against ground-truth counts, one dot per image, with the line y = x and
    the MAE and MSE (RMSE) in the title; both axes in people, from 0, on the same scale.

    Args:
        truth: the N images' ground-truth counts.
        predicted: their predicted counts at ``threshold``.
        target: the PNG file to write.
        threshold: the probability threshold of the counts (named in the legend).
        size: the PNG's (width, height) in pixels.

    Raises:
        ValueError: no image, the sequences' lengths differ, or ``size`` is not positive.
    """
    truth_arr, pred_arr = _paired(truth, predicted)
    errors = pred_arr - truth_arr
    mae, mse = float(np.mean(np.abs(errors))), float(np.sqrt(np.mean(errors**2)))
    figure = new_figure(size, reference=PLOT_SIZE)
    axes = figure.add_subplot()
    top = 1.05 * max(1.0, float(truth_arr.max()), float(pred_arr.max()))
    axes.plot([0, top], [0, top], "--", color="grey", linewidth=1, label="y = x (exact count)")
    axes.scatter(
        truth_arr,
        pred_arr,
        s=18,
        alpha=0.7,
        color="tab:blue",
        label=f"image (count at threshold {threshold:g})",
        zorder=3,
    )
    axes.set_xlim(0, top)
    axes.set_ylim(0, top)
    axes.set_aspect("equal")
    axes.set_xlabel("ground-truth count (people)")
    axes.set_ylabel("predicted count (people)")
    axes.set_title(
        f"Predicted vs ground-truth counts, {plural(len(truth_arr), 'image')}\n"
        f"MAE {mae:.2f}, MSE (RMSE) {mse:.2f} people",
        parse_math=False,
    )
    axes.grid(True, alpha=0.4)
    axes.legend(loc="upper left")
    save_png(figure, target)


def plot_error_histogram(
    truth: Sequence[float],
    predicted: Sequence[float],
    target: Path,
    *,
    threshold: float,
    size: tuple[int, int] = PLOT_SIZE,
) -> None:
    """A histogram of the count errors, predicted − ground truth (people): one bar per
    whole number of people when they span at most 60, else about 30 bars; with a line at 0
    and one at the mean error.

    Args and raises: as :func:`plot_counts_vs_truth`.
    """
    truth_arr, pred_arr = _paired(truth, predicted)
    errors = pred_arr - truth_arr
    low, high = float(errors.min()), float(errors.max())
    if high - low <= _UNIT_BINS_UP_TO:
        bins: int | np.ndarray = np.arange(np.floor(low) - 0.5, np.ceil(high) + 1.5)
    else:
        bins = 30
    figure = new_figure(size, reference=PLOT_SIZE)
    axes = figure.add_subplot()
    axes.hist(errors, bins=bins, color="tab:blue", alpha=0.8, label="images")
    mean = float(errors.mean())
    axes.axvline(mean, color="tab:red", linewidth=1.5, label=f"mean error {mean:+.2f}")
    axes.axvline(0, color="black", linewidth=1, linestyle="--", label="no error")
    axes.set_xlabel("count error: predicted − ground-truth count (people)")
    axes.set_ylabel("images")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.set_title(
        f"Count errors at threshold {threshold:g}, {plural(len(errors), 'image')} "
        f"(MAE {np.mean(np.abs(errors)):.2f} people)",
        parse_math=False,
    )
    axes.grid(True, axis="y", alpha=0.4)
    axes.legend(loc="upper right")
    save_png(figure, target)


def plot_threshold_errors(
    thresholds: Sequence[float],
    mae: Sequence[float],
    mse: Sequence[float],
    target: Path,
    *,
    threshold: float,
    best: float,
    size: tuple[int, int] = PLOT_SIZE,
) -> None:
    """MAE and MSE (RMSE), in people, against the probability threshold, with the
    threshold used and the best one (lowest MAE) marked.

    Args:
        thresholds: the T thresholds, increasing.
        mae, mse: the counts' MAE and MSE at each threshold.
        target: the PNG file to write.
        threshold: the threshold the other figures use.
        best: the threshold of the lowest MAE, one of ``thresholds``.
        size: the PNG's (width, height) in pixels.

    Raises:
        ValueError: no threshold, lengths differ, ``best`` is not one of ``thresholds``,
            or ``size`` is not positive.
    """
    t_arr = np.asarray(thresholds, dtype=float)
    if len(t_arr) == 0 or not len(t_arr) == len(mae) == len(mse):
        raise ValueError("thresholds, mae and mse must have one value per threshold (≥ 1)")
    if best not in t_arr:
        raise ValueError(f"the best threshold {best:g} is not one of the thresholds")
    at_best = int(np.flatnonzero(t_arr == best)[0])
    figure = new_figure(size, reference=PLOT_SIZE)
    axes = figure.add_subplot()
    axes.plot(t_arr, mae, "-o", markersize=4, color="tab:blue", label="MAE")
    axes.plot(t_arr, mse, "-s", markersize=4, color="tab:orange", label="MSE (RMSE)")
    axes.axvline(threshold, color="grey", linestyle=":", label=f"threshold used ({threshold:g})")
    axes.plot(
        [best],
        [mae[at_best]],
        "*",
        markersize=16,
        color="tab:red",
        label=f"lowest MAE: {mae[at_best]:.2f} at {best:g}",
        zorder=3,
    )
    axes.set_xlim(0, 1)
    axes.set_ylim(bottom=0)
    axes.set_xlabel("probability threshold")
    axes.set_ylabel("count error (people)")
    axes.set_title("Count error against the threshold", parse_math=False)
    axes.grid(True, alpha=0.4)
    axes.legend(loc="best")
    save_png(figure, target)


def plot_precision_recall(
    thresholds: Sequence[float],
    precision: Sequence[float],
    recall: Sequence[float],
    target: Path,
    *,
    threshold: float,
    radius: float,
    size: tuple[int, int] = PLOT_SIZE,
) -> None:
    """Localization precision against recall, one point per threshold, with some
    thresholds labelled and the one used marked. Both axes end at 1 and start at 0, or, for
    a curve high up, at the 0.05 step below its lowest point.

    Args:
        thresholds: the T thresholds.
        precision, recall: micro-averaged precision and recall at each threshold
            (fractions in [0, 1]); a precision of nan (no prediction: undefined) leaves
            its threshold out of the curve.
        target: the PNG file to write.
        threshold: the threshold the other figures use (marked if among ``thresholds``).
        radius: the matching radius in pixels (named in the title).
        size: the PNG's (width, height) in pixels.

    Raises:
        ValueError: no threshold, lengths differ, or ``size`` is not positive.
    """
    t_arr = np.asarray(thresholds, dtype=float)
    if len(t_arr) == 0 or not len(t_arr) == len(precision) == len(recall):
        raise ValueError("thresholds, precision and recall must have one value per threshold")
    figure = new_figure(size, reference=PLOT_SIZE)
    axes = figure.add_subplot()
    p_arr = np.asarray(precision, dtype=float)
    r_arr = np.asarray(recall, dtype=float)
    drawn = np.isfinite(p_arr)
    # a good model's curve is not to be a dot in a corner
    low_r, low_p = (
        max(0.0, np.floor(20 * (float(v[drawn].min(initial=1.0)) - 0.02)) / 20)
        for v in (r_arr, p_arr)
    )
    axes.set_xlim(low_r, 1.01)
    axes.set_ylim(low_p, 1.01)
    axes.plot(r_arr, p_arr, "-o", markersize=4, color="tab:blue", label="thresholds")
    labelled: list[tuple[float, float]] = []
    for t, r, p in zip(t_arr, r_arr, p_arr, strict=True):
        # one label per place (in fractions of the axes): the first threshold's
        place = ((r - low_r) / (1.01 - low_r), (p - low_p) / (1.01 - low_p))
        crowded = any(abs(place[0] - x) < 0.04 and abs(place[1] - y) < 0.04 for x, y in labelled)
        if np.isclose(t, _LABELLED).any() and np.isfinite(p) and not crowded:
            axes.annotate(f"{t:g}", (r, p), textcoords="offset points", xytext=(6, 4))
            labelled.append(place)
    used = np.flatnonzero(np.isclose(t_arr, threshold) & drawn)
    if len(used):
        i = int(used[0])
        axes.plot(
            [r_arr[i]],
            [p_arr[i]],
            "*",
            markersize=16,
            color="tab:red",
            label=f"threshold used ({threshold:g}): P {p_arr[i]:.3f}, R {r_arr[i]:.3f}",
            zorder=3,
        )
    axes.set_xlabel("recall (matched heads / ground-truth heads)")
    axes.set_ylabel("precision (matched predictions / predictions)")
    axes.set_title(
        f"Localization precision–recall, matched within {radius:g} px "
        f"(thresholds {t_arr.min():g}–{t_arr.max():g})",
        parse_math=False,
    )
    axes.grid(True, alpha=0.4)
    axes.legend(loc="lower left")
    save_png(figure, target)


def _paired(truth: Sequence[float], predicted: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Both counts as float arrays of one value per image; ValueError if none or unpaired."""
    truth_arr = np.asarray(truth, dtype=float).reshape(-1)
    pred_arr = np.asarray(predicted, dtype=float).reshape(-1)
    if truth_arr.size == 0 or truth_arr.shape != pred_arr.shape:
        raise ValueError("truth and predicted must have one count per image (≥ 1 image)")
    return truth_arr, pred_arr
