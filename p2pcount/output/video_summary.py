"""Per-video statistics, updated frame by frame: what stderr and ``--format json`` report.

No torch, no NumPy at import: only the counts and times of the results are read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from p2pcount.text import one_line, plural

if TYPE_CHECKING:
    from p2pcount.output.result import CountResult


def format_time(seconds: float) -> str:
    """``seconds`` as ``HH:MM:SS.mmm`` (``63.4`` → ``"00:01:03.400"``), rounded to the
    millisecond; hours grow past 99 as needed, a negative time gets a leading ``-``."""
    millis = round(abs(seconds) * 1000)
    sign = "-" if seconds < 0 and millis else ""
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{sign}{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


@dataclass
class VideoSummary:
    """Statistics of one video's counted frames, in O(1) memory whatever its length.

    Attributes:
        path: the video (file, URL or device) as the user named it.
        frames: frames counted (those passed to :meth:`add`).
        dropped: frames skipped because the model was slower than a live source; the
            reader adds to it, :meth:`add` does not.
        min_count, max_count: the smallest and largest count; None before the first frame.
        max_time: presentation time in seconds of the first frame with ``max_count``; None
            before the first frame or when that frame has no time.
    """

    path: str
    frames: int = 0
    dropped: int = 0
    min_count: int | None = field(default=None, init=False)
    max_count: int | None = field(default=None, init=False)
    max_time: float | None = field(default=None, init=False)
    _count_sum: int = field(default=0, init=False, repr=False)
    _soft_count_sum: float = field(default=0.0, init=False, repr=False)

    def add(self, result: CountResult) -> None:
        """Account for one counted frame: its ``count``, ``soft_count`` and ``time``."""
        self.frames += 1
        self._count_sum += result.count
        self._soft_count_sum += result.soft_count
        if self.min_count is None or result.count < self.min_count:
            self.min_count = result.count
        if self.max_count is None or result.count > self.max_count:
            self.max_count = result.count
            self.max_time = result.time

    @property
    def mean_count(self) -> float | None:
        """The mean count over the counted frames (people); None before the first frame."""
        return self._count_sum / self.frames if self.frames else None

    @property
    def mean_soft_count(self) -> float | None:
        """The mean soft count (sum of probabilities) over the counted frames; None before
        the first frame."""
        return self._soft_count_sum / self.frames if self.frames else None

    def record(self) -> dict[str, Any]:
        """The summary as an entry of ``--format json``'s ``"videos"`` list: means and
        ``max_time`` (seconds) rounded to 3 decimals, None (``null``) where there is no
        frame to tell."""
        return {
            "path": self.path,
            "frames": self.frames,
            "dropped": self.dropped,
            "mean_count": _round(self.mean_count),
            "min_count": self.min_count,
            "max_count": self.max_count,
            "max_time": _round(self.max_time),
            "mean_soft_count": _round(self.mean_soft_count),
        }

    def line(self) -> str:
        """One line for people (stderr), the path on one line (control characters escaped):
        ``clip.mp4: 120 frames, count mean 41.2 (min 35, max 52 at 00:01:03.400), 0 dropped``;
        without the count part when no frame was counted, without ``at …`` when the maximum's
        frame has no time."""
        parts = [plural(self.frames, "frame")]
        if self.mean_count is not None:
            at = "" if self.max_time is None else f" at {format_time(self.max_time)}"
            parts.append(
                f"count mean {self.mean_count:.1f} (min {self.min_count}, max {self.max_count}{at})"
            )
        parts.append(f"{self.dropped} dropped")
        return f"{one_line(self.path)}: {', '.join(parts)}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
