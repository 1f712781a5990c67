"""scripts/mine_hard_negatives.py: false heads, the windows around them, the dataset of crops."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "mine_hard_negatives.py"
_spec = importlib.util.spec_from_file_location("mine_hard_negatives", SCRIPT)
mine = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mine)


def test_false_heads_are_those_far_from_every_annotated_head() -> None:
    predicted = np.array([[10, 10], [30, 10], [50, 50]], np.float32)
    truth = np.array([[12, 10], [50, 59]], np.float32)
    assert mine.false_heads(predicted, truth, 8.0).tolist() == [False, True, True]
    assert mine.false_heads(predicted, np.zeros((0, 2), np.float32), 8.0).all()


def test_windows_centre_skip_covered_heads_and_stay_inside() -> None:
    heads = np.array([[100, 100], [110, 100], [300, 300], [5, 5], [20, 20], [390, 10]])
    cut = mine.windows(heads, 400, 400, 128, most=4)
    # (110, 100) lies in the inner half of the first window; (20, 20)'s window, moved
    # inside the image, is (5, 5)'s.
    assert cut == [(36, 36, 164, 164), (236, 236, 364, 364), (0, 0, 128, 128), (272, 0, 400, 128)]
    assert mine.windows(heads, 400, 400, 128, most=2) == cut[:2]
    assert mine.windows(heads[:1], 90, 400, 128, most=4) == [(0, 36, 90, 164)]


def test_crops_hold_the_pixels_and_the_shifted_annotations(
    tmp_path: Path, all_heads_weights: Path
) -> None:
    # Every anchor is a head for these weights: all but the anchors within 8 px of the two
    # annotated heads are false heads, the first of them at the top-left corner.
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "scene.png")
    (tmp_path / "scene.txt").write_text("10 10\n50 30\n")
    (tmp_path / "list.txt").write_text("scene.png scene.txt\n")
    out = tmp_path / "mined"
    args = [str(all_heads_weights), str(tmp_path / "list.txt"), str(out), "--crop", "32"]
    run = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    summary = json.loads((out / "mined.json").read_text())
    lines = (out / "list.txt").read_text().splitlines()
    assert len(lines) == len(summary["crops"]) == 4  # --max-per-image
    truth = np.array([[10, 10], [50, 30]], np.float32)
    for line, crop in zip(lines, summary["crops"], strict=True):
        image_rel, points_rel = line.split()
        left, top, right, bottom = crop["window"]
        assert (right - left, bottom - top) == (32, 32)
        np.testing.assert_array_equal(
            np.asarray(Image.open(out / image_rel)), pixels[top:bottom, left:right]
        )
        inside = truth[(truth[:, 0] >= left) & (truth[:, 0] < right)]
        inside = inside[(inside[:, 1] >= top) & (inside[:, 1] < bottom)] - [left, top]
        written = np.loadtxt(out / points_rel, ndmin=2).reshape(-1, 2)
        np.testing.assert_allclose(written, inside)
        assert crop["false_heads"] >= 1
    assert summary["crops"][0]["window"] == [0, 0, 32, 32]
    # 96 × 64 px: 12 × 8 cells of 4 anchors; those within 8 px of (10, 10) or (50, 30)
    # (anchors at 2 and 6 px into each cell) are not false.
    grid = np.array([(8 * cx + dx, 8 * cy + dy) for cy in range(8) for cx in range(12)
                     for dy in (2, 6) for dx in (2, 6)], np.float32)  # fmt: skip
    near = np.linalg.norm(grid[:, None] - truth[None], axis=-1).min(axis=1) <= 8
    assert summary["false_heads"] == len(grid) - int(near.sum())
    again = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
    assert again.returncode == 2 and "exists" in again.stderr


def test_bad_weights_or_a_bad_image_get_one_line_and_no_output(
    tmp_path: Path, all_heads_weights: Path
) -> None:
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"not a picture")
    for name in ("good", "bad"):
        (tmp_path / f"{name}.txt").write_text("")
    (tmp_path / "good-list.txt").write_text("good.png good.txt\n")
    (tmp_path / "bad-list.txt").write_text("good.png good.txt\nbad.png bad.txt\n")
    out = tmp_path / "mined"
    missing = tmp_path / "missing.safetensors"
    for weights, dataset, named in [
        (missing, "good-list.txt", missing),
        (all_heads_weights, "bad-list.txt", tmp_path / "bad.png"),
    ]:
        args = [str(weights), str(tmp_path / dataset), str(out)]
        run = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert str(named) in run.stderr and len(run.stderr.strip().splitlines()) == 1
        assert not out.exists()
