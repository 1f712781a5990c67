"""Tests of p2pcount.evaluate.metrics on toy cases whose expected values are worked out by hand."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest

from p2pcount.evaluate import metrics
from p2pcount.evaluate.metrics import (
    LocalizationCounts,
    average_precision,
    count_errors,
    knn_distances,
    localization_counts,
    match_points,
    nap,
    threshold_sweep,
)


def pts(*xy: tuple[float, float]) -> np.ndarray:
    return np.array(xy, dtype=float).reshape(-1, 2)


def pairs(matched: tuple[np.ndarray, np.ndarray]) -> set[tuple[int, int]]:
    return {(int(p), int(g)) for p, g in zip(*matched, strict=True)}


def test_imports_only_numpy_scipy_and_stdlib() -> None:
    tree = ast.parse(Path(metrics.__file__).read_text())
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "").split(".")[0])
    assert roots <= {"__future__", "collections", "dataclasses", "numpy", "scipy"}


# --- counting -----------------------------------------------------------------------------


def test_count_errors_mae_and_root_mse() -> None:
    # errors 2, -3, 0: MAE = 5/3, MSE (root) = sqrt((4 + 9 + 0) / 3) = sqrt(13/3)
    mae, mse = count_errors([10, 20, 30], [12, 17, 30])
    assert mae == pytest.approx(5 / 3)
    assert mse == pytest.approx(math.sqrt(13 / 3))


def test_count_errors_rejects_empty_and_mismatched() -> None:
    with pytest.raises(ValueError):
        count_errors([], [])
    with pytest.raises(ValueError):
        count_errors([1, 2], [1])


def test_threshold_sweep_counts_scores_strictly_above() -> None:
    scores = [np.array([0.9, 0.6, 0.4, 0.2]), np.array([0.8, 0.5, 0.5])]
    sweep = threshold_sweep([3, 5], scores, [0.3, 0.5])
    # t = 0.3: counts 3 and 3, errors 0 and -2 -> MAE 1, MSE sqrt(4 / 2)
    # t = 0.5: counts 2 and 1 (0.5 is not > 0.5), errors -1 and -4 -> MAE 2.5, MSE sqrt(17 / 2)
    assert sweep == [
        (0.3, pytest.approx(1.0), pytest.approx(math.sqrt(2))),
        (0.5, pytest.approx(2.5), pytest.approx(math.sqrt(17 / 2))),
    ]


def test_threshold_sweep_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        threshold_sweep([3, 5], [np.array([0.9])], [0.5])


# --- matching at a radius -----------------------------------------------------------------


def test_match_finds_more_pairs_than_greedy_nearest_neighbour() -> None:
    # gt X at x=1, Y at x=0; pred A at x=0.9, B at x=1.8; radius 1.
    # Greedy nearest takes A-X (0.1) and leaves B (1.8 from Y) unmatched: 1 pair.
    # The optimum is A-Y (0.9) and B-X (0.8): 2 pairs.
    pred = pts((0.9, 0), (1.8, 0))
    gt = pts((1, 0), (0, 0))
    assert pairs(match_points(pred, gt, radius=1.0)) == {(0, 1), (1, 0)}


def test_match_minimizes_total_distance_among_maximum_matchings() -> None:
    # All four pairs lie within radius 2; straight pairs cost 0.1 + 0.1, crossed 1.1 + 0.9.
    pred = pts((0, 0), (1, 0))
    gt = pts((1.1, 0), (0.1, 0))
    assert pairs(match_points(pred, gt, radius=2.0)) == {(0, 1), (1, 0)}


def test_match_counts_points_exactly_at_the_radius() -> None:
    # |(3, 4)| = 5 exactly.
    assert pairs(match_points(pts((3, 4)), pts((0, 0)), radius=5.0)) == {(0, 0)}
    assert pairs(match_points(pts((3, 4)), pts((0, 0)), radius=4.999)) == set()


@pytest.mark.parametrize(
    ("pred", "gt"), [(pts(), pts((1, 1))), (pts((1, 1)), pts()), (pts(), pts())]
)
def test_match_with_no_points(pred: np.ndarray, gt: np.ndarray) -> None:
    pred_idx, gt_idx = match_points(pred, gt, radius=10.0)
    assert pred_idx.shape == gt_idx.shape == (0,)


def test_match_rejects_negative_radius_and_bad_shape() -> None:
    with pytest.raises(ValueError):
        match_points(pts((0, 0)), pts((0, 0)), radius=-1.0)
    with pytest.raises(ValueError):
        match_points(np.zeros((2, 3)), pts((0, 0)), radius=1.0)


# --- precision, recall, F1 ----------------------------------------------------------------


def test_localization_counts_precision_recall_f1() -> None:
    pred = pts((0, 0), (10, 0), (50, 50), (100, 100))
    gt = pts((1, 0), (10, 3), (30, 30), (200, 200), (300, 300))
    counts = localization_counts(pred, gt, radius=4.0)
    # (0,0)-(1,0) at 1 px and (10,0)-(10,3) at 3 px match; the rest are 20+ px apart.
    assert counts == LocalizationCounts(tp=2, fp=2, fn=3)
    assert counts.precision == pytest.approx(0.5)
    assert counts.recall == pytest.approx(0.4)
    assert counts.f1 == pytest.approx(4 / 9)  # 2 * 0.5 * 0.4 / 0.9


def test_localization_counts_with_empty_predictions() -> None:
    counts = localization_counts(pts(), pts((0, 0), (5, 5), (9, 9)), radius=4.0)
    assert counts == LocalizationCounts(tp=0, fp=0, fn=3)
    assert (counts.precision, counts.recall, counts.f1) == (1.0, 0.0, 0.0)


def test_localization_counts_with_empty_ground_truth() -> None:
    counts = localization_counts(pts((0, 0), (5, 5)), pts(), radius=4.0)
    assert counts == LocalizationCounts(tp=0, fp=2, fn=0)
    assert (counts.precision, counts.recall, counts.f1) == (0.0, 1.0, 0.0)


def test_localization_counts_with_nothing_at_all() -> None:
    counts = localization_counts(pts(), pts(), radius=4.0)
    assert (counts.precision, counts.recall, counts.f1) == (1.0, 1.0, 1.0)


def test_counts_add_up_to_a_micro_average() -> None:
    first = LocalizationCounts(tp=2, fp=2, fn=3)  # P = 0.5
    second = localization_counts(pts((7, 7)), pts((8, 7)), radius=4.0)  # P = 1.0
    total = sum([first, second], start=LocalizationCounts(0, 0, 0))
    assert total == LocalizationCounts(tp=3, fp=2, fn=3)
    assert total.precision == pytest.approx(3 / 5)  # not the per-image mean 0.75
    assert total.recall == pytest.approx(3 / 6)
    assert total.f1 == pytest.approx(6 / 11)  # 2 * 0.6 * 0.5 / 1.1


# --- kNN distances and nAP ----------------------------------------------------------------


def test_knn_distances_on_a_line() -> None:
    line = pts((0, 0), (10, 0), (20, 0), (30, 0))
    # x=0: 10, 20, 30 -> 20; x=10: 10, 10, 20 -> 40/3; x=20: 10, 10, 20; x=30: 10, 20, 30.
    assert knn_distances(line, k=3) == pytest.approx([20, 40 / 3, 40 / 3, 20])
    assert knn_distances(line, k=1) == pytest.approx([10, 10, 10, 10])


def test_knn_distances_with_fewer_than_k_neighbours() -> None:
    # Three points leave two neighbours each: x=0: (10 + 20) / 2; x=10: (10 + 10) / 2.
    assert knn_distances(pts((0, 0), (10, 0), (20, 0)), k=3) == pytest.approx([15, 10, 15])
    assert np.isnan(knn_distances(pts((4, 4)), k=3)).all()
    assert knn_distances(pts(), k=3).shape == (0,)
    with pytest.raises(ValueError):
        knn_distances(pts((0, 0), (1, 1)), k=0)


def toy_dataset() -> tuple[list[tuple[np.ndarray, np.ndarray]], list[np.ndarray]]:
    """Two images, three ground-truth points, four predictions.

    Image 0: gt (0,0) and (20,0), each d_kNN = 20. Image 1: gt (0,0) alone, so it takes the
    dataset median d_kNN = 20. At delta = 0.25 every threshold is 5 px. Ranked predictions:
    0.9 img0 (1,0): 1 px from (0,0)                  -> TP
    0.8 img1 (40,0): 40 px from (0,0)                -> FP
    0.7 img1 (3,4): exactly 5 px from (0,0)          -> TP
    0.6 img0 (1,1): (0,0) already taken, (20,0) 19 px -> FP
    """
    preds = [
        (pts((1, 0), (1, 1)), np.array([0.9, 0.6])),
        (pts((40, 0), (3, 4)), np.array([0.8, 0.7])),
    ]
    gts = [pts((0, 0), (20, 0)), pts((0, 0))]
    return preds, gts


def test_average_precision_on_a_ranked_toy_case() -> None:
    preds, gts = toy_dataset()
    # TP, FP, TP, FP against 3 gt: precision 1, 1/2, 2/3, 1/2; recall 1/3, 1/3, 2/3, 2/3.
    # Interpolated precision at recall 1/3 is 1, at 2/3 it is 2/3:
    # AP = 1/3 * 1 + 1/3 * 2/3 = 5/9.
    assert average_precision(preds, gts, delta=0.25) == pytest.approx(5 / 9)


def test_average_precision_with_explicit_isolated_distance() -> None:
    preds, gts = toy_dataset()
    # The lone gt now has threshold 0.25 * 10 = 2.5 px, so (3,4) is a FP: TP, FP, FP, FP.
    # Recall reaches 1/3 at precision 1: AP = 1/3.
    ap = average_precision(preds, gts, delta=0.25, isolated_distance=10.0)
    assert ap == pytest.approx(1 / 3)


def test_nap_at_the_papers_deltas() -> None:
    preds, gts = toy_dataset()
    # delta 0.05: thresholds 1 px, only (1,0) is a TP -> AP 1/3.
    # delta 0.5: thresholds 10 px, same TP/FP sequence as at 0.25 -> AP 5/9.
    assert nap(preds, gts) == {
        0.05: pytest.approx(1 / 3),
        0.25: pytest.approx(5 / 9),
        0.5: pytest.approx(5 / 9),
    }


def test_average_precision_matches_greedily_by_score() -> None:
    # gt (0,0) and (10,0): d_kNN 10, threshold 5 px at delta 0.5. The higher-scored (4,0)
    # takes (0,0); (1,0) then finds (0,0) taken and (10,0) 9 px away: TP, FP.
    # Precision 1, 1/2; recall 1/2, 1/2 -> AP = 1/2 * 1 = 1/2.
    preds = [(pts((4, 0), (1, 0)), np.array([0.9, 0.8]))]
    gts = [pts((0, 0), (10, 0))]
    assert average_precision(preds, gts, delta=0.5) == pytest.approx(0.5)


def test_average_precision_of_perfect_and_of_no_predictions() -> None:
    gts = [pts((0, 0), (10, 0), (20, 0))]
    perfect = [(gts[0].copy(), np.array([0.9, 0.8, 0.7]))]
    assert average_precision(perfect, gts, delta=0.05) == pytest.approx(1.0)
    assert average_precision([(pts(), np.array([]))], gts, delta=0.05) == 0.0


def test_average_precision_without_ground_truth_is_nan() -> None:
    preds = [(pts((1, 1)), np.array([0.9])), (pts(), np.array([]))]
    assert math.isnan(average_precision(preds, [pts(), pts()], delta=0.25))


def test_average_precision_needs_isolated_distance_when_every_gt_is_alone() -> None:
    preds = [(pts((1, 1)), np.array([0.9]))]
    with pytest.raises(ValueError, match="isolated_distance"):
        average_precision(preds, [pts((0, 0))], delta=0.5)
    # With isolated_distance 4, the threshold is 2 px and (1,1) is sqrt(2) px away: AP 1.
    assert average_precision(preds, [pts((0, 0))], delta=0.5, isolated_distance=4.0) == 1.0


def test_average_precision_rejects_bad_input() -> None:
    preds, gts = toy_dataset()
    with pytest.raises(ValueError):
        average_precision(preds, gts[:1], delta=0.25)
    with pytest.raises(ValueError):
        average_precision(preds, gts, delta=-0.1)
    with pytest.raises(ValueError):
        average_precision([(pts((1, 0)), np.array([0.9, 0.1]))], gts[:1], delta=0.25)
