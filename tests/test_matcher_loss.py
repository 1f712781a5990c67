"""Tests of the Hungarian matcher and the P2PNet training loss."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from p2pcount.train.loss import P2PLoss, classification_loss, point_loss
from p2pcount.train.matcher import HungarianMatcher


def _batch(points: list[list[float]], logits: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """One-image batch: points (1, K, 2) and logits (1, K)."""
    return torch.tensor([points]), torch.tensor([logits])


def _total_cost(cost: torch.Tensor, pred: list[int]) -> float:
    """Cost of matching ground truth j to proposal pred[j]."""
    return sum(cost[k, j].item() for j, k in enumerate(pred))


def test_hand_computed_cost_and_assignment():
    # Proposals P0 (0, 0) p=0.5, P1 (6, 8) p=0.75, P2 (20, 0) p=0.25; gt G0 (3, 4), G1 (20, 0).
    points, logits = _batch([[0, 0], [6, 8], [20, 0]], [0.0, math.log(3), -math.log(3)])
    gt = torch.tensor([[3.0, 4.0], [20.0, 0.0]])
    # C = 0.05 * distance - p; distances G0: 5, 5, sqrt(305); G1: 20, sqrt(260), 0.
    expected = torch.tensor(
        [
            [0.05 * 5 - 0.5, 0.05 * 20 - 0.5],  # -0.25, 0.5
            [0.05 * 5 - 0.75, 0.05 * math.sqrt(260) - 0.75],  # -0.5, 0.0562258
            [0.05 * math.sqrt(305) - 0.25, 0.05 * 0 - 0.25],  # 0.6232125, -0.25
        ]
    )
    matcher = HungarianMatcher()
    cost = matcher.cost_matrix(points[0], logits[0], gt)
    torch.testing.assert_close(cost, expected, atol=1e-6, rtol=0)
    # Best of the 6 assignments: G0 <- P1, G1 <- P2 at -0.5 - 0.25 = -0.75 (P0 is as close
    # to G0 as P1 but less confident; G0 <- P0, G1 <- P2 costs -0.5).
    [(pred, tgt)] = matcher(points, logits, [gt])
    assert pred.tolist() == [1, 2] and tgt.tolist() == [0, 1]
    assert pred.dtype == tgt.dtype == torch.int64


def test_optimal_where_greedy_nearest_is_not():
    # On the x axis: P1 (-12), G0 (0), P0 (10), G1 (25); P2 far away. Equal confidences.
    points, logits = _batch([[10, 0], [-12, 0], [100, 100]], [0.0, 0.0, 0.0])
    gt = torch.tensor([[0.0, 0.0], [25.0, 0.0]])
    # Greedy: G0 takes its nearest, P0 (10 px), leaving G1 with P1 (37 px): 47 px in all.
    # Optimal: G0 <- P1 (12 px), G1 <- P0 (15 px): 27 px.
    [(pred, tgt)] = HungarianMatcher()(points, logits, [gt])
    assert dict(zip(tgt.tolist(), pred.tolist(), strict=True)) == {0: 1, 1: 0}


def test_matches_brute_force_minimum():
    gen = torch.Generator().manual_seed(0)
    matcher = HungarianMatcher()
    for _ in range(5):
        points = torch.rand(1, 5, 2, generator=gen) * 50
        logits = torch.randn(1, 5, generator=gen)
        gt = torch.rand(3, 2, generator=gen) * 50
        cost = matcher.cost_matrix(points[0], logits[0], gt)
        best = min(_total_cost(cost, list(p)) for p in itertools.permutations(range(5), 3))
        [(pred, tgt)] = matcher(points, logits, [gt])
        assert sorted(tgt.tolist()) == [0, 1, 2] and len(set(pred.tolist())) == 3
        found = sum(cost[k, j].item() for k, j in zip(pred.tolist(), tgt.tolist(), strict=True))
        assert found == pytest.approx(best, abs=1e-5)


def test_more_points_than_proposals_is_an_error():
    points, logits = _batch([[0, 0]], [0.0])
    with pytest.raises(ValueError, match="proposals"):
        HungarianMatcher()(points, logits, [torch.zeros(2, 2)])


def test_empty_targets():
    points = torch.rand(2, 4, 2, requires_grad=True)
    logits = torch.randn(2, 4, requires_grad=True)
    targets = [torch.zeros(0, 2), torch.zeros(0, 2)]
    for pred, tgt in HungarianMatcher()(points, logits, targets):
        assert pred.shape == tgt.shape == (0,) and pred.dtype == torch.int64
    out = P2PLoss()(points, logits, targets)
    # All background: every weight is 0.5, so the weighted mean is the plain mean.
    expected = F.binary_cross_entropy_with_logits(logits, torch.zeros(2, 4))
    torch.testing.assert_close(out["loss_class"], expected)
    assert out["loss_point"].item() == 0.0 and out["num_points"].item() == 1.0
    out["loss"].backward()
    assert points.grad is not None and torch.all(points.grad == 0)
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_batch_mixing_empty_and_non_empty():
    points = torch.tensor([[[0.0, 0.0], [5.0, 5.0]], [[0.0, 0.0], [30.0, 40.0]]])
    logits = torch.zeros(2, 2)
    targets = [torch.zeros(0, 2), torch.tensor([[31.0, 40.0], [0.0, 2.0]])]
    indices = HungarianMatcher()(points, logits, targets)
    assert [len(p) for p, _ in indices] == [0, 2]
    assert dict(zip(indices[1][1].tolist(), indices[1][0].tolist(), strict=True)) == {0: 1, 1: 0}
    out = P2PLoss()(points, logits, targets)
    assert out["num_points"].item() == 2.0
    # Squared errors: (30 - 31)^2 = 1 and (0 - 2)^2 = 4, over 2 points.
    assert out["loss_point"].item() == pytest.approx(2.5)
    # Weights: image 0 background (0.5, 0.5), image 1 person (1, 1); every bce is log 2.
    assert out["loss_class"].item() == pytest.approx(math.log(2))


def test_classification_equals_two_class_cross_entropy():
    gen = torch.Generator().manual_seed(1)
    b = torch.randn(3, 7, generator=gen, dtype=torch.float64) * 3
    p = torch.randn(3, 7, generator=gen, dtype=torch.float64) * 3
    person = torch.rand(3, 7, generator=gen) < 0.3
    two_class = torch.stack([b, p], dim=1)  # (B, 2, K), the release's layout
    weight = torch.tensor([0.5, 1.0], dtype=torch.float64)
    expected = F.cross_entropy(two_class, person.long(), weight=weight)
    actual = classification_loss(p - b, person, background_weight=0.5)
    assert actual.item() == pytest.approx(expected.item(), abs=1e-6)


def test_total_loss_by_hand():
    # P0 (1, 2) logit 0, P1 (10, 10) logit -1; gt (2, 4).
    # Costs: P0 0.05 * sqrt(5) - 0.5 = -0.388; P1 0.05 * 10 - sigmoid(-1) = 0.231 -> P0.
    points, logits = _batch([[1, 2], [10, 10]], [0.0, -1.0])
    out = P2PLoss()(points, logits, [torch.tensor([[2.0, 4.0]])])
    # P0 person: -log sigmoid(0) = log 2, weight 1;
    # P1 background: -log(1 - sigmoid(-1)) = log(1 + e^-1), weight 0.5.
    loss_class = (math.log(2) + 0.5 * math.log(1 + math.exp(-1))) / 1.5  # 0.5665187
    loss_point = ((1 - 2) ** 2 + (2 - 4) ** 2) / 1  # 5 px^2 per point
    assert out["loss_class"].item() == pytest.approx(loss_class, abs=1e-6)
    assert out["loss_point"].item() == pytest.approx(loss_point, abs=1e-6)
    assert out["loss"].item() == pytest.approx(loss_class + 2e-4 * loss_point, abs=1e-6)


def test_point_loss_divides_by_given_count():
    points = torch.tensor([[[0.0, 0.0], [3.0, 4.0]]])
    targets = [torch.tensor([[0.0, 0.0], [0.0, 0.0]])]
    indices = [(torch.tensor([0, 1]), torch.tensor([1, 0]))]
    assert point_loss(points, targets, indices, 5.0).item() == pytest.approx(25 / 5)


def test_gradients_flow_and_training_reduces_loss():
    gen = torch.Generator().manual_seed(2)
    points = (torch.rand(2, 8, 2, generator=gen) * 64).requires_grad_()
    logits = torch.randn(2, 8, generator=gen).requires_grad_()
    targets = [torch.rand(3, 2, generator=gen) * 64, torch.rand(1, 2, generator=gen) * 64]
    criterion = P2PLoss()
    out = criterion(points, logits, targets)
    out["loss"].backward()
    for grad in (points.grad, logits.grad):
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0

    optimizer = torch.optim.Adam([points, logits], lr=0.5)
    first = out["loss"].item()
    first_point = out["loss_point"].item()
    for _ in range(30):
        optimizer.zero_grad()
        out = criterion(points, logits, targets)
        out["loss"].backward()
        optimizer.step()
    out = criterion(points, logits, targets)
    assert out["loss"].item() < first
    assert out["loss_point"].item() < first_point
