"""The P2PNet training loss: person/background classification plus point regression.

After :class:`~p2pcount.train.matcher.HungarianMatcher` has paired every ground-truth point
with one proposal, the loss of a batch is

    loss = loss_class + point_weight * loss_point

- ``loss_class``: binary cross-entropy of every proposal's person logit, target 1 for
  matched proposals and 0 for the others, weighted 1 for person and ``background_weight``
  (0.5) for background, reduced as the weighted mean sum(w_i bce_i) / sum(w_i) over all
  proposals of the batch. The original release uses two-class softmax cross-entropy
  with class weights [0.5, 1]; since softmax([b, p])[1] = sigmoid(p - b), this is the
  same loss for the person logit p - b.
- ``loss_point``: the sum, over matched pairs, of the squared x and y errors in pixels²,
  divided by the number of ground-truth points in the batch (at least 1; averaged over
  processes under ``torch.distributed``). ``point_weight`` is 2e-4.

Shapes follow :mod:`p2pcount.train.matcher`: ``points`` (B, K, 2) pixels, ``logits`` (B, K),
``targets`` a list of B tensors (M_i, 2) pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from p2pcount.train.matcher import HungarianMatcher, Match


def classification_loss(
    logits: torch.Tensor, person_mask: torch.Tensor, background_weight: float
) -> torch.Tensor:
    """Weighted-mean binary cross-entropy of the person logits.

    Args:
        logits: (B, K) person logits.
        person_mask: (B, K) bool, True for proposals matched to a ground-truth point.
        background_weight: weight of the background (unmatched) proposals; person is 1.

    Returns:
        Scalar sum(w_i bce_i) / sum(w_i) over all B * K proposals.
    """
    target = person_mask.to(logits.dtype)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    weight = torch.where(person_mask, 1.0, background_weight).to(logits.dtype)
    return (weight * bce).sum() / weight.sum()


def point_loss(
    points: torch.Tensor,
    targets: list[torch.Tensor],
    indices: list[Match],
    num_points: torch.Tensor | float,
) -> torch.Tensor:
    """Summed squared error of the matched points, per ground-truth point.

    Args:
        points: (B, K, 2) proposal positions, pixels.
        targets: B tensors (M_i, 2) of ground-truth positions, pixels.
        indices: B matchings (pred_indices, gt_indices) from the matcher.
        num_points: the normaliser, the number of ground-truth points (>= 1).

    Returns:
        Scalar, pixels²; zero (still part of the graph) when nothing is matched.
    """
    batch_idx = torch.cat([torch.full_like(pred, b) for b, (pred, _) in enumerate(indices)])
    pred_idx = torch.cat([pred for pred, _ in indices])
    matched = points[batch_idx.to(points.device), pred_idx.to(points.device)]
    gt = torch.cat(
        [t[gt_idx.to(t.device)] for t, (_, gt_idx) in zip(targets, indices, strict=True)]
    )
    gt = gt.to(device=points.device, dtype=points.dtype)
    return ((matched - gt) ** 2).sum() / num_points


def count_points(targets: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    """Number of ground-truth points per process, as a float scalar tensor on ``device``.

    Under an initialised ``torch.distributed`` the count is summed over processes and
    divided by the world size; the result is clamped to at least 1.
    """
    count = torch.tensor(float(sum(len(t) for t in targets)), device=device)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.all_reduce(count)
        count = count / torch.distributed.get_world_size()
    return count.clamp(min=1.0)


class P2PLoss(nn.Module):
    """Matches proposals to ground truth and computes P2PNet's training loss.

    Args:
        matcher: the matcher; a default :class:`HungarianMatcher` when None.
        background_weight: classification weight of unmatched proposals.
        point_weight: weight of the point loss in the total.
    """

    def __init__(
        self,
        matcher: HungarianMatcher | None = None,
        background_weight: float = 0.5,
        point_weight: float = 2e-4,
    ) -> None:
        super().__init__()
        self.matcher = matcher if matcher is not None else HungarianMatcher()
        self.background_weight = background_weight
        self.point_weight = point_weight

    def forward(
        self, points: torch.Tensor, logits: torch.Tensor, targets: list[torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        """Loss of a batch.

        Args:
            points: (B, K, 2) proposal positions, pixels.
            logits: (B, K) person logits.
            targets: B tensors (M_i, 2) of ground-truth positions, pixels.

        Returns:
            ``"loss"`` (the total to minimise), ``"loss_class"``, ``"loss_point"`` (before
            ``point_weight``) and ``"num_points"`` (the normaliser), all scalars.
        """
        indices = self.matcher(points, logits, targets)
        person_mask = torch.zeros(logits.shape, dtype=torch.bool, device=logits.device)
        for b, (pred_idx, _) in enumerate(indices):
            person_mask[b, pred_idx.to(logits.device)] = True
        num_points = count_points(targets, points.device)
        loss_class = classification_loss(logits, person_mask, self.background_weight)
        loss_point = point_loss(points, targets, indices, num_points)
        return {
            "loss": loss_class + self.point_weight * loss_point,
            "loss_class": loss_class,
            "loss_point": loss_point,
            "num_points": num_points,
        }
