"""Counts from decoded candidates: hard (above a threshold) and soft (sum of probabilities),
in NumPy."""

from __future__ import annotations

import numpy as np


def hard_count(scores: np.ndarray, threshold: float, mask: np.ndarray | None = None) -> np.ndarray:
    """(B,) int number of candidates whose score is strictly above ``threshold``.

    ``scores`` is (B, N, h, w); ``mask`` (N, h, w) bool keeps only candidates inside the image.
    """
    keep = scores > threshold
    if mask is not None:
        keep = keep & mask
    return keep.reshape(len(keep), -1).sum(axis=1)


def soft_variance(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(B,) variance of the soft count, Σ p(1 − p) over the candidates (inside the image if
    ``mask``): each candidate a Bernoulli with its probability p, independent of the others
    (a Poisson-binomial count). The model's own spread, not an error against the truth."""
    spread = scores * (1 - scores)
    if mask is not None:
        spread = spread * mask
    return spread.reshape(len(spread), -1).sum(axis=1)


def soft_count(scores: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """(B,) sum of the probabilities of all candidates (inside the image if ``mask``), in the
    dtype of ``scores``."""
    if mask is not None:
        scores = scores * mask
    return scores.reshape(len(scores), -1).sum(axis=1)
