"""Counting people in named regions of an image: polygons, which points lie in them, and each
region's hard count, soft count, spread and density. No torch here.

Membership is shapely's vectorized :func:`shapely.contains_xy` (points strictly inside).
A point exactly on a region's edge or vertex counts in it when the region lies just to its
right and below it: the point is moved by :data:`EDGE_STEP` px along (1, :data:`EDGE_SLOPE`)
(along (−1, …) on the image's right border x = W, (…, −slope) on its bottom border y = H) and
tested again. For a rectangle that is the half-open rule of pixel ranges, [x0, x1) × [y0, y1)
(closed where it meets the image's right or bottom border): regions that tile the image
without overlapping (left half + right half sharing an edge) count every point exactly once,
so their counts sum to the image's. Overlapping regions each count the points they share.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from p2pcount.errors import RegionError
from p2pcount.output.result import count_interval
from p2pcount.text import one_line

if TYPE_CHECKING:
    from p2pcount.output.result import CountResult

#: How far (pixels) a point on a region's edge is moved to decide on which side it is.
EDGE_STEP = 1e-6
#: The step's slope (y per x): right and slightly down, parallel to no horizontal or
#: vertical edge, so a point on a corner shared by four rectangles falls in exactly one.
EDGE_SLOPE = 0.125


@dataclass(frozen=True)
class Region:
    """A named polygon to count in; build one with :meth:`from_points` (which checks it).

    Attributes:
        name: how outputs name it (one line, not empty).
        shape: the polygon (holes allowed), in pixels of the image (x right, y down) or,
            when ``fraction``, in fractions of the image's width (x) and height (y).
        fraction: coordinates are fractions of the image's size, so one region fits every
            resolution of a camera.
        area_m2: the ground area the region covers, square metres, for densities; None
            when not known.
    """

    name: str
    shape: shapely.Polygon
    fraction: bool = False
    area_m2: float | None = None

    @classmethod
    def from_points(
        cls,
        name: str,
        points: Sequence[Sequence[float]],
        *,
        holes: Sequence[Sequence[Sequence[float]]] = (),
        fraction: bool = False,
        area_m2: float | None = None,
    ) -> Region:
        """The region bounded by ``points`` ((x, y) pairs, the ring closing by itself), less
        ``holes`` (rings likewise). Raises :class:`RegionError` naming the region when the
        name is empty or not one line, a number is not finite, there are fewer than 3
        distinct points, the polygon has no area or crosses itself, or ``area_m2`` is not a
        number above 0."""
        label = f"region {one_line(name)!r}"
        if not name.strip():
            raise RegionError("a region needs a name")
        if any(ord(c) < 32 or ord(c) == 127 for c in name):
            raise RegionError(f"{label}: its name must be one line, without control characters")
        if area_m2 is not None and not 0 < area_m2 < math.inf:
            raise RegionError(f"{label}: the area must be a number of m² above 0, not {area_m2}")
        rings = [points, *holes]
        if not all(math.isfinite(v) for ring in rings for point in ring for v in point):
            raise RegionError(f"{label}: coordinates must be finite numbers")
        if len({tuple(point) for point in points}) < 3:
            raise RegionError(f"{label}: a polygon needs at least 3 distinct points (x, y)")
        if shapely.MultiPoint(points).convex_hull.area == 0:
            raise RegionError(f"{label}: the polygon has no area (its points lie on one line)")
        shape = shapely.Polygon(points, holes or None)
        if not shape.is_valid:
            reason = re.sub(r"\[(\S+) (\S+)\]", r" at (\1, \2)", shapely.is_valid_reason(shape))
            raise RegionError(f"{label}: not a simple polygon ({reason})")
        return cls(name, shape, fraction, area_m2)

    def polygon(self, width: int, height: int) -> shapely.Polygon:
        """The region in pixels of a ``width`` × ``height`` image."""
        if not self.fraction:
            return self.shape
        return shapely.transform(self.shape, lambda xy: xy * (width, height))

    def contains(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """(K,) bool: which of the (K, 2) points (x, y pixels) of a ``width`` × ``height``
        image count in the region (edges: see the module's docstring)."""
        polygon = self.polygon(width, height)
        shapely.prepare(polygon)
        x, y = np.asarray(points, dtype=np.float64).reshape(-1, 2).T
        inside = shapely.contains_xy(polygon, x, y)
        edge = shapely.intersects_xy(polygon, x, y) & ~inside
        if edge.any():
            ex, ey = x[edge], y[edge]
            step_x = np.where(ex < width, EDGE_STEP, -EDGE_STEP)
            step_y = np.where(ey < height, EDGE_STEP, -EDGE_STEP) * EDGE_SLOPE
            inside[edge] = shapely.contains_xy(polygon, ex + step_x, ey + step_y)
        return inside

    def outside(self, width: int, height: int) -> str | None:
        """None when the region lies within a ``width`` × ``height`` image; else a sentence
        saying it lies partly or entirely outside (and what is counted then)."""
        polygon = self.polygon(width, height)
        frame = shapely.box(0, 0, width, height)
        if frame.covers(polygon):
            return None
        where = f"region {one_line(self.name)!r} lies"
        if frame.intersection(polygon).area > 0:
            return f"{where} partly outside the {width}×{height} image: the part inside is counted"
        return f"{where} entirely outside the {width}×{height} image: its counts are 0"


@dataclass(frozen=True)
class RegionCount:
    """The counts of one region in one image.

    Attributes:
        name: the region's name.
        count: points above the threshold inside the region.
        soft_count: sum of the probabilities of every candidate inside the region.
        soft_variance: Σ p(1 − p) over those candidates (the soft count's variance if each
            were an independent Bernoulli of its probability).
        area_m2: the region's ground area (m²), or None.
    """

    name: str
    count: int
    soft_count: float
    soft_variance: float
    area_m2: float | None = None

    @property
    def count_std(self) -> float:
        """Standard deviation of the soft count (people), as :attr:`CountResult.count_std`."""
        return math.sqrt(max(self.soft_variance, 0.0))

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """(low, high) = soft count ∓ ``z`` standard deviations, the low end not below 0."""
        return count_interval(self.soft_count, self.count_std, z)

    @property
    def density(self) -> float | None:
        """People per m² (``count / area_m2``), or None without an area."""
        return None if self.area_m2 is None else self.count / self.area_m2

    def record(self) -> dict[str, Any]:
        """The JSON object of the region: counts, spread, 95 % interval, and with an area,
        ``area_m2`` and ``density`` (people/m²)."""
        low, high = self.interval()
        record: dict[str, Any] = {
            "count": self.count,
            "soft_count": round(self.soft_count, 3),
            "count_std": round(self.count_std, 3),
            "interval_low": round(low, 3),
            "interval_high": round(high, 3),
        }
        if self.area_m2 is not None:
            record["area_m2"] = self.area_m2
            record["density"] = round(self.density, 4)
        return record


def region_counts(result: CountResult, regions: Sequence[Region]) -> list[RegionCount]:
    """The counts of each region (in order) in one image's result.

    Hard counts come from ``result.points``; soft counts and spreads from every candidate,
    so the result must carry them: count with ``counter.keep_candidates = True``.
    Raises ValueError when it does not.
    """
    if result.candidates is None or result.candidate_scores is None:
        raise ValueError(
            "region soft counts need every candidate: set counter.keep_candidates = True "
            "before counting"
        )
    size = result.width, result.height
    scores = result.candidate_scores.astype(np.float64)
    counts = []
    for region in regions:
        inside = scores[region.contains(result.candidates, *size)]
        counts.append(
            RegionCount(
                name=region.name,
                count=int(np.count_nonzero(region.contains(result.points, *size))),
                soft_count=float(inside.sum()),
                soft_variance=float((inside * (1.0 - inside)).sum()),
                area_m2=region.area_m2,
            )
        )
    return counts


def check_names(regions: Sequence[Region]) -> None:
    """Raise :class:`RegionError` when two regions have one name (outputs key on names)."""
    seen: set[str] = set()
    for region in regions:
        if region.name in seen:
            raise RegionError(f"two regions are named {one_line(region.name)!r}; names must differ")
        seen.add(region.name)
