"""`count` and `viz` with --region / --regions: every output format, video frames, the
overlay's outlines, warnings and every error path.

``all_heads_weights`` makes every anchor a person with probability sigmoid(2) and puts
each point on its anchor (x, y ∈ 8k + 2, 8k + 6): a 52 × 36 image has 13 × 9 points,
and a split at x = 26 leaves 6 columns on the left and 7 on the right (x = 26 itself is
on the shared edge and counts on the right).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.output.render import REGION_COLORS
from tests.videos import numbered_frames, write_video

P = 1 / (1 + math.exp(-2))
LEFT = "left=0,0,26,0,26,36,0,36"
RIGHT = "right=26,0,52,0,52,36,26,36"


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "a.png"
    Image.new("RGB", (52, 36)).save(path)
    return path


def run(args: list[str], weights: Path):
    return CliRunner().invoke(app, [*args, "--weights", str(weights)])


def std(n: int) -> float:
    return round(math.sqrt(n * P * (1 - P)), 3)


def test_text_keeps_count_and_path_first(image, all_heads_weights) -> None:
    result = run(["count", str(image), "--region", LEFT, "--region", RIGHT], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"117\t{image}\tleft=54\tright=63\n"
    assert result.stderr == ""
    soft = run(["count", str(image), "--region", LEFT, "--soft"], all_heads_weights)
    assert soft.stdout == f"{117 * P:.1f}\t{image}\tleft={54 * P:.1f}\n"


def test_json_regions_object(image, all_heads_weights, tmp_path) -> None:
    zones = tmp_path / "zones.json"
    zones.write_text(
        json.dumps(
            {
                "units": "fraction",
                "regions": [
                    {"name": "left", "points": [[0, 0], [0.5, 0], [0.5, 1], [0, 1]]},
                    {"name": "all", "points": [[0, 0], [1, 0], [1, 1], [0, 1]], "area_m2": 9},
                ],
            }
        )
    )
    result = run(["count", str(image), "--regions", str(zones), "-f", "json"], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    (record,) = json.loads(result.stdout)["images"]
    left, whole = record["regions"]["left"], record["regions"]["all"]
    assert list(record["regions"]) == ["left", "all"]
    assert left["count"] == 54 and left["soft_count"] == pytest.approx(54 * P, abs=1e-3)
    assert left["count_std"] == pytest.approx(std(54), abs=1e-3)
    assert left["interval_low"] == pytest.approx(54 * P - 1.96 * std(54), abs=2e-3)
    assert "density" not in left
    assert whole["count"] == record["count"] == 117
    assert whole["soft_count"] == pytest.approx(record["soft_count"], abs=1e-3)
    assert whole["count_std"] == pytest.approx(record["count_std"], abs=1e-3)
    assert (whole["area_m2"], whole["density"]) == (9.0, 13.0)


def test_fractions_on_two_image_sizes(tmp_path, all_heads_weights) -> None:
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("RGB", (52, 36)).save(small)
    Image.new("RGB", (104, 72)).save(large)  # 26 × 18 anchors; x = 52 is on the edge
    args = ["count", str(small), str(large), "--region", "left=0%,0%,50%,0%,50%,100%,0%,100%"]
    result = run(args, all_heads_weights)
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"117\t{small}\tleft=54",
        f"{26 * 18}\t{large}\tleft={13 * 18}",
    ]


def test_csv_column_groups(image, all_heads_weights, tmp_path) -> None:
    zones = tmp_path / "zones.json"
    zones.write_text(
        json.dumps(
            {"regions": [{"name": "r", "points": [[26, 0], [52, 0], [52, 36]], "area_m2": 2}]}
        )
    )
    args = ["count", str(image), str(tmp_path / "missing.png"), "-f", "csv"]
    result = run([*args, "--region", LEFT, "--regions", str(zones)], all_heads_weights)
    assert result.exit_code == 1
    header, *rows = list(csv.reader(io.StringIO(result.stdout)))
    assert header[:11] == [
        "path", "width", "height", "count", "soft_count", "count_std", "interval_low",
        "interval_high", "frame", "time", "error",
    ]  # fmt: skip
    assert header[11:] == [
        f"region:{name}:{field}"
        for name in ("left", "r")
        for field in ("count", "soft_count", "count_std", "interval_low", "interval_high")
    ] + ["region:r:density"]
    ok, failed = (dict(zip(header, row, strict=True)) for row in rows)
    assert ok["region:left:count"] == "54"
    assert float(ok["region:left:soft_count"]) == pytest.approx(54 * P, abs=1e-3)
    # Triangle above the diagonal from (26, 0) to (52, 36): x = 26 … 50, y < 36 (x − 26) / 26.
    inside = sum(1 for x in range(26, 52, 4) for y in range(2, 36, 4) if y < 36 * (x - 26) / 26)
    assert ok["region:r:count"] == str(inside)
    assert float(ok["region:r:density"]) == pytest.approx(inside / 2)
    assert failed["error"] and all(failed[column] == "" for column in header[11:])


def test_geojson_regions(image, all_heads_weights, tmp_path) -> None:
    zones = tmp_path / "zones.geojson"
    feature = {
        "type": "Feature",
        "properties": {"name": "gate"},
        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [26, 0], [26, 36], [0, 36]]]},
    }
    zones.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}))
    result = run(["count", str(image), "--regions", str(zones), "-f", "jsonl"], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["regions"]["gate"]["count"] == 54


def test_every_video_frame_has_regions(tmp_path, all_heads_weights) -> None:
    clip = write_video(tmp_path / "c.mp4", numbered_frames(3), fps=10)  # 64 × 48
    args = ["count", str(clip), "-f", "jsonl", "--region", "left=0%,0%,50%,0%,50%,100%,0%,100%"]
    result = run(args, all_heads_weights)
    assert result.exit_code == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["frame"] for r in records] == [0, 1, 2]
    # 64 × 48: 16 × 12 anchors, 8 columns (x < 32) on the left.
    assert all(r["regions"]["left"]["count"] == 8 * 12 for r in records)


def test_outside_warns_once_per_region_and_image_size(tmp_path, all_heads_weights) -> None:
    paths = [tmp_path / name for name in ("a.png", "b.png", "c.png")]
    for path, size in zip(paths, [(52, 36), (52, 36), (20, 20)], strict=True):
        Image.new("RGB", size).save(path)
    args = ["count", *map(str, paths), "--region", "wide=0,0,40,0,40,30", "--region", LEFT]
    result = run(args, all_heads_weights)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "p2pcount: warning: region 'wide' lies partly outside the 20×20 image: "
        "the part inside is counted",
        "p2pcount: warning: region 'left' lies partly outside the 20×20 image: "
        "the part inside is counted",
    ]
    far = run(["count", str(paths[2]), "--region", "far=30,30,40,30,40,40"], all_heads_weights)
    assert far.stdout == f"{5 * 5}\t{paths[2]}\tfar=0\n"
    assert "entirely outside the 20×20 image: its counts are 0" in far.stderr


def test_viz_outlines_each_region(tmp_path, all_heads_weights) -> None:
    source = tmp_path / "dark.png"
    Image.new("RGB", (160, 120)).save(source)
    out = tmp_path / "out"
    args = ["viz", str(source), "-o", str(out), "--threshold", "0.99", "--no-label"]
    args += ["--region", "box=20,30,140,30,140,100,20,100", "--region", "tri=100,5,150,5,150,25"]
    result = run([*args, "--heatmap"], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    overlay = np.asarray(Image.open(out / "dark_p2p.png").convert("RGB"))
    box, tri = REGION_COLORS[:2]
    # The box's four edges all along (its label is above it), the triangle's right edge.
    assert (overlay[30, 20:141] == box).all() and (overlay[100, 20:141] == box).all()
    assert (overlay[30:101, 20] == box).all() and (overlay[30:101, 140] == box).all()
    assert (overlay[8:22, 150] == tri).all()
    assert (overlay[40:90, 30:130] != box).any(axis=-1).all()  # inside: no outline
    # The box's label just above its top-left corner: a black box, white text and a swatch
    # of the region's colour (the heat map tints every other pixel).
    label = overlay[15:30, 20:100]
    for colour, least in (((0, 0, 0), 50), ((255, 255, 255), 1), (box, 20)):
        assert (label == colour).all(axis=-1).sum() >= least


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--region", "A=0,0,10,0"], "region 'A': a polygon needs at least 3 distinct points"),
        (["--region", "A=0,0,10,10,10,0,0,10"], "region 'A': not a simple polygon"),
        (["--region", "A=0,0,x,0,10,10"], "region 'A': 'x' is not a number"),
        (["--region", LEFT, "--region", LEFT], "two regions are named 'left'; names must differ"),
    ],
)
def test_bad_regions_exit_2_before_counting(image, args, message) -> None:
    # The weights do not exist: a region error comes first, before any model or image.
    result = CliRunner().invoke(app, ["count", str(image), *args, "-w", "/no/such.pth"])
    assert result.exit_code == 2
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"p2pcount: error: {message}")
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON (Expecting property name enclosed in double quotes"),
        ('{"regions": {"a": 1}}', 'expected a non-empty list "regions"'),
        ('{"regions": [{"name": "left", "points": [[0, 0], [5, 0], [5, 5]]}]}',
         "two regions are named 'left'; names must differ"),
    ],
)  # fmt: skip
def test_bad_region_files_exit_2(image, tmp_path, text, message) -> None:
    zones = tmp_path / "zones.json"
    zones.write_text(text)
    for command in ("count", "viz"):
        args = [command, str(image), "--regions", str(zones), "--region", LEFT]
        result = CliRunner().invoke(app, [*args, "-w", "/no/such.pth"])
        assert result.exit_code == 2
        (line,) = result.stderr.splitlines()
        assert line.startswith("p2pcount: error: ") and message in line
        if "names" not in message:
            assert str(zones) in line
    missing = CliRunner().invoke(app, ["count", str(image), "--regions", str(tmp_path / "no.json")])
    assert missing.exit_code == 2 and "no.json: cannot read" in missing.stderr
