"""Counting many image files: decode in background threads, batch equal sizes, keep order.

Decoding JPEGs and running the network overlap: while the model runs a batch, worker
threads (Pillow releases the GIL) decode the next images. Consecutive images of the same
size are stacked into one batch of up to ``batch_size``. Results come out in input
order; an image that cannot be read comes out as an error in its place.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from p2pcount.config import DEFAULT_MAX_PIXELS
from p2pcount.counter import Counter, CountResult
from p2pcount.errors import ImageError
from p2pcount.images import load_image


@dataclass
class Outcome:
    """What became of one input: a result (and the decoded image if asked for), or an error."""

    path: str
    result: CountResult | None = None
    image: Image.Image | None = None
    error: str | None = None


def _load(path: str, max_pixels: int | None) -> Outcome:
    try:
        return Outcome(path, image=load_image(path, max_pixels=max_pixels))
    except ImageError as exc:
        return Outcome(path, error=str(exc))


def count_paths(
    counter: Counter,
    paths: Iterable[str],
    threshold: float = 0.5,
    *,
    batch_size: int = 1,
    keep_images: bool = False,
    workers: int = 2,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
) -> Iterator[Outcome]:
    """Yield one :class:`Outcome` per path, in order.

    ``keep_images`` leaves the decoded RGB image on each outcome (for overlays).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    prefetch = max(2 * batch_size, workers + 1)
    source = iter(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p2pcount-load") as pool:
        window: deque[Future[Outcome]] = deque()

        def refill() -> None:
            while len(window) < prefetch:
                path = next(source, None)
                if path is None:
                    return
                window.append(pool.submit(_load, path, max_pixels))

        pending: list[Outcome] = []
        refill()
        while window:
            outcome = window.popleft().result()
            refill()
            if outcome.error is not None:
                yield from _run(counter, pending, threshold, keep_images)
                pending = []
                yield outcome
                continue
            if pending and (
                outcome.image.size != pending[0].image.size or len(pending) == batch_size
            ):
                yield from _run(counter, pending, threshold, keep_images)
                pending = []
            pending.append(outcome)
        yield from _run(counter, pending, threshold, keep_images)


def _run(
    counter: Counter, batch: list[Outcome], threshold: float, keep_images: bool
) -> Iterator[Outcome]:
    if not batch:
        return
    results = counter.count_batch([o.image for o in batch], threshold)
    for outcome, result in zip(batch, results, strict=True):
        result.path = outcome.path
        outcome.result = result
        if not keep_images:
            outcome.image = None
        yield outcome
