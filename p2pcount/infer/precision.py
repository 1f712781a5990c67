"""Precisions by name, and which one ``auto`` means on this machine. No torch here (the
command line lists the choices in --help)."""

from __future__ import annotations

import functools
import warnings

from p2pcount.errors import ConfigError

#: ``--precision`` choices.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_has_native_bf16() -> bool:
    """True when the CPU computes in bfloat16 natively (AVX512-BF16 or AMX), read on Linux."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        pass
    return False


def choose_precision(precision: str, device_type: str) -> str:
    """``fp32``, ``bf16`` or ``fp16``: what ``precision`` means on a ``device_type``
    (``"cpu"`` or ``"cuda"``) device.

    ``auto``: fp16 (autocast) on CUDA, bf16 on CPUs with native bf16, else fp32. ``bf16``
    asked for on a CPU without native bf16 is honoured, with a warning (once per process):
    there it runs several times slower than fp32. Raises :class:`ConfigError` for an
    unknown name and for fp16 on the CPU.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "auto":
        if device_type == "cuda":
            return "fp16"
        return "bf16" if cpu_has_native_bf16() else "fp32"
    if precision == "fp16" and device_type == "cpu":
        raise ConfigError("fp16 runs on CUDA only; use bf16 or fp32 on the CPU")
    if precision == "bf16" and device_type == "cpu" and not cpu_has_native_bf16():
        _warn_slow_bf16()
    return precision


@functools.cache
def _warn_slow_bf16() -> None:
    warnings.warn(
        "bf16 on this CPU (no AVX512-BF16 or AMX) is emulated and runs about 8x slower "
        "than fp32; --precision auto picks fp32 here",
        stacklevel=4,
    )
