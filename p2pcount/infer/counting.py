"""Counts from decoded candidates: hard (above a threshold) and soft (sum of probabilities)."""

from __future__ import annotations

import torch


def hard_count(
    scores: torch.Tensor, threshold: float, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """(B,) number of candidates whose score is strictly above ``threshold``.

    ``scores`` is (B, N, h, w); ``mask`` (N, h, w) keeps only candidates inside the image.
    """
    keep = scores > threshold
    if mask is not None:
        keep = keep & mask
    return keep.flatten(1).sum(dim=1)


def soft_variance(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) variance of the soft count, Σ p(1 − p) over the candidates (inside the image if
    ``mask``): each candidate a Bernoulli with its probability p, independent of the others
    (a Poisson-binomial count). The model's own spread, not an error against the truth."""
    spread = scores * (1 - scores)
    if mask is not None:
        spread = spread * mask
    return spread.flatten(1).sum(dim=1)


def soft_count(scores: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """(B,) sum of the probabilities of all candidates (inside the image if ``mask``)."""
    if mask is not None:
        scores = scores * mask
    return scores.flatten(1).sum(dim=1)
