"""Options shared by several commands, defined once."""

import math
import re
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2pcount.data.layouts import FORMATS as LAYOUTS
from p2pcount.infer.backends.selection import BACKENDS
from p2pcount.infer.precision import PRECISIONS
from p2pcount.model.config import BACKBONES
from p2pcount.output.writers import FORMATS


def choice_enum(name: str, values: tuple[str, ...]) -> type[Enum]:
    """A str Enum for Typer with one member per library constant value (``member.value``
    is the value, and so is its name), so a choice list is written once, in the library."""
    return Enum(name, {value: value for value in values}, type=str)


OutputFormat = choice_enum("OutputFormat", FORMATS)


Paths = Annotated[
    list[str],
    typer.Argument(
        help="Image files, folders of images, or - to read paths from stdin (one per line).",
        metavar="PATH",
        show_default=False,
    ),
]
Weights = Annotated[
    Optional[str],  # noqa: UP045 (typer needs Optional on Python 3.10)
    typer.Option(
        "--weights",
        "-w",
        envvar="P2PCOUNT_WEIGHTS",
        help="Weights file (.safetensors, .pth) or model name (see `p2pcount weights list`). "
        "Default: $P2PCOUNT_WEIGHTS, else the shtech-a model.",
        show_default=False,
    ),
]


def _number(accepts: Callable[[float], bool], expected: str) -> Callable[[str], float]:
    """A Typer parser: the option's text as a float that ``accepts`` takes (nan is refused
    by every range check), or a usage error ``EXPECTED, not TEXT``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not accepts(value):
            raise typer.BadParameter(f"{expected}, not {text}")
        return value

    return parse


_probability = _number(lambda v: 0.0 <= v <= 1.0, "the threshold must be a number in [0, 1]")
_distance = _number(lambda v: 0.0 <= v < math.inf, "the radius must be a number of pixels ≥ 0")
_positive = _number(lambda v: 0.0 < v < math.inf, "must be a number above 0")


def _device(value: str) -> str:
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", value):
        raise typer.BadParameter(f"{value!r} is not a device: use auto, cpu, cuda or cuda:N")
    return value


Threshold = Annotated[
    float,
    typer.Option(
        "--threshold",
        "-t",
        metavar="PROBABILITY",
        parser=_probability,
        help="Probability above which a point counts, in [0, 1].",
    ),
]
Device = Annotated[
    str,
    typer.Option(
        "--device",
        metavar="auto|cpu|cuda[:N]",
        callback=_device,
        help="auto = CUDA if available, else CPU; cuda:N = the N-th CUDA device.",
    ),
]
BatchSize = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Images of equal size per forward pass.")
]
Recursive = Annotated[
    bool, typer.Option("--recursive", "-r", help="Also take images from subfolders.")
]
MaxPixels = Annotated[
    int,
    typer.Option(
        "--max-pixels", min=1, help="Refuse images with more pixels than this (width × height)."
    ),
]


PrecisionChoice = choice_enum("PrecisionChoice", PRECISIONS)
BackboneChoice = choice_enum("BackboneChoice", BACKBONES)


Precision = Annotated[
    PrecisionChoice,
    typer.Option(
        "--precision",
        help="auto = bf16 on CPUs with native bf16 (AVX512-BF16/AMX), fp16 autocast on "
        "CUDA, fp32 elsewhere.",
    ),
]
BackendChoice = choice_enum("BackendChoice", BACKENDS)
Backend = Annotated[
    BackendChoice,
    typer.Option(
        "--backend",
        envvar="P2PCOUNT_BACKEND",
        help="What runs the network. auto = torch on CUDA, ncnn on the CPU (about twice "
        "as fast there). ncnn computes in fp32 whatever --precision auto means for torch; "
        "--precision bf16 or fp16 gives it that storage.",
    ),
]
Threads = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--threads",
        min=1,
        metavar="N",
        help="Compute threads of the backend. Default: ncnn every core, torch its own.",
        show_default=False,
    ),
]
_LAYOUTS = f"{', '.join(LAYOUTS[:-1])} or {LAYOUTS[-1]} (default: detected from the path)"
DatasetFormat = Annotated[
    Optional[str],  # noqa: UP045 (typer needs Optional on Python 3.10)
    typer.Option("--data-format", help=f"Dataset layout: {_LAYOUTS}.", show_default=False),
]
TrainDatasetFormat = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--format", "--data-format", help=f"TRAIN_DATA's layout: {_LAYOUTS}.", show_default=False
    ),
]
ValDatasetFormat = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--val-format", help=f"--val's layout: {_LAYOUTS}.", show_default=False),
]
Radius = Annotated[
    float,
    typer.Option(
        "--radius", metavar="PIXELS", parser=_distance, help="Match radius (pixels) for P/R/F1."
    ),
]
Tile = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--tile",
        min=16,
        help="Tile core size (pixels) for images above --tile-above pixels. Default: the "
        "backend's (torch 1024; ncnn, which needs more memory per pixel, smaller).",
        show_default=False,
    ),
]
TileAbove = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option(
        "--tile-above",
        min=0,
        help="Count images with more pixels than this in tiles (bounded memory); 0 = never. "
        "Default: the backend's (torch 2048x2048; ncnn smaller).",
        show_default=False,
    ),
]
Distributed = Annotated[
    bool,
    typer.Option(
        "--distributed",
        help="Under torchrun: shard the inputs over the ranks; rank 0 prints all results.",
    ),
]


def _seconds(text: str) -> float:
    """A time in a video: seconds (``12.5``) or ``HH:MM:SS[.ms]``."""
    from p2pcount.io.video import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


Every = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--every", min=1, metavar="N", help="Videos: count every N-th decoded frame."),
]
Fps = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option(
        "--fps",
        metavar="F",
        parser=_positive,
        help="Videos: count F frames per second of presentation time.",
    ),
]
Start = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option(
        "--start",
        metavar="TIME",
        parser=_seconds,
        help="Videos: from this time (seconds or HH:MM:SS[.ms]).",
    ),
]
End = Annotated[
    Optional[float],  # noqa: UP045
    typer.Option(
        "--end",
        metavar="TIME",
        parser=_seconds,
        help="Videos: up to this time (seconds or HH:MM:SS[.ms]).",
    ),
]
Timeout = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=_positive,
        help="Streams: give up on a source that does not answer in this time.",
    ),
]
RegionSpecs = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--region",
        metavar="NAME=X1,Y1,X2,Y2,X3,Y3,…",
        help="Also count in this polygon: pixels, or % of the width and height when every "
        "number ends in %. Repeatable.",
        show_default=False,
    ),
]
RegionsFile = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--regions",
        metavar="FILE.json",
        help='Also count in the named polygons of this file: {"units": "pixels"|"fraction", '
        '"regions": [{"name", "points": [[x, y], …], "area_m2"}]}, or GeoJSON.',
        show_default=False,
    ),
]
