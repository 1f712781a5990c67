"""Anchor points and decoding of P2PNet's prediction maps, written once for NumPy and torch.

Shapes follow the specification (``shared/seeds``): for an input of H × W pixels and
stride S the prediction grid is h × w = H/S × W/S cells; each cell holds N anchors.

* anchors: (2, N, h, w), slice 0 holds x and slice 1 holds y, in pixels of the input
  image, origin at its top-left corner. Cell (i, j) (row i, column j) is centred at
  ``((j + 0.5) S, (i + 0.5) S)``; for N = 4 its anchors sit at ``centre ± S/4`` in the
  order (−,−), (+,−), (−,+), (+,+) for (x, y), x varying fastest.
* regression output: (B, 2N, h, w), the N x-offsets first, then the N y-offsets.
* classification output: (B, N, h, w), one logit per anchor.
* points = anchors + offset_scale × offsets viewed as (B, 2, N, h, w).

:func:`anchor_lattice`, :func:`decode_points` and :func:`valid_anchor_mask` take NumPy
arrays or torch tensors alike: :mod:`p2pcount.model.anchors` wraps them for training and
export (autograd, tracing), :class:`NumpyDecoder` for inference, which runs without torch.
This module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Any, Generic, TypeVar

import numpy as np

from p2pcount.model.config import ModelConfig, anchor_lattice_side

#: An array of NumPy or torch (``np.ndarray`` or ``torch.Tensor``).
ArrayT = TypeVar("ArrayT")

#: The network needs H and W divisible by this so that the upsampled C5 matches C4: inputs
#: are padded to it, giving a grid of ceil(H/16)·2 × ceil(W/16)·2 cells of 8 pixels.
SIZE_DIVISOR = 16

#: Grids whose NumPy anchors are kept (a folder of a few image sizes reuses them).
ANCHOR_CACHE_SIZE = 8


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


def anchor_lattice(
    grid_h: int, grid_w: int, stride: int, num_anchors: int, xp: ModuleType, **placement: Any
) -> Any:
    """(2, N, grid_h, grid_w) anchor points in pixels, built with the array library ``xp``.

    Args:
        grid_h, grid_w: cells of the output grid (rows, columns).
        stride: pixels per cell.
        num_anchors: N, anchors per cell.
        xp: ``numpy`` or ``torch``.
        placement: keywords of ``xp.arange``/``xp.asarray``: ``dtype`` (and ``device`` for
            torch).

    Slice 0 holds x (from the column index j), slice 1 holds y (from the row index i).
    """
    ys = (xp.arange(grid_h, **placement) + 0.5) * stride
    xs = (xp.arange(grid_w, **placement) + 0.5) * stride
    grid_y, grid_x = xp.meshgrid(ys, xs, indexing="ij")  # (h, w) each
    dx, dy = anchor_offsets(num_anchors, stride)
    dx_n = xp.asarray(dx, **placement).reshape(num_anchors, 1, 1)
    dy_n = xp.asarray(dy, **placement).reshape(num_anchors, 1, 1)
    return xp.stack([grid_x + dx_n, grid_y + dy_n])  # (2, N, h, w)


def decode_points(offsets: ArrayT, anchors: ArrayT, offset_scale: float) -> ArrayT:
    """(B, 2, N, h, w) candidate points in pixels: the anchors moved by the offsets.

    Args:
        offsets: (B, 2N, h, w) regression output, N x-offsets then N y-offsets.
        anchors: (2, N, h, w) anchor points in pixels (see :func:`anchor_lattice`).
        offset_scale: pixels per unit of regression output.
    """
    batch, two_n, grid_h, grid_w = offsets.shape
    return anchors + offset_scale * offsets.reshape(batch, 2, two_n // 2, grid_h, grid_w)


def valid_anchor_mask(anchors: ArrayT, height: int, width: int) -> ArrayT:
    """(N, h, w) bool: True where the anchor lies inside an H × W image (not in padding)."""
    return (anchors[0] < width) & (anchors[1] < height)


@dataclass
class Decoded(Generic[ArrayT]):
    """Dense candidates of a batch, as NumPy arrays or torch tensors.

    Attributes:
        points: (B, 2, N, h, w) candidate head positions in pixels, slice 0 x, slice 1 y.
        scores: (B, N, h, w) probabilities in [0, 1] that each candidate is a person.
        anchors: (2, N, h, w) the anchor points (pixels) the offsets were added to.
        valid: (N, h, w) bool, True where the anchor lies inside the image (not in its
            padding), when the image size was given; else None.
    """

    points: ArrayT
    scores: ArrayT
    anchors: ArrayT | None = None
    valid: ArrayT | None = None


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """1 / (1 + e^−x) elementwise, in the dtype of ``logits``, as torch computes it; very
    negative logits give 0 without an overflow warning."""
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-logits))


@lru_cache(maxsize=ANCHOR_CACHE_SIZE)
def numpy_anchors(grid_h: int, grid_w: int, stride: int, num_anchors: int) -> np.ndarray:
    """(2, N, grid_h, grid_w) float32 anchors in pixels, built once per grid (read-only:
    every caller shares the array)."""
    anchors = anchor_lattice(grid_h, grid_w, stride, num_anchors, np, dtype=np.float32)
    anchors.flags.writeable = False
    return anchors


class NumpyDecoder:
    """Inference's decoding in NumPy: the anchors of the output grid, the points and
    probabilities, and, given the image size, which candidates lie inside the image.
    Equal to :class:`~p2pcount.model.anchors.PointDecoder` up to float32 rounding of the
    sigmoid (the points are bit for bit the same).

    Args:
        config: the model's config (stride, anchors per cell, offset scale).
    """

    def __init__(self, config: ModelConfig) -> None:
        self.stride, self.num_anchors = config.stride, config.num_anchors
        self.offset_scale = config.offset_scale

    def anchors(self, grid_h: int, grid_w: int) -> np.ndarray:
        """(2, N, grid_h, grid_w) float32 anchors in pixels (read-only)."""
        return numpy_anchors(grid_h, grid_w, self.stride, self.num_anchors)

    def __call__(
        self,
        offsets: np.ndarray,
        logits: np.ndarray,
        image_size: tuple[int, int] | None = None,
    ) -> Decoded[np.ndarray]:
        """Decode float32 (B, 2N, h, w) offsets and (B, N, h, w) logits; ``image_size``
        (H, W) in pixels, when given, fills :attr:`Decoded.valid`."""
        anchors = self.anchors(*logits.shape[-2:])
        decoded = Decoded(
            points=decode_points(offsets, anchors, self.offset_scale),
            scores=sigmoid(logits),
            anchors=anchors,
        )
        if image_size is not None:
            decoded.valid = valid_anchor_mask(anchors, *image_size)
        return decoded
