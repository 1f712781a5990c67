"""The result of counting one image: a plain record, no torch (NumPy arrays)."""

from __future__ import annotations

import math
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
        cell_density: (ceil(H/8), ceil(W/8)) float32, the sum of the probabilities of each
            8×8 cell's candidates (anchors inside the image): the expected number of people
            whose head the model puts in that cell; it sums to ``soft_count``. None when
            not computed.
        soft_variance: Σ p(1 − p) over all candidates: the variance of the soft count if
            each candidate were an independent Bernoulli of its probability (see
            :attr:`count_std`, :meth:`interval`).
        candidates: (M, 2) float32 positions (x, y) in pixels of every candidate whose
            anchor lies in the image (M = 4 per 8×8 cell for the usual 2×2 anchors), in the
            order of ``points``; ``points`` are those above the threshold. None unless the
            counter was asked to keep them (``Counter.keep_candidates``).
        candidate_scores: (M,) float32 probabilities of ``candidates``; None likewise.
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
    soft_variance: float = 0.0
    cell_density: np.ndarray | None = None
    candidates: np.ndarray | None = None
    candidate_scores: np.ndarray | None = None

    @property
    def count_std(self) -> float:
        """Standard deviation of the soft count (people): the model's own spread, assuming
        independent candidates; not an error bar against the truth."""
        return math.sqrt(max(self.soft_variance, 0.0))

    def interval(self, z: float = 1.96) -> tuple[float, float]:
        """(low, high) = soft count ∓ ``z`` standard deviations (1.96: a 95 % interval under
        a normal approximation), the low end not below 0."""
        return count_interval(self.soft_count, self.count_std, z)


def count_interval(soft_count: float, std: float, z: float = 1.96) -> tuple[float, float]:
    """(low, high) = ``soft_count`` ∓ ``z`` × ``std`` (people), the low end not below 0."""
    spread = z * std
    return max(soft_count - spread, 0.0), soft_count + spread
