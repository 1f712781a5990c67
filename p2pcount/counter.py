"""The Python API: count and localize people in images.

>>> from p2pcount import Counter
>>> counter = Counter.from_weights("weights/synthetic-demo.safetensors")
>>> result = counter.count("crowd.jpg", threshold=0.5)
>>> result.count, result.soft_count, result.points.shape   # (K, 2) pixels (x, y)

Images of any size are zero-padded (never resized); candidates whose anchor falls in the
padding are dropped, and every point is in pixels of the original (EXIF-rotated) image,
clamped into its box [0, W] × [0, H].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from p2pcount.anchors import AnchorCache, decode, hard_count, soft_count, valid_anchor_mask
from p2pcount.checkpoint import load_model
from p2pcount.config import DEFAULT_MAX_PIXELS
from p2pcount.device import resolve_device, resolve_precision
from p2pcount.errors import ConfigError
from p2pcount.images import load_image
from p2pcount.model import P2PNet

ImageInput = str | Path | Image.Image | np.ndarray


@dataclass
class CountResult:
    """Counts and points of one image.

    Attributes:
        width, height: image size in pixels (after EXIF rotation).
        count: candidates with probability strictly above ``threshold``.
        soft_count: sum of the probabilities of all candidates (a fractional count).
        points: (K, 2) float32 head positions (x, y) in pixels, the K = ``count``
            candidates above the threshold, cells row-major with anchors innermost.
        scores: (K,) float32 probabilities of those points.
        cell_scores: (ceil(H/8), ceil(W/8)) float32, the highest probability of each
            8×8 cell's anchors (those inside the image); for heat maps.
        threshold: the probability threshold used.
        path: the file the image came from, if any.
    """

    width: int
    height: int
    count: int
    soft_count: float
    points: np.ndarray
    scores: np.ndarray
    cell_scores: np.ndarray
    threshold: float
    path: str | None = None


def check_threshold(threshold: float) -> float:
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], not {threshold}")
    return float(threshold)


def image_to_tensor(image: Image.Image) -> torch.Tensor:
    """8-bit RGB PIL image → (3, H, W) float32 in [0, 1]."""
    array = np.array(image, dtype=np.uint8)  # a writable copy torch can own
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0)


class Counter:
    """A P2PNet on a device, ready to count.

    Args:
        model: the network (its config gives anchors and offset scale).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or a torch device.
        source: where the weights came from, for reports.
        precision: ``"fp32"``, ``"bf16"``, ``"fp16"`` (CUDA) or ``"auto"`` (bf16 autocast on
            CPUs with native bf16, fp16 autocast on CUDA, fp32 elsewhere).
    """

    def __init__(
        self,
        model: P2PNet,
        device: str | torch.device = "auto",
        source: str = "",
        precision: str = "fp32",
    ) -> None:
        self.device = resolve_device(device)
        self.autocast_dtype = resolve_precision(precision, self.device)
        self.model = model.to(self.device).eval()
        self.config = model.config
        self.source = source
        self._anchors = AnchorCache(self.config.stride, self.config.num_anchors)

    @classmethod
    def from_weights(
        cls, path: str | Path, device: str | torch.device = "auto", precision: str = "fp32"
    ) -> Counter:
        """Load a ``.safetensors`` or ``.pth`` file (ours or the original release's)."""
        return cls(load_model(path), device=device, source=str(path), precision=precision)

    @classmethod
    def from_pretrained(
        cls,
        name: str = "synthetic-demo",
        device: str | torch.device = "auto",
        precision: str = "fp32",
    ) -> Counter:
        """A named model (see ``p2pcount weights list``), downloaded and cached if needed."""
        from p2pcount.registry import resolve_weights

        return cls.from_weights(resolve_weights(name), device=device, precision=precision)

    def count(
        self,
        image: ImageInput,
        threshold: float = 0.5,
        max_pixels: int | None = DEFAULT_MAX_PIXELS,
    ) -> CountResult:
        """Count one image: a path, a PIL image, or an (H, W, 3) uint8 RGB array."""
        path = None
        if isinstance(image, (str, Path)):
            path = str(image)
            image = load_image(image, max_pixels=max_pixels)
        elif isinstance(image, np.ndarray):
            image = Image.fromarray(image).convert("RGB")
        elif image.mode != "RGB":
            image = image.convert("RGB")
        (result,) = self.count_batch([image], threshold)
        result.path = path
        return result

    @torch.inference_mode()
    def count_batch(
        self, images: Sequence[Image.Image], threshold: float = 0.5
    ) -> list[CountResult]:
        """Count RGB images of one size in one forward pass; returns results in order."""
        threshold = check_threshold(threshold)
        sizes = {im.size for im in images}
        if len(sizes) != 1:
            raise ValueError(f"count_batch needs images of one size, got {sorted(sizes)}")
        ((width, height),) = sizes
        batch = torch.stack([image_to_tensor(im) for im in images]).to(self.device)
        with torch.autocast(
            self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None
        ):
            offsets, logits = self.model(batch)
        return self._results(offsets.float(), logits.float(), width, height, threshold)

    def _results(
        self, offsets: torch.Tensor, logits: torch.Tensor, width: int, height: int, threshold: float
    ) -> list[CountResult]:
        grid_h, grid_w = logits.shape[-2:]
        anchors = self._anchors.get(grid_h, grid_w, logits.device, logits.dtype)
        decoded = decode(offsets, logits, anchors, self.config.offset_scale)
        mask = valid_anchor_mask(anchors, height, width)  # (N, h, w)
        counts = hard_count(decoded.scores, threshold, mask).cpu()
        softs = soft_count(decoded.scores, mask).cpu()
        # (B, h, w, N): cells row-major, anchors innermost, as the original release flattens.
        scores = (decoded.scores * mask).permute(0, 2, 3, 1)
        points = decoded.points.permute(0, 3, 4, 2, 1)  # (B, h, w, N, 2)
        cells_h, cells_w = -(-height // self.config.stride), -(-width // self.config.stride)
        cell_scores = scores.amax(dim=-1)[:, :cells_h, :cells_w].cpu().numpy()
        bounds = points.new_tensor([width, height])
        results = []
        for b in range(scores.shape[0]):
            keep = scores[b] > threshold
            kept = torch.minimum(points[b][keep].clamp_min(0), bounds)
            results.append(
                CountResult(
                    width=width,
                    height=height,
                    count=int(counts[b]),
                    soft_count=float(softs[b]),
                    points=kept.cpu().numpy().astype(np.float32),
                    scores=scores[b][keep].cpu().numpy().astype(np.float32),
                    cell_scores=cell_scores[b],
                    threshold=threshold,
                )
            )
        return results
