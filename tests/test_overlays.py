"""Overlays people can read: the heat map, the capped count label, eval's matched / false /
missed heads, overlay formats, the viz stdout and overlays of overlays.

``all_heads_weights`` puts a point with probability sigmoid(2) on every anchor (8k + 2 and
8k + 6 on both axes); ``zero_weights`` gives every candidate probability exactly 0, so that
any pixel an overlay changes is the label's, a legend's or the heat map's.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.evaluate.metrics import match_points
from p2pcount.output.render import (
    FALSE_COLOR,
    HEAT_OPACITY,
    MATCHED_COLOR,
    MISSED_COLOR,
    blend_heatmap,
    corner_box,
    heat_colors,
    render_comparison,
)
from p2pcount.weights.checkpoint import save_weights
from tests.conftest import constant_model

GREY = (128, 128, 128)
SKIP_NOTE = "(named <stem>_p2p.<ext>; write to another --output-dir to draw over them)"


@pytest.fixture(scope="session")
def zero_weights(weights_dir: Path) -> Path:
    """Every candidate has probability sigmoid(-200) = 0 (in float32 and bf16)."""
    return save_weights(weights_dir / "zero.safetensors", constant_model(logit=-200.0))


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def viz(runner: CliRunner, weights: Path, *args: str):
    return runner.invoke(app, ["viz", *args, "--weights", str(weights)])


def grey_image(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    Image.new("RGB", size, GREY).save(path)
    return path


def changed_box(overlay: np.ndarray) -> tuple[int, int, int, int]:
    """(left, top, width, height) in pixels of the pixels that are not GREY."""
    ys, xs = np.nonzero(np.any(overlay != GREY, axis=-1))
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def test_heat_colors_are_inferno() -> None:
    # matplotlib's inferno at 0, 1/8, 1/2, 7/8, 1 (entries 0, 32, 128, 223, 255 of its
    # table, × 255), and halfway between the stops at 1/16 and 1/8
    assert heat_colors(np.array([0.0, 0.125, 0.5, 0.875, 1.0, 3 / 32])).tolist() == [
        [0, 0, 4],
        [33, 12, 74],
        [188, 55, 84],
        [249, 201, 50],
        [252, 255, 164],
        [22, 10, 55],
    ]


def test_heatmap_opacity_follows_probability() -> None:
    image = Image.new("RGB", (24, 16), GREY)
    cells = np.array([[0.0, 0.5, 1.0], [0.0, 0.25, 0.0]], dtype=np.float32)
    out = np.asarray(blend_heatmap(image, cells, stride=8)).astype(int)
    for row, col in ((0, 0), (1, 0), (1, 2)):  # probability 0: untouched, exactly
        assert (out[8 * row : 8 * row + 8, 8 * col : 8 * col + 8] == GREY).all()
    for (row, col), p in {(0, 1): 0.5, (0, 2): 1.0, (1, 1): 0.25}.items():
        alpha = HEAT_OPACITY * p
        expected = np.array(GREY) * (1 - alpha) + heat_colors(np.array(p)) * alpha
        block = out[8 * row : 8 * row + 8, 8 * col : 8 * col + 8]
        assert np.abs(block - expected).max() <= 1


def test_viz_heatmap_legend_only_with_heatmap(runner, tmp_path, zero_weights) -> None:
    source = grey_image(tmp_path / "grey.png")
    plain, heat = tmp_path / "plain", tmp_path / "heat"
    result = viz(runner, zero_weights, str(source), "-o", str(plain), "--no-label")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"0\t{plain / 'grey_p2p.png'}\n"
    assert (np.asarray(Image.open(plain / "grey_p2p.png")) == GREY).all()  # nothing drawn
    result = viz(runner, zero_weights, str(source), "-o", str(heat), "--no-label", "--heatmap")
    assert result.exit_code == 0, result.stderr
    overlay = np.asarray(Image.open(heat / "grey_p2p.png"))
    # Probability 0 everywhere: only the legend, in the bottom-right corner, within the caps.
    left, top, width, height = changed_box(overlay)
    assert (left + width, top + height) == (64, 48)
    assert width <= 32 and height <= 6


def test_viz_heatmap_blends_where_probable(runner, tmp_path, all_heads_weights) -> None:
    source = grey_image(tmp_path / "grey.png")
    result = viz(runner, all_heads_weights, str(source), "-o", str(tmp_path), "--heatmap")
    assert result.exit_code == 0, result.stderr
    p = 1 / (1 + math.exp(-2))
    alpha = HEAT_OPACITY * p
    expected = np.array(GREY) * (1 - alpha) + heat_colors(np.array(p)) * alpha
    pixel = np.asarray(Image.open(tmp_path / "grey_p2p.png"))[20, 12]  # between anchors
    assert np.abs(pixel.astype(int) - expected).max() <= 2


def test_count_label_is_capped_on_small_images(runner, tmp_path, zero_weights) -> None:
    source = grey_image(tmp_path / "grey.png")
    result = viz(runner, zero_weights, str(source), "-o", str(tmp_path / "out"))
    assert result.exit_code == 0, result.stderr
    overlay = np.asarray(Image.open(tmp_path / "out" / "grey_p2p.png"))
    left, top, width, height = changed_box(overlay)
    assert (left, top) == (0, 0) and width <= 64 // 2 and height <= 48 // 8
    box = corner_box(["a much longer label: 123456789"], 64, 48)
    assert box.width <= 32 and box.height <= 6
    assert corner_box(["count: 60"], 1000, 800).height > 20  # large images: unshrunk


def test_comparison_marks_matched_false_and_missed() -> None:
    image = Image.new("RGB", (400, 300), GREY)
    gt = np.array([[50, 100], [300, 100]], dtype=np.float32)  # found, missed
    pred = np.array([[52, 101], [150, 100]], dtype=np.float32)  # matched, false
    matches = match_points(pred, gt, radius=8)
    out = np.asarray(render_comparison(image, gt, pred, matches, radius=3))
    assert out[101, 52].tolist() == list(MATCHED_COLOR)  # a dot
    assert out[100, 150].tolist() == list(FALSE_COLOR)  # the centre of a cross
    assert out[100, 300].tolist() == list(GREY)  # a ring is hollow …
    assert out[100, 300 + 6].tolist() == list(MISSED_COLOR)  # … of radius 2 × 3 px
    assert out[100, 50].tolist() == list(MATCHED_COLOR)  # matched ground truth: no ring
    legend = out[300 - 37 :, 200:].reshape(-1, 3).tolist()
    for color in (MATCHED_COLOR, FALSE_COLOR, MISSED_COLOR):
        assert list(color) in legend


def test_eval_viz_marks_outcomes(tmp_path, weights_dir) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (32, 32), (90, 90, 90)).save(data / "a.png")
    (data / "a.txt").write_text("26 26\n12 12\n")  # on an anchor; 2.8 px from any anchor
    weights = save_weights(weights_dir / "const.safetensors", constant_model(logit=2.0))
    out = tmp_path / "overlays"
    args = ["eval", str(data), "-w", str(weights), "--radius", "1", "--viz", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    overlay = np.asarray(Image.open(out / "a_p2p.png"))
    assert overlay[26, 26].tolist() == list(MATCHED_COLOR)
    assert overlay[10, 2].tolist() == list(FALSE_COLOR)  # an anchor far from any head
    assert overlay[12, 12 + 4].tolist() == list(MISSED_COLOR)  # ring of radius 2 × 2 px


def test_viz_formats(runner, tmp_path, all_heads_weights) -> None:
    rng = np.random.default_rng(0)
    photo = tmp_path / "photo.jpg"
    Image.fromarray(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(photo, quality=90)
    out = tmp_path / "out"
    for fmt, pillow_name in (("jpg", "JPEG"), ("webp", "WEBP"), ("png", "PNG")):
        result = viz(runner, all_heads_weights, str(photo), "-o", str(out), "--format", fmt)
        assert result.exit_code == 0, result.stderr
        target = out / f"photo_p2p.{fmt}"
        assert result.stdout == f"4800\t{target}\n"  # 80 × 60 anchors
        with Image.open(target) as overlay:
            assert overlay.format == pillow_name and overlay.size == (320, 240)
    reference = io.BytesIO()
    Image.open(photo).save(reference, format="JPEG", quality=90)
    with Image.open(out / "photo_p2p.jpg") as jpeg, Image.open(reference) as at_90:
        assert jpeg.quantization == at_90.quantization
    assert (out / "photo_p2p.jpg").stat().st_size < 1.25 * photo.stat().st_size
    assert not list(out.glob(".*"))  # no temporary files left
    bad = viz(runner, all_heads_weights, str(photo), "--format", "gif")
    assert bad.exit_code == 2 and "gif" in bad.stderr


def test_viz_twice_into_the_input_folder(runner, tmp_path, all_heads_weights) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    grey_image(folder / "a.png", (40, 24))
    grey_image(folder / "b.jpg", (17, 33))
    first = viz(runner, all_heads_weights, str(folder), "-o", str(folder))
    assert first.exit_code == 0 and first.stderr == ""
    assert first.stdout == f"60\t{folder / 'a_p2p.png'}\n32\t{folder / 'b_p2p.png'}\n"
    second = viz(runner, all_heads_weights, str(folder), "-o", str(folder))
    assert second.exit_code == 0
    assert second.stderr == (
        f"p2pcount: warning: skipped 2 overlays written by p2pcount in {folder} {SKIP_NOTE}\n"
    )
    # The first run's overlays are replaced: a rerun leaves the same files.
    assert second.stdout == first.stdout
    third = viz(runner, all_heads_weights, str(folder), "-o", str(folder), "-f", "jpg")
    assert third.exit_code == 0 and "skipped 2 overlays" in third.stderr
    assert sorted(p.name for p in folder.iterdir()) == [
        "a.png",
        "a_p2p.jpg",
        "a_p2p.png",
        "b.jpg",
        "b_p2p.jpg",
        "b_p2p.png",
    ]
    only_overlays = viz(runner, all_heads_weights, str(folder / "a_p2p.png"), "-o", str(folder))
    assert only_overlays.exit_code == 2 and only_overlays.stdout == ""
    assert only_overlays.stderr.splitlines() == [
        f"p2pcount: warning: skipped 1 overlay written by p2pcount in {folder} {SKIP_NOTE}",
        f"p2pcount: error: no input images left: every input is an overlay p2pcount wrote in "
        f"{folder}",
    ]
    elsewhere = tmp_path / "elsewhere"  # drawing old overlays into another folder is asked for
    again = viz(runner, all_heads_weights, str(folder / "a_p2p.png"), "-o", str(elsewhere))
    assert again.exit_code == 0 and again.stdout == f"60\t{elsewhere / 'a_p2p_p2p.png'}\n"
