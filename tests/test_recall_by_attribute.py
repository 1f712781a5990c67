"""scripts/recall_by_attribute.py: recall by who the heads are, hand-computed, and its CLI."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np

from p2pcount.data.synthetic import People, draw_item, generate_item, varied
from p2pcount.data.synthetic.crowd import BACK, FRONT, TOP

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "recall_by_attribute.py"
_spec = importlib.util.spec_from_file_location("recall_by_attribute", SCRIPT)
recall = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = recall  # for its dataclass
_spec.loader.exec_module(recall)

FOUR = People(
    style=("helmet", "shaded", "shaded", "blob"),
    wear=("bare", "cap", "bare", "bare"),
    pose=np.array([FRONT, BACK, TOP, FRONT]),
    radius=np.array([5.0, 10.0, 20.0, 8.0]),
    body="none",
)
TRUTH = np.array([[10, 10], [50, 10], [90, 10], [130, 10]], np.float64)


def test_tally_counts_heads_found_by_attribute_as_hand_computed() -> None:
    # Head 0 found (1 px), head 1 found (7 px), head 2 missed (9 px away), head 3 missed;
    # a second point on head 0 and one far away are false heads, with the 9 px one.
    predicted = np.array([[11, 10], [50, 17], [90, 19], [12, 10], [300, 300]], np.float64)
    nobody = People((), (), np.zeros(0, np.int64), np.zeros(0), "classic")
    scenes = [(TRUTH, FOUR, predicted), (np.zeros((0, 2)), nobody, np.array([[5.0, 5.0]]))]
    result = recall.tally(scenes, radius=8.0)
    expected = {
        ("all", "all"): (2, 4),
        ("style", "helmet"): (1, 1),
        ("style", "shaded"): (1, 2),
        ("style", "blob"): (0, 1),
        ("wear", "bare"): (1, 3),
        ("wear", "cap"): (1, 1),
        ("pose", "front"): (1, 2),
        ("pose", "back"): (1, 1),
        ("pose", "top"): (0, 1),
        ("body", "none"): (2, 4),
        ("size", "r < 8 px"): (1, 1),
        ("size", "8-16 px"): (1, 2),  # 8.0 and 10.0
        ("size", "r >= 16 px"): (0, 1),
    }
    assert {key: (result.found[key], result.heads[key]) for key in result.heads} == expected
    assert (result.false_heads, result.scenes) == (4, 2)
    lines = recall.table(["a.safetensors"], [result]).splitlines()
    assert lines[0] == "| heads | a.safetensors |"
    assert lines[2] == "| all: all | 2/4 = 0.500 |"
    rows = [line.split(" | ")[0][2:] for line in lines[2:-1]]
    assert rows == [
        "all: all",
        *("style: blob", "style: helmet", "style: shaded", "wear: bare", "wear: cap"),
        *("pose: back", "pose: front", "pose: top", "body: none"),
        *("size: r < 8 px", "size: 8-16 px", "size: r >= 16 px"),
    ]
    assert "| style: shaded | 1/2 = 0.500 |" in lines
    assert lines[-1] == "| false heads per scene | 2.00 |"


def test_draw_item_says_who_each_annotated_head_is() -> None:
    style = varied(["classic"])
    for index in range(3):
        image, points, people = draw_item(7, index, 96, 128, empty_fraction=0.0, style=style)
        assert len(people.style) == len(people.wear) == len(people.pose) == len(points) > 0
        assert set(people.style) <= {"shaded", "blob", "helmet"}
        assert all(
            w == "bare" for s, w in zip(people.style, people.wear, strict=True) if s == "helmet"
        )
        assert set(people.pose.tolist()) <= {FRONT, BACK, TOP}
        assert ((people.radius >= 3.0) & (people.radius <= 40.0)).all()
        same_image, same_points = generate_item(7, index, 96, 128, empty_fraction=0.0, style=style)
        assert np.array_equal(points, same_points)
        assert np.array_equal(np.asarray(image), np.asarray(same_image))
    assert draw_item(7, 0, 96, 128)[2] is None  # classic
    assert draw_item(7, 0, 96, 128, empty_fraction=1.0, style=style)[2] is None


def test_cli_prints_a_row_per_attribute_and_bad_input_gets_one_line(
    tmp_path: Path, all_heads_weights: Path
) -> None:
    # Every anchor is a head for these weights and the anchors lie 4 px apart: every head of
    # the scene is found, and every other anchor is a false head.
    args = ["--seed", "5", "--count", "1", "--min-size", "64", "--max-size", "64"]
    run = subprocess.run(
        [sys.executable, str(SCRIPT), str(all_heads_weights), *args],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    _, truth, people = draw_item(5, 0, 64, 64, empty_fraction=0.0, style=varied())
    k = len(truth)
    lines = run.stdout.splitlines()
    assert lines[2] == f"| all: all | {k}/{k} = 1.000 |"
    assert f"| body: {people.body} | {k}/{k} = 1.000 |" in lines
    assert lines[-1] == f"| false heads per scene | {8 * 8 * 4 - k:.2f} |"
    missing = tmp_path / "missing.safetensors"
    for bad, named in [
        ([str(missing)], str(missing)),
        ([str(all_heads_weights), "--hold-out", "hats"], "hats"),
    ]:
        run = subprocess.run([sys.executable, str(SCRIPT), *bad], capture_output=True, text=True)
        assert run.returncode == 2 and "Traceback" not in run.stderr
        assert named in run.stderr and len(run.stderr.strip().splitlines()) == 1
