"""Evaluation metrics for crowd counting and head localization (numpy and scipy only).

Conventions: a point is an ``(x, y)`` pair in pixels of the image it belongs to; a set of
points is a float array of shape ``(N, 2)`` (an empty set may be given as any empty array).
Counts are numbers of people; count errors are in people.

Counting
    :func:`count_errors` gives MAE and the field's "MSE", which is in fact the root of the
    mean squared error (RMSE). :func:`threshold_sweep` gives both at several score thresholds.

Localization at a fixed radius
    :func:`match_points` pairs predictions with ground-truth points one to one within a
    radius in pixels; :func:`localization_counts` turns that into TP/FP/FN, and
    :class:`LocalizationCounts` into precision, recall and F1, micro-averaged when summed
    over images.

Density-normalized average precision (nAP, Song et al., ICCV 2021)
    The P2PNet release never published its nAP code; :func:`average_precision` documents
    the exact definition implemented here, and :func:`nap` evaluates it at several deltas.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from scipy.spatial.distance import cdist

PredictionSet = tuple[np.ndarray, np.ndarray]
"""The predictions for one image: points ``(P, 2)`` in pixels and confidence scores ``(P,)``."""


def count_errors(gt: Sequence[float], pred: Sequence[float]) -> tuple[float, float]:
    """Return ``(MAE, MSE)`` of predicted counts against ground-truth counts, in people.

    ``MAE = mean(|pred_i - gt_i|)`` and, as the crowd-counting literature names it,
    ``MSE = sqrt(mean((pred_i - gt_i) ** 2))``, that is the root mean squared error.

    Raises:
        ValueError: if the sequences are empty or of different lengths.
    """
    gt_arr = np.asarray(gt, dtype=float).reshape(-1)
    pred_arr = np.asarray(pred, dtype=float).reshape(-1)
    if gt_arr.size == 0:
        raise ValueError("count_errors needs at least one image")
    if gt_arr.shape != pred_arr.shape:
        raise ValueError(f"{gt_arr.size} ground-truth counts but {pred_arr.size} predicted counts")
    diff = pred_arr - gt_arr
    return float(np.mean(np.abs(diff))), float(np.sqrt(np.mean(diff**2)))


def threshold_sweep(
    gt_counts: Sequence[float],
    scores_per_image: list[np.ndarray],
    thresholds: Sequence[float],
) -> list[tuple[float, float, float]]:
    """Return ``(threshold, MAE, MSE)`` for each threshold, MSE being the RMSE in people.

    At a threshold ``t`` the predicted count of an image is the number of its confidence
    scores strictly greater than ``t``; MAE and MSE are then those of :func:`count_errors`.

    Raises:
        ValueError: if there are no images, or not one score array per ground-truth count.
    """
    if len(gt_counts) != len(scores_per_image):
        raise ValueError(
            f"{len(gt_counts)} ground-truth counts but {len(scores_per_image)} score arrays"
        )
    scores = [np.asarray(s, dtype=float).reshape(-1) for s in scores_per_image]
    sweep = []
    for t in thresholds:
        counts = [int(np.count_nonzero(s > t)) for s in scores]
        sweep.append((float(t), *count_errors(gt_counts, counts)))
    return sweep


def _as_points(points: np.ndarray, name: str = "points") -> np.ndarray:
    """Return ``points`` as a float array ``(N, 2)``; any empty array becomes ``(0, 2)``."""
    arr = np.asarray(points, dtype=float)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2), got {arr.shape}")
    return arr


def match_points(pred: np.ndarray, gt: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Match predicted to ground-truth points one to one within ``radius`` pixels.

    A pair may be matched when its Euclidean distance is ``<= radius``. The matching has the
    largest possible number of pairs and, among such matchings, the smallest total distance.
    It is an optimal assignment (``scipy.optimize.linear_sum_assignment``) on the distance
    matrix in which pairs beyond the radius cost more than any set of pairs within it; the
    assigned pairs beyond the radius are then dropped.

    Returns:
        ``(pred_idx, gt_idx)``: integer arrays of equal length; ``pred[pred_idx[i]]`` is
        matched to ``gt[gt_idx[i]]``. Both are empty when either set of points is.

    Raises:
        ValueError: if ``radius`` is negative or a point array is not ``(N, 2)``.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    pred_pts = _as_points(pred, "pred")
    gt_pts = _as_points(gt, "gt")
    if len(pred_pts) == 0 or len(gt_pts) == 0:
        empty = np.zeros(0, dtype=np.intp)
        return empty, empty.copy()
    dist = cdist(pred_pts, gt_pts)
    within = dist <= radius
    # Any set of in-radius pairs costs at most min(P, G) * radius, less than one outside pair.
    outside_cost = min(dist.shape) * radius + 1.0
    rows, cols = linear_sum_assignment(np.where(within, dist, outside_cost))
    keep = within[rows, cols]
    return rows[keep], cols[keep]


@dataclass(frozen=True)
class LocalizationCounts:
    """True positives, false positives and false negatives of a point localization.

    Adding two instances sums the counts, so the sum over the images of a dataset gives
    micro-averaged precision, recall and F1.
    """

    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float:
        """``tp / (tp + fp)``, or 1.0 when there are no predictions."""
        predicted = self.tp + self.fp
        return self.tp / predicted if predicted else 1.0

    @property
    def recall(self) -> float:
        """``tp / (tp + fn)``, or 1.0 when there is no ground truth."""
        actual = self.tp + self.fn
        return self.tp / actual if actual else 1.0

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall, or 0.0 when both are 0."""
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def __add__(self, other: LocalizationCounts) -> LocalizationCounts:
        return LocalizationCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn)


def localization_counts(pred: np.ndarray, gt: np.ndarray, radius: float) -> LocalizationCounts:
    """Count TP/FP/FN of predicted points against ground truth at ``radius`` pixels.

    TP is the number of pairs of :func:`match_points`; FP the unmatched predictions;
    FN the unmatched ground-truth points.
    """
    pred_pts = _as_points(pred, "pred")
    gt_pts = _as_points(gt, "gt")
    tp = len(match_points(pred_pts, gt_pts, radius)[0])
    return LocalizationCounts(tp=tp, fp=len(pred_pts) - tp, fn=len(gt_pts) - tp)


def knn_distances(gt: np.ndarray, k: int = 3) -> np.ndarray:
    """Return ``d_kNN`` for each ground-truth point of one image, in pixels.

    ``d_kNN(p_i)`` is the mean Euclidean distance from ``p_i`` to its ``k`` nearest other
    ground-truth points of the same image. An image with fewer than ``k + 1`` points uses
    all ``G - 1`` other points; a lone point has no neighbour and gets ``nan``.

    Raises:
        ValueError: if ``k < 1``.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    pts = _as_points(gt, "gt")
    if len(pts) < 2:
        return np.full(len(pts), np.nan)
    neighbours = min(k, len(pts) - 1)
    dist, _ = cKDTree(pts).query(pts, k=neighbours + 1)
    return dist[:, 1:].mean(axis=1)  # column 0 is each point's distance to itself


def _match_thresholds(
    gts: list[np.ndarray], delta: float, k: int, isolated_distance: float | None
) -> list[np.ndarray]:
    """Return, per image, ``delta * d_kNN`` for each ground-truth point, in pixels."""
    knn = [knn_distances(g, k) for g in gts]
    if isolated_distance is None:
        defined = np.concatenate(knn)
        defined = defined[~np.isnan(defined)]
        if defined.size == 0:
            raise ValueError(
                "no image has two or more ground-truth points, so d_kNN is undefined for"
                " every point: pass isolated_distance"
            )
        isolated_distance = float(np.median(defined))
    return [delta * np.where(np.isnan(d), isolated_distance, d) for d in knn]


def _candidates(points: np.ndarray, gt: np.ndarray, thresholds: np.ndarray) -> list[list[int]]:
    """For each predicted point, the ground-truth indices within their thresholds, nearest first.

    Equal distances are ordered by ground-truth index.
    """
    if len(points) == 0 or len(gt) == 0:
        return [[] for _ in range(len(points))]
    # The slack only widens the search; the exact test ``dist <= threshold`` is below.
    reach = float(thresholds.max()) * (1 + 1e-9) + 1e-9
    near = cKDTree(gt).query_ball_point(points, r=reach)
    found = []
    for point, idx_list in zip(points, near, strict=True):
        idx = np.sort(np.asarray(idx_list, dtype=np.intp))
        dist = np.linalg.norm(gt[idx] - point, axis=1)
        keep = dist <= thresholds[idx]
        found.append(idx[keep][np.argsort(dist[keep], kind="stable")].tolist())
    return found


def _rank_and_match(
    preds: Sequence[PredictionSet], gts: list[np.ndarray], thresholds: list[np.ndarray]
) -> np.ndarray:
    """Return the TP flags of all predictions of the dataset, ranked by descending score."""
    candidates: list[list[int]] = []
    image_of: list[int] = []
    scores: list[np.ndarray] = []
    for i, (points, score) in enumerate(preds):
        pts = _as_points(points, f"preds[{i}] points")
        score_arr = np.asarray(score, dtype=float).reshape(-1)
        if len(score_arr) != len(pts):
            raise ValueError(f"preds[{i}] has {len(pts)} points but {len(score_arr)} scores")
        candidates += _candidates(pts, gts[i], thresholds[i])
        image_of += [i] * len(pts)
        scores.append(score_arr)
    order = np.argsort(-np.concatenate(scores), kind="stable")
    matched = [np.zeros(len(g), dtype=bool) for g in gts]
    is_tp = np.zeros(len(order), dtype=bool)
    for rank, j in enumerate(order):
        taken = matched[image_of[j]]
        gt_idx = next((g for g in candidates[j] if not taken[g]), None)
        if gt_idx is not None:
            taken[gt_idx] = True
            is_tp[rank] = True
    return is_tp


def _all_points_ap(is_tp: np.ndarray, n_gt: int) -> float:
    """Area under the precision-recall curve with all-points interpolation (VOC 2010+)."""
    tp = np.cumsum(is_tp)
    precision = tp / np.arange(1, len(is_tp) + 1)
    recall = tp / n_gt
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * envelope))


def average_precision(
    preds: Sequence[PredictionSet],
    gts: Sequence[np.ndarray],
    delta: float,
    k: int = 3,
    isolated_distance: float | None = None,
) -> float:
    """Density-normalized average precision (nAP) of point predictions over a dataset.

    Definition (after Song et al., ICCV 2021, whose evaluation code was not released):

    1. Each ground-truth point ``p_i`` gets the threshold ``delta * d_kNN(p_i)`` pixels, with
       ``d_kNN`` as in :func:`knn_distances` (mean distance to the ``k`` nearest other
       ground-truth points of its image, fewer when the image has fewer). A point alone in
       its image uses ``isolated_distance`` instead of ``d_kNN``; by default that is the
       median ``d_kNN`` of all the other ground-truth points of the dataset, i.e. the typical
       head spacing of the dataset.
    2. All predictions of the dataset are ranked by descending score (ties keep image order,
       then point order). In that order each prediction is matched to the nearest (Euclidean
       distance) ground-truth point of its own image that is still unmatched and lies within
       that point's threshold (``distance <= threshold``); it is then a true positive,
       otherwise a false positive.
    3. With precision ``TP/(TP+FP)`` and recall ``TP/N_gt`` after each ranked prediction,
       AP is the area under the precision-recall curve with all-points interpolation
       (PASCAL VOC 2010+): precision is replaced by its maximum at any equal or higher
       recall, and summed over the recall increments.

    Args:
        preds: per image, points ``(P, 2)`` in pixels and their confidence scores ``(P,)``.
        gts: per image, the ground-truth points ``(G, 2)`` in pixels.
        delta: the threshold factor, e.g. 0.05, 0.25 or 0.5 as in the paper.
        k: the number of neighbours in ``d_kNN`` (3 in the paper).
        isolated_distance: ``d_kNN`` in pixels to use for a ground-truth point alone in its
            image; ``None`` for the dataset median described above.

    Returns:
        AP in ``[0, 1]``; 0.0 when there are ground-truth points but no predictions, and
        ``nan`` when the dataset has no ground-truth point at all (recall is undefined).

    Raises:
        ValueError: on mismatched lengths, a negative ``delta``, ``k < 1``, or when
            ``isolated_distance`` is ``None`` and no image has two or more ground-truth
            points.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} prediction sets but {len(gts)} ground-truth sets")
    if delta < 0:
        raise ValueError(f"delta must be >= 0, got {delta}")
    gt_points = [_as_points(g, f"gts[{i}]") for i, g in enumerate(gts)]
    n_gt = sum(len(g) for g in gt_points)
    if n_gt == 0:
        return float("nan")
    thresholds = _match_thresholds(gt_points, delta, k, isolated_distance)
    return _all_points_ap(_rank_and_match(preds, gt_points, thresholds), n_gt)


#: The P2PNet paper's nAP thresholds δ (fractions of the local head spacing).
NAP_DELTAS = (0.05, 0.25, 0.5)


def nap(
    preds: Sequence[PredictionSet],
    gts: Sequence[np.ndarray],
    deltas: Sequence[float] = NAP_DELTAS,
    k: int = 3,
    isolated_distance: float | None = None,
) -> dict[float, float]:
    """Return ``{delta: AP}`` of :func:`average_precision` for each delta (the paper's three)."""
    return {
        float(d): average_precision(preds, gts, d, k=k, isolated_distance=isolated_distance)
        for d in deltas
    }
