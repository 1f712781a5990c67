"""Tests of the corruption benchmark: each corruption's effect on known images, determinism,
the parser's errors, evaluation on corrupted images, and ``eval --corrupt``."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount import Counter
from p2pcount.cli import app
from p2pcount.data.corruptions import CORRUPTIONS, Corruption, parse_corruption
from p2pcount.data.datasets import load_dataset
from p2pcount.data.synthetic import write_dataset
from p2pcount.errors import ConfigError, ImageError
from p2pcount.evaluate.evaluation import evaluate
from p2pcount.io.images import load_image
from tests.conftest import constant_model

SEVERITIES = range(1, 6)


def flat(level: int, size: tuple[int, int] = (96, 128)) -> np.ndarray:
    return np.full((*size, 3), level, dtype=np.uint8)


def checkerboard(cell: int = 2, size: int = 64) -> np.ndarray:
    y, x = np.mgrid[:size, :size]
    board = ((x // cell + y // cell) % 2 * 200 + 28).astype(np.uint8)
    return np.repeat(board[..., None], 3, axis=2)


def textured(seed: int = 0) -> np.ndarray:
    """A colour gradient with random blocks: something JPEG has to approximate."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:64, :80]
    image = np.stack([x * 3, y * 4, (x + y) * 2], axis=2).astype(np.int64)
    image += np.kron(rng.integers(-60, 60, (8, 10, 3)), np.ones((8, 8, 1), dtype=np.int64))
    return np.clip(image, 0, 255).astype(np.uint8)


def high_frequency_energy(image: np.ndarray) -> float:
    """Mean squared difference of horizontal and vertical neighbours (grey levels²)."""
    grey = image.astype(np.float64).mean(axis=2)
    return float((np.diff(grey, axis=0) ** 2).mean() + (np.diff(grey, axis=1) ** 2).mean())


def apply(name: str, severity: int, image: np.ndarray, key: str | int = "a.jpg") -> np.ndarray:
    return Corruption(name, severity).apply(image, key)


@pytest.mark.parametrize("name", sorted(CORRUPTIONS))
def test_shape_dtype_and_determinism(name: str) -> None:
    image = textured()
    for severity in SEVERITIES:
        out = apply(name, severity, image)
        assert out.shape == image.shape and out.dtype == np.uint8
        assert apply(name, severity, image).tobytes() == out.tobytes()
    assert not np.shares_memory(out, image) and np.array_equal(image, textured())


@pytest.mark.parametrize("name", ["gaussian_noise", "shot_noise", "low_light", "motion_blur"])
def test_random_corruptions_are_seeded_by_the_key(name: str) -> None:
    image = textured()
    first, again = apply(name, 3, image, "a.jpg"), apply(name, 3, image, "a.jpg")
    assert np.array_equal(first, again)
    others = [apply(name, 3, image, key) for key in ("b.jpg", 7)]
    assert any(not np.array_equal(first, other) for other in others)


def test_gaussian_noise_std_is_the_tables_sigma() -> None:
    stds = []
    for severity, sigma in zip(SEVERITIES, (0.04, 0.06, 0.08, 0.09, 0.10), strict=True):
        out = apply("gaussian_noise", severity, flat(128)).astype(np.float64)
        assert out.mean() == pytest.approx(128, abs=0.5)
        assert out.std() == pytest.approx(sigma * 255, rel=0.03)
        stds.append(out.std())
    assert stds == sorted(stds)


def test_shot_noise_follows_poisson_statistics() -> None:
    # Poisson(x c) / c at x = 0.5 has the standard deviation √(x / c) of the range.
    for severity, photons in zip(SEVERITIES, (500, 250, 100, 75, 50), strict=True):
        out = apply("shot_noise", severity, flat(128)).astype(np.float64) / 255
        assert out.mean() == pytest.approx(128 / 255, abs=0.005)
        assert out.std() == pytest.approx(np.sqrt(128 / 255 / photons), rel=0.05)


def test_jpeg_is_pillows_round_trip_and_worsens_with_severity() -> None:
    image = textured()
    errors = []
    for severity, quality in zip(SEVERITIES, (80, 65, 50, 35, 20), strict=True):
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, "JPEG", quality=quality)
        expected = np.asarray(Image.open(buffer).convert("RGB"))
        out = apply("jpeg", severity, image)
        assert np.array_equal(out, expected)
        errors.append(np.abs(out.astype(int) - image).mean())
    assert errors[0] > 0 and errors == sorted(errors)


@pytest.mark.parametrize(
    ("name", "image"),
    # a streak along a diagonal would leave a checkerboard's diagonals alone: noise instead
    [
        ("blur", checkerboard()),
        ("motion_blur", np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)),
    ],
)
def test_blurs_lower_high_frequencies_monotonically(name: str, image: np.ndarray) -> None:
    energies = [high_frequency_energy(image)]
    energies += [high_frequency_energy(apply(name, s, image)) for s in SEVERITIES]
    assert all(a > b for a, b in zip(energies, energies[1:], strict=False))
    assert np.array_equal(apply(name, 5, flat(77)), flat(77))  # a flat image stays flat


def test_motion_blur_spreads_a_dot_along_a_streak_keeping_its_light() -> None:
    dot = flat(0, (41, 41))
    dot[20, 20] = 255
    for severity, length in zip(SEVERITIES, (3, 5, 7, 9, 13), strict=True):
        out = apply("motion_blur", severity, dot)[..., 0].astype(int)
        lit = np.argwhere(out > 0)
        assert length <= len(lit) <= 4 * length  # up to 4 pixels per step
        assert abs(out.sum() - 255) <= len(lit) / 2  # each pixel rounded by at most 0.5
        height, width = np.ptp(lit, axis=0)
        # a segment of length - 1 px at ≤ 45° from the horizontal, plus the bilinear pixel
        assert (length - 1) / np.sqrt(2) <= width <= length and height <= width + 1


def test_low_light_darkens_as_the_table_says() -> None:
    table = [(0.7, 1.2), (0.55, 1.4), (0.4, 1.6), (0.3, 1.8), (0.2, 2.0)]
    means = []
    for severity, (gain, gamma) in zip(SEVERITIES, table, strict=True):
        out = apply("low_light", severity, flat(128)).astype(np.float64)
        if severity <= 3:  # far enough from 0 that clipping the noise does not bias it
            assert out.mean() == pytest.approx(255 * gain * (128 / 255) ** gamma, abs=0.5)
        means.append(out.mean())
    assert means[0] < 128 and means == sorted(means, reverse=True)


def test_bright_raises_the_value_keeping_hue_and_saturation() -> None:
    pixel = np.array([[[120, 60, 30]]], dtype=np.uint8)
    out = apply("bright", 2, pixel)[0, 0].astype(float)
    # value 120/255 + 0.2 = 171/255; every channel scaled by 171/120
    assert out == pytest.approx([171, 85.5, 42.75], abs=0.51)
    assert np.array_equal(apply("bright", 2, flat(0, (1, 1))), flat(51, (1, 1)))
    assert np.array_equal(apply("bright", 5, flat(255, (1, 1))), flat(255, (1, 1)))
    means = [apply("bright", s, textured()).mean() for s in SEVERITIES]
    assert textured().mean() < means[0] and means == sorted(means)


def test_grayscale_blends_towards_pillows_luma() -> None:
    image = textured()
    grey = apply("grayscale", 5, image).astype(int)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    luma = np.asarray(Image.fromarray(image).convert("L")).astype(int)
    assert np.abs(grey[..., 0] - luma).max() <= 1
    spreads = [np.ptp(apply("grayscale", s, image).astype(int), axis=2).mean() for s in SEVERITIES]
    assert np.ptp(image.astype(int), axis=2).mean() > spreads[0]
    assert spreads == sorted(spreads, reverse=True) and spreads[-1] == 0


def test_contrast_shrinks_the_spread_by_its_factor() -> None:
    image = textured().astype(np.float64)
    for severity, factor in zip(SEVERITIES, (0.75, 0.5, 0.4, 0.3, 0.15), strict=True):
        out = apply("contrast", severity, textured()).astype(np.float64)
        assert out.mean() == pytest.approx(image.mean(), abs=0.5)
        assert out.std() == pytest.approx(factor * image.std(), abs=0.3)


def test_parser_reads_names_and_severities() -> None:
    assert parse_corruption("jpeg:3") == Corruption("jpeg", 3)
    assert parse_corruption("blur") == Corruption("blur", 3)
    assert parse_corruption(" Low_Light:5 ") == Corruption("low_light", 5)
    corruption = parse_corruption("gaussian_noise:1")
    assert corruption.label == "gaussian_noise:1" and corruption.parameter == 0.04


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("fog", "unknown corruption 'fog'"),
        ("jpeg:0", "severity 0 is out of range"),
        ("jpeg:6", "severity 6 is out of range"),
        ("jpeg:x", "severity is not an integer"),
        ("jpeg:", "severity is not an integer"),
        ("", "unknown corruption ''"),
    ],
)
def test_parser_errors_name_the_allowed_corruptions(text: str, reason: str) -> None:
    with pytest.raises(ConfigError, match=reason) as caught:
        parse_corruption(text)
    message = str(caught.value)
    assert "\n" not in message
    assert all(name in message for name in CORRUPTIONS) and "1 to 5" in message


def test_only_uint8_rgb_arrays_are_corrupted() -> None:
    with pytest.raises(ImageError, match=r"jpeg:3: .*uint8 \(H, W, 3\)"):
        Corruption("jpeg").apply(flat(0).astype(np.float32), 0)
    with pytest.raises(ImageError):
        Corruption("jpeg").apply(flat(0)[..., 0], 0)


@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data", count=2, seed=3, min_size=48, max_size=64)


def test_evaluation_counts_the_corrupted_image_and_keeps_the_points(
    tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = Counter(constant_model(logit=2.0), device="cpu")
    seen: list[np.ndarray] = []
    count = counter.count

    def spy(image, **kwargs):
        seen.append(np.array(image))
        return count(image, **kwargs)

    monkeypatch.setattr(counter, "count", spy)
    samples = load_dataset(tiny_dataset)
    corruption = Corruption("gaussian_noise", 2)
    clean = evaluate(counter, samples, radius=4.0)
    noisy = evaluate(counter, samples, radius=4.0, corruption=corruption)
    for sample, before, after in zip(samples, seen[:2], seen[2:], strict=True):
        decoded = np.asarray(load_image(sample.image, max_pixels=None, exif=False))
        assert np.array_equal(before, decoded)
        assert np.array_equal(after, corruption.apply(decoded, sample.image.name))
    # The constant model ignores pixels: metrics against the same points are unchanged.
    assert [e.gt_points.tolist() for e in noisy.images] == [s.points.tolist() for s in samples]
    assert (noisy.mae, noisy.localization) == (clean.mae, clean.localization)


def run_eval(dataset: Path, weights: Path, *extra: str):
    args = ["eval", str(dataset), "-w", str(weights), "--backend", "torch", *extra]
    return CliRunner().invoke(app, args)


def test_eval_corrupt_json_has_an_entry_per_corruption(
    tiny_dataset: Path, all_heads_weights: Path
) -> None:
    corrupt = ["--corrupt", "jpeg:2", "--corrupt", "low_light", "--corrupt", "jpeg:2"]
    result = run_eval(tiny_dataset, all_heads_weights, "--format", "json", *corrupt)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    entries = document["corruptions"]
    assert [(e["name"], e["severity"]) for e in entries] == [("jpeg", 2), ("low_light", 3)]
    for entry in entries:  # every anchor is a head whatever the pixels
        for key in ("images", "mae", "mse", "precision", "recall", "f1", "nap"):
            assert entry[key] == document[key]
        assert entry["per_image"] == document["per_image"]
    assert "corruptions" not in json.loads(
        run_eval(tiny_dataset, all_heads_weights, "--format", "json").stdout
    )


def test_eval_corrupt_csv_rows_and_summary(
    tiny_dataset: Path, random_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    applied: list[tuple[str, object]] = []
    corrupt = Corruption.apply

    def spy(self: Corruption, image: np.ndarray, key: str | int) -> np.ndarray:
        applied.append((self.label, key))
        return corrupt(self, image, key)

    monkeypatch.setattr(Corruption, "apply", spy)
    result = run_eval(tiny_dataset, random_weights, "--corrupt", "gaussian_noise:5")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["corruption"] for r in rows] == ["none"] * 2 + ["gaussian_noise:5"] * 2
    clean, noisy = rows[:2], rows[2:]
    assert [r["path"] for r in clean] == [r["path"] for r in noisy]
    assert [r["gt"] for r in clean] == [r["gt"] for r in noisy]
    # Each image corrupted once, seeded by its file name (random-init weights barely see
    # pixels, so the corrupted images themselves are checked in the test above).
    assert applied == [("gaussian_noise:5", f"0000{i}.jpg") for i in range(2)]
    assert "corruptions (F1 @ 8 px)" in result.stderr
    assert "gaussian_noise:5" in result.stderr and "│ none" in result.stderr
    again = run_eval(tiny_dataset, random_weights, "--corrupt", "gaussian_noise:5")
    assert again.stdout == result.stdout  # seeded: the same numbers every run


@pytest.mark.parametrize("value", ["fog", "blur:9"])
def test_eval_bad_corruption_is_one_line_exit_2(
    tiny_dataset: Path, random_weights: Path, value: str
) -> None:
    result = run_eval(tiny_dataset, random_weights, "--corrupt", value)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("p2pcount: error: ")
    assert "gaussian_noise, shot_noise, jpeg" in lines[0] and "Traceback" not in result.output


def test_eval_help_lists_every_corruption() -> None:
    result = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--corrupt" in result.stdout
    assert all(name in result.stdout for name in CORRUPTIONS)
