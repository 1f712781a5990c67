"""The Python API: count and localize people in images.

>>> from p2pcount import Counter
>>> counter = Counter.from_pretrained("synthetic-demo")
>>> result = counter.count("crowd.jpg", threshold=0.5)
>>> result.count, result.soft_count, result.points.shape   # (K, 2) pixels (x, y)

Images of any size are zero-padded (never resized); candidates whose anchor falls in the
padding are dropped, and every point is in pixels of the original (EXIF-rotated) image,
clamped into its box [0, W] × [0, H].

Images above ``tile_above`` pixels are counted in tiles (see :mod:`p2pcount.infer.tiling`):
the result equals the whole-image one up to float rounding, with memory bounded by the
tile size. Both default to the backend's (:attr:`InferenceBackend.default_tile_size
<p2pcount.infer.backends.base.InferenceBackend.default_tile_size>`): ncnn needs more memory
per pixel than PyTorch and tiles smaller images in smaller tiles.

The forward pass is a backend's (:mod:`p2pcount.infer.backends`): ``Counter(model, ...)``
runs it with PyTorch, ``Counter.from_weights(path, backend=...)`` and
``Counter.from_pretrained(name, backend=...)`` with the one chosen as on the command line
(``"auto"``: ncnn on the CPU), ``Counter.from_backend(backend)`` with any other. Everything else
here (reading, tiling, decoding, results) is the same for every backend, in NumPy: this
module does not import torch, so a counter built on a torch-free backend never loads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from p2pcount.errors import ConfigError
from p2pcount.infer.backends.base import InferenceBackend
from p2pcount.infer.counting import hard_count, soft_count, soft_variance
from p2pcount.infer.tiling import tile_grid, tile_margin
from p2pcount.io.images import load_image, to_rgb
from p2pcount.io.limits import DEFAULT_MAX_PIXELS
from p2pcount.model.decoding import SIZE_DIVISOR, NumpyDecoder
from p2pcount.output.result import CountResult

if TYPE_CHECKING:
    import torch

    from p2pcount.model.network import P2PNet

ImageInput = str | Path | Image.Image | np.ndarray


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], not {threshold}")
    return float(threshold)


def _check_tiling(tile_size: int | None, tile_above: int | None) -> None:
    """Raise :class:`ConfigError` unless ``tile_size`` ≥ 1 and ``tile_above`` ≥ 0 (None: the
    backend's default, always valid)."""
    if (tile_size is not None and tile_size < 1) or (tile_above is not None and tile_above < 0):
        raise ConfigError("tile_size must be positive and tile_above non-negative")


def as_rgb_array(image: Image.Image | np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a PIL image (any mode) or an (H, W, 3) uint8 array.

    Raises TypeError for anything else, ValueError for an array of another shape or dtype
    and for an image without pixels.
    """
    if isinstance(image, np.ndarray):
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) uint8 array, got {image.dtype} {image.shape}")
        array = image
    elif isinstance(image, Image.Image):
        array = np.asarray(to_rgb(image))
    else:
        raise TypeError(
            "expected a path (str or pathlib.Path), a PIL image or an (H, W, 3) uint8 array, "
            f"got {type(image).__name__}"
        )
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"image has no pixels ({array.shape[1]}x{array.shape[0]})")
    return array


@dataclass
class _Region:
    """Candidates of one image region, in image coordinates."""

    keys: np.ndarray  # (P,) global candidate index: (cell row · cells_w + col) · N + anchor
    points: np.ndarray  # (P, 2) float32
    scores: np.ndarray  # (P,) float32
    count: int
    soft: float
    variance: float  # of the soft count, Σ p(1 − p)
    cells: np.ndarray  # (rows, cols) max probability per core cell
    density: np.ndarray  # (rows, cols) sum of the probabilities per core cell
    cell_origin: tuple[int, int]  # (row, col) of cells[0, 0] in the image's cell grid
    # Every candidate of the core (keep_candidates only): keys, points (Q, 2), scores (Q,).
    all_keys: np.ndarray | None = None
    all_points: np.ndarray | None = None
    all_scores: np.ndarray | None = None


class Counter:
    """A P2PNet on a device, ready to count, run by a :class:`TorchBackend`.

    Args:
        model: the network (its config gives anchors and offset scale).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or a torch device.
        source: where the weights came from, for reports.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA) or ``"auto"`` (bf16 on CPUs
            with native bf16, fp16 autocast on CUDA, fp32 elsewhere).
        tile_size: core size (pixels, rounded up to a multiple of 16) of tiles; None: the
            backend's :attr:`~p2pcount.infer.backends.base.InferenceBackend.default_tile_size`.
        tile_above: images with more pixels than this are counted in tiles; 0 = never;
            None: the backend's ``default_tile_above``.
        copy_model: leave ``model`` untouched (False: convert it in place, saving memory).

    Attributes:
        backend: what runs the forward pass (see :meth:`from_backend` for another one).
        config: the model's config, ``backend.config``.
        device: where the backend runs, for reports (``"cpu"``, ``"cuda"``).
        source: as given.
        keep_candidates: also keep every candidate's point and probability in the results
            (:attr:`CountResult.candidates <p2pcount.output.result.CountResult.candidates>`),
            for soft counts of parts of an image and precision-recall curves; False by
            default (12 bytes per candidate: 4 candidates per 8×8 cell).
    """

    def __init__(
        self,
        model: P2PNet,
        device: str | torch.device = "auto",
        source: str = "",
        precision: str = "fp32",
        tile_size: int | None = None,
        tile_above: int | None = None,
        copy_model: bool = True,
    ) -> None:
        from p2pcount.infer.backends.torch import TorchBackend

        _check_tiling(tile_size, tile_above)
        self._attach(
            TorchBackend(model, device, precision, copy_model), source, tile_size, tile_above
        )

    @classmethod
    def from_backend(
        cls,
        backend: InferenceBackend,
        source: str = "",
        tile_size: int | None = None,
        tile_above: int | None = None,
    ) -> Counter:
        """A counter whose forward passes ``backend`` runs (device and precision are the
        backend's); ``source``, ``tile_size`` and ``tile_above`` as for the class."""
        _check_tiling(tile_size, tile_above)
        counter = cls.__new__(cls)
        counter._attach(backend, source, tile_size, tile_above)
        return counter

    def _attach(
        self,
        backend: InferenceBackend,
        source: str,
        tile_size: int | None,
        tile_above: int | None,
    ) -> None:
        self.backend = backend
        self.config = backend.config
        self.device = backend.device
        self.source = source
        size = backend.default_tile_size if tile_size is None else tile_size
        self.tile_size = -(-size // SIZE_DIVISOR) * SIZE_DIVISOR
        self.tile_above = backend.default_tile_above if tile_above is None else tile_above
        self.margin = tile_margin(backend.receptive_field, self.config.stride, SIZE_DIVISOR)
        self.decoder = NumpyDecoder(self.config)
        self.keep_candidates = False

    @classmethod
    def from_weights(
        cls,
        path: str | Path,
        device: str | torch.device = "auto",
        backend: str = "auto",
        precision: str = "fp32",
        threads: int | None = None,
        **kwargs: int | None,
    ) -> Counter:
        """Load a ``.safetensors`` or ``.pth`` file (ours or the original release's), run by
        ``backend`` (:func:`~p2pcount.infer.backends.selection.load_backend`).

        Args:
            path: the weights file.
            device: as for the class.
            backend: ``"auto"`` (as on the command line: PyTorch on CUDA, ncnn on the CPU,
                falling back to PyTorch with a warning where ncnn cannot run the model),
                ``"torch"`` or ``"ncnn"``.
            precision: ``"fp32"`` (default), ``"bf16"``, ``"fp16"`` or ``"auto"``: see the
                class for PyTorch, :func:`~p2pcount.infer.backends.ncnn.ncnn_precision` for
                ncnn's storage.
            threads: compute threads (None: ncnn every core, PyTorch its own default).
            kwargs: ``tile_size``, ``tile_above`` (see the class).

        Raises :class:`~p2pcount.errors.ConfigError` for bad options and
        :class:`~p2pcount.errors.WeightsError` for weights that cannot be read.
        """
        from p2pcount.infer.backends.selection import load_backend

        chosen = load_backend(path, backend, str(device), precision, threads)
        return cls.from_backend(chosen, source=str(path), **kwargs)

    @classmethod
    def from_pretrained(
        cls, name: str | None = None, device: str | torch.device = "auto", **kwargs
    ) -> Counter:
        """A named model (see ``p2pcount weights list``), downloaded and cached if needed;
        ``device`` and ``kwargs`` (``backend``, ``precision``, ``threads``, ``tile_size``,
        ``tile_above``) as for :meth:`from_weights`.

        Without a name, the command line's default: ``$P2PCOUNT_WEIGHTS`` if set, else
        :data:`~p2pcount.weights.registry.DEFAULT_MODEL` (``shtech-a``).
        """
        from p2pcount.weights.registry import resolve_weights

        spec = name if name is not None else os.environ.get("P2PCOUNT_WEIGHTS") or None
        return cls.from_weights(resolve_weights(spec), device=device, **kwargs)

    def count(
        self,
        image: ImageInput,
        threshold: float = 0.5,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> CountResult:
        """Count one image: a path, a PIL image, or an (H, W, 3) uint8 RGB array."""
        (result,) = self.count_batch([image], threshold, max_pixels)
        return result

    def count_video(
        self,
        source: str | Path,
        *,
        every: int | None = None,
        fps: float | None = None,
        start: float | None = None,
        end: float | None = None,
        threshold: float = 0.5,
        batch_size: int = 1,
        timeout: float = 10.0,
    ) -> Iterator[CountResult]:
        """Count a video file, URL (``rtsp://``, ``http(s)://`` …) or capture device
        (``/dev/video0``) frame by frame: yields one result per sampled frame as it is
        counted, with ``frame`` (index in the decoded stream) and ``time`` (seconds) set.

        Sampling: every ``every``-th decoded frame, or ``fps`` frames per second of
        presentation time, between ``start`` and ``end`` seconds (see
        :class:`~p2pcount.io.video.Sampling`). Raises :class:`~p2pcount.errors.VideoError`
        for a source that cannot be read, and after the frames decoded before damage.
        """
        from p2pcount.infer.video import count_video
        from p2pcount.io.video import Sampling

        sampling = Sampling(every=every, fps=fps, start=start, end=end)
        return count_video(
            self, str(source), sampling, threshold, batch_size=batch_size, timeout=timeout
        )

    def needs_tiling(self, width: int, height: int) -> bool:
        return 0 < self.tile_above < width * height

    def count_batch(
        self,
        images: Sequence[ImageInput],
        threshold: float = 0.5,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> list[CountResult]:
        """Count images of one size (after EXIF rotation) in one forward pass, or tile by
        tile if large: each a path (read with :func:`~p2pcount.io.images.load_image`, refused
        above ``max_pixels``), a PIL image, or an (H, W, 3) uint8 RGB array. A result's
        ``path`` is the path it was read from (None for images given in memory).

        Raises :class:`~p2pcount.errors.ImageError` for a path that cannot be read,
        TypeError for other inputs, ValueError for images of different sizes.
        """
        threshold = check_threshold(threshold)
        if isinstance(images, (str, Path, Image.Image, np.ndarray)):
            raise TypeError(
                "count_batch takes a list of images (paths, PIL images or arrays); "
                "count() takes one"
            )
        if not images:
            return []
        paths = [str(im) if isinstance(im, (str, Path)) else None for im in images]
        arrays = [
            as_rgb_array(load_image(im, max_pixels) if path is not None else im)
            for im, path in zip(images, paths, strict=True)
        ]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise ValueError(f"count_batch needs images of one size, got {sorted(shapes)}")
        height, width = arrays[0].shape[:2]
        if self.needs_tiling(width, height):
            results = [self._count_tiled(a, threshold) for a in arrays]
        else:
            regions = self._regions(arrays, (0, 0), (0, 0, width, height), width, threshold)
            results = [self._result([r], width, height, threshold) for r in regions]
        for result, path in zip(results, paths, strict=True):
            result.path = path
        return results

    def _count_tiled(self, array: np.ndarray, threshold: float) -> CountResult:
        height, width = array.shape[:2]
        regions = []
        for tile in tile_grid(width, height, self.tile_size, self.margin):
            x0, y0, x1, y1 = tile.crop
            (region,) = self._regions([array[y0:y1, x0:x1]], (x0, y0), tile.core, width, threshold)
            regions.append(region)
        return self._result(regions, width, height, threshold)

    def forward_maps(self, arrays: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """B same-sized (H, W, 3) uint8 images → float32 offsets (B, 2N, h, w) and logits
        (B, N, h, w), the backend's (see :meth:`InferenceBackend.forward_maps`)."""
        return self.backend.forward_maps(np.stack(arrays))

    def _regions(
        self,
        arrays: Sequence[np.ndarray],
        origin: tuple[int, int],
        core: tuple[int, int, int, int],
        image_width: int,
        threshold: float,
    ) -> list[_Region]:
        """Candidates of same-sized crops taken at ``origin`` (x, y) of an image, keeping
        those whose anchor lies in ``core`` = (x0, y0, x1, y1), in image coordinates.

        ``origin`` must be a multiple of 16 so that the crop's grid is the image's grid.
        """
        offsets, logits = self.forward_maps(arrays)
        grid_h, grid_w = logits.shape[-2:]
        decoded = self.decoder(offsets, logits)
        shift = np.array(origin, np.float32)  # (x, y)
        ax = decoded.anchors[0] + shift[0]  # (N, h, w), image coordinates
        ay = decoded.anchors[1] + shift[1]
        x0, y0, x1, y1 = core
        mask = (ax >= x0) & (ax < x1) & (ay >= y0) & (ay < y1)  # (N, h, w)
        stride, n = self.config.stride, self.config.num_anchors
        first_row, first_col = origin[1] // stride, origin[0] // stride
        # Global candidate index, cells row-major and anchors innermost, to merge tiles.
        rows = np.arange(grid_h).reshape(1, grid_h, 1) + first_row
        cols = np.arange(grid_w).reshape(1, 1, grid_w) + first_col
        anchor_index = np.arange(n).reshape(n, 1, 1)
        cells_w = -(-image_width // stride)
        keys = ((rows * cells_w + cols) * n + anchor_index).transpose(1, 2, 0)  # (h, w, N)
        mask_hwn = mask.transpose(1, 2, 0)
        cell_rows = slice(y0 // stride - first_row, -(-y1 // stride) - first_row)
        cell_cols = slice(x0 // stride - first_col, -(-x1 // stride) - first_col)
        counts = hard_count(decoded.scores, threshold, mask).tolist()
        softs = soft_count(decoded.scores, mask).tolist()
        variances = soft_variance(decoded.scores, mask).tolist()
        regions = []
        for b in range(logits.shape[0]):
            scores = (decoded.scores[b] * mask).transpose(1, 2, 0)  # (h, w, N)
            points = decoded.points[b].transpose(2, 3, 1, 0) + shift  # (h, w, N, 2)
            keep = (scores > threshold) & mask_hwn
            every = (
                (keys[mask_hwn], points[mask_hwn], scores[mask_hwn])
                if self.keep_candidates
                else (None, None, None)
            )
            regions.append(
                _Region(
                    keys=keys[keep],
                    points=points[keep],
                    scores=scores[keep],
                    count=counts[b],
                    soft=softs[b],
                    variance=variances[b],
                    cells=scores.max(axis=-1)[cell_rows, cell_cols],
                    density=scores.sum(axis=-1)[cell_rows, cell_cols],
                    cell_origin=(y0 // stride, x0 // stride),
                    all_keys=every[0],
                    all_points=every[1],
                    all_scores=every[2],
                )
            )
        return regions

    def _result(
        self, regions: list[_Region], width: int, height: int, threshold: float
    ) -> CountResult:
        """Merge the regions of one image into its result (points in candidate order)."""
        stride = self.config.stride
        cell_scores = np.zeros((-(-height // stride), -(-width // stride)), np.float32)
        density = np.zeros_like(cell_scores)
        for region in regions:
            rows, cols = region.cells.shape
            row, col = region.cell_origin
            cell_scores[row : row + rows, col : col + cols] = region.cells
            density[row : row + rows, col : col + cols] = region.density
        bounds = np.array([width, height], np.float32)
        order = np.argsort(np.concatenate([r.keys for r in regions]))
        points = np.concatenate([r.points for r in regions])[order]
        candidates = candidate_scores = None
        if self.keep_candidates:
            every = np.argsort(np.concatenate([r.all_keys for r in regions]))
            every_points = np.concatenate([r.all_points for r in regions])[every]
            candidates = np.clip(every_points, 0, bounds).astype(np.float32)
            every_scores = np.concatenate([r.all_scores for r in regions])[every]
            candidate_scores = every_scores.astype(np.float32)
        return CountResult(
            width=width,
            height=height,
            count=sum(r.count for r in regions),
            soft_count=sum(r.soft for r in regions),
            soft_variance=sum(r.variance for r in regions),
            points=np.clip(points, 0, bounds).astype(np.float32),
            scores=np.concatenate([r.scores for r in regions])[order].astype(np.float32),
            cell_scores=cell_scores,
            cell_density=density,
            threshold=threshold,
            candidates=candidates,
            candidate_scores=candidate_scores,
        )
