"""One-to-one matching of predicted points to ground-truth points, as P2PNet trains.

P2PNet predicts K point proposals per image, each an (x, y) position in pixels of the
input image and one "person" logit. Training pairs every ground-truth head point with
exactly one proposal (so K >= M is required) by solving, per image, the assignment
problem (Hungarian algorithm, :func:`scipy.optimize.linear_sum_assignment`) on the
(K, M) cost matrix

    C[k, j] = cost_point * ||point_k - gt_j||_2 - cost_class * sigmoid(logit_k)

where the distance is euclidean, in pixels. A proposal is cheap to match when it is close
to the head and confident that it is a person. The defaults, cost_point = 0.05 and
cost_class = 1, are the original release's: 20 pixels of distance weigh as much as the
whole range of the person probability. Proposals left unmatched are background.

Shapes, for a batch of B images:

- ``points``: (B, K, 2) float, (x, y) pixels;
- ``logits``: (B, K) float, the person logit of each proposal;
- ``targets``: a list of B float tensors (M_i, 2), (x, y) pixels; M_i may be 0.
"""

from __future__ import annotations

import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

#: A matching for one image: (proposal indices, ground-truth indices), two int64 tensors
#: of the same length M_i; proposal ``pred[n]`` is matched to ground truth ``gt[n]``.
Match = tuple[torch.Tensor, torch.Tensor]


class HungarianMatcher(nn.Module):
    """Matches each ground-truth point to one proposal at minimum total cost.

    Args:
        cost_point: weight of the euclidean distance, per pixel.
        cost_class: weight of the person probability (subtracted).
    """

    def __init__(self, cost_point: float = 0.05, cost_class: float = 1.0) -> None:
        super().__init__()
        self.cost_point = cost_point
        self.cost_class = cost_class

    @torch.no_grad()
    def cost_matrix(
        self, points: torch.Tensor, logits: torch.Tensor, gt: torch.Tensor
    ) -> torch.Tensor:
        """The matching cost of one image.

        Args:
            points: (K, 2) proposal positions, pixels.
            logits: (K,) person logits.
            gt: (M, 2) ground-truth positions, pixels.

        Returns:
            (K, M) float32 cost on the device of ``points``; row k, column j is the cost
            of matching proposal k to ground-truth point j.
        """
        points = points.float()
        gt = gt.to(device=points.device, dtype=torch.float32)
        distance = torch.cdist(points, gt, p=2)
        person = logits.float().sigmoid()
        return self.cost_point * distance - self.cost_class * person[:, None]

    @torch.no_grad()
    def forward(
        self, points: torch.Tensor, logits: torch.Tensor, targets: list[torch.Tensor]
    ) -> list[Match]:
        """Match every image of the batch.

        Args:
            points: (B, K, 2) proposal positions, pixels.
            logits: (B, K) person logits.
            targets: B tensors (M_i, 2) of ground-truth positions, pixels, M_i <= K.

        Returns:
            B pairs (pred_indices, gt_indices), int64 CPU tensors of length M_i, sorted by
            proposal index; both are empty for an image without ground truth.
        """
        if points.ndim != 3 or points.shape[-1] != 2 or logits.shape != points.shape[:2]:
            raise ValueError(
                f"expected points (B, K, 2) and logits (B, K), got {tuple(points.shape)} "
                f"and {tuple(logits.shape)}"
            )
        if len(targets) != points.shape[0]:
            raise ValueError(f"expected {points.shape[0]} targets, got {len(targets)}")
        return [
            self._match_one(p, lg, gt) for p, lg, gt in zip(points, logits, targets, strict=True)
        ]

    def _match_one(self, points: torch.Tensor, logits: torch.Tensor, gt: torch.Tensor) -> Match:
        """Match one image: ``points`` (K, 2), ``logits`` (K,), ``gt`` (M, 2)."""
        if gt.shape[0] > points.shape[0]:
            raise ValueError(
                f"{gt.shape[0]} ground-truth points but only {points.shape[0]} "
                "proposals; every point needs its own proposal"
            )
        if gt.shape[0] == 0:
            empty = torch.empty(0, dtype=torch.int64)
            return empty, empty.clone()
        cost = self.cost_matrix(points, logits, gt).cpu().numpy()
        pred_idx, gt_idx = linear_sum_assignment(cost)
        return torch.from_numpy(pred_idx).long(), torch.from_numpy(gt_idx).long()
