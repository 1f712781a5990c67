"""`count --density DIR --points-csv DIR`: per-image density maps and point lists."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from tests.videos import numbered_frames, write_video

SIGMOID_2 = 1 / (1 + math.exp(-2))


def test_density_and_points_files(all_heads_weights, tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    Image.new("RGB", (17, 33)).save(image)  # 3 × 5 cells; x anchors < 17: 2, 6, 10, 14
    clip = write_video(tmp_path / "c.mp4", numbered_frames(3), fps=10)
    dens, pts = tmp_path / "density", tmp_path / "points"
    args = ["count", str(image), str(clip), "--every", "2", "-f", "jsonl"]
    args += ["--density", str(dens), "--points-csv", str(pts), "-w", str(all_heads_weights)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(p.name for p in dens.iterdir()) == [
        "a_p2p_density.npy", "c_p2p_f000000_density.npy", "c_p2p_f000002_density.npy",
    ]  # fmt: skip
    density = np.load(dens / "a_p2p_density.npy")
    assert density.dtype == np.float32 and density.shape == (5, 3)
    # Each cell: σ(2) per anchor inside the image (x < 17, y < 33 of 2 ± 2 around centres).
    anchors_x = np.array([[2, 6], [10, 14], [18, 22]])
    anchors_y = np.array([[2, 6], [10, 14], [18, 22], [26, 30], [34, 38]])
    inside = (anchors_y < 33).sum(1)[:, None] * (anchors_x < 17).sum(1)[None, :]
    assert density == pytest.approx(SIGMOID_2 * inside, rel=1e-5)
    assert float(density.sum()) == pytest.approx(records[0]["soft_count"], abs=1e-3)
    with open(pts / "a_p2p_points.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["x", "y", "score"] and len(rows) - 1 == records[0]["count"]
    assert rows[1] == ["2.0", "2.0", str(round(SIGMOID_2, 4))]
    video_density = np.load(dens / "c_p2p_f000002_density.npy")
    assert video_density.shape == (6, 8)  # 48 × 64 frames
    assert sorted(p.name for p in pts.iterdir())[1:] == [
        "c_p2p_f000000_points.csv", "c_p2p_f000002_points.csv",
    ]  # fmt: skip


def test_an_unusable_density_folder_is_a_usage_error(all_heads_weights, tmp_path) -> None:
    image = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(image)
    args = ["count", str(image), "--density", str(image), "-w", str(all_heads_weights)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert "output path exists and is not a directory" in result.stderr
