"""The exceptions p2pcount raises.

The library raises these; only the command-line edge turns them into a message and
an exit code. Every message names the file it is about and says what is wrong, in one
line, so ``p2pcount: error: PATH: reason`` reads well.
"""

from __future__ import annotations


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception's message (or its type name), for one-line errors."""
    text = str(exc).strip()
    return text.splitlines()[0][:limit] if text else type(exc).__name__


class P2PCountError(Exception):
    """Base class of every error p2pcount raises on purpose."""


class ImageError(P2PCountError):
    """An input image is missing, unreadable, corrupt, or too large."""


class VideoError(ImageError):
    """A video or stream cannot be opened, has no video stream, or breaks while decoding."""


class WeightsError(P2PCountError):
    """A weights file is missing, not a checkpoint, truncated, or of another architecture."""


class DatasetError(P2PCountError):
    """A dataset or one of its annotation files is missing or malformed."""


class DownloadError(P2PCountError):
    """A download failed, was interrupted, or did not match its known hash."""


class ConfigError(P2PCountError):
    """A model configuration or option value is invalid."""


class RegionError(P2PCountError):
    """A region to count in (``--region``, a regions file) is malformed: too few points, a
    polygon that crosses itself, a bad number, a duplicate name, a file of the wrong form."""


class TrainingError(P2PCountError):
    """Training cannot go on: it diverged (non-finite outputs or weights)."""
