"""Counting under torchrun: inputs sharded over the ranks, outcomes merged on rank 0.

Input i goes to rank i mod world_size. The inputs are processed in rounds of
``ROUND_PER_RANK`` images per rank; after each round the ranks' outcomes are gathered on
rank 0, which receives them in input order, so output streams and memory stays bounded
however many inputs there are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from p2pcount.infer.batcher import count_paths
from p2pcount.infer.counter import Counter
from p2pcount.infer.distributed import DistInfo, gather_to_main
from p2pcount.output.result import CountResult

ROUND_PER_RANK = 64

#: What rank 0 receives for input ``index``: (index, error message or None, result or None).
Merged = tuple[int, str | None, CountResult | None]


def count_sharded(
    counter: Counter,
    inputs: Sequence[str],
    info: DistInfo,
    threshold: float,
    *,
    batch_size: int = 1,
    max_pixels: int | None = None,
    keep_density: bool = False,
) -> Iterator[Merged]:
    """Count this rank's share of ``inputs``; on rank 0 yield every input's outcome in input
    order, round by round (other ranks yield nothing). Every rank must iterate to the end:
    each round is a collective gather. Results travel without their ``cell_scores``, and
    without their ``cell_density`` unless ``keep_density`` (their candidates travel when the
    counter keeps them)."""
    step = ROUND_PER_RANK * info.world_size
    for start in range(0, len(inputs), step):
        mine = list(range(start + info.rank, min(start + step, len(inputs)), info.world_size))
        outcomes = count_paths(
            counter,
            [inputs[i] for i in mine],
            threshold,
            batch_size=batch_size,
            max_pixels=max_pixels,
        )
        local: list[Merged] = []
        for index, outcome in zip(mine, outcomes, strict=True):
            if outcome.result is not None:
                outcome.result.cell_scores = outcome.result.cell_scores[:0]  # maps not sent
                if not keep_density:
                    outcome.result.cell_density = None
            local.append((index, outcome.error, outcome.result))
        gathered = gather_to_main(local, info)
        if info.is_main:
            yield from sorted((item for part in gathered for item in part), key=lambda i: i[0])
