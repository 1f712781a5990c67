"""``p2pcount viz``: draw the detected heads over each image, as PNG files."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import (
    collect_paths,
    error,
    finish,
    load_counter,
    run_inputs,
    usage_errors,
)
from p2pcount.config import DEFAULT_MAX_PIXELS, DEFAULT_TILE_ABOVE, DEFAULT_TILE_SIZE
from p2pcount.formats import one_line


def viz(
    paths: opt.Paths,
    output_dir: Annotated[
        Path, typer.Option("--output-dir", "-o", help="Folder for the <stem>_p2p.png files.")
    ] = Path("."),
    weights: opt.Weights = None,
    threshold: opt.Threshold = 0.5,
    radius: Annotated[
        Optional[int],  # noqa: UP045 (typer needs Optional on Python 3.10)
        typer.Option("--radius", min=1, help="Dot radius in pixels (default: scaled to image)."),
    ] = None,
    color: Annotated[str, typer.Option("--color", help="Dot colour: a name or #rrggbb.")] = "red",
    heatmap: Annotated[
        bool, typer.Option("--heatmap", help="Blend the per-cell probability map underneath.")
    ] = False,
    device: opt.Device = opt.DeviceChoice.auto,
    precision: opt.Precision = opt.PrecisionChoice.auto,
    batch_size: opt.BatchSize = 1,
    recursive: opt.Recursive = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    tile: opt.Tile = DEFAULT_TILE_SIZE,
    tile_above: opt.TileAbove = DEFAULT_TILE_ABOVE,
) -> None:
    """Write an overlay PNG per image: a dot per detected head and the count.

    Prints the path of each file written on stdout.
    """
    from p2pcount.overlay_files import OverlayNamer, prepare_output_dir, write_png_atomic
    from p2pcount.render import parse_color, render_overlay

    with usage_errors():
        parse_color(color)
        prepare_output_dir(output_dir)
    inputs, unlisted = collect_paths(paths, recursive)
    counter = load_counter(
        weights, device.value, precision=precision.value, tile_size=tile, tile_above=tile_above
    )
    namer = OverlayNamer(output_dir, inputs)
    done = 0
    outcomes = run_inputs(counter, inputs, threshold, batch_size, max_pixels, keep_images=True)
    for outcome in outcomes:
        target = namer.name_for(outcome.path)
        overlay = render_overlay(
            outcome.image,
            outcome.result,
            radius=radius,
            color=color,
            heatmap=heatmap,
            stride=counter.config.stride,
        )
        try:
            write_png_atomic(overlay, target)
        except OSError as exc:
            error(f"{target}: cannot write ({exc.strerror or exc})")
            continue
        sys.stdout.write(one_line(str(target)) + "\n")  # above a live progress bar
        sys.stdout.flush()
        done += 1
    finish(done, len(inputs) + unlisted)
