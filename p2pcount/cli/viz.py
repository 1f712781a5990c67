"""``p2pcount viz``: draw the detected heads over each image, as PNG, JPEG or WebP files."""

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import (
    EXIT_USAGE,
    collect_paths,
    finish,
    load_counter,
    run_inputs,
    usage_errors,
)
from p2pcount.cli.console import error, warning
from p2pcount.infer.tiling import DEFAULT_TILE_ABOVE, DEFAULT_TILE_SIZE
from p2pcount.io.limits import DEFAULT_MAX_PIXELS
from p2pcount.output.overlay_files import (
    OverlayFormat,
    OverlayNamer,
    prepare_output_dir,
    split_own_overlays,
    write_overlay_atomic,
)
from p2pcount.output.text import one_line


def viz(
    paths: opt.Paths,
    output_dir: Annotated[
        Path,
        typer.Option("--output-dir", "-o", help="Folder for the <stem>_p2p.<format> files."),
    ] = Path("."),
    fmt: Annotated[
        OverlayFormat,
        typer.Option(
            "--format", "-f", help="File format of the overlays (JPEG, WebP: quality 90)."
        ),
    ] = OverlayFormat.png,
    weights: opt.Weights = None,
    threshold: opt.Threshold = 0.5,
    radius: Annotated[
        Optional[int],  # noqa: UP045 (typer needs Optional on Python 3.10)
        typer.Option("--radius", min=1, help="Dot radius in pixels (default: scaled to image)."),
    ] = None,
    color: Annotated[str, typer.Option("--color", help="Dot colour: a name or #rrggbb.")] = "red",
    heatmap: Annotated[
        bool,
        typer.Option(
            "--heatmap",
            help="Blend the per-cell probability map (inferno colours, opacity rising with "
            "the probability) and its legend, bottom right.",
        ),
    ] = False,
    label: Annotated[
        bool, typer.Option("--label/--no-label", help="Write the count in the top-left corner.")
    ] = True,
    device: opt.Device = "auto",
    precision: opt.Precision = opt.PrecisionChoice.auto,
    batch_size: opt.BatchSize = 1,
    recursive: opt.Recursive = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    tile: opt.Tile = DEFAULT_TILE_SIZE,
    tile_above: opt.TileAbove = DEFAULT_TILE_ABOVE,
) -> None:
    """Write an overlay per image: a dot per detected head, the count, optionally a heat map.

    Prints COUNT<TAB>OVERLAY_PATH on stdout for each file written (the count as `count`
    prints it). Overlays of an earlier run found in the output folder are not drawn over.
    """
    from p2pcount.output.render import parse_color, render_overlay

    with usage_errors():
        parse_color(color)
        prepare_output_dir(output_dir)
    found, unlisted = collect_paths(paths, recursive)
    inputs = _drop_own_overlays(found, output_dir)
    counter = load_counter(
        weights, device, precision=precision.value, tile_size=tile, tile_above=tile_above
    )
    namer = OverlayNamer(output_dir, inputs, fmt)  # a rerun replaces its own overlays
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
            label=label,
            stride=counter.config.stride,
        )
        try:
            write_overlay_atomic(overlay, target, fmt)
        except OSError as exc:
            error(f"{target}: cannot write ({exc.strerror or exc})")
            continue
        line = f"{outcome.result.count}\t{one_line(str(target))}\n"
        sys.stdout.write(line)  # above a live progress bar
        sys.stdout.flush()
        done += 1
    finish(done, len(inputs) + unlisted)


def _drop_own_overlays(inputs: list[str], output_dir: Path) -> list[str]:
    """``inputs`` less the overlays of earlier runs in ``output_dir``, said once on stderr;
    exits 2 when nothing is left."""
    kept, skipped = split_own_overlays(inputs, output_dir)
    if skipped:
        files = "overlay" if len(skipped) == 1 else "overlays"
        warning(
            f"skipped {len(skipped)} {files} written by p2pcount in {output_dir} "
            "(named <stem>_p2p.<ext>; write to another --output-dir to draw over them)"
        )
    if not kept:
        error(f"no input images left: every input is an overlay p2pcount wrote in {output_dir}")
        raise typer.Exit(EXIT_USAGE)
    return kept
