"""``p2pcount count``: print the number of people in each image."""

import sys
from typing import Annotated

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import collect_paths, finish, load_counter, run_inputs
from p2pcount.config import DEFAULT_MAX_PIXELS


def count(
    paths: opt.Paths,
    weights: opt.Weights = None,
    threshold: opt.Threshold = 0.5,
    soft: Annotated[
        bool, typer.Option("--soft", help="Report the soft count (sum of probabilities).")
    ] = False,
    device: opt.Device = opt.DeviceChoice.auto,
    fmt: Annotated[
        opt.OutputFormat, typer.Option("--format", "-f", help="Output format on stdout.")
    ] = opt.OutputFormat.text,
    points: Annotated[
        bool, typer.Option("--points", help="Include points [x, y, score] (json, jsonl).")
    ] = False,
    batch_size: opt.BatchSize = 1,
    recursive: opt.Recursive = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
) -> None:
    """Count people in images.

    Text output is one line per image, COUNT<TAB>PATH, so `cut -f1` gives the counts.
    """
    from p2pcount.formats import ResultWriter

    inputs = collect_paths(paths, recursive)
    counter = load_counter(weights, device.value)
    header = {"weights": counter.source, "threshold": threshold}
    writer = ResultWriter(sys.stdout, fmt.value, soft=soft, with_points=points, header=header)
    done = 0
    for outcome in run_inputs(counter, inputs, threshold, batch_size, max_pixels):
        writer.write(outcome.result, outcome.path)
        done += 1
    writer.close()
    finish(done, len(inputs))
