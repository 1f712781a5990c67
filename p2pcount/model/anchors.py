"""Anchor points and decoding of P2PNet's prediction maps.

Shapes follow the specification (``shared/seeds``): for an input of H × W pixels and
stride S the prediction grid is h × w = H/S × W/S cells; each cell holds N anchors.

* anchors: (2, N, h, w), slice 0 holds x and slice 1 holds y, in pixels of the input
  image, origin at its top-left corner. Cell (i, j) (row i, column j) is centred at
  ``((j + 0.5) S, (i + 0.5) S)``; for N = 4 its anchors sit at ``centre ± S/4`` in the
  order (−,−), (+,−), (−,+), (+,+) for (x, y), x varying fastest.
* regression output: (B, 2N, h, w), the N x-offsets first, then the N y-offsets.
* classification output: (B, N, h, w), one logit per anchor.
* points = anchors + offset_scale × offsets viewed as (B, 2, N, h, w).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch

from p2pcount.model.config import ModelConfig, anchor_lattice_side


def anchor_offsets(num_anchors: int, stride: int) -> tuple[list[float], list[float]]:
    """Per-anchor (dx, dy) from the cell centre in pixels, x varying fastest.

    N = k² anchors sit on a k × k lattice spread evenly over the cell: for N = 4 and
    S = 8 that is dx, dy ∈ {−2, +2}, giving (−2,−2), (+2,−2), (−2,+2), (+2,+2).
    """
    k = anchor_lattice_side(num_anchors)
    steps = [((m + 0.5) / k - 0.5) * stride for m in range(k)]
    dx = [steps[m % k] for m in range(num_anchors)]
    dy = [steps[m // k] for m in range(num_anchors)]
    return dx, dy


def make_anchors(
    height: int,
    width: int,
    stride: int = 8,
    num_anchors: int = 4,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Anchor points of an H × W input as a (2, N, H//S, W//S) tensor of pixel coordinates.

    Slice 0 holds x (from the column index j), slice 1 holds y (from the row index i).
    """
    grid_h, grid_w = height // stride, width // stride
    ys = (torch.arange(grid_h, device=device, dtype=dtype) + 0.5) * stride
    xs = (torch.arange(grid_w, device=device, dtype=dtype) + 0.5) * stride
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    dx, dy = anchor_offsets(num_anchors, stride)
    dx_t = torch.tensor(dx, device=device, dtype=dtype).view(num_anchors, 1, 1)
    dy_t = torch.tensor(dy, device=device, dtype=dtype).view(num_anchors, 1, 1)
    return torch.stack([grid_x + dx_t, grid_y + dy_t], dim=0)  # (2, N, h, w)


class AnchorCache:
    """Anchors memoized per (grid height, grid width, device, dtype), least recently used
    first out beyond ``size`` entries.

    Folders of same-sized frames ask for the same grid again and again; building it once
    per shape keeps decoding free of repeated allocations, and the bound keeps a folder of
    many different sizes from growing memory.
    """

    def __init__(self, stride: int = 8, num_anchors: int = 4, size: int = 8) -> None:
        self.stride = stride
        self.num_anchors = num_anchors
        self.size = size
        self._cache: OrderedDict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = (
            OrderedDict()
        )

    def get(
        self, grid_h: int, grid_w: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        """(2, N, grid_h, grid_w) anchors in pixels for a grid of grid_h × grid_w cells."""
        key = (grid_h, grid_w, torch.device(device), dtype)
        anchors = self._cache.get(key)
        if anchors is not None:
            self._cache.move_to_end(key)
        else:
            anchors = make_anchors(
                grid_h * self.stride,
                grid_w * self.stride,
                self.stride,
                self.num_anchors,
                device=device,
                dtype=dtype,
            )
            self._cache[key] = anchors
            if len(self._cache) > self.size:
                self._cache.popitem(last=False)
        return anchors


@dataclass
class Decoded:
    """Dense candidates of a batch.

    Attributes:
        points: (B, 2, N, h, w) candidate head positions in pixels, slice 0 x, slice 1 y.
        scores: (B, N, h, w) probabilities in [0, 1] that each candidate is a person.
        anchors: (2, N, h, w) the anchor points (pixels) the offsets were added to.
        valid: (N, h, w) bool, True where the anchor lies inside the image (not in its
            padding), when the image size was given; else None.
    """

    points: torch.Tensor
    scores: torch.Tensor
    anchors: torch.Tensor | None = None
    valid: torch.Tensor | None = None


def decode(
    offsets: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor, offset_scale: float
) -> Decoded:
    """Turn raw head outputs into candidate points and probabilities.

    Args:
        offsets: (B, 2N, h, w) regression output, N x-offsets then N y-offsets.
        logits: (B, N, h, w) classification output, one logit per anchor.
        anchors: (2, N, h, w) anchor points in pixels (see :func:`make_anchors`).
        offset_scale: pixels per unit of regression output.
    """
    batch, two_n, grid_h, grid_w = offsets.shape
    points = anchors + offset_scale * offsets.view(batch, 2, two_n // 2, grid_h, grid_w)
    return Decoded(points=points, scores=torch.sigmoid(logits), anchors=anchors)


class PointDecoder:
    """The one decoding of every caller (counting, export, training): the anchors of the
    output grid (memoized unless ``cache_size`` is 0, as a traced export needs), the points
    and probabilities, and, given the image size, which candidates lie inside the image.

    Args:
        config: the model's config (stride, anchors per cell, offset scale).
        cache_size: grids whose anchors are kept (see :class:`AnchorCache`); 0 = none.
    """

    def __init__(self, config: ModelConfig, cache_size: int = 8) -> None:
        self.stride, self.num_anchors = config.stride, config.num_anchors
        self.offset_scale = config.offset_scale
        self._cache = AnchorCache(self.stride, self.num_anchors, cache_size) if cache_size else None

    def anchors(
        self, grid_h: int, grid_w: int, device: torch.device, dtype: torch.dtype
    ) -> torch.Tensor:
        """(2, N, grid_h, grid_w) anchors in pixels."""
        if self._cache is not None:
            return self._cache.get(grid_h, grid_w, device, dtype)
        return make_anchors(
            grid_h * self.stride, grid_w * self.stride, self.stride, self.num_anchors,
            device=device, dtype=dtype,
        )  # fmt: skip

    def __call__(
        self,
        offsets: torch.Tensor,
        logits: torch.Tensor,
        image_size: tuple[int, int] | None = None,
    ) -> Decoded:
        """Decode (B, 2N, h, w) offsets and (B, N, h, w) logits; ``image_size`` (H, W) in
        pixels, when given, fills :attr:`Decoded.valid`."""
        grid_h, grid_w = logits.shape[-2:]
        anchors = self.anchors(grid_h, grid_w, logits.device, logits.dtype)
        decoded = decode(offsets, logits, anchors, self.offset_scale)
        if image_size is not None:
            decoded.valid = valid_anchor_mask(anchors, *image_size)
        return decoded


def flatten_proposals(
    points: torch.Tensor, logits: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, N, h, w) points and (B, N, h, w) logits → (B, K, 2) and (B, K), K = h·w·N.

    Cells row-major, anchors innermost: the order the original release flattens in.
    """
    batch = points.shape[0]
    return (
        points.permute(0, 3, 4, 2, 1).reshape(batch, -1, 2),
        logits.permute(0, 2, 3, 1).reshape(batch, -1),
    )


def valid_anchor_mask(anchors: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(N, h, w) bool: True where the anchor lies inside an H × W image (not in padding)."""
    return (anchors[0] < width) & (anchors[1] < height)
