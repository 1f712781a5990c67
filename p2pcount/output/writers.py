"""Writing count results to stdout: text, json, jsonl or csv.

Writers stream: each result is written as soon as it is known, so a long folder shows
progress in a pipe and a crash loses nothing already printed. ``json`` is written as one
document whose ``"images"`` list is filled in as results arrive. An input that failed is a
record too in json, jsonl and csv (``{"path": …, "error": "reason"}``; csv: the ``error``
column), so a program reading the output sees every input; text output stays one
``COUNT<TAB>PATH`` line per counted image (failures are on stderr only). No torch here.

Given regions (:class:`~p2pcount.output.regions.Region`), each image's counts in them are
written too: json/jsonl a ``"regions"`` object keyed by name, csv a group of
``region:NAME:FIELD`` columns per region after the usual ones, text ``<TAB>NAME=COUNT``
fields after ``COUNT<TAB>PATH``.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TextIO

from p2pcount.text import one_line

if TYPE_CHECKING:
    from p2pcount.output.regions import Region, RegionCount
    from p2pcount.output.result import CountResult

FORMATS = ("text", "json", "jsonl", "csv")
CSV_FIELDS = (
    "path", "width", "height", "count", "soft_count", "count_std", "interval_low",
    "interval_high", "frame", "time", "error",
)  # fmt: skip
#: A region's csv columns are ``region:NAME:FIELD`` for these fields (``density``, people
#: per m², only for a region with an area), in this order.
REGION_CSV_FIELDS = ("count", "soft_count", "count_std", "interval_low", "interval_high")


def region_columns(regions: Sequence[Region]) -> list[str]:
    """The csv columns of ``regions``, a group per region in their order."""
    return [
        f"region:{region.name}:{field}"
        for region in regions
        for field in REGION_CSV_FIELDS + (("density",) if region.area_m2 is not None else ())
    ]


def result_record(
    result: CountResult, path: str, with_points: bool, regions: Sequence[RegionCount] = ()
) -> dict[str, Any]:
    """The JSON object of one image or video frame: path, size, counts, a frame's index and
    time (seconds), (optionally) points, and the counts of ``regions`` if any."""
    record: dict[str, Any] = {
        "path": path,
        "width": result.width,
        "height": result.height,
        "count": result.count,
        "soft_count": round(result.soft_count, 3),
        "count_std": round(result.count_std, 3),
    }
    low, high = result.interval()
    record["interval_low"], record["interval_high"] = round(low, 3), round(high, 3)
    if result.frame is not None:  # a video frame
        record["frame"] = result.frame
        record["time"] = round(result.time, 3)
    if with_points:
        record["points"] = [
            [round(float(x), 2), round(float(y), 2), round(float(s), 4)]
            for (x, y), s in zip(result.points, result.scores, strict=True)
        ]
    if regions:
        record["regions"] = {region.name: region.record() for region in regions}
    return record


def media_fragment(path: str, time: float | None) -> str:
    """``path`` for an image; ``PATH#t=SECONDS`` (W3C media-fragment syntax, 3 decimals) for
    a video frame shown at ``time`` seconds."""
    return path if time is None else f"{path}#t={time:.3f}"


class ResultWriter:
    """Writes results in one of :data:`FORMATS` to ``stream``; call :meth:`close` at the end.

    Args:
        stream: where to write (stdout).
        fmt: ``text`` (``COUNT<TAB>PATH``), ``json``, ``jsonl`` or ``csv``.
        soft: in ``text``, print the soft count with one decimal instead of the hard count.
        with_points: include points ``[x, y, score]`` in ``json``/``jsonl``.
        header: top-level fields of the ``json`` document (weights, threshold …).
        regions: also write each result's counts in these regions (the results must carry
            every candidate: see :func:`~p2pcount.output.regions.region_counts`).

    :meth:`write` and :meth:`write_error` may be called from several threads.
    """

    def __init__(
        self,
        stream: TextIO,
        fmt: str = "text",
        *,
        soft: bool = False,
        with_points: bool = False,
        header: dict[str, Any] | None = None,
        regions: Sequence[Region] = (),
    ) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}")
        self.stream, self.fmt, self.soft, self.with_points = stream, fmt, soft, with_points
        self.regions = regions
        self._fields = (*CSV_FIELDS, *region_columns(regions))
        self._written = 0
        self._lock = threading.Lock()
        if fmt == "csv":
            self._csv = csv.writer(stream, lineterminator="\n")
            self._csv.writerow(self._fields)
        elif fmt == "json":
            head = json.dumps(header or {})[1:-1]
            stream.write("{" + (head + ", " if head else "") + '"images": [')
        self.stream.flush()

    def write(self, result: CountResult, path: str) -> None:
        """One counted image."""
        counts: list[RegionCount] = []
        if self.regions:
            from p2pcount.output.regions import region_counts

            counts = region_counts(result, self.regions)
        if self.fmt == "text":
            fields = [self._text_count(result), one_line(media_fragment(path, result.time))]
            fields += [f"{one_line(c.name)}={self._text_count(c)}" for c in counts]
            self._emit("\t".join(fields) + "\n")
        elif self.fmt == "csv":
            row = result_record(result, path, False)
            for region in counts:
                row |= {f"region:{region.name}:{k}": v for k, v in region.record().items()}
            self._emit_row(row)
        else:
            self._emit_record(result_record(result, path, self.with_points, counts))

    def _text_count(self, counted: CountResult | RegionCount) -> str:
        """A count as text prints it: the hard count, or with ``soft`` the soft count with
        one decimal."""
        return f"{counted.soft_count:.1f}" if self.soft else str(counted.count)

    def write_error(self, path: str, reason: str) -> None:
        """An input that could not be counted (its stderr line is the caller's): a record
        with an ``error`` field in json/jsonl/csv, nothing in text. A ``reason`` that starts
        with ``PATH: `` loses that prefix (the record names the path)."""
        reason = reason.removeprefix(f"{path}: ")
        if self.fmt == "csv":
            self._emit_row({"path": path, "error": reason})
        elif self.fmt != "text":
            self._emit_record({"path": path, "error": reason})

    def _emit_row(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._csv.writerow([record.get(name, "") for name in self._fields])
            self.stream.flush()

    def _emit_record(self, record: dict[str, Any]) -> None:
        text = json.dumps(record)
        if self.fmt == "jsonl":
            self._emit(text + "\n")
        else:
            with self._lock:
                self.stream.write(("," if self._written else "") + "\n  " + text)
                self._written += 1
                self.stream.flush()

    def _emit(self, text: str) -> None:
        with self._lock:
            self.stream.write(text)
            self.stream.flush()

    def close(self, videos: list[dict[str, Any]] | None = None) -> None:
        """End the output; in ``json``, ``videos`` (per-video summaries) become the
        document's ``"videos"`` list."""
        if self.fmt == "json":
            tail = f', "videos": {json.dumps(videos)}' if videos else ""
            self._emit(("\n" if self._written else "") + "]" + tail + "}\n")
