"""Anchor points and decoding of P2PNet's prediction maps in torch, for training (the loss
needs autograd) and export (a trace sees every step).

The arithmetic is :mod:`p2pcount.model.decoding`'s (shapes and anchor order are described
there), shared with inference's NumPy decoding; this module adds torch's sigmoid, the
anchors memoized per device and dtype, and the flattening of candidates for the loss.
"""

from __future__ import annotations

from collections import OrderedDict

import torch

from p2pcount.model.config import ModelConfig
from p2pcount.model.decoding import (
    Decoded,
    anchor_lattice,
    anchor_offsets,
    decode_points,
    valid_anchor_mask,
)

__all__ = [
    "AnchorCache",
    "Decoded",
    "PointDecoder",
    "anchor_offsets",
    "decode",
    "flatten_proposals",
    "make_anchors",
    "valid_anchor_mask",
]


def make_anchors(
    height: int,
    width: int,
    stride: int = 8,
    num_anchors: int = 4,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Anchor points of an H × W input as a (2, N, H//S, W//S) tensor of pixel coordinates
    (:func:`~p2pcount.model.decoding.anchor_lattice` in torch).

    Slice 0 holds x (from the column index j), slice 1 holds y (from the row index i).
    """
    return anchor_lattice(
        height // stride, width // stride, stride, num_anchors, torch, device=device, dtype=dtype
    )


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


def decode(
    offsets: torch.Tensor, logits: torch.Tensor, anchors: torch.Tensor, offset_scale: float
) -> Decoded[torch.Tensor]:
    """Turn raw head outputs into candidate points and probabilities.

    Args:
        offsets: (B, 2N, h, w) regression output, N x-offsets then N y-offsets.
        logits: (B, N, h, w) classification output, one logit per anchor.
        anchors: (2, N, h, w) anchor points in pixels (see :func:`make_anchors`).
        offset_scale: pixels per unit of regression output.
    """
    return Decoded(
        points=decode_points(offsets, anchors, offset_scale),
        scores=torch.sigmoid(logits),
        anchors=anchors,
    )


class PointDecoder:
    """The torch decoding of training and export (inference's is
    :class:`~p2pcount.model.decoding.NumpyDecoder`, the same arithmetic): the anchors of the
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
    ) -> Decoded[torch.Tensor]:
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
