"""The ncnn backend: P2PNet run by Tencent's ncnn on the CPU (Winograd 3×3 convolutions for
x86 SSE/AVX/AVX2/AVX-512 and ARM NEON), about twice as fast as PyTorch's fp32 there.

The model is the one :mod:`~p2pcount.infer.backends.ncnn_model` writes (cached by
:mod:`~p2pcount.infer.backends.ncnn_cache`); normalization and padding happen here, in
NumPy, exactly as :class:`~p2pcount.model.network.P2PNet` does them. Neither torch nor
ncnn is imported with this module; ncnn is imported when a backend is made.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from p2pcount.errors import ConfigError
from p2pcount.infer.backends.base import InferenceBackend
from p2pcount.infer.backends.ncnn_model import INPUT, LOGITS, OFFSETS
from p2pcount.model.decoding import SIZE_DIVISOR

if TYPE_CHECKING:
    import ncnn

    from p2pcount.model.config import ModelConfig

#: ncnn's storage and arithmetic switches set for each ``--precision`` (all others off).
PRECISION_OPTIONS: dict[str, tuple[str, ...]] = {
    "fp32": (),
    "bf16": ("use_bf16_storage", "use_bf16_packed"),
    "fp16": ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"),
}
#: Every reduced-precision switch, turned off unless the precision asks for it (ncnn turns
#: fp16 storage on by default where the CPU has F16C).
_REDUCED = tuple(sorted({name for names in PRECISION_OPTIONS.values() for name in names}))


def ncnn_precision(precision: str) -> str:
    """``fp32``, ``bf16`` or ``fp16``: ncnn's storage for ``--precision`` (``auto``: fp32,
    the precision whose raw maps match PyTorch's within 1e-5). Raises :class:`ConfigError`
    for an unknown name."""
    if precision == "auto":
        return "fp32"
    if precision not in PRECISION_OPTIONS:
        raise ConfigError(f"unknown precision {precision!r} (use auto, fp32, bf16 or fp16)")
    return precision


def default_threads() -> int:
    """Compute threads when none are asked for: every core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class NcnnBackend(InferenceBackend):
    """A P2PNet ncnn model (``param``, ``weights`` files) on the CPU.

    Args:
        param, weights: the model's ``.param`` and ``.bin`` files.
        config: the network's config (normalization, anchors).
        receptive_field: of one output cell, pixels (see the base class).
        precision: ``auto`` or ``fp32`` (fp32 storage and arithmetic), ``bf16`` (bfloat16
            storage) or ``fp16`` (float16 storage and arithmetic).
        threads: compute threads; None: :func:`default_threads`.

    Attributes:
        precision: the precision resolved (``fp32``, ``bf16``, ``fp16``).
        net: the loaded ``ncnn.Net``.

    Raises :class:`ConfigError` when ncnn cannot be imported or refuses the files.
    """

    name = "ncnn"
    #: ncnn's convolutions need about 1.8 KB per padded pixel of a forward, PyTorch's a
    #: third of that (``scripts/benchmark.py --sections backend_memory``: whole 2048x2048
    #: images peak at 7949 MiB against 2886 MiB, whole 1920x1080 ones at 4241 MiB). Tiles
    #: of 640 px keep a tiled 8000x6000 count under 3 GB, at about 1.3x the work of
    #: 1024-px tiles; images up to full HD (1920x1088 padded) are still counted whole,
    #: where tiling would cost 1.6x the work.
    default_tile_size = 640
    default_tile_above = 1920 * 1088

    def __init__(
        self,
        param: Path,
        weights: Path,
        config: ModelConfig,
        receptive_field: int,
        precision: str = "fp32",
        threads: int | None = None,
    ) -> None:
        super().__init__(config, receptive_field, "cpu")
        self.precision = ncnn_precision(precision)
        self.net = load_net(param, weights, self.precision, threads or default_threads())
        import ncnn

        # ncnn's example set-up: blobs from an unlocked pool (one extractor at a time),
        # workspace from a locked one (shared by the compute threads). A pooled buffer is
        # reused only for requests of at least half its size: with any size (ncnn's
        # default), small blobs take the large buffers and the pool grows on every image
        # (measured at 1024x768: 2.0 GB peak against 1.85 GB, and no page faults).
        self._blob_pool, self._workspace_pool = ncnn.UnlockedPoolAllocator(), ncnn.PoolAllocator()
        for pool in (self._blob_pool, self._workspace_pool):
            pool.set_size_compare_ratio(0.5)
        self._pooled_size: tuple[int, ...] = ()
        self._mean = np.asarray(config.mean, np.float32).reshape(3, 1, 1)
        self._std = np.asarray(config.std, np.float32).reshape(3, 1, 1)

    def forward_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """See :meth:`InferenceBackend.forward_maps`: NumPy float32 maps, image by image."""
        if batch.shape[1:3] != self._pooled_size:
            # The pools keep every buffer they hand out; buffers sized for other images
            # (tiles at an image's edges) would only add up: give them back first.
            self._blob_pool.clear()
            self._workspace_pool.clear()
            self._pooled_size = batch.shape[1:3]
        maps = [self._forward(image) for image in batch]
        offsets, logits = (np.stack(group) for group in zip(*maps, strict=True))
        return offsets, logits

    def _forward(self, image: np.ndarray) -> list[np.ndarray]:
        import ncnn

        pixels = self._prepare(image)  # the Mat shares its memory: keep it alive
        extractor = self.net.create_extractor()
        extractor.set_blob_allocator(self._blob_pool)
        extractor.set_workspace_allocator(self._workspace_pool)
        extractor.input(INPUT, ncnn.Mat(pixels))
        return [_extract(extractor, name) for name in (OFFSETS, LOGITS)]

    def _prepare(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 → (3, H', W') float32 normalized, zero-padded right and bottom to
        multiples of 16 (the network's input)."""
        height, width = image.shape[:2]
        padded_h, padded_w = (-(-side // SIZE_DIVISOR) * SIZE_DIVISOR for side in (height, width))
        padded = np.zeros((3, padded_h, padded_w), np.float32)
        pixels = image.transpose(2, 0, 1).astype(np.float32) / np.float32(255.0)
        padded[:, :height, :width] = (pixels - self._mean) / self._std
        return padded


def load_net(param: Path, weights: Path, precision: str, threads: int) -> ncnn.Net:
    """An ``ncnn.Net`` with ``precision``'s switches (only those) on and ``threads`` threads,
    loaded from ``param`` and ``weights``; :class:`ConfigError` when ncnn cannot be imported
    or refuses a file."""
    try:
        import ncnn
    except ImportError as exc:
        raise ConfigError(f"ncnn cannot be imported ({exc})") from None
    net = ncnn.Net()
    for name in _REDUCED:
        setattr(net.opt, name, name in PRECISION_OPTIONS[precision])
    net.opt.num_threads = threads
    if net.load_param(str(param)) != 0:
        raise ConfigError(f"{param}: ncnn cannot read this model graph")
    if net.load_model(str(weights)) != 0:
        raise ConfigError(f"{weights}: ncnn cannot read these model weights")
    return net


def _extract(extractor: ncnn.Extractor, name: str) -> np.ndarray:
    status, mat = extractor.extract(name)
    if status != 0:
        raise ConfigError(f"ncnn failed to compute {name} (status {status})")
    return np.array(mat, dtype=np.float32)
