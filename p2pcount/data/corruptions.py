"""Named image corruptions at five severities, for measuring a model's robustness.

In the spirit of ImageNet-C (Hendrycks & Dietterich, *Benchmarking Neural Network
Robustness to Common Corruptions and Perturbations*, ICLR 2019): each corruption is what a
camera or its encoder does to an image, at severities 1 (mild) to 5 (severe), applied to
the decoded 8-bit RGB image; head points are never moved. Pixel values are taken in
[0, 1] (grey level / 255), corrupted, clipped, and rounded back to uint8.

=============== ================================== ===================================
name            parameter                          severities 1 … 5
=============== ================================== ===================================
gaussian_noise  noise σ, per pixel and channel     0.04, 0.06, 0.08, 0.09, 0.10
shot_noise      photons at white c: Poisson(x c)/c 500, 250, 100, 75, 50
jpeg            JPEG quality (Pillow, 4:2:0)       80, 65, 50, 35, 20
blur            Gaussian σ (px)                    0.5, 1, 1.5, 2, 3
motion_blur     streak length (px), at an angle    3, 5, 7, 9, 13
                uniform in ±45° (bilinear line)
low_light       gain g, gamma γ, read noise σ:     (0.7, 1.2, 0.01), (0.55, 1.4, 0.015),
                g x^γ + N(0, σ)                    (0.4, 1.6, 0.02), (0.3, 1.8, 0.025),
                                                   (0.2, 2.0, 0.03)
bright          added to HSV value (hue and        0.1, 0.2, 0.3, 0.4, 0.5
                saturation kept)
contrast        factor on the distance to the      0.75, 0.5, 0.4, 0.3, 0.15
                image's mean grey level
grayscale       blend towards BT.601 luma          0.2, 0.4, 0.6, 0.8, 1.0
                (Pillow's ``convert("L")``)
=============== ================================== ===================================

Noise levels are CIFAR-10-C's (σ 0.04–0.10 of the range), the scale of sensor noise;
brightness is ImageNet-C's. Random corruptions (the noises, low light, the motion
direction) draw from a generator seeded by a stable hash (SHA-256) of the corruption's
name, its severity and a key the caller gives (the image's file name in ``p2pcount
eval``): the same image gets the same corruption in every run and on every machine.

This module does not import torch.
"""

from __future__ import annotations

import hashlib
import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

from p2pcount.errors import ConfigError, ImageError

#: The severity of a corruption named without one (``jpeg`` is ``jpeg:3``).
DEFAULT_SEVERITY = 3
SEVERITIES = range(1, 6)

#: ITU-R BT.601 luma weights of R, G, B (those of Pillow's ``convert("L")``).
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)

Transform = Callable[[np.ndarray, object, np.random.Generator], np.ndarray]


def _gaussian_noise(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return x + rng.normal(0.0, sigma, x.shape).astype(np.float32)


def _shot_noise(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    return (rng.poisson(x * photons) / photons).astype(np.float32)


def _jpeg(x: np.ndarray, quality: int, rng: np.random.Generator) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(_to_uint8(x)).save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return np.asarray(decoded.convert("RGB"), dtype=np.float32) / 255.0


def _blur(x: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    return gaussian_filter(x, sigma=(sigma, sigma, 0.0), mode="nearest")


def _motion_blur(x: np.ndarray, length: int, rng: np.random.Generator) -> np.ndarray:
    """The mean of ``length`` copies shifted along a segment of that length centred on the
    pixel, one per px, at an angle uniform in ±45° from the horizontal; sub-pixel shifts
    are bilinear (an anti-aliased line kernel), edges repeated."""
    angle = math.radians(rng.uniform(-45.0, 45.0))
    kernel: dict[tuple[int, int], float] = {}
    for t in np.linspace(-(length - 1) / 2, (length - 1) / 2, length):
        along_y, along_x = t * math.sin(angle), t * math.cos(angle)
        y0, x0 = math.floor(along_y), math.floor(along_x)
        for dy, wy in ((y0, 1 - (along_y - y0)), (y0 + 1, along_y - y0)):
            for dx, wx in ((x0, 1 - (along_x - x0)), (x0 + 1, along_x - x0)):
                kernel[dy, dx] = kernel.get((dy, dx), 0.0) + wy * wx / length
    pad = math.ceil((length - 1) / 2) + 1
    padded = np.pad(x, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    height, width = x.shape[:2]
    total = np.zeros_like(x)
    for (dy, dx), weight in kernel.items():
        if weight > 0:
            total += weight * padded[pad + dy : pad + dy + height, pad + dx : pad + dx + width]
    return total


def _low_light(
    x: np.ndarray, params: tuple[float, float, float], rng: np.random.Generator
) -> np.ndarray:
    gain, gamma, sigma = params
    dark = gain * np.power(x, gamma)
    return dark + rng.normal(0.0, sigma, x.shape).astype(np.float32)


def _bright(x: np.ndarray, shift: float, rng: np.random.Generator) -> np.ndarray:
    """HSV value + ``shift``, clipped to 1, hue and saturation kept: scaling R, G, B by
    new value / value does exactly that (a black pixel becomes grey)."""
    value = x.max(axis=2, keepdims=True)
    brighter = np.minimum(value + shift, 1.0)
    scale = np.divide(brighter, value, out=np.zeros_like(value), where=value > 0)
    return np.where(value > 0, x * scale, brighter)


def _contrast(x: np.ndarray, factor: float, rng: np.random.Generator) -> np.ndarray:
    mean = x.mean()
    return (x - mean) * factor + mean


def _grayscale(x: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    luma = (x @ _LUMA)[..., None]
    return (1.0 - amount) * x + amount * luma


#: name → (its severities' parameters 1 … 5, the transform of [0, 1] float32 (H, W, 3)).
CORRUPTIONS: dict[str, tuple[tuple, Transform]] = {
    "gaussian_noise": ((0.04, 0.06, 0.08, 0.09, 0.10), _gaussian_noise),
    "shot_noise": ((500, 250, 100, 75, 50), _shot_noise),
    "jpeg": ((80, 65, 50, 35, 20), _jpeg),
    "blur": ((0.5, 1.0, 1.5, 2.0, 3.0), _blur),
    "motion_blur": ((3, 5, 7, 9, 13), _motion_blur),
    "low_light": (
        (
            (0.7, 1.2, 0.01),
            (0.55, 1.4, 0.015),
            (0.4, 1.6, 0.02),
            (0.3, 1.8, 0.025),
            (0.2, 2.0, 0.03),
        ),
        _low_light,
    ),
    "bright": ((0.1, 0.2, 0.3, 0.4, 0.5), _bright),
    "contrast": ((0.75, 0.5, 0.4, 0.3, 0.15), _contrast),
    "grayscale": ((0.2, 0.4, 0.6, 0.8, 1.0), _grayscale),
}

_USAGE = f"NAME or NAME:SEVERITY, NAME one of {', '.join(CORRUPTIONS)}, SEVERITY 1 to 5"


@dataclass(frozen=True)
class Corruption:
    """One corruption at one severity (1 … 5); see the module's table.

    Raises:
        ConfigError: an unknown name or a severity outside 1 … 5.
    """

    name: str
    severity: int = DEFAULT_SEVERITY

    def __post_init__(self) -> None:
        if self.name not in CORRUPTIONS:
            raise ConfigError(f"unknown corruption {self.name!r}; expected {_USAGE}")
        if not isinstance(self.severity, int) or self.severity not in SEVERITIES:
            raise ConfigError(
                f"{self.name}: severity {self.severity} is out of range; expected {_USAGE}"
            )

    @property
    def label(self) -> str:
        """``name:severity``, as :func:`parse_corruption` reads it."""
        return f"{self.name}:{self.severity}"

    @property
    def parameter(self) -> object:
        """This severity's parameter in the module's table (σ, quality, factor …)."""
        return CORRUPTIONS[self.name][0][self.severity - 1]

    def apply(self, image: np.ndarray, key: str | int) -> np.ndarray:
        """The corrupted copy of ``image``, a uint8 (H, W, 3) RGB array; same shape and dtype.

        ``key`` (an image's file name or index) seeds the random draws with the name and
        severity: equal arguments give identical bytes.

        Raises:
            ImageError: ``image`` is not a uint8 (H, W, 3) array.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ImageError(
                f"{self.label}: corruptions apply to uint8 (H, W, 3) RGB images, not "
                f"{image.dtype} {image.shape}"
            )
        seed = hashlib.sha256(f"{self.label}:{key}".encode()).digest()[:8]
        rng = np.random.default_rng(int.from_bytes(seed, "little"))
        transform = CORRUPTIONS[self.name][1]
        return _to_uint8(transform(image.astype(np.float32) / 255.0, self.parameter, rng))


def parse_corruption(text: str) -> Corruption:
    """Read ``NAME`` or ``NAME:SEVERITY`` (``"jpeg:3"``); the severity defaults to 3.

    Raises:
        ConfigError: an unknown name, or a severity that is not an integer in 1 … 5; the
            message names the allowed names.
    """
    name, colon, severity = text.strip().partition(":")
    if not colon:
        return Corruption(name.strip().lower())
    try:
        level = int(severity)
    except ValueError:
        raise ConfigError(f"{text}: severity is not an integer; expected {_USAGE}") from None
    return Corruption(name.strip().lower(), level)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats → uint8 grey levels, clipped and rounded to the nearest."""
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
