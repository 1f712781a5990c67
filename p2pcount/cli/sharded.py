"""``p2pcount count --distributed``: inputs sharded over torchrun ranks, merged on rank 0.

Rank 0 expands the inputs (stdin included: the ranks share it) and fetches the weights;
every rank receives both. Input i goes to rank i mod world_size. The inputs are processed
in rounds of ``ROUND_PER_RANK`` images per rank; after each round the ranks' outcomes are
gathered on rank 0, which prints them in input order (any output format) and reports
failures, so output streams and memory stays bounded however many inputs there are.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from p2pcount.cli.common import (
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    CurrentStdout,
    error,
    load_counter,
    message,
    scan_inputs,
    usage_errors,
)

if TYPE_CHECKING:
    from p2pcount.cli.count import ShardedJob

ROUND_PER_RANK = 64


def _prepare(paths: list[str], recursive: bool, weights: str | None) -> tuple | str:
    """On rank 0: (inputs, the (folder, reason) of each folder that could not be listed,
    weights path), or the error message that stops every rank."""
    from p2pcount.cli.progress import download_progress
    from p2pcount.errors import P2PCountError
    from p2pcount.weights.registry import resolve_weights

    unlisted: list[tuple[str, str]] = []
    scan = scan_inputs(paths, recursive, lambda *failure: unlisted.append(failure))
    inputs = list(scan)
    if not inputs:
        return scan.why_empty()
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
    from p2pcount.infer.batcher import count_paths
    from p2pcount.infer.device import resolve_device
    from p2pcount.infer.distributed import (
        broadcast_from_main,
        gather_to_main,
        init_distributed,
        shutdown_distributed,
    )
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
        writer = None
        if info.is_main:
            header = {"weights": counter.source, "threshold": job.threshold}
            writer = ResultWriter(
                CurrentStdout(), job.fmt, soft=job.soft, with_points=job.points, header=header
            )
            for folder, reason in unlisted:
                writer.write_error(folder, reason)
        done = 0
        step = ROUND_PER_RANK * info.world_size
        for start in range(0, len(inputs), step):
            mine = list(range(start + info.rank, min(start + step, len(inputs)), info.world_size))
            outcomes = count_paths(
                counter,
                [inputs[i] for i in mine],
                job.threshold,
                batch_size=job.batch_size,
                max_pixels=job.max_pixels,
            )
            local = []
            for index, outcome in zip(mine, outcomes, strict=True):
                if outcome.result is not None:
                    outcome.result.cell_scores = outcome.result.cell_scores[:0]  # not printed
                local.append((index, outcome.error, outcome.result))
            gathered = gather_to_main(local, info)
            if writer is not None:
                for index, message, result in sorted(
                    (item for part in gathered for item in part), key=lambda item: item[0]
                ):
                    if message is not None:
                        error(message)
                        writer.write_error(inputs[index], message)
                    else:
                        writer.write(result, inputs[index])
                        done += 1
        if writer is not None:
            writer.close()
        code = broadcast_from_main(
            EXIT_OK if done == len(inputs) + len(unlisted) else EXIT_PARTIAL, info
        )
    finally:
        shutdown_distributed()
    raise typer.Exit(code)
