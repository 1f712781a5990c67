"""Building the ncnn model of a weights file for the cache, and the accuracy guard.

The weights are read and their batch norm folded by PyTorch (the same
:func:`~p2pcount.model.folding.inference_network` the torch backend runs), written as ncnn's
files by :mod:`~p2pcount.infer.backends.ncnn_model`, then checked once: ncnn (fp32) and
PyTorch (fp32) compute the raw maps of a probe image, and the verdict is recorded with the
entry. A model whose maps disagree is never used (the caller falls back to PyTorch).
This module imports torch.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from p2pcount.infer.backends.ncnn import NcnnBackend
from p2pcount.infer.backends.ncnn_cache import (
    BIN,
    PARAM,
    CacheEntry,
    Verdict,
    write_model,
    write_record,
)
from p2pcount.infer.backends.ncnn_model import NcnnModel, build_ncnn_model
from p2pcount.infer.backends.torch import TorchBackend
from p2pcount.model.folding import receptive_field
from p2pcount.model.network import P2PNet
from p2pcount.weights.checkpoint import load_model

#: Largest difference from PyTorch's raw maps accepted, relative to max(1, the map's peak
#: magnitude): offsets are in units of ``offset_scale`` px (1e-3 · 100 = 0.1 px).
OFFSETS_TOLERANCE, LOGITS_TOLERANCE = 1e-3, 1e-2
#: Height and width of the probe image: not multiples of 16, so padding is checked too.
PROBE_SIZE = (120, 200)


def probe_image() -> np.ndarray:
    """(1, H, W, 3) uint8: the same noisy colour gradient every time."""
    height, width = PROBE_SIZE
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, :, None]
    noise = rng.normal(0, 40, (height, width, 3)).astype(np.float32)
    return np.clip(ramp + noise, 0, 255).astype(np.uint8)[None]


def compare_maps(
    reference: tuple[np.ndarray, np.ndarray], candidate: tuple[np.ndarray, np.ndarray]
) -> Verdict:
    """The verdict on ``candidate``'s (offsets, logits) against ``reference``'s. Values that
    are not finite must be so at the same places in both (broken weights break both: that
    is for counting to report, not the guard); the finite ones are compared."""
    errors = []
    for r, c in zip(reference, candidate, strict=True):
        finite = np.isfinite(r)
        if not np.array_equal(finite, np.isfinite(c)):
            errors.append(float("inf"))
            continue
        r, c = r[finite], c[finite]
        peak = max(1.0, float(np.abs(r).max())) if r.size else 1.0
        errors.append(float(np.abs(c - r).max() / peak) if r.size else 0.0)
    agrees = errors[0] <= OFFSETS_TOLERANCE and errors[1] <= LOGITS_TOLERANCE
    return Verdict(offsets_error=errors[0], logits_error=errors[1], agrees=agrees)


def folded_ncnn_model(net: P2PNet) -> NcnnModel:
    """The ncnn model of ``net``, an inference network (batch norm folded, see
    :func:`~p2pcount.model.folding.inference_network`)."""
    state = {key: value.float().numpy() for key, value in net.state_dict().items()}
    return build_ncnn_model(net.config, state)


def build_entry(
    weights: Path,
    folder: Path,
    threads: int | None = None,
    notify: Callable[[str], None] | None = None,
) -> CacheEntry:
    """Build the ncnn model of ``weights`` into the cache entry ``folder``, check it on the
    probe image (``threads`` compute threads) and record the verdict; ``notify`` is told in
    one line once the weights are read (the rest takes a few seconds).

    Raises :class:`~p2pcount.errors.WeightsError` for weights that cannot be read, OSError
    when the cache cannot be written.
    """
    model = load_model(weights)
    if notify is not None:
        notify(f"{weights}: building its ncnn model once (cached in {folder})")
    field = receptive_field(model)
    reference = TorchBackend(model, "cpu", "fp32", copy_model=False)
    ncnn_model = folded_ncnn_model(reference.net)
    write_model(folder, ncnn_model)
    probe = probe_image()
    candidate = NcnnBackend(folder / PARAM, folder / BIN, model.config, field, "fp32", threads)
    expected = tuple(np.asarray(maps) for maps in reference.forward_maps(probe))
    verdict = compare_maps(expected, candidate.forward_maps(probe))
    return write_record(folder, ncnn_model, model.config, field, verdict)
