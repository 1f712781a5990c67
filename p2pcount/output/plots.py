"""The count over time of a video as a PNG plot (``viz``'s ``<stem>_p2p_counts.png``).

No torch; matplotlib is imported by :func:`plot_counts`, not with this module (see
:mod:`p2pcount.output.figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from p2pcount.output.figure import new_figure, save_png

if TYPE_CHECKING:
    from matplotlib.axes import Axes

#: Videos longer than this (seconds) get times as ``m:ss`` / ``h:mm:ss`` on the x axis.
CLOCK_AXIS_FROM = 120.0

#: Tick spacings (seconds) of a ``m:ss`` axis: a clock's round numbers.
_CLOCK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600)

#: Series of at most this many frames get a marker on each frame.
_MARKERS_UP_TO = 60


def plot_counts(
    times: Sequence[float],
    counts: Sequence[int],
    soft_counts: Sequence[float] | None,
    target: Path,
    *,
    title: str,
    size: tuple[int, int] = (1200, 500),
) -> None:
    """Write a PNG plot of a video's count over time to ``target`` (atomically).

    The count is a solid line, the soft count (sum of probabilities) a thin dashed one;
    the y axis (people) starts at 0; the x axis is the frames' presentation time, in
    seconds, or as ``m:ss`` (``h:mm:ss``) when the last time is over
    :data:`CLOCK_AXIS_FROM` seconds. With a legend (above the plot, right) and a grid; up to
    :data:`_MARKERS_UP_TO` frames also get a dot each, so that one frame shows as a dot.
    With no frames the plot is empty axes with the note "no frames counted".

    Args:
        times: the N frames' presentation times in seconds, increasing.
        counts: the N frames' counts.
        soft_counts: the N frames' soft counts, or None to draw the count alone.
        target: the PNG file to write.
        title: the plot's title, drawn as given (no ``$…$`` mathematics).
        size: the PNG's (width, height) in pixels, exactly; its text is scaled from the
            default size's, down to 3/4 for smaller plots and up to twice for larger ones.

    Raises:
        ValueError: the sequences' lengths differ, or ``size`` is not positive.
    """
    if len(counts) != len(times) or (soft_counts is not None and len(soft_counts) != len(times)):
        raise ValueError("times, counts and soft_counts must have one value per frame")
    figure = new_figure(size, reference=(1200, 500))
    axes = figure.add_subplot()
    axes.set_title(title, parse_math=False)
    axes.set_ylabel("people")
    axes.grid(True, alpha=0.4)
    marker = "o" if len(times) <= _MARKERS_UP_TO else None
    axes.plot(
        times,
        counts,
        "-",
        linewidth=2,
        marker=marker,
        markersize=4,
        color="tab:blue",
        label="count",
    )
    if soft_counts is not None:
        axes.plot(
            times,
            soft_counts,
            "--",
            linewidth=1,
            marker=marker,
            markersize=2,
            color="tab:orange",
            label="soft count (sum of probabilities)",
            zorder=1.9,  # under the count
        )
    if len(times):
        figure.legend(loc="outside upper right", ncols=2)
    else:
        axes.text(
            0.5,
            0.5,
            "no frames counted",
            transform=axes.transAxes,
            fontsize="large",
            ha="center",
            va="center",
            color="grey",
        )
    # People from 0 up to above the highest value; a little room below 0 so that a line at
    # 0 is not hidden by the axis.
    top = 1.1 * max(
        1.0, max(counts, default=0), max(soft_counts if soft_counts is not None else (), default=0)
    )
    axes.set_ylim(-0.02 * top, top)
    axes.yaxis.get_major_locator().set_params(integer=True)
    if len(times) > 1:
        _time_axis(axes, times[0], times[-1])
    else:  # one frame: a second either side of it; none: 0 to 1
        axes.set_xlim(*((times[0] - 1, times[0] + 1) if len(times) else (0, 1)))
        axes.set_xlabel("time (s)")
    save_png(figure, target)


def _time_axis(axes: Axes, first: float, last: float) -> None:
    """Label the x axis, times ``first`` to ``last`` (seconds), in seconds or in clock time
    (see :data:`CLOCK_AXIS_FROM`) with ticks at most about 8 round clock steps apart."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    if last <= CLOCK_AXIS_FROM:
        axes.set_xlabel("time (s)")
        return
    hours = last >= 3600
    axes.set_xlabel("time (h:mm:ss)" if hours else "time (m:ss)")
    span = last - first
    step = next((s for s in _CLOCK_STEPS if span / s <= 8), _CLOCK_STEPS[-1])
    axes.xaxis.set_major_locator(MultipleLocator(step))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: _clock(value, hours)))


def _clock(seconds: float, hours: bool) -> str:
    """``seconds`` as ``m:ss`` or ``h:mm:ss`` (whole seconds, rounded; sign kept)."""
    sign = "-" if seconds < 0 else ""
    total = round(abs(seconds))
    minutes, secs = divmod(total, 60)
    if hours:
        return f"{sign}{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
    return f"{sign}{minutes}:{secs:02d}"
