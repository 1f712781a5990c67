"""``p2pcount count``: print the number of people in each image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import (
    CurrentStdout,
    Inputs,
    load_counter,
    load_region_options,
    region_placement_check,
    run_inputs,
    usage_errors,
    video_sampling,
)
from p2pcount.cli.console import error, warning
from p2pcount.cli.media import VideoInput, count_one_video, media_runs
from p2pcount.io.limits import DEFAULT_MAX_PIXELS

if TYPE_CHECKING:
    from p2pcount.output.result import CountResult


def count(
    paths: opt.Paths,
    weights: opt.Weights = None,
    threshold: opt.Threshold = 0.5,
    soft: Annotated[
        bool, typer.Option("--soft", help="Report the soft count (sum of probabilities).")
    ] = False,
    device: opt.Device = "auto",
    precision: opt.Precision = opt.PrecisionChoice.auto,
    backend: opt.Backend = opt.BackendChoice.auto,
    threads: opt.Threads = None,
    fmt: Annotated[
        opt.OutputFormat, typer.Option("--format", "-f", help="Output format on stdout.")
    ] = opt.OutputFormat.text,
    points: Annotated[
        bool,
        typer.Option("--points", help="Include points [x, y, score] (json and jsonl only)."),
    ] = False,
    batch_size: opt.BatchSize = 1,
    recursive: opt.Recursive = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    tile: opt.Tile = None,
    tile_above: opt.TileAbove = None,
    distributed: opt.Distributed = False,
    every: opt.Every = None,
    fps: opt.Fps = None,
    start: opt.Start = None,
    end: opt.End = None,
    timeout: opt.Timeout = 10.0,
    density: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--density",
            metavar="DIR",
            help="Also write each image's density map here: <stem>_p2p_density.npy, float32 "
            "(ceil(H/8), ceil(W/8)), expected people per 8×8 cell.",
        ),
    ] = None,
    points_csv: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--points-csv",
            metavar="DIR",
            help="Also write each image's points here: <stem>_p2p_points.csv (x,y,score).",
        ),
    ] = None,
    region: opt.RegionSpecs = None,
    regions_file: opt.RegionsFile = None,
) -> None:
    """Count people in images, videos and streams.

    Text output is one line per image, COUNT<TAB>PATH, so `cut -f1` gives the counts
    (control characters and backslashes in PATH escaped as \\n, \\t, \\\\ …); one line
    per video frame, COUNT<TAB>PATH#t=SECONDS. In json, jsonl and csv an input that failed
    is a record with an "error" field. With -, paths are read from stdin as they arrive and
    each result is printed at once. With --region/--regions, each region's counts follow:
    text <TAB>NAME=COUNT fields, json a "regions" object, csv region:NAME:FIELD columns.
    """
    from p2pcount.output.writers import ResultWriter

    if points and fmt in (opt.OutputFormat.text, opt.OutputFormat.csv):
        warning(f"--points is ignored with --format {fmt.value}: points are in json and jsonl")
    counter_options = {
        "backend": backend.value,
        "precision": precision.value,
        "threads": threads,
        "tile_size": tile,
        "tile_above": tile_above,
    }
    regions = load_region_options(region, regions_file)
    if distributed:
        from p2pcount.cli.sharded import ShardedJob, count_sharded

        job = ShardedJob(
            threshold, batch_size, max_pixels, fmt.value, soft, points, regions,
            density, points_csv,
        )  # fmt: skip
        count_sharded(paths, recursive, weights, device, counter_options, job)
        return
    sampling = video_sampling(every, fps, start, end)
    inputs = Inputs(paths, recursive)
    sidecars = None
    if density is not None or points_csv is not None:
        from p2pcount.output.sidecars import SidecarWriter

        listed = inputs.paths if isinstance(inputs.paths, list) else []
        with usage_errors():
            sidecars = SidecarWriter(density, points_csv, listed)

    check_regions = region_placement_check(regions)

    def emit(result: CountResult, path: str) -> None:
        check_regions(result)
        writer.write(result, path)
        if sidecars is not None:
            sidecars.write(result, path)

    counter = load_counter(weights, device, **counter_options)
    counter.keep_candidates = bool(regions)  # regions' soft counts sum their candidates
    header = {"weights": counter.source, "threshold": threshold}
    writer = ResultWriter(
        CurrentStdout(), fmt.value, soft=soft, with_points=points, header=header, regions=regions
    )
    inputs.report_folders_to(writer.write_error)
    done, videos, stopped = 0, [], False
    try:
        for item in media_runs(inputs.paths):
            if isinstance(item, VideoInput):
                counted = count_one_video(
                    counter, item.source, sampling, threshold, batch_size=batch_size,
                    timeout=timeout, on_frame=lambda _, result: emit(result, result.path),
                )  # fmt: skip
                videos.append(counted.summary.record())
                if counted.problem is not None:
                    error(counted.problem)
                    writer.write_error(item.source, counted.problem)
                    continue
                done += 1
                if counted.stopped:  # Ctrl-C on a live source: the whole run ends, cleanly
                    stopped = True
                    break
                continue
            outcomes = run_inputs(
                counter, item.paths, threshold, batch_size, max_pixels, on_error=writer.write_error
            )
            for outcome in outcomes:
                emit(outcome.result, outcome.path)
                done += 1
    finally:  # a json document stays whole when Ctrl-C stops the run
        writer.close(videos=videos)
    if stopped:
        raise typer.Exit(0)
    inputs.finish(done)
