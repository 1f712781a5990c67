"""The interface between :class:`~p2pcount.infer.counter.Counter` and what runs the network.

A backend turns a batch of uint8 RGB images into P2PNet's raw maps, and nothing more:
reading images, tiling, decoding the maps into points and probabilities, and assembling
results are the Counter's, the same code for every backend. A new backend is one module
in this package with a subclass of :class:`InferenceBackend`, given to
:meth:`Counter.from_backend <p2pcount.infer.counter.Counter.from_backend>`.

This module imports neither torch nor NumPy at run time.
"""

from __future__ import annotations

import abc
from typing import TYPE_CHECKING, ClassVar

from p2pcount.infer.tiling import DEFAULT_TILE_ABOVE, DEFAULT_TILE_SIZE

if TYPE_CHECKING:
    import numpy as np

    from p2pcount.model.config import ModelConfig


class InferenceBackend(abc.ABC):
    """A P2PNet ready to run forward passes somewhere.

    Attributes:
        name: the backend's name (``"torch"``), for reports and options.
        config: the network's config; the decode reads its stride, anchors per cell and
            offset scale, the backend its mean and std.
        receptive_field: side (pixels) of the input square one output cell sees; tiles
            overlap by enough to cover it (:func:`~p2pcount.infer.tiling.tile_margin`).
        device: where the network runs, for reports (``"cpu"``, ``"cuda"``, ``"cuda:1"``).
        default_tile_size: tile core (pixels per side) a Counter uses when given none; a
            backend that needs more memory per pixel than PyTorch sets a smaller one.
        default_tile_above: image size (pixels) above which a Counter given no
            ``tile_above`` counts in tiles, likewise.
    """

    name: ClassVar[str]
    default_tile_size: ClassVar[int] = DEFAULT_TILE_SIZE
    default_tile_above: ClassVar[int] = DEFAULT_TILE_ABOVE

    def __init__(self, config: ModelConfig, receptive_field: int, device: str) -> None:
        self.config = config
        self.receptive_field = receptive_field
        self.device = device

    @abc.abstractmethod
    def forward_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The raw maps of a batch of images, as :meth:`P2PNet.forward
        <p2pcount.model.network.P2PNet.forward>` computes them.

        Args:
            batch: (B, H, W, 3) uint8 RGB, any H, W ≥ 1. The backend scales it to [0, 1],
                normalizes it with the config's mean and std and zero-pads it (in
                normalized space) on the right and bottom to multiples of 16.

        Returns:
            offsets (B, 2N, h, w), the N x-offsets then the N y-offsets, in units of
            ``config.offset_scale`` pixels, and logits (B, N, h, w), one per anchor; both
            float32 NumPy arrays in host memory (a backend on an accelerator copies them
            back: the maps are small), for the padded grid h = ⌈H/16⌉·2, w = ⌈W/16⌉·2
            (cells of ``config.stride`` = 8 pixels). The Counter decodes them in NumPy
            (:class:`~p2pcount.model.decoding.NumpyDecoder`), so a backend that does not
            need torch keeps counting free of it.
        """
