"""Per-image files beside the printed results: the density map as NumPy ``.npy`` and the
points as CSV, for users' own analysis. No torch here."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from p2pcount.io.atomic import atomic_path
from p2pcount.output.overlay_files import OverlayNamer, prepare_output_dir

if TYPE_CHECKING:
    from p2pcount.output.result import CountResult


class SidecarWriter:
    """Writes, for each counted image (or video frame), ``<stem>_p2p_density.npy`` into
    ``density_dir`` and ``<stem>_p2p_points.csv`` into ``points_dir`` (either may be None);
    a video frame's names carry its index, ``<stem>_p2p_f000012_density.npy``.

    The ``.npy`` holds :attr:`CountResult.cell_density`: float32, (ceil(H/8), ceil(W/8)),
    the expected number of people per 8×8-pixel cell (the sum of its candidates'
    probabilities; it sums to the soft count). The CSV has a header ``x,y,score`` and one
    row per point above the threshold (pixels, probability). Files are written atomically
    and never over an input (see :class:`OverlayNamer`).
    """

    def __init__(
        self, density_dir: Path | None, points_dir: Path | None, inputs: list[str]
    ) -> None:
        self._namers = {
            kind: OverlayNamer(folder, inputs)
            for kind, folder in (("density", density_dir), ("points", points_dir))
            if folder is not None
        }
        for namer in self._namers.values():
            prepare_output_dir(namer.output_dir)

    def write(self, result: CountResult, path: str) -> list[Path]:
        """The files of one result; returns their paths."""
        import numpy as np

        frame = "" if result.frame is None else f"_f{result.frame:06d}"
        written = []
        if "density" in self._namers:
            target = self._namers["density"].name_for(path, "npy", tail=f"{frame}_density")
            with atomic_path(target) as tmp, open(tmp, "wb") as handle:
                np.save(handle, np.asarray(result.cell_density, dtype=np.float32))
            written.append(target)
        if "points" in self._namers:
            target = self._namers["points"].name_for(path, "csv", tail=f"{frame}_points")
            with atomic_path(target) as tmp, open(tmp, "w", newline="") as handle:
                rows = csv.writer(handle, lineterminator="\n")
                rows.writerow(("x", "y", "score"))
                for (x, y), score in zip(result.points, result.scores, strict=True):
                    rows.writerow((round(float(x), 2), round(float(y), 2), round(float(score), 4)))
            written.append(target)
        return written
