"""scripts/select_dim_scenes.py: the list lines whose image's mean grey level is below a bound."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "select_dim_scenes.py"
_spec = importlib.util.spec_from_file_location("select_dim_scenes", SCRIPT)
select = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(select)


def _scene(root: Path, name: str, grey: int) -> str:
    """A 16 × 8 px image of one grey level and an empty annotation; its list line."""
    (root / "images").mkdir(exist_ok=True)
    (root / "annotations").mkdir(exist_ok=True)
    Image.fromarray(np.full((8, 16), grey, np.uint8)).save(root / "images" / f"{name}.png")
    (root / "annotations" / f"{name}.txt").write_text("")
    return f"images/{name}.png annotations/{name}.txt"


def test_mean_grey_is_the_luma_average(tmp_path: Path) -> None:
    pixels = np.zeros((4, 4, 3), np.uint8)
    pixels[:2] = (255, 0, 0)  # luma of pure red: 255 * 299 / 1000 = 76.2 -> 76
    Image.fromarray(pixels).save(tmp_path / "half-red.png")
    assert select.mean_grey(tmp_path / "half-red.png") == 38.0


def test_only_dim_lines_are_printed_unchanged_in_order(tmp_path: Path) -> None:
    lines = [_scene(tmp_path, "a", 10), _scene(tmp_path, "b", 200), _scene(tmp_path, "c", 29)]
    lines.insert(1, "# a comment")
    (tmp_path / "list.txt").write_text("\n".join(lines) + "\n\n")
    done = subprocess.run(
        [sys.executable, SCRIPT, tmp_path / "list.txt"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [lines[0], lines[3]]
    assert select.dim_lines(tmp_path / "list.txt", below=29.0) == [lines[0]]
    assert select.dim_lines(tmp_path / "list.txt", below=255.0) == [lines[0], lines[2], lines[3]]


def test_a_missing_image_is_one_line_and_exit_1(tmp_path: Path) -> None:
    (tmp_path / "list.txt").write_text(_scene(tmp_path, "a", 10) + "\n")
    (tmp_path / "images" / "a.png").unlink()
    done = subprocess.run(
        [sys.executable, SCRIPT, tmp_path / "list.txt"], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert len(done.stderr.splitlines()) == 1 and "a.png" in done.stderr
