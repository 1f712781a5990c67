"""``p2pcount count --distributed``: the command around :mod:`p2pcount.infer.sharding`.

Rank 0 expands the inputs (stdin included: the ranks share it) and fetches the weights;
every rank receives both. Rank 0 prints every result in input order (any output format)
and reports failures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from p2pcount.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CurrentStdout,
    load_counter,
    no_inputs,
    region_placement_check,
    scan_inputs,
    usage_errors,
)
from p2pcount.cli.console import error, message

if TYPE_CHECKING:
    from p2pcount.output.regions import Region


@dataclass(frozen=True)
class ShardedJob:
    """What every rank of a ``--distributed`` count needs besides the inputs and model."""

    threshold: float
    batch_size: int
    max_pixels: int
    fmt: str
    soft: bool
    points: bool
    regions: list[Region] = field(default_factory=list)
    density: Path | None = None  # --density DIR
    points_csv: Path | None = None  # --points-csv DIR


def _prepare(paths: list[str], recursive: bool, weights: str | None) -> tuple | str:
    """On rank 0: (image inputs, the (input, reason) of each input left out: folders that
    could not be listed, and videos, which are counted without --distributed; weights
    path), or the error message that stops every rank."""
    from p2pcount.cli.progress import download_progress
    from p2pcount.errors import P2PCountError
    from p2pcount.io.video import is_video
    from p2pcount.weights.registry import resolve_weights

    unlisted: list[tuple[str, str]] = []
    scan = scan_inputs(paths, recursive, lambda *failure: unlisted.append(failure))
    listed = list(scan)
    if not listed:
        return no_inputs(scan)
    inputs = []
    for path in listed:
        if is_video(path):
            reason = "a video: --distributed shards images only; count it without"
            error(f"{path}: {reason}")
            unlisted.append((path, reason))
        else:
            inputs.append(path)
    try:
        weights_path = resolve_weights(weights, notify=message, progress=download_progress)
    except P2PCountError as exc:
        return str(exc)
    return inputs, unlisted, str(weights_path)


def count_sharded(
    paths: list[str],
    recursive: bool,
    weights: str | None,
    device: str,
    counter_options: dict,
    job: ShardedJob,
) -> None:
    from p2pcount.infer.device import resolve_device
    from p2pcount.infer.distributed import (
        broadcast_from_main,
        init_distributed,
        shutdown_distributed,
    )
    from p2pcount.infer.sharding import count_sharded as count_sharded_inputs
    from p2pcount.output.writers import ResultWriter

    with usage_errors():
        info = init_distributed(resolve_device(device))
    try:
        setup = broadcast_from_main(
            _prepare(paths, recursive, weights) if info.is_main else None, info
        )
        if isinstance(setup, str):
            if info.is_main:
                error(setup)
            raise typer.Exit(EXIT_USAGE)
        inputs, unlisted, weights_path = setup
        counter = load_counter(weights_path, str(info.device), **counter_options)
        counter.keep_candidates = bool(job.regions)  # regions' soft counts sum their candidates
        writer = sidecars = None
        check_regions = region_placement_check(job.regions)
        if info.is_main:
            header = {"weights": counter.source, "threshold": job.threshold}
            writer = ResultWriter(
                CurrentStdout(),
                job.fmt,
                soft=job.soft,
                with_points=job.points,
                header=header,
                regions=job.regions,
            )
            if job.density is not None or job.points_csv is not None:
                from p2pcount.output.sidecars import SidecarWriter

                with usage_errors():
                    sidecars = SidecarWriter(job.density, job.points_csv, inputs)
            for folder, reason in unlisted:
                writer.write_error(folder, reason)
        done = 0
        merged = count_sharded_inputs(
            counter,
            inputs,
            info,
            job.threshold,
            batch_size=job.batch_size,
            max_pixels=job.max_pixels,
            keep_density=job.density is not None,
        )
        for index, problem, result in merged:
            if problem is not None:
                error(problem)
                writer.write_error(inputs[index], problem)
            else:
                check_regions(result)
                writer.write(result, inputs[index])
                if sidecars is not None:
                    sidecars.write(result, inputs[index])
                done += 1
        if writer is not None:
            writer.close()
        code = broadcast_from_main(
            EXIT_OK if done == len(inputs) + len(unlisted) else EXIT_PARTIAL, info
        )
    finally:
        shutdown_distributed()
    raise typer.Exit(code)
