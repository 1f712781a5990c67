"""How well the count uncertainty covers the truth on an annotated dataset.

A soft count ``s`` (sum of the candidates' probabilities) comes with the standard
deviation ``σ = √Σ p(1 − p)``: the model's own spread if each candidate were an independent
Bernoulli, not an error bar against the truth. On a dataset, two figures say how far to
trust it:

- the *coverage*: the fraction of images whose ground-truth count ``g`` lies in the
  interval ``s ∓ 1.96 σ`` (95 % if the spread were the error's);
- the *factor* ``k``: the smallest number by which ``σ`` must be multiplied for
  ``s ∓ 1.96 k σ`` to cover at least 95 % of the images, i.e. the empirical 95th
  percentile of ``|g − s| / σ`` (the smallest ratio with at least 95 % of the images at or
  below it: numpy's ``inverted_cdf``), divided by 1.96. Above 1 the model is
  over-confident, below 1 under-confident.

An image with ``σ = 0`` (every probability exactly 0 or 1) has an interval of one point:
covered if and only if ``g = s``; its ratio is 0 then and infinite otherwise. If more
than 5 % of the images have such an infinite ratio, no multiple of ``σ`` covers 95 % and
the factor is ``inf``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: The normal quantile of a two-sided 95 % interval.
Z_95 = 1.96

#: The share of the images the calibrated interval is to cover.
COVERAGE_TARGET = 0.95


@dataclass(frozen=True)
class Calibration:
    """Coverage of the ``soft ∓ 1.96 σ`` interval on ``images`` images, and the factor on
    ``σ`` that makes it cover 95 % of them (``inf`` if none does; see the module)."""

    images: int
    coverage: float
    factor: float

    def summary(self) -> dict[str, float | None]:
        """The machine-readable form: coverage and factor, rounded to 4 decimals; the
        factor is None (JSON null) when it is infinite."""
        return {
            "coverage": round(self.coverage, 4),
            "factor": round(self.factor, 4) if math.isfinite(self.factor) else None,
        }


def interval_calibration(
    truth: Sequence[float], soft: Sequence[float], std: Sequence[float]
) -> Calibration:
    """The :class:`Calibration` of soft counts ``soft`` with standard deviations ``std``
    against ground-truth counts ``truth`` (people; one value per image each).

    Raises:
        ValueError: the sequences are empty, of different lengths, or a ``std`` is negative.
    """
    truth_arr, soft_arr, std_arr = (
        np.asarray(v, dtype=float).reshape(-1) for v in (truth, soft, std)
    )
    if truth_arr.size == 0:
        raise ValueError("calibration needs at least one image")
    if not truth_arr.shape == soft_arr.shape == std_arr.shape:
        raise ValueError(
            f"{truth_arr.size} truths, {soft_arr.size} soft counts and {std_arr.size} "
            "standard deviations: need one of each per image"
        )
    if (std_arr < 0).any():
        raise ValueError("a standard deviation is negative")
    error = np.abs(truth_arr - soft_arr)
    ratio = np.divide(error, std_arr, out=np.where(error > 0, np.inf, 0.0), where=std_arr > 0)
    covered = float(np.mean(error <= Z_95 * std_arr))
    needed = float(np.quantile(ratio, COVERAGE_TARGET, method="inverted_cdf"))
    return Calibration(images=int(truth_arr.size), coverage=covered, factor=needed / Z_95)
