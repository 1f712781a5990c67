"""Regions as people write them: ``NAME=x1,y1,x2,y2,…`` on the command line, and JSON files
(p2pcount's own form or a GeoJSON ``FeatureCollection``). No torch here.

Command line: ``NAME=x1,y1,x2,y2,x3,y3,…``, pixels of the image (x right, y down); with every
number ending in ``%`` (``left=0%,0%,50%,0%,50%,100%,0%,100%``), percentages of the image's
width (x) and height (y), so one region fits every resolution. Pixels and ``%`` do not mix.

File (UTF-8 JSON)::

    {"units": "pixels",
     "regions": [{"name": "gate B", "points": [[x, y], [x, y], [x, y], ...], "area_m2": 40}]}

``units`` is ``"pixels"`` (the default) or ``"fraction"`` (of the width and height, 0 … 1);
``area_m2`` (the ground area in m², for densities) is optional. A GeoJSON
``FeatureCollection`` of ``Polygon`` features (holes allowed) whose ``properties`` hold a
``name`` (and optionally ``area_m2``) is read too, its coordinates in image pixels (y down)
or, with a top-level ``"units": "fraction"`` member, fractions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from p2pcount.errors import RegionError
from p2pcount.output.regions import Region, check_names

UNITS = ("pixels", "fraction")
_REGION_KEYS = ("name", "points", "area_m2")


def parse_region(spec: str) -> Region:
    """The region of a command-line ``NAME=x1,y1,x2,y2,x3,y3,…`` (pixels, or ``%`` of the
    width and height when every number ends in ``%``). Raises :class:`RegionError`."""
    name, equals, numbers = spec.partition("=")
    name = name.strip()
    if not equals or not name:
        raise RegionError(f"region {spec!r}: expected NAME=x1,y1,x2,y2,x3,y3,…")
    label = f"region {name!r}"
    tokens = [token.strip() for token in numbers.split(",")]
    percent = [token.endswith("%") for token in tokens]
    if any(percent) and not all(percent):
        raise RegionError(f"{label}: give every coordinate in pixels or every one in %, not both")
    values = []
    for token in tokens:
        try:
            values.append(float(token.removesuffix("%")))
        except ValueError:
            raise RegionError(f"{label}: {token!r} is not a number") from None
    if len(values) % 2:
        raise RegionError(f"{label}: {len(values)} numbers; coordinates come in x,y pairs")
    scale = 100.0 if all(percent) else 1.0
    points = [(x / scale, y / scale) for x, y in zip(values[::2], values[1::2], strict=True)]
    return Region.from_points(name, points, fraction=all(percent))


def load_regions(path: str | Path) -> list[Region]:
    """The regions of a JSON file (see the module's docstring for its two forms), checked
    and with distinct names. Raises :class:`RegionError` naming the file (and the region)."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegionError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise RegionError(f"{path}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise RegionError(f"{path}: not JSON ({exc.msg} at {where})") from None
    try:
        regions = _document_regions(document)
        check_names(regions)
    except RegionError as exc:
        raise RegionError(f"{path}: {exc}") from None
    return regions


def _document_regions(document: Any) -> list[Region]:
    if not isinstance(document, dict):
        raise RegionError('expected an object with "regions" (or a GeoJSON FeatureCollection)')
    units = document.get("units", "pixels")
    if units not in UNITS:
        raise RegionError(f'"units" must be "pixels" or "fraction", not {units!r}')
    geojson = document.get("type") == "FeatureCollection"
    key, read = ("features", _feature) if geojson else ("regions", _entry)
    items = document.get(key)
    if not isinstance(items, list) or not items:
        raise RegionError(f'expected a non-empty list "{key}"')
    regions = []
    for index, item in enumerate(items, start=1):
        name, shell, holes, area = read(item, index)
        regions.append(
            Region.from_points(name, shell, holes=holes, fraction=units == "fraction", area_m2=area)
        )
    return regions


Entry = tuple[str, list[tuple[float, float]], list[list[tuple[float, float]]], float | None]


def _entry(item: Any, index: int) -> Entry:
    """Name, points, no holes and area of the ``index``-th (1-based) item of ``"regions"``."""
    if not isinstance(item, dict):
        raise RegionError(f'region {index}: expected an object with "name" and "points"')
    name = _name(item.get("name"), f"region {index}", '"name"')
    label = f"region {name!r}"
    unknown = sorted(set(item) - set(_REGION_KEYS))
    if unknown:
        raise RegionError(f"{label}: unknown key {unknown[0]!r} (keys: {', '.join(_REGION_KEYS)})")
    return name, _ring(item.get("points"), label), [], _area(item.get("area_m2"), label)


def _feature(item: Any, index: int) -> Entry:
    """Name, outer ring, holes and area of the ``index``-th (1-based) GeoJSON feature."""
    if not isinstance(item, dict) or item.get("type") != "Feature":
        raise RegionError(f"feature {index}: not a GeoJSON Feature")
    properties = item.get("properties")
    if not isinstance(properties, dict):
        raise RegionError(f'feature {index}: needs "properties" with a "name"')
    name = _name(properties.get("name"), f"feature {index}", 'a "name" property')
    label = f"region {name!r}"
    geometry = item.get("geometry")
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind != "Polygon":
        raise RegionError(f"{label}: the geometry must be a Polygon, not {kind}")
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise RegionError(f"{label}: a Polygon's coordinates are a list of rings")
    shell, *holes = (_ring(ring, label) for ring in rings)
    return name, shell, holes, _area(properties.get("area_m2"), label)


def _name(value: Any, where: str, what: str) -> str:
    if not isinstance(value, str):
        raise RegionError(f"{where}: needs {what} (a string)")
    return value


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _ring(value: Any, label: str) -> list[tuple[float, float]]:
    """A list of [x, y] pairs of numbers as (x, y) tuples (a third number, GeoJSON's
    altitude, is ignored)."""
    if not isinstance(value, list) or not all(
        isinstance(point, list) and len(point) in (2, 3) and all(map(_number, point))
        for point in value
    ):
        raise RegionError(f"{label}: the points must be a list of [x, y] pairs of numbers")
    return [(float(point[0]), float(point[1])) for point in value]


def _area(value: Any, label: str) -> float | None:
    if value is not None and not _number(value):
        raise RegionError(f'{label}: "area_m2" must be a number of m², not {value!r}')
    return None if value is None else float(value)
