"""A matplotlib figure of an exact size in pixels, and its PNG written atomically.

No torch, and no matplotlib at import: :func:`new_figure` imports it. Figures use the
object API (a ``Figure`` on an Agg canvas): no GUI, and the backend pyplot uses in the
user's process is left alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from p2pcount.io.atomic import atomic_path
from p2pcount.output.overlay_files import SOFTWARE

if TYPE_CHECKING:
    from matplotlib.figure import Figure


def new_figure(size: tuple[int, int], reference: tuple[int, int]) -> Figure:
    """An empty figure, constrained layout, of ``size`` = (width, height) pixels once saved
    by :func:`save_png`.

    Its text is scaled as ``size`` compares with ``reference`` (the size the plot was
    designed at, text at 100 dots per inch there): down to 3/4 for smaller figures and up
    to twice for larger ones.

    Raises:
        ValueError: ``size`` is not positive.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width, height = size
    if width <= 0 or height <= 0:
        raise ValueError(f"plot size must be positive, not {width}×{height}")
    scale = min(width / reference[0], height / reference[1])
    dpi = 100 * min(2.0, max(0.75, scale))
    figure = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_png(figure: Figure, target: Path) -> None:
    """Write ``figure`` to ``target`` as a PNG of its exact pixel size, atomically, marked as
    p2pcount's in its "Software" text."""
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=figure.dpi, metadata={"Software": SOFTWARE})
