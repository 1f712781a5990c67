"""How the people of ``varied`` scenes look: per person a head style (of
:data:`~.styles.HEAD_STYLES`), colours from wider palettes (dyed hair, tinted skin), what
people of the shaded and blob styles wear on their heads (:data:`HEADWEAR`), and per scene a
body shape; drawn by :class:`VariedPainter`.

Coordinates are continuous pixel coordinates (x right, y down, origin at the top-left); a
head is centred on its annotated point whatever its style.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from PIL import ImageDraw

from .clutter import box
from .crowd import FRONT, TOP, Crowd
from .palette import SKIN_TONES, Colour, as_tuples, hsv_colour, jitter
from .people import draw_person

__all__ = ["BODIES", "HEADWEAR", "People", "VariedPainter", "restyle"]

#: Body shapes of a varied scene: the classic torso, a trapezoid of shoulders, none (heads
#: over a dense crowd).
BODIES = ("classic", "trapezoid", "none")
#: What a person of the shaded or blob style wears on the head, in any colour: nothing; a
#: hood round the face (its head a disc from behind or above); a cap with a brim; a knitted
#: hat with a pompom over the upper half. 3 people in 10 of those styles wear one of the last
#: three.
HEADWEAR = ("bare", "hood", "cap", "beanie")
#: The head styles that wear :data:`HEADWEAR` (classic heads have their own hats; helmets
#: are headwear).
_WEARERS = ("shaded", "blob")
_P_WEAR = 0.3
#: Vertices of a blob head's outline.
_BLOB_VERTICES = 9


@dataclass(frozen=True)
class People:
    """Who the annotated heads of a varied scene are: one entry per head point, in the order
    of the points.

    Attributes:
        style: the head style of each head (of :data:`~.styles.HEAD_STYLES`).
        wear: what each head wears (of :data:`HEADWEAR`; ``"bare"`` for the styles that
            wear nothing).
        pose: (K,) int64 ``FRONT``, ``BACK`` or ``TOP`` (:mod:`.crowd`).
        radius: (K,) float64 head half-height in px.
        body: the scene's body shape (of :data:`BODIES`).
    """

    style: tuple[str, ...]
    wear: tuple[str, ...]
    pose: np.ndarray
    radius: np.ndarray
    body: str


@dataclass(frozen=True)
class VariedPainter:
    """Draws person i in the head style ``heads[styles[i]]`` (a :data:`~.people.Painter`).

    Attributes:
        heads: the style names the indices refer to.
        styles: (N,) int64 index into ``heads`` per person.
        body: one of :data:`BODIES`, for the whole scene.
        light: (2,) float64 unit vector towards the light, for shading.
        outline: (N, _BLOB_VERTICES) float64 radius factors of blob heads.
        accent: N RGB colours (helmets, headwear).
        wear: (N,) int64 index into :data:`HEADWEAR` per person (used by shaded and blob
            heads).
    """

    heads: tuple[str, ...]
    styles: np.ndarray
    body: str
    light: np.ndarray
    outline: np.ndarray
    accent: list[Colour]
    wear: np.ndarray

    def __call__(
        self, draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: Crowd, i: int
    ) -> None:
        style = self._style(i)
        if style == "classic":
            draw_person(draw, label, crowd, i)
            return
        self._body(draw, label, crowd, i)
        (x, y), r = crowd.xy[i], crowd.radius[i]
        rx = r * crowd.aspect[i]
        wear = self._wear(i)
        if wear == "hood":
            self._hood(draw, label, crowd, i)
            return
        if style == "blob":
            outline = _blob(x, y, rx, r, self.outline[i])
            draw.polygon(outline, crowd.hair[i])
            label.polygon(outline, i + 1)
        elif style == "helmet":
            draw.ellipse(box(x, y, rx, r), self.accent[i], outline=_shade(self.accent[i], 0.6))
            label.ellipse(box(x, y, rx, r), i + 1)
        else:
            _shaded_ellipse(draw, x, y, rx, r, crowd.hair[i], self.light)
            label.ellipse(box(x, y, rx, r), i + 1)
        if crowd.pose[i] == FRONT:
            self._face(draw, crowd, i, style)
        if wear == "cap":
            self._cap(draw, crowd, i)
        elif wear == "beanie":
            self._beanie(draw, crowd, i)

    def people(self, crowd: Crowd, shown: np.ndarray) -> People:
        """The :class:`People` of ``crowd``'s persons selected by ``shown`` ((N,) bool, as
        :func:`~.people.draw_crowd` returns), in crowd order."""
        (index,) = np.nonzero(shown)
        return People(
            style=tuple(self._style(i) for i in index),
            wear=tuple(self._wear(i) for i in index),
            pose=crowd.pose[index],
            radius=crowd.radius[index],
            body=self.body,
        )

    def _style(self, i: int) -> str:
        """Person i's head style."""
        return self.heads[self.styles[i]]

    def _wear(self, i: int) -> str:
        """What person i wears on the head: ``"bare"`` unless the style wears headwear."""
        return HEADWEAR[self.wear[i]] if self._style(i) in _WEARERS else "bare"

    def _hood(
        self, draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: Crowd, i: int
    ) -> None:
        """A shaded hood a little wider than the head, round a face seen from the front."""
        (x, y), r = crowd.xy[i], crowd.radius[i]
        rx = r * crowd.aspect[i]
        _shaded_ellipse(draw, x, y + 0.05 * r, 1.2 * rx, 1.15 * r, self.accent[i], self.light)
        label.ellipse(box(x, y, rx, r), i + 1)
        if crowd.pose[i] == FRONT:
            draw.ellipse(box(x, y + 0.2 * r, 0.68 * rx, 0.72 * r), crowd.skin[i])

    def _cap(self, draw: ImageDraw.ImageDraw, crowd: Crowd, i: int) -> None:
        """A cap: a crown over the upper half of the head and a brim (towards the camera, or
        towards the light seen from above)."""
        (x, y), r = crowd.xy[i], crowd.radius[i]
        rx, colour = r * crowd.aspect[i], self.accent[i]
        brim = _shade(colour, 0.7)
        if crowd.pose[i] == TOP:
            lx, ly = self.light
            draw.ellipse(box(x + 0.8 * rx * lx, y + 0.8 * r * ly, 0.6 * rx, 0.6 * r), brim)
            draw.ellipse(box(x, y, 0.95 * rx, 0.95 * r), colour)
            return
        draw.chord(box(x, y - 0.1 * r, 1.04 * rx, 0.95 * r), 180, 360, colour)
        if crowd.pose[i] == FRONT:
            draw.ellipse(box(x, y - 0.1 * r, 1.2 * rx, 0.2 * r), brim)

    def _beanie(self, draw: ImageDraw.ImageDraw, crowd: Crowd, i: int) -> None:
        """A knitted hat: a dome with a darker turned-up band and a pompom (a ring round a
        pompom seen from above)."""
        (x, y), r = crowd.xy[i], crowd.radius[i]
        rx, colour = r * crowd.aspect[i], self.accent[i]
        band = _shade(colour, 0.75)
        if crowd.pose[i] == TOP:
            draw.ellipse(box(x, y, rx, r), band)
            draw.ellipse(box(x, y, 0.75 * rx, 0.75 * r), colour)
            draw.ellipse(box(x, y, 0.25 * rx, 0.25 * r), band)
            return
        draw.chord(box(x, y - 0.05 * r, 1.06 * rx, 1.05 * r), 180, 360, colour)
        draw.rectangle((x - 1.02 * rx, y - 0.3 * r, x + 1.02 * rx, y - 0.05 * r), band)
        draw.ellipse(box(x, y - 1.1 * r, 0.28 * rx, 0.28 * r), colour)

    def _body(
        self, draw: ImageDraw.ImageDraw, label: ImageDraw.ImageDraw, crowd: Crowd, i: int
    ) -> None:
        (x, y), r = crowd.xy[i], crowd.radius[i]
        half_w = 2.1 * r * crowd.build[i]
        if self.body == "none":
            return
        if self.body == "trapezoid" and crowd.pose[i] != TOP:
            shoulders = [(x - 0.6 * r, y + 0.8 * r), (x + 0.6 * r, y + 0.8 * r)]
            shoulders += [(x + half_w, y + 2.2 * r), (x + half_w, y + 6 * r)]
            shoulders += [(x - half_w, y + 6 * r), (x - half_w, y + 2.2 * r)]
            draw.polygon(shoulders, crowd.cloth[i])
            label.polygon(shoulders, 0)
            return
        torso = (x - half_w, y + 0.6 * r, x + half_w, y + 6 * r)
        if crowd.pose[i] == TOP:
            torso = (x - half_w, y - 0.3 * r, x + half_w, y + 1.2 * r)
        draw.ellipse(torso, crowd.cloth[i])
        label.ellipse(torso, 0)

    def _face(self, draw: ImageDraw.ImageDraw, crowd: Crowd, i: int, style: str) -> None:
        (x, y), r = crowd.xy[i], crowd.radius[i]
        rx, skin = r * crowd.aspect[i], crowd.skin[i]
        if style == "helmet":  # a visor band
            draw.rectangle((x - 0.7 * rx, y - 0.1 * r, x + 0.7 * rx, y + 0.45 * r), skin)
            return
        top = y - r + 2 * r * crowd.hair_cover[i]
        if style == "shaded":
            _shaded_ellipse(
                draw, x, (top + y + r) / 2, 0.85 * rx, (y + r - top) / 2, skin, self.light
            )
        else:
            draw.ellipse((x - 0.8 * rx, top, x + 0.8 * rx, y + 0.9 * r), skin)


def restyle(
    rng: np.random.Generator, crowd: Crowd, heads: tuple[str, ...]
) -> tuple[Crowd, VariedPainter]:
    """Wider palettes for ``crowd`` (1 time in 4 hair of any colour: any hue and saturation,
    grey and white included, value 0.1-1; skin tones tinted and stretched) and a painter
    mixing the ``heads`` styles (1 to all of them per scene), with :data:`HEADWEAR`.

    The headwear is drawn last, and only where ``heads`` has a style that wears it, so that
    person-free scenes and scenes of helmets alone are drawn as before it existed."""
    n = len(crowd.radius)
    hair = np.array(crowd.hair, np.float64).reshape(n, 3)
    dyed = rng.random(n) < 0.25
    dyes = [hsv_colour(rng, (0.0, 1.0), (0.1, 1.0)) for _ in range(int(dyed.sum()))]
    hair[dyed] = np.array(dyes, np.float64).reshape(-1, 3)
    base = SKIN_TONES[rng.integers(len(SKIN_TONES), size=n)] * rng.uniform(0.6, 1.15, (n, 1))
    skin = jitter(rng, base * rng.uniform(0.85, 1.15, 3), 14)
    used = rng.choice(len(heads), size=int(rng.integers(1, len(heads) + 1)), replace=False)
    painter = VariedPainter(
        heads=heads,
        styles=used[rng.integers(len(used), size=n)],
        body=str(rng.choice(BODIES)),
        light=_unit(rng.uniform(0, 2 * math.pi)),
        outline=rng.uniform(0.8, 1.2, (n, _BLOB_VERTICES)),
        accent=as_tuples(rng.uniform(0, 255, (n, 3))),
        wear=np.zeros(n, np.int64),
    )
    if any(h in _WEARERS for h in heads):
        worn = rng.random(n) < _P_WEAR
        wear = np.where(worn, rng.integers(1, len(HEADWEAR), size=n), 0)
        painter = replace(painter, wear=wear)
    restyled = replace(crowd, hair=as_tuples(np.clip(hair, 0, 255)), skin=as_tuples(skin))
    return restyled, painter


def _unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle)])


def _shade(colour: Colour, factor: float) -> Colour:
    return tuple(int(min(255, c * factor)) for c in colour)


def _blob(
    x: float, y: float, rx: float, ry: float, factors: np.ndarray
) -> list[tuple[float, float]]:
    """An irregular outline around (x, y): the ellipse of half-axes rx, ry px with each
    vertex's radius scaled by ``factors``."""
    angles = np.linspace(0, 2 * math.pi, len(factors), endpoint=False)
    return list(
        zip(x + rx * factors * np.cos(angles), y + ry * factors * np.sin(angles), strict=True)
    )


def _shaded_ellipse(
    draw: ImageDraw.ImageDraw,
    x: float,
    y: float,
    rx: float,
    ry: float,
    colour: Colour,
    light: np.ndarray,
) -> None:
    """An ellipse lit from ``light``: 4 nested ellipses, darker outside, brighter and shifted
    towards the light inside."""
    for step in range(4):
        k = 1 - step / 5
        shift = (1 - k) * 0.6
        cx, cy = x + shift * rx * light[0], y + shift * ry * light[1]
        draw.ellipse(box(cx, cy, k * rx, k * ry), _shade(colour, 0.65 + 0.22 * step))
