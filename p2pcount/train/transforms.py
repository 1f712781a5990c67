"""The few torchvision.transforms.v2 transforms that torchvision lacks, for the ``robust``
training recipe (:mod:`p2pcount.train.robust`).

Each draws its parameters from torch's global generator (as torchvision's own do), acts on
``tv_tensors.Image`` tensors (C, H, W) and passes ``tv_tensors.KeyPoints`` through unchanged,
except :class:`HorizontalFlip`, which moves them.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as nnf
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F


def _uniform(low: float, high: float) -> float:
    """A float uniform in [low, high] from torch's global generator."""
    return low + (high - low) * float(torch.rand(()))


class HorizontalFlip(v2.RandomHorizontalFlip):
    """``v2.RandomHorizontalFlip`` for p2pcount's point convention.

    torchvision flips key points as pixel indices (x → W − 1 − x); p2pcount's points are
    continuous, pixel k spanning [k, k + 1), so a W-px-wide flip maps x → W − x (as
    torchvision's resize, rotation and perspective already treat them).
    """

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        if isinstance(inpt, tv_tensors.KeyPoints):
            flipped = inpt.as_subclass(torch.Tensor).clone()
            flipped[..., 0] = inpt.canvas_size[1] - flipped[..., 0]
            return tv_tensors.wrap(flipped, like=inpt)
        return super().transform(inpt, params)


class RandomGamma(v2.Transform):
    """Gamma correction ``x → x ** gamma`` with gamma log-uniform in ``gamma`` (low, high):
    above 1 darkens the mid-tones (low light), below 1 brightens them."""

    def __init__(self, gamma: tuple[float, float]) -> None:
        super().__init__()
        self.gamma = gamma

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        low, high = math.log(self.gamma[0]), math.log(self.gamma[1])
        return {"gamma": math.exp(_uniform(low, high))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(F.adjust_gamma, inpt, gamma=params["gamma"])


def _image_stats(flat_inputs: list[Any]) -> tuple[float, float] | None:
    """(mean, standard deviation) of the values of the first image among a transform's
    inputs (over pixels and channels); None when there is no image."""
    images = [x for x in flat_inputs if isinstance(x, tv_tensors.Image)]
    if not images:
        return None
    values = images[0].as_subclass(torch.Tensor)
    return float(values.mean()), float(values.std())


class RandomGaussianNoise(v2.Transform):
    """``v2.GaussianNoise`` with its standard deviation uniform in ``sigma`` (low, high), in
    units of the full range (0.16 is 40 grey levels of 255), at most ``max_ratio`` times the
    image's own standard deviation (so that what the image shows stays visible: a nearly
    black crop gets nearly no noise); the result is clipped."""

    def __init__(self, sigma: tuple[float, float], max_ratio: float = math.inf) -> None:
        super().__init__()
        self.sigma = sigma
        self.max_ratio = max_ratio

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        sigma = _uniform(*self.sigma)
        stats = _image_stats(flat_inputs) if math.isfinite(self.max_ratio) else None
        if stats is not None:
            sigma = min(sigma, self.max_ratio * stats[1])
        return {"sigma": sigma}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        return self._call_kernel(F.gaussian_noise, inpt, sigma=params["sigma"], clip=True)


class PoissonNoise(v2.Transform):
    """Shot noise of a sensor: each value x of a float image in [0, 1] becomes
    Poisson(x · peak) / peak, with ``peak`` (the photon count of white) log-uniform in
    (low, high): the lower, the noisier, and darker pixels relatively noisier. The peak is
    raised where needed so that the noise at the image's mean level, sqrt(mean / peak), is
    at most ``max_ratio`` times the image's standard deviation."""

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, peak: tuple[float, float], max_ratio: float = math.inf) -> None:
        super().__init__()
        self.peak = peak
        self.max_ratio = max_ratio

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        low, high = math.log(self.peak[0]), math.log(self.peak[1])
        peak = math.exp(_uniform(low, high))
        stats = _image_stats(flat_inputs) if math.isfinite(self.max_ratio) else None
        if stats is not None:
            mean, std = stats
            peak = max(peak, mean / max(self.max_ratio * std, 1e-6) ** 2)
        return {"peak": peak}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        peak = params["peak"]
        noisy = torch.poisson(inpt.as_subclass(torch.Tensor) * peak).div_(peak).clamp_(0.0, 1.0)
        return tv_tensors.wrap(noisy, like=inpt)


class MotionBlur(v2.Transform):
    """Linear motion blur of a float image: the mean along a segment of ``length`` (low,
    high) px, an integer, at an angle uniform in [0°, 180°); edges reflected."""

    _transformed_types = (tv_tensors.Image,)

    def __init__(self, length: tuple[int, int]) -> None:
        super().__init__()
        self.length = length

    def make_params(self, flat_inputs: list[Any]) -> dict[str, Any]:
        length = int(torch.randint(self.length[0], self.length[1] + 1, ()))
        return {"kernel": motion_kernel(length, _uniform(0.0, math.pi))}

    def transform(self, inpt: Any, params: dict[str, Any]) -> Any:
        kernel = params["kernel"]
        image = inpt.as_subclass(torch.Tensor)
        channels, radius = image.shape[-3], kernel.shape[-1] // 2
        batch = image.reshape(-1, channels, *image.shape[-2:])
        padded = nnf.pad(batch, [radius] * 4, mode="reflect")
        weights = kernel.to(image.dtype).expand(channels, 1, *kernel.shape)
        blurred = nnf.conv2d(padded, weights, groups=channels).reshape(image.shape)
        return tv_tensors.wrap(blurred, like=inpt)


def motion_kernel(length: int, angle: float) -> torch.Tensor:
    """A (K, K) float32 kernel summing to 1, K the odd size holding a ``length``-px segment
    through its centre at ``angle`` radians from the x axis (y down); each cell weighs
    max(0, 1 − its distance to the segment's line), within the segment's extent."""
    size = length + 1 - length % 2
    coords = torch.arange(size, dtype=torch.float32) - size // 2
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    along = x * math.cos(angle) + y * math.sin(angle)
    across = -x * math.sin(angle) + y * math.cos(angle)
    kernel = (1.0 - across.abs()).clamp_(min=0.0) * (along.abs() <= length / 2)
    return kernel / kernel.sum()
