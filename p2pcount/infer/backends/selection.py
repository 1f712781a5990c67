"""Which backend runs a model (``--backend auto|torch|ncnn``), and making it from a weights
file.

``auto``: PyTorch on CUDA; ncnn on every CPU. On CPUs without native bf16 (AVX2 only) ncnn
fp32 is about 2× PyTorch fp32 (the issue's measurements: 1.96× at 1024×768, 2.09× at
1920×1088). On a CPU with AVX512-BF16 (AMD EPYC, 2 threads, ``scripts/benchmark.py
--sections backend``, one run) ncnn fp32 ran 1.81× and 2.10× PyTorch fp32 at 1024×768 and
1920×1080, PyTorch bf16 1.66× and 1.85×: ncnn wins there as well (:data:`AUTO_ON_BF16_CPU`),
in fp32.

ncnn is used from its cached model (:mod:`~p2pcount.infer.backends.ncnn_cache`), built and
checked on first use (:mod:`~p2pcount.infer.backends.ncnn_build`, which needs torch).
Where ncnn cannot be imported, where the cache cannot be written, or where the built model
disagrees with PyTorch, the model runs on PyTorch, with one warning line. This module
imports neither torch, nor NumPy, nor ncnn until a backend is made, so the command line
lists :data:`BACKENDS` in ``--help`` for free.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from p2pcount.errors import ConfigError
from p2pcount.infer.precision import cpu_has_native_bf16

if TYPE_CHECKING:
    from p2pcount.infer.backends.base import InferenceBackend
    from p2pcount.infer.backends.ncnn import NcnnBackend
    from p2pcount.infer.backends.ncnn_cache import CacheEntry, Verdict

#: ``--backend`` choices.
BACKENDS = ("auto", "torch", "ncnn")
#: What ``auto`` picks on a CPU with native bf16 (AVX512-BF16, AMX), by measurement (above).
AUTO_ON_BF16_CPU = "ncnn"
#: Where the NVIDIA driver announces itself on Linux: without it CUDA cannot be there, and
#: ``auto`` decides without importing torch.
_NVIDIA_DRIVER = Path("/proc/driver/nvidia/version")


def choose_backend(backend: str, device: str) -> str:
    """``"torch"`` or ``"ncnn"``: what ``backend`` means for ``device`` (``auto``, ``cpu``,
    ``cuda``, ``cuda:N``). Raises :class:`ConfigError` for an unknown name and for ncnn on a
    CUDA device."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r} (use {', '.join(BACKENDS)})")
    on_cuda = device.startswith("cuda") or (device == "auto" and _cuda_available())
    if backend == "ncnn" and device.startswith("cuda"):
        raise ConfigError("the ncnn backend runs on the CPU: use --device cpu or --backend torch")
    if backend != "auto":
        return backend
    if on_cuda:
        return "torch"
    return AUTO_ON_BF16_CPU if cpu_has_native_bf16() else "ncnn"


def _cuda_available() -> bool:
    if sys.platform == "linux" and not _NVIDIA_DRIVER.exists():
        return False
    import torch

    return torch.cuda.is_available()


def load_backend(
    weights: str | Path,
    backend: str = "auto",
    device: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    notify: Callable[[str], None] | None = None,
) -> InferenceBackend:
    """The backend that runs the model of ``weights`` (``.safetensors`` or ``.pth``).

    Args:
        weights: the weights file.
        backend: ``auto``, ``torch`` or ``ncnn`` (see :func:`choose_backend`).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``auto``, ``fp32``, ``bf16`` or ``fp16``; see
            :func:`~p2pcount.infer.backends.ncnn.ncnn_precision` for ncnn and
            :func:`~p2pcount.infer.precision.choose_precision` for PyTorch.
        threads: compute threads of either backend (None: ncnn takes every core this process
            may run on, PyTorch its own default).
        notify: called with a one-line message before the ncnn model of new weights is
            built (a few seconds, once per weights file).

    Raises :class:`ConfigError` for bad options, :class:`~p2pcount.errors.WeightsError` for
    weights that cannot be read.
    """
    if threads is not None and threads < 1:
        raise ConfigError(f"threads must be at least 1, not {threads}")
    weights = Path(weights)
    if choose_backend(backend, device) == "ncnn":
        chosen = _ncnn_or_fallback(weights, precision, threads, notify)
        if chosen is not None:
            return chosen
        device = "cpu"
    return _torch_backend(weights, device, precision, threads)


def _torch_backend(
    weights: Path, device: str, precision: str, threads: int | None
) -> InferenceBackend:
    import torch

    from p2pcount.infer.backends.torch import TorchBackend
    from p2pcount.weights.checkpoint import load_model

    if threads is not None:
        torch.set_num_threads(threads)
    return TorchBackend(load_model(weights), device, precision, copy_model=False)


def _ncnn_or_fallback(
    weights: Path,
    precision: str,
    threads: int | None,
    notify: Callable[[str], None] | None = None,
) -> NcnnBackend | None:
    """The ncnn backend of ``weights`` from the cache (built if missing or not intact), or
    None, after a warning, when ncnn cannot be used or its model disagrees with PyTorch."""
    from p2pcount.infer.backends.ncnn import ncnn_precision
    from p2pcount.infer.backends.ncnn_cache import entry_folder, file_sha256, read_entry

    ncnn_precision(precision)  # a bad name is an error before anything is built
    try:
        import ncnn
    except ImportError as exc:
        _fall_back(f"ncnn cannot be imported ({exc})")
        return None
    if not weights.is_file():  # the weights' own reader says what is wrong
        return None
    folder = entry_folder(file_sha256(weights), ncnn.__version__)
    entry = read_entry(folder)
    if entry is not None and entry.verdict.agrees:
        try:
            return _ncnn_backend(entry, precision, threads)
        except ConfigError:
            entry = None  # ncnn refuses the files: build them again
    if entry is None:
        from p2pcount.infer.backends.ncnn_build import build_entry

        try:
            entry = build_entry(weights, folder, threads, notify)
        except OSError as exc:
            _fall_back(f"cannot write the ncnn model cache in {folder} ({exc.strerror or exc})")
            return None
        if entry.verdict.agrees:
            return _ncnn_backend(entry, precision, threads)
    _warn_disagrees(entry.verdict)
    return None


def _ncnn_backend(entry: CacheEntry, precision: str, threads: int | None) -> NcnnBackend:
    from p2pcount.infer.backends.ncnn import NcnnBackend

    return NcnnBackend(
        entry.param, entry.weights, entry.config, entry.receptive_field, precision, threads
    )


def _warn_disagrees(verdict: Verdict) -> None:
    _fall_back(
        f"the ncnn model's outputs differ from PyTorch's (offsets by {verdict.offsets_error:.2g}, "
        f"logits by {verdict.logits_error:.2g})"
    )


def _fall_back(reason: str) -> None:
    warnings.warn(f"{reason}; counting with PyTorch", stacklevel=3)
