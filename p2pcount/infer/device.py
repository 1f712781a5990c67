"""Choosing the torch device a model runs on, and the torch dtype of its precision."""

from __future__ import annotations

import torch

from p2pcount.errors import ConfigError
from p2pcount.infer.precision import choose_precision
from p2pcount.text import plural


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


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device``; None means plain float32 (see
    :func:`~p2pcount.infer.precision.choose_precision`)."""
    chosen = choose_precision(precision, device.type)
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[chosen]
