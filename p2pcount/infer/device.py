"""Choosing the torch device a model runs on, and its precision."""

from __future__ import annotations

import functools
import warnings

import torch

from p2pcount.errors import ConfigError
from p2pcount.output.writers import plural


def resolve_device(name: str | torch.device = "auto") -> torch.device:
    """``"auto"`` → CUDA if available, else CPU; ``"cpu"``, ``"cuda"``, ``"cuda:1"`` as given.

    Raises :class:`ConfigError` for an unknown name or a CUDA device that is not there.
    """
    if isinstance(name, torch.device):
        device = name
    elif name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            device = torch.device(name)
        except RuntimeError:
            raise ConfigError(f"unknown device {name!r} (use auto, cpu or cuda)") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("CUDA was requested but is not available on this machine")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(
                f"{device} was requested but this machine has "
                f"{plural(torch.cuda.device_count(), 'CUDA device')}"
            )
    elif device.type != "cpu":
        raise ConfigError(f"unsupported device {name!r} (use auto, cpu or cuda)")
    return device


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


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain float32.

    ``auto``: float16 autocast on CUDA, bfloat16 on CPUs with native bf16, else float32.
    ``bf16`` asked for on a CPU without native bf16 is honoured, with a warning (once per
    process): there it runs several times slower than float32.
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown precision {precision!r} (use {', '.join(PRECISIONS)})")
    if precision == "auto":
        if device.type == "cuda":
            return torch.float16
        return torch.bfloat16 if cpu_has_native_bf16() else None
    if precision == "fp16" and device.type == "cpu":
        raise ConfigError("fp16 runs on CUDA only; use bf16 or fp32 on the CPU")
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        _warn_slow_bf16()
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@functools.cache
def _warn_slow_bf16() -> None:
    warnings.warn(
        "bf16 on this CPU (no AVX512-BF16 or AMX) is emulated and runs about 8x slower "
        "than fp32; --precision auto picks fp32 here",
        stacklevel=3,
    )
