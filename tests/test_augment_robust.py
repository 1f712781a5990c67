"""The ``robust`` and ``none`` augmentation recipes and ``train --augment``: points follow the
pixels under every geometric transform (a bright blob's centroid stays on its point, to
0.5 px), points leaving a crop are dropped, photometric transforms leave points alone, one
seed gives one output, and ``release`` is the release's recipe."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import tv_tensors
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.data.synthetic import write_dataset
from p2pcount.errors import ConfigError
from p2pcount.train.augment import AugmentConfig, random_crops
from p2pcount.train.config import TrainConfig
from p2pcount.train.recipes import crop_recipe
from p2pcount.train.robust import RobustConfig, geometric, photometric, robust_crops
from p2pcount.train.transforms import (
    HorizontalFlip,
    MotionBlur,
    PoissonNoise,
    RandomGamma,
    RandomGaussianNoise,
    motion_kernel,
)

BLACK = (0, 0, 0)
#: Every random transform off: what is left is the crop (and the scale range, 1 here).
PLAIN = RobustConfig(
    scale_min=1.0,
    scale_max=1.0,
    p_rotate=0.0,
    p_perspective=0.0,
    p_flip=0.0,
    p_color=0.0,
    p_gamma=0.0,
    p_grayscale=0.0,
    p_blur=0.0,
    p_motion_blur=0.0,
    p_sharpen=0.0,
    p_noise=0.0,
    p_poisson=0.0,
    p_jpeg=0.0,
)
ALL_PHOTOMETRIC = replace(
    PLAIN,
    p_color=1.0,
    p_gamma=1.0,
    p_grayscale=1.0,
    p_blur=1.0,
    p_motion_blur=1.0,
    p_sharpen=1.0,
    p_noise=1.0,
    p_poisson=1.0,
    p_jpeg=1.0,
)


def _blobs(height: int, width: int, step: int, side: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """A black (H, W, 3) uint8 image with white side² squares every ``step`` px and their
    centres (continuous px: a square over pixels x..x+side-1 is centred at x + side/2)."""
    array = np.zeros((height, width, 3), np.uint8)
    centres = []
    for y in range(step // 2, height - side, step):
        for x in range(step // 2, width - side, step):
            array[y : y + side, x : x + side] = 255
            centres.append((x + side / 2, y + side / 2))
    return array, np.array(centres, np.float32).reshape(-1, 2)


def _centroid(gray: np.ndarray, point: np.ndarray, radius: float) -> tuple[float, float]:
    """Intensity centroid (continuous px) of ``gray`` within ``radius`` of ``point``."""
    ys, xs = np.mgrid[: gray.shape[0], : gray.shape[1]] + 0.5
    near = (xs - point[0]) ** 2 + (ys - point[1]) ** 2 <= radius**2
    weights = gray * near
    return float((weights * xs).sum() / weights.sum()), float((weights * ys).sum() / weights.sum())


def _assert_points_on_blobs(gray: np.ndarray, points: np.ndarray, margin: float = 5.0) -> int:
    """Every point at least ``margin`` px from the edges is the centroid of its blob, to 0.5 px;
    returns how many were checked."""
    size = gray.shape[0]
    checked = 0
    for point in points:
        if margin <= point[0] < size - margin and margin <= point[1] < size - margin:
            cx, cy = _centroid(gray.astype(np.float64), point, radius=4.5)
            assert math.hypot(cx - point[0], cy - point[1]) < 0.5, (point, (cx, cy))
            checked += 1
    return checked


def _window(side: int = 96, step: int = 12) -> tuple[tv_tensors.Image, tv_tensors.KeyPoints]:
    array, centres = _blobs(side, side, step)
    image = tv_tensors.Image(torch.from_numpy(array).permute(2, 0, 1))
    return image, tv_tensors.KeyPoints(torch.from_numpy(centres), canvas_size=(side, side))


@pytest.mark.parametrize(
    "config",
    [
        replace(PLAIN, p_rotate=1.0),
        replace(PLAIN, p_rotate=1.0, degrees=30.0),
        replace(PLAIN, p_perspective=1.0),
        replace(PLAIN, p_perspective=1.0, distortion=0.4),
        replace(PLAIN, p_flip=1.0),
        replace(PLAIN, p_rotate=1.0, p_perspective=1.0, p_flip=1.0),
    ],
    ids=["rotate", "rotate30", "perspective", "perspective04", "flip", "all"],
)
def test_geometric_transforms_move_points_with_the_pixels(config: RobustConfig) -> None:
    for seed in range(4):
        torch.manual_seed(seed)
        crop, points = geometric(config, 64, BLACK)(*_window())
        assert crop.shape == (3, 64, 64) and crop.dtype == torch.uint8
        assert len(points) > 10
        inside = (points >= 0).all(1) & (points < 64).all(1)
        assert bool(inside.all())  # the others were dropped
        assert _assert_points_on_blobs(crop[0].numpy(), points.numpy()) > 10


def test_the_crop_drops_the_points_outside_it() -> None:
    image, points = _window(side=96, step=12)
    crop, kept = geometric(PLAIN, 64, BLACK)(image, points)
    # The central 64² of the 96² window: [16, 80) shifted by −16.
    expected = points[((points >= 16) & (points < 80)).all(1)] - 16
    assert torch.equal(kept.as_subclass(torch.Tensor), expected.as_subclass(torch.Tensor))
    assert torch.equal(crop, image[:, 16:80, 16:80])


def test_flip_mirrors_points_as_the_release() -> None:
    image = tv_tensors.Image(torch.zeros(3, 4, 10, dtype=torch.uint8))
    image[:, 1, 2] = 255  # pixel (x=2, y=1) spans [2, 3): centre 2.5 → 10 − 2.5 = 7.5
    points = tv_tensors.KeyPoints([[2.5, 1.5], [0.0, 0.0]], canvas_size=(4, 10))
    flipped, moved = HorizontalFlip(p=1.0)(image, points)
    assert moved.tolist() == [[7.5, 1.5], [10.0, 0.0]]
    assert flipped[:, 1, 7].tolist() == [255, 255, 255]


@pytest.mark.parametrize("scale", [0.6, 1.0, 1.5])
def test_scaled_crops_keep_points_on_their_blobs(scale: float) -> None:
    array, centres = _blobs(200, 260, step=14)
    config = replace(PLAIN, scale_min=scale, scale_max=scale, p_rotate=0.5, p_flip=0.5)
    crops = robust_crops(
        Image.fromarray(array),
        centres,
        np.random.default_rng(1),
        AugmentConfig(crops=6, fill=BLACK),
        config,
    )
    assert len(crops) == 6
    checked = 0
    for pixels, points in crops:
        assert pixels.shape == (128, 128, 3) and pixels.dtype == np.uint8
        assert points.dtype == np.float32 and points.shape[1] == 2
        assert ((points >= 0) & (points < 128)).all()
        checked += _assert_points_on_blobs(pixels[..., 0], points)
    assert checked > 50


def test_robust_crops_reach_the_image_corners_and_pad_small_images() -> None:
    array, centres = _blobs(40, 50, step=10)  # smaller than a crop: padded
    crops = robust_crops(
        Image.fromarray(array),
        centres,
        np.random.default_rng(0),
        AugmentConfig(crops=8, fill=BLACK),
        PLAIN,
    )
    for pixels, points in crops:
        assert pixels.shape == (128, 128, 3)
        assert len(points) == len(centres)  # the whole image fits in every crop
        _assert_points_on_blobs(pixels[..., 0], points, margin=0.0)


def test_robust_crops_are_reproducible_and_leave_torch_alone() -> None:
    array, centres = _blobs(150, 170, step=15)
    image = Image.fromarray(array)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    runs = [robust_crops(image, centres, np.random.default_rng(7), AugmentConfig()) for _ in "ab"]
    assert torch.equal(torch.rand(3), before)  # torch's generator was forked, not drawn
    for (a, pa), (b, pb) in zip(*runs, strict=True):
        assert np.array_equal(a, b) and np.array_equal(pa, pb)
    other = robust_crops(image, centres, np.random.default_rng(8), AugmentConfig())
    assert not all(np.array_equal(a, b) for (a, _), (b, _) in zip(runs[0], other, strict=True))


def test_photometric_transforms_leave_points_and_shape_alone() -> None:
    image, points = _window(side=64)
    torch.manual_seed(0)
    out, same = photometric(ALL_PHOTOMETRIC)(image, points)
    assert out.shape == image.shape and out.dtype == torch.uint8
    assert torch.equal(same, points) and same.canvas_size == points.canvas_size
    assert not torch.equal(out, image)
    assert torch.equal(photometric(PLAIN)(image), image)  # all off: untouched


def test_gamma_noise_and_blur_do_what_they_say() -> None:
    flat = tv_tensors.Image(torch.full((3, 64, 64), 0.25))
    assert torch.allclose(RandomGamma((2.0, 2.0))(flat), torch.tensor(0.0625))
    torch.manual_seed(0)
    grey = tv_tensors.Image(torch.full((3, 64, 64), 0.5))
    assert float(RandomGaussianNoise((0.1, 0.1))(grey).std()) == pytest.approx(0.1, rel=0.05)
    shot = PoissonNoise((100.0, 100.0))(grey)
    assert float(shot.mean()) == pytest.approx(0.5, abs=0.01)
    assert float(shot.var()) == pytest.approx(0.5 / 100, rel=0.1)  # Poisson: var = mean
    assert torch.equal(MotionBlur((5, 5))(grey), grey)  # flat stays flat


def test_colour_jitter_turns_hues_all_the_way_round() -> None:
    # Heads of any colour (helmets, hoods, dyed hair) must look like heads: the jitter's
    # hue shift spans the whole circle, so a pure red crop comes out green or blue too.
    hues_only = replace(
        PLAIN, p_color=1.0, brightness=(1.0, 1.0), contrast=(1.0, 1.0), saturation=(1.0, 1.0)
    )
    red = tv_tensors.Image(torch.zeros(3, 8, 8, dtype=torch.uint8))
    red[0] = 255
    camera = photometric(hues_only)
    dominant = set()
    torch.manual_seed(0)
    for _ in range(60):
        out = camera(red)
        assert out.dtype == torch.uint8 and out.shape == red.shape
        dominant.add(int(out.float().mean(dim=(1, 2)).argmax()))
    assert dominant == {0, 1, 2}


def test_noise_never_buries_what_the_crop_shows() -> None:
    """With a noise-to-signal cap, the added noise's standard deviation is at most that
    share of the crop's own: a nearly black crop gets nearly none, a contrasted one all."""
    torch.manual_seed(0)
    stripes = torch.zeros(3, 64, 64)
    stripes[:, :, ::2] = 0.04  # dark: std 0.02
    dark = tv_tensors.Image(stripes)
    faint = tv_tensors.Image(stripes + 0.48)  # std 0.02 too, away from the clipping
    capped = RandomGaussianNoise((0.1, 0.1), max_ratio=0.5)(faint)
    assert float((capped - faint).std()) == pytest.approx(0.01, rel=0.1)
    bright = tv_tensors.Image(stripes * 12.5 + 0.25)  # std 0.25: the cap (0.125) is above 0.1
    noisy = RandomGaussianNoise((0.1, 0.1), max_ratio=0.5)(bright)
    assert float((noisy - bright).std()) == pytest.approx(0.1, rel=0.1)
    flat = tv_tensors.Image(torch.full((3, 64, 64), 0.3))
    assert torch.equal(RandomGaussianNoise((0.1, 0.1), max_ratio=0.5)(flat), flat)
    # Shot noise: var = level / peak at each level; the peak is raised until the noise at the
    # mean level (0.02) is at most half the std (0.02), i.e. peak >= 0.02 / 0.01² = 200.
    shot = PoissonNoise((10.0, 10.0), max_ratio=0.5)(dark)
    bright_pixels = shot[:, :, ::2]
    assert float(bright_pixels.var()) == pytest.approx(0.04 / 200, rel=0.15)
    uncapped = PoissonNoise((10.0, 10.0))(dark)[:, :, ::2]
    assert float(uncapped.var()) == pytest.approx(0.04 / 10, rel=0.15)


def test_motion_kernel_is_a_normalized_segment() -> None:
    kernel = motion_kernel(5, 0.0)  # horizontal: the middle row
    assert kernel.shape == (5, 5) and float(kernel.sum()) == pytest.approx(1.0)
    assert torch.allclose(kernel[2], torch.full((5,), 0.2)) and float(kernel[:2].sum()) == 0.0
    diagonal = motion_kernel(7, math.pi / 4)
    assert float(diagonal.sum()) == pytest.approx(1.0) and torch.equal(diagonal, diagonal.T)


def test_release_recipe_is_random_crops_and_none_only_crops() -> None:
    # Each pixel spells its own position: R, G = x, y mod 256, B = their high bits.
    ys, xs = np.mgrid[:300, :400]
    array = np.stack([xs & 255, ys & 255, (xs >> 8) | ((ys >> 8) << 1)], -1).astype(np.uint8)
    image = Image.fromarray(array)
    points = np.random.default_rng(0).uniform(0, [400, 300], (80, 2)).astype(np.float32)
    release = crop_recipe("release", AugmentConfig())(image, points, np.random.default_rng(4))
    direct = random_crops(image, points, np.random.default_rng(4), AugmentConfig())
    for (a, pa), (b, pb) in zip(release, direct, strict=True):
        assert np.array_equal(a, b) and np.array_equal(pa, pb)
    for pixels, kept in crop_recipe("none", AugmentConfig())(
        image, points, np.random.default_rng(4)
    ):
        # An unscaled, unflipped window of the image, with the points it holds, shifted.
        red, green, blue = (int(v) for v in pixels[0, 0])
        left, top = red + ((blue & 1) << 8), green + ((blue >> 1) << 8)
        assert np.array_equal(pixels, array[top : top + 128, left : left + 128])
        inside = ((points >= [left, top]) & (points < [left + 128, top + 128])).all(1)
        assert np.allclose(kept, points[inside] - [left, top])


def test_train_config_refuses_an_unknown_augmentation() -> None:
    with pytest.raises(ConfigError, match="augment must be one of release, robust, none"):
        TrainConfig(augment="heavy")


FAST = [
    "--epochs", "1", "--batch-size", "1", "--crops-per-image", "2", "--crop-size", "32",
    "--workers", "0", "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
]  # fmt: skip


def _saved_augment(run: Path) -> str:
    state = torch.load(run / "state.pt", weights_only=False)
    return json.loads(state["train_config"])["augment"]


def test_train_augment_robust_runs_and_resumes_with_it(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", count=2, seed=3, min_size=48, max_size=64)
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(app, ["train", str(data), "-o", str(run), *FAST, "--augment", "robust"])
    assert result.exit_code == 0, result.stderr
    assert _saved_augment(run) == "robust"
    log = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
    assert len(log) == 1 and math.isfinite(log[0]["loss"])
    # Resumed without --augment: the run's own recipe, not the default.
    again = runner.invoke(
        app, ["train", str(data), "-o", str(run), *FAST, "--epochs", "2", "--resume"]
    )
    assert again.exit_code == 0, again.stderr
    assert _saved_augment(run) == "robust"


def test_train_default_is_release_and_bad_names_are_usage_errors(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", count=1, seed=3, min_size=48, max_size=48)
    runner = CliRunner()
    assert runner.invoke(app, ["train", str(data), "-o", str(tmp_path / "r"), *FAST]).exit_code == 0
    assert _saved_augment(tmp_path / "r") == "release"
    bad = runner.invoke(
        app, ["train", str(data), "-o", str(tmp_path / "b"), *FAST, "--augment", "x"]
    )
    assert bad.exit_code == 2 and "--augment" in bad.stderr
