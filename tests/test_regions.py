"""Regions, the library: membership (inside, edges, vertices), counts, spreads, densities,
the command-line and file forms, and every malformed input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from p2pcount.errors import RegionError
from p2pcount.infer.counter import Counter
from p2pcount.output.region_specs import load_regions, parse_region
from p2pcount.output.regions import Region, RegionCount, check_names, region_counts
from p2pcount.output.result import CountResult
from tests.conftest import constant_model

SQUARE = [(0, 0), (10, 0), (10, 10), (0, 10)]


def inside(region: Region, points: list[tuple[float, float]], size=(100, 100)) -> list[bool]:
    return region.contains(np.array(points, dtype=np.float32), *size).tolist()


def result_with(candidates, scores, threshold=0.5, size=(100, 100)) -> CountResult:
    """A result carrying ``candidates`` (M, 2) and ``scores`` (M,), points those above."""
    candidates = np.asarray(candidates, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    above = scores > threshold
    return CountResult(
        width=size[0],
        height=size[1],
        count=int(above.sum()),
        soft_count=float(scores.sum()),
        points=candidates[above],
        scores=scores[above],
        cell_scores=np.zeros((1, 1), np.float32),
        threshold=threshold,
        candidates=candidates,
        candidate_scores=scores,
    )


def test_square_inside_outside_edges_and_vertices() -> None:
    square = Region.from_points("sq", SQUARE)
    assert inside(square, [(5, 5), (0.001, 9.999), (11, 5), (-1, 5), (5, 10.5)]) == [
        True, True, False, False, False,
    ]  # fmt: skip
    # Half-open like pixel ranges: [0, 10) × [0, 10).
    edges = [(0, 5), (5, 0), (10, 5), (5, 10)]  # left, top, right, bottom
    assert inside(square, edges) == [True, True, False, False]
    vertices = [(0, 0), (10, 0), (0, 10), (10, 10)]
    assert inside(square, vertices) == [True, False, False, False]
    # On the image's own right and bottom border the region is closed: the square is
    # the whole of a 10 × 10 image, and holds every point of it.
    assert inside(square, edges + vertices, size=(10, 10)) == [True] * 8


def test_concave_polygon() -> None:
    # A U: 30 × 30 with a 10 × 20 notch cut from the bottom middle (area 900 − 200).
    u_shape = Region.from_points(
        "U", [(0, 0), (30, 0), (30, 30), (20, 30), (20, 10), (10, 10), (10, 30), (0, 30)]
    )
    assert u_shape.shape.area == 700
    points = [(15, 5), (15, 20), (5, 20), (25, 25), (15, 29)]
    assert inside(u_shape, points) == [True, False, True, True, False]
    # The notch's top edge (y = 10): the region is above it, so its points are out; its
    # left side (x = 10) has the region to its left: out; its right side (x = 20): in.
    assert inside(u_shape, [(15, 10), (10, 20), (20, 20)]) == [False, False, True]


def test_a_point_on_a_slanted_edge_counts_in_one_of_two_triangles() -> None:
    upper = Region.from_points("upper", [(0, 0), (10, 0), (0, 10)])
    lower = Region.from_points("lower", [(10, 0), (10, 10), (0, 10)])
    on_edge = [(5, 5), (2.5, 7.5)]
    assert inside(upper, on_edge) == [False, False]  # the region is up-left of its edge
    assert inside(lower, on_edge) == [True, True]


def test_overlapping_regions_count_shared_points_in_each() -> None:
    a = Region.from_points("a", [(0, 0), (20, 0), (20, 20), (0, 20)])
    b = Region.from_points("b", [(10, 10), (30, 10), (30, 30), (10, 30)])
    result = result_with([(15, 15), (5, 5), (25, 25), (50, 50)], [0.9, 0.8, 0.7, 0.6])
    counts = {c.name: c for c in region_counts(result, [a, b])}
    assert (counts["a"].count, counts["b"].count) == (2, 2)
    assert counts["a"].soft_count == pytest.approx(0.9 + 0.8)
    assert counts["b"].soft_count == pytest.approx(0.9 + 0.7)


def test_fractions_fit_every_image_size() -> None:
    left = parse_region("left=0%,0%,50%,0%,50%,100%,0%,100%")
    assert left.fraction
    assert left.polygon(64, 48).bounds == (0, 0, 32, 48)
    assert left.polygon(128, 96).bounds == (0, 0, 64, 96)
    assert inside(left, [(31, 40), (32, 40), (33, 5)], size=(64, 48)) == [True, False, False]
    assert inside(left, [(63, 90), (64, 90), (33, 5)], size=(128, 96)) == [True, False, True]


def test_soft_count_and_variance_equal_a_direct_computation() -> None:
    rng = np.random.default_rng(7)
    candidates = rng.uniform(0, 100, size=(500, 2))
    scores = rng.uniform(0, 1, size=500).astype(np.float32)
    result = result_with(candidates, scores)
    box = Region.from_points("box", [(20, 30), (70, 30), (70, 80), (20, 80)])
    (counted,) = region_counts(result, [box])
    candidates = result.candidates
    expected_soft = expected_variance = 0.0
    expected_count = 0
    for (x, y), p in zip(candidates.tolist(), scores.tolist(), strict=True):
        if 20 < x < 70 and 30 < y < 80:  # no candidate lies on an edge (checked below)
            expected_soft += p
            expected_variance += p * (1 - p)
            expected_count += p > 0.5
    assert not np.isin(candidates, [20, 30, 70, 80]).any()
    assert counted.count == expected_count
    assert counted.soft_count == pytest.approx(expected_soft, rel=1e-9)
    assert counted.soft_variance == pytest.approx(expected_variance, rel=1e-9)
    assert counted.count_std == pytest.approx(math.sqrt(expected_variance))
    low, high = counted.interval()
    assert (low, high) == pytest.approx(
        (expected_soft - 1.96 * math.sqrt(expected_variance),
         expected_soft + 1.96 * math.sqrt(expected_variance))
    )  # fmt: skip


def test_density_and_record() -> None:
    counted = RegionCount("gate", count=12, soft_count=11.5, soft_variance=0.25, area_m2=8.0)
    assert counted.density == 1.5
    assert counted.record() == {
        "count": 12, "soft_count": 11.5, "count_std": 0.5, "interval_low": 10.52,
        "interval_high": 12.48, "area_m2": 8.0, "density": 1.5,
    }  # fmt: skip
    assert RegionCount("x", 1, 1.0, 0.0).density is None
    assert "density" not in RegionCount("x", 1, 1.0, 0.0).record()


def test_region_counts_need_every_candidate() -> None:
    result = result_with([(5, 5)], [0.9])
    result.candidates = result.candidate_scores = None
    with pytest.raises(ValueError, match="keep_candidates"):
        region_counts(result, [Region.from_points("sq", SQUARE)])


@pytest.mark.parametrize("tile_above", [0, 1])  # whole, and in 32-px tiles
def test_a_partition_of_the_image_sums_to_its_counts(tile_above: int) -> None:
    # Every anchor a point (x, y ∈ 8k + 2, 8k + 6) with probability sigmoid(2): splitting
    # 52 × 36 at x = 26 and y = 18 puts a column and a row of points on the shared edges,
    # and one point on the corner the four quadrants share.
    counter = Counter(constant_model(logit=2.0), device="cpu", tile_size=32, tile_above=tile_above)
    counter.keep_candidates = True
    image = np.zeros((36, 52, 3), np.uint8)
    result = counter.count(image)
    assert result.count == 13 * 9
    assert (result.points == [26, 18]).all(axis=1).any()

    def box(name: str, x0: float, y0: float, x1: float, y1: float) -> Region:
        return Region.from_points(name, [(x0, y0), (x1, y0), (x1, y1), (x0, y1)])

    halves = [box("left", 0, 0, 26, 36), box("right", 26, 0, 52, 36)]
    quadrants = [box(f"q{i}{j}", x0, y0, x1, y1)
                 for i, (x0, x1) in enumerate(((0, 26), (26, 52)))
                 for j, (y0, y1) in enumerate(((0, 18), (18, 36)))]  # fmt: skip
    for partition in (halves, quadrants):
        counts = region_counts(result, partition)
        assert sum(c.count for c in counts) == result.count
        assert sum(c.soft_count for c in counts) == pytest.approx(result.soft_count, rel=1e-5)
        assert sum(c.soft_variance for c in counts) == pytest.approx(result.soft_variance, rel=1e-5)
    # Columns x = 2 … 22 are left, x = 26 … 50 right; rows y = 2 … 14 top, 18 … 34 bottom.
    assert [c.count for c in region_counts(result, halves)] == [6 * 9, 7 * 9]
    assert [c.count for c in region_counts(result, quadrants)] == [6 * 4, 6 * 5, 7 * 4, 7 * 5]


def test_region_file_in_fractions(tmp_path: Path) -> None:
    path = tmp_path / "zones.json"
    path.write_text(
        json.dumps(
            {
                "units": "fraction",
                "regions": [
                    {"name": "top", "points": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]], "area_m2": 30},
                    {"name": "spot", "points": [[0.25, 0.25], [0.75, 0.25], [0.5, 0.75]]},
                ],
            }
        )
    )
    top, spot = load_regions(path)
    assert (top.name, top.area_m2, top.fraction) == ("top", 30.0, True)
    assert spot.area_m2 is None
    assert top.polygon(200, 100).bounds == (0, 0, 200, 50)
    assert spot.polygon(40, 20).bounds == (10, 5, 30, 15)


def test_geojson_feature_collection_with_a_hole(tmp_path: Path) -> None:
    ring = [[0, 0], [40, 0], [40, 40], [0, 40], [0, 0]]
    hole = [[10, 10], [30, 10], [30, 30], [10, 30], [10, 10]]
    path = tmp_path / "zones.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "properties": {"name": "frame", "area_m2": 12.5},
                        "geometry": {"type": "Polygon", "coordinates": [ring, hole]},
                    },
                    {
                        "type": "Feature",
                        "properties": {"name": "tri", "colour": "ignored"},
                        "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [9, 0], [0, 9]]]},
                    },
                ],
            }
        )
    )
    frame, tri = load_regions(path)
    assert (frame.name, frame.area_m2, frame.fraction, tri.name) == ("frame", 12.5, False, "tri")
    assert frame.shape.area == 40 * 40 - 20 * 20
    assert inside(frame, [(5, 5), (20, 20), (35, 35)]) == [True, False, True]


def test_outside_the_image() -> None:
    square = Region.from_points("sq", SQUARE)
    assert square.outside(10, 10) is None
    assert square.outside(8, 20) == (
        "region 'sq' lies partly outside the 8×20 image: the part inside is counted"
    )
    far = Region.from_points("far", [(50, 50), (60, 50), (60, 60)])
    assert far.outside(40, 40) == (
        "region 'far' lies entirely outside the 40×40 image: its counts are 0"
    )
    (counted,) = region_counts(result_with([(39, 39)], [0.9], size=(40, 40)), [far])
    assert (counted.count, counted.soft_count) == (0, 0.0)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("A=0,0,10,0", "region 'A': a polygon needs at least 3 distinct points (x, y)"),
        ("A=0,0,10,0,0,0", "region 'A': a polygon needs at least 3 distinct points"),
        ("A=0,0,5,5,10,10", "region 'A': the polygon has no area (its points lie on one line)"),
        ("A=0,0,10,10,10,0,0,10", "region 'A': not a simple polygon (Self-intersection at (5, 5))"),
        ("A=0,0,1o,0,10,10", "region 'A': '1o' is not a number"),
        ("A=0,0,10,0,10", "region 'A': 5 numbers; coordinates come in x,y pairs"),
        ("A=0,0,10,0,nan,10", "region 'A': coordinates must be finite numbers"),
        ("A=0%,0%,10%,0%,10,10", "region 'A': give every coordinate in pixels or every one in %"),
        ("0,0,10,0,10,10", "region '0,0,10,0,10,10': expected NAME=x1,y1,x2,y2,x3,y3,…"),
        ("=0,0,10,0,10,10", "region '=0,0,10,0,10,10': expected NAME=x1,y1,x2,y2,x3,y3,…"),
    ],
)
def test_malformed_command_line_regions(spec: str, message: str) -> None:
    with pytest.raises(RegionError) as caught:
        parse_region(spec)
    assert str(caught.value).startswith(message)


def test_names_and_areas_are_checked() -> None:
    with pytest.raises(RegionError, match="its name must be one line"):
        Region.from_points("a\tb", SQUARE)
    with pytest.raises(RegionError, match="the area must be a number of m² above 0, not 0"):
        Region.from_points("a", SQUARE, area_m2=0)
    with pytest.raises(RegionError, match="two regions are named 'a'; names must differ"):
        check_names([Region.from_points("a", SQUARE), Region.from_points("a", SQUARE)])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "not JSON (Expecting property name enclosed in double quotes at line 1, column 2)"),
        ("[]", 'expected an object with "regions" (or a GeoJSON FeatureCollection)'),
        ('{"regions": []}', 'expected a non-empty list "regions"'),
        ('{"units": "cm", "regions": []}', '"units" must be "pixels" or "fraction", not \'cm\''),
        ('{"regions": [3]}', 'region 1: expected an object with "name" and "points"'),
        ('{"regions": [{"points": []}]}', 'region 1: needs "name" (a string)'),
        (
            '{"regions": [{"name": "a", "points": [[0, 0], [1, 0], [1, 1]], "area": 3}]}',
            "region 'a': unknown key 'area' (keys: name, points, area_m2)",
        ),
        (
            '{"regions": [{"name": "a", "points": [[0, 0], [1, 0], [1]]}]}',
            "region 'a': the points must be a list of [x, y] pairs of numbers",
        ),
        (
            '{"regions": [{"name": "a", "points": [[0, 0], [1, 0], [1, 1]], "area_m2": "3"}]}',
            "region 'a': \"area_m2\" must be a number of m², not '3'",
        ),
        (
            '{"regions": [{"name": "a", "points": [[0, 0], [1, 0], [1, 1]]},'
            ' {"name": "a", "points": [[0, 0], [2, 0], [2, 2]]}]}',
            "two regions are named 'a'; names must differ",
        ),
        (
            '{"regions": [{"name": "bow", "points": [[0, 0], [2, 2], [2, 0], [0, 2]]}]}',
            "region 'bow': not a simple polygon (Self-intersection at (1, 1))",
        ),
        ('{"type": "FeatureCollection", "features": [{"type": "Point"}]}',
         "feature 1: not a GeoJSON Feature"),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {},'
         ' "geometry": null}]}', 'feature 1: needs a "name" property (a string)'),
        ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties":'
         ' {"name": "p"}, "geometry": {"type": "Point", "coordinates": [1, 2]}}]}',
         "region 'p': the geometry must be a Polygon, not Point"),
    ],
)  # fmt: skip
def test_malformed_region_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "zones.json"
    path.write_text(text)
    with pytest.raises(RegionError) as caught:
        load_regions(path)
    assert str(caught.value) == f"{path}: {message}"


def test_missing_region_file(tmp_path: Path) -> None:
    with pytest.raises(RegionError, match=r"none\.json: cannot read \(No such file or directory\)"):
        load_regions(tmp_path / "none.json")
