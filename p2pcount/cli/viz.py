"""``p2pcount viz``: draw the detected heads over each image, as PNG, JPEG or WebP files."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import (
    EXIT_USAGE,
    collect_paths,
    finish,
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
from p2pcount.output.overlay_files import (
    OverlayFormat,
    OverlayNamer,
    prepare_output_dir,
    split_own_overlays,
    write_overlay_atomic,
)
from p2pcount.text import one_line

if TYPE_CHECKING:
    from PIL import Image

    from p2pcount.infer.counter import Counter
    from p2pcount.io.video import Frame, Sampling
    from p2pcount.output.result import CountResult


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
    backend: opt.Backend = opt.BackendChoice.auto,
    threads: opt.Threads = None,
    batch_size: opt.BatchSize = 1,
    recursive: opt.Recursive = False,
    max_pixels: opt.MaxPixels = DEFAULT_MAX_PIXELS,
    tile: opt.Tile = None,
    tile_above: opt.TileAbove = None,
    every: opt.Every = None,
    fps: opt.Fps = None,
    start: opt.Start = None,
    end: opt.End = None,
    timeout: opt.Timeout = 10.0,
    region: opt.RegionSpecs = None,
    regions_file: opt.RegionsFile = None,
) -> None:
    """Write an overlay per image: a dot per detected head, the count, optionally a heat map.

    Prints COUNT<TAB>OVERLAY_PATH on stdout for each file written (the count as `count`
    prints it). Overlays of an earlier run found in the output folder are not drawn over.
    A video gives <stem>_p2p.mp4 (its sampled frames drawn) and <stem>_p2p_counts.png (the
    count over time), each printed with the video's peak count. With --region/--regions,
    each region is outlined and labelled with its name and count.
    """
    from p2pcount.output.render import parse_color, render_overlay

    regions = load_region_options(region, regions_file)
    with usage_errors():
        parse_color(color)
        prepare_output_dir(output_dir)
    found, unlisted = collect_paths(paths, recursive)
    inputs = _drop_own_overlays(found, output_dir)
    sampling = video_sampling(every, fps, start, end)  # checked before the model loads
    counter = load_counter(
        weights,
        device,
        backend=backend.value,
        precision=precision.value,
        threads=threads,
        tile_size=tile,
        tile_above=tile_above,
    )
    render = partial(
        render_overlay,
        radius=radius,
        color=color,
        heatmap=heatmap,
        label=label,
        stride=counter.config.stride,
        regions=regions,
    )
    check_regions = region_placement_check(regions)

    def draw(image: Image.Image, result: CountResult) -> Image.Image:
        check_regions(result)
        return render(image, result)

    job = _Job(
        counter=counter,
        namer=OverlayNamer(output_dir, inputs, fmt),  # a rerun replaces its own overlays
        draw=draw,
        fmt=fmt,
        threshold=threshold,
        batch_size=batch_size,
        max_pixels=max_pixels,
        sampling=sampling,
        timeout=timeout,
    )
    done = 0
    for item in media_runs(inputs):
        done += job.video(item.source) if isinstance(item, VideoInput) else job.images(item.paths)
        if job.stopped:  # Ctrl-C on a live source: the whole run ends, cleanly
            raise typer.Exit(0)
    finish(done, len(inputs) + unlisted)


@dataclass
class _Job:
    """What drawing every input of one ``viz`` run shares."""

    counter: Counter
    namer: OverlayNamer
    draw: Callable[[Image.Image, CountResult], Image.Image]
    fmt: OverlayFormat
    threshold: float
    batch_size: int
    max_pixels: int
    sampling: Sampling
    timeout: float
    stopped: bool = False  # Ctrl-C ended a live source

    def images(self, paths: Iterable[str]) -> int:
        """Overlays of a run of images; returns how many were written."""
        done = 0
        outcomes = run_inputs(
            self.counter, paths, self.threshold, self.batch_size, self.max_pixels,
            keep_images=True,
        )  # fmt: skip
        for outcome in outcomes:
            target = self.namer.name_for(outcome.path)
            try:
                write_overlay_atomic(self.draw(outcome.image, outcome.result), target, self.fmt)
            except OSError as exc:
                error(f"{target}: cannot write ({exc.strerror or exc})")
                continue
            _print_written(outcome.result.count, target)
            done += 1
        return done

    def video(self, source: str) -> int:
        """``<stem>_p2p.mp4`` (the sampled frames drawn, at their times) and
        ``<stem>_p2p_counts.png`` (count and soft count over time) for one video; returns 1
        when it was drawn whole (or had no frame in the chosen span: nothing is written),
        0 when it failed (reported; the frames before damage are still drawn)."""
        from PIL import Image

        from p2pcount.output.plots import plot_counts
        from p2pcount.output.video_overlay import VideoOverlayWriter

        movie = self.namer.name_for(source, "mp4")
        plot = self.namer.name_for(source, "png", tail="_counts")
        times: list[float] = []
        counts: list[int] = []
        softs: list[float] = []

        def add(frame: Frame, result: CountResult) -> None:
            overlay.write(self.draw(Image.fromarray(frame.image), result), frame.time)
            times.append(frame.time)
            counts.append(result.count)
            softs.append(result.soft_count)

        try:
            with VideoOverlayWriter(movie, rate_hint=self.sampling.fps) as overlay:
                counted = count_one_video(
                    self.counter, source, self.sampling, self.threshold,
                    batch_size=self.batch_size, timeout=self.timeout, on_frame=add,
                )  # fmt: skip
            self.stopped = counted.stopped
            problem = counted.problem
            if not overlay.written:  # no frame: failed, stopped at once, or an empty span
                if problem is not None:
                    error(problem)
                return int(problem is None)
            plot_counts(times, counts, softs, plot, title=Path(source).name)
        except OSError as exc:
            error(f"{movie}: cannot write ({exc.strerror or exc})")
            return 0
        peak = max(counts, default=0)
        _print_written(peak, movie)
        _print_written(peak, plot)
        if problem is not None:
            error(problem)
            return 0
        return 1


def _print_written(count: int, target: Path) -> None:
    """``COUNT<TAB>PATH`` of a file written, on stdout (above a live progress bar)."""
    sys.stdout.write(f"{count}\t{one_line(str(target))}\n")
    sys.stdout.flush()


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
