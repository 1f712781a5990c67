"""The result of counting one image: a plain record, no torch (NumPy arrays)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CountResult:
    """Counts and points of one image.

    Attributes:
        width, height: image size in pixels (after EXIF rotation).
        count: candidates with probability strictly above ``threshold``.
        soft_count: sum of the probabilities of all candidates (a fractional count).
        points: (K, 2) float32 head positions (x, y) in pixels, the K = ``count``
            candidates above the threshold, cells row-major with anchors innermost.
        scores: (K,) float32 probabilities of those points.
        cell_scores: (ceil(H/8), ceil(W/8)) float32, the highest probability of each
            8×8 cell's anchors (those inside the image); for heat maps.
        threshold: the probability threshold used.
        path: the file the image came from, if any.
        frame: for a video frame, its index in the decoded stream (0-based); else None.
        time: for a video frame, its presentation time in seconds; else None.
    """

    width: int
    height: int
    count: int
    soft_count: float
    points: np.ndarray
    scores: np.ndarray
    cell_scores: np.ndarray
    threshold: float
    path: str | None = None
    frame: int | None = None
    time: float | None = None
