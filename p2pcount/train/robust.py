"""The ``robust`` training recipe: the release's crops and flips with a wider scale range,
small rotations and perspective, then what cameras do to images (colour, gamma, grayscale,
blur, sensor noise, JPEG), on torchvision.transforms.v2 with ``tv_tensors.KeyPoints`` so
that the points follow the pixels exactly.

Points are (K, 2) float32 (x, y) in px, pixel k spanning [k, k + 1) (torchvision's resize,
rotation and perspective use the same continuous convention; its flip does not, see
:class:`~p2pcount.train.transforms.HorizontalFlip`). A point is kept in a crop when it lies
in [0, S) × [0, S) after every geometric step (``v2.SanitizeKeyPoints``), as ``release``
keeps the points of its crop windows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision import tv_tensors
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as F

from p2pcount.train.augment import AugmentConfig
from p2pcount.train.transforms import (
    HorizontalFlip,
    MotionBlur,
    PoissonNoise,
    RandomGamma,
    RandomGaussianNoise,
)


@dataclass(frozen=True)
class RobustConfig:
    """Probabilities (``p_*``, per crop) and ranges of the ``robust`` recipe.

    Geometry: one scale factor per image, uniform in [scale_min, scale_max]; per crop a
    rotation uniform in ±``degrees``; a perspective whose corners move inwards by up to
    ``distortion`` × half the window; a left–right flip. Crops are cut from a window
    ``window_margin`` × the crop size, so that rotation and perspective fill the crop with
    image rather than padding.

    Photometry, in this order (a camera's): colour jitter (brightness, contrast and
    saturation factors in their ranges, hue shift within ±``hue`` turns); gamma (log-uniform);
    grayscale; Gaussian blur (σ px) or motion blur (length px), each on its own; sharpening
    (factor 2); Gaussian noise (σ in units of the full range: 0.16 is 40 grey levels);
    Poisson shot noise (``poisson_peak``: photons at white, log-uniform), each at most
    ``noise_to_signal`` times the crop's own standard deviation; JPEG re-encoding (quality,
    an integer, uniform).

    The darkening and noise stop where heads stay visible (noise up to eval's severity 5 and
    never above half the crop's own contrast): the first ranges (brightness from 0.35, gamma
    to 2.0, noise σ to 0.16, 10 photons, no cap) turned dark synthetic crowds into noise that
    still carried their head labels, and the model fine-tuned on them drew heads on dark,
    noisy person-free scenes.
    """

    scale_min: float = 0.5
    scale_max: float = 1.6
    p_rotate: float = 0.3
    degrees: float = 10.0
    p_perspective: float = 0.3
    distortion: float = 0.2
    p_flip: float = 0.5
    window_margin: float = 1.25
    p_color: float = 0.5
    brightness: tuple[float, float] = (0.5, 1.5)
    contrast: tuple[float, float] = (0.5, 1.5)
    saturation: tuple[float, float] = (0.4, 1.6)
    hue: float = 0.5
    p_gamma: float = 0.3
    gamma: tuple[float, float] = (0.67, 1.5)
    p_grayscale: float = 0.2
    p_blur: float = 0.2
    blur_sigma: tuple[float, float] = (0.3, 2.0)
    p_motion_blur: float = 0.2
    motion_length: tuple[int, int] = (3, 9)
    p_sharpen: float = 0.2
    p_noise: float = 0.3
    noise_sigma: tuple[float, float] = (0.01, 0.1)
    p_poisson: float = 0.2
    poisson_peak: tuple[float, float] = (30.0, 300.0)
    noise_to_signal: float = 0.5
    p_jpeg: float = 0.3
    jpeg_quality: tuple[int, int] = (20, 95)


def geometric(config: RobustConfig, size: int, fill: tuple[int, int, int]) -> v2.Compose:
    """Rotation, perspective, the central size² crop, dropping the points outside it, and the
    flip, for a (window tv_tensors.Image (3, M, M), KeyPoints) pair; corners uncovered by
    rotation or perspective take ``fill`` (RGB, 0–255)."""
    bilinear = v2.InterpolationMode.BILINEAR
    return v2.Compose(
        [
            v2.RandomApply(
                [v2.RandomRotation(config.degrees, interpolation=bilinear, fill=list(fill))],
                p=config.p_rotate,
            ),
            v2.RandomPerspective(config.distortion, config.p_perspective, bilinear, list(fill)),
            v2.CenterCrop(size),
            v2.SanitizeKeyPoints(),
            HorizontalFlip(config.p_flip),
        ]
    )


def photometric(config: RobustConfig) -> v2.Compose:
    """The camera's effects on a uint8 tv_tensors.Image (3, H, W); returns uint8 of the same
    shape. Key points given with it pass through unchanged."""
    jpeg = v2.Compose(
        [
            v2.ToDtype(torch.uint8, scale=True),
            v2.JPEG(list(config.jpeg_quality)),
            v2.ToDtype(torch.float32, scale=True),
        ]
    )
    jitter = v2.ColorJitter(
        config.brightness, config.contrast, config.saturation, (-config.hue, config.hue)
    )
    return v2.Compose(
        [
            v2.ToDtype(torch.float32, scale=True),
            v2.RandomApply([jitter], p=config.p_color),
            v2.RandomApply([RandomGamma(config.gamma)], p=config.p_gamma),
            v2.RandomGrayscale(config.p_grayscale),
            v2.RandomApply([v2.GaussianBlur(7, config.blur_sigma)], p=config.p_blur),
            v2.RandomApply([MotionBlur(config.motion_length)], p=config.p_motion_blur),
            v2.RandomAdjustSharpness(2.0, config.p_sharpen),
            v2.RandomApply(
                [RandomGaussianNoise(config.noise_sigma, config.noise_to_signal)], p=config.p_noise
            ),
            v2.RandomApply(
                [PoissonNoise(config.poisson_peak, config.noise_to_signal)], p=config.p_poisson
            ),
            v2.RandomApply([jpeg], p=config.p_jpeg),
            v2.ToDtype(torch.uint8, scale=True),
        ]
    )


def robust_crops(
    image: Image.Image,
    points: np.ndarray,
    rng: np.random.Generator,
    crops: AugmentConfig,
    config: RobustConfig = RobustConfig(),  # noqa: B008 (frozen, so shared safely)
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``crops.crops`` augmented (S, S, 3) uint8 crops (S = ``crops.crop_size``) of an RGB
    image with their (M, 2) float32 points, as :func:`~p2pcount.train.augment.random_crops`
    returns them; padding takes ``crops.fill``.

    All randomness comes from ``rng``: it draws the scale and the crop windows, and seeds
    torch's generator (forked, so the caller's is left as it was) for the v2 transforms.
    """
    size = crops.crop_size
    pad = math.ceil(size * (config.window_margin - 1) / 2)
    window = size + 2 * pad
    seed = int(rng.integers(2**63))
    factor = float(rng.uniform(config.scale_min, config.scale_max))
    geometry, camera = geometric(config, size, crops.fill), photometric(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        canvas, keypoints = _scaled_canvas(image, points, factor, size, pad, crops.fill)
        height, width = canvas.shape[-2:]
        out = []
        for _ in range(crops.crops):
            left = int(rng.integers(0, width - window + 1))
            top = int(rng.integers(0, height - window + 1))
            cut = (
                F.crop(canvas, top, left, window, window),
                F.crop(keypoints, top, left, window, window),
            )
            crop, inside = geometry(*cut)
            crop = camera(crop)
            pixels = crop.as_subclass(torch.Tensor).permute(1, 2, 0).contiguous().numpy()
            out.append((pixels, inside.as_subclass(torch.Tensor).numpy().astype(np.float32)))
    return out


def _scaled_canvas(
    image: Image.Image,
    points: np.ndarray,
    factor: float,
    size: int,
    pad: int,
    fill: tuple[int, int, int],
) -> tuple[tv_tensors.Image, tv_tensors.KeyPoints]:
    """The image resized by ``factor`` (bilinear, antialiased) and padded with ``fill``:
    ``pad`` px on every side and more on the right and bottom to reach at least size px
    inside, so that a window of size + 2·pad px centred anywhere on the image fits; its
    points moved with it."""
    tensor = tv_tensors.Image(F.pil_to_tensor(image))
    height, width = tensor.shape[-2:]
    keypoints = tv_tensors.KeyPoints(
        torch.from_numpy(np.asarray(points, np.float32).reshape(-1, 2)), canvas_size=(height, width)
    )
    scaled = [max(1, round(height * factor)), max(1, round(width * factor))]
    tensor = F.resize(tensor, scaled, antialias=True)
    keypoints = F.resize(keypoints, scaled)
    padding = [pad, pad, pad + max(0, size - scaled[1]), pad + max(0, size - scaled[0])]
    return F.pad(tensor, padding, fill=list(fill)), F.pad(keypoints, padding)
