"""Rendering styles of synthetic scenes: ``classic`` (the generator's first look, kept
byte for byte) and ``varied``, which mixes head styles and background families per image,
any of which can be held out (switched off) to build an evaluation set of unseen looks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["BACKGROUND_FAMILIES", "CLASSIC", "HEAD_STYLES", "STYLES", "Style", "varied"]

STYLES = ("classic", "varied")
#: Head styles of ``varied`` scenes: the classic hair-face-hat head; a head shaded by a
#: light from one side; an irregular outline; a helmet or hood of one colour.
HEAD_STYLES = ("classic", "shaded", "blob", "helmet")
#: Background families of ``varied`` scenes: the classic textures; a flat or graded colour
#: under per-pixel noise (σ up to 40 grey levels); multi-stop gradients; fractal textures;
#: dense clutter of head-sized lines, blobs, discs and boxes.
BACKGROUND_FAMILIES = ("textured", "noise", "gradient", "fractal", "clutter")


@dataclass(frozen=True)
class Style:
    """How scenes are drawn: ``name`` (one of :data:`STYLES`) and, for ``varied``, the head
    styles and background families it may pick (each image picks its own)."""

    name: str = "classic"
    heads: tuple[str, ...] = HEAD_STYLES
    backgrounds: tuple[str, ...] = BACKGROUND_FAMILIES


CLASSIC = Style()


def varied(hold_out: Iterable[str] = ()) -> Style:
    """The ``varied`` style without the head styles and background families named in
    ``hold_out``; raises ValueError for an unknown name or if nothing of a kind is left."""
    held = set(hold_out)
    unknown = held - set(HEAD_STYLES) - set(BACKGROUND_FAMILIES)
    if unknown:
        raise ValueError(
            f"unknown family {', '.join(sorted(unknown))}: choose among "
            f"{', '.join(HEAD_STYLES + BACKGROUND_FAMILIES)}"
        )
    heads = tuple(h for h in HEAD_STYLES if h not in held)
    backgrounds = tuple(b for b in BACKGROUND_FAMILIES if b not in held)
    if not heads or not backgrounds:
        raise ValueError("hold-out leaves no head style or no background family")
    return Style("varied", heads, backgrounds)
