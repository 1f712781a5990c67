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

from p2pcount.errors import ImageError
from p2pcount.infer.counter import Counter
from p2pcount.infer.feed import Feed
from p2pcount.io.images import load_image
from p2pcount.io.limits import DEFAULT_MAX_PIXELS
from p2pcount.output.result import CountResult


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

    ``paths`` may be lazy (paths read from a pipe): each result is yielded as soon as its
    image is counted, without waiting for later paths; a batch waiting for images of its
    size is run when no other image is ready. ``keep_images`` leaves the decoded RGB image
    on each outcome (for overlays).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    prefetch = max(2 * batch_size, workers + 1)
    feed = Feed(paths)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="p2pcount-load") as pool:
        window: deque[Future[Outcome]] = deque()

        def refill(wait: bool) -> None:
            while len(window) < prefetch:
                path = feed.take(wait=wait and not window)
                if path is None:
                    return
                window.append(pool.submit(_load, path, max_pixels))

        pending: list[Outcome] = []
        while True:
            if not window:
                yield from _run(counter, pending, threshold, keep_images)
                pending = []
                refill(wait=True)
                if not window:
                    break
            outcome = window.popleft().result()
            refill(wait=False)
            if outcome.error is not None:
                yield from _run(counter, pending, threshold, keep_images)
                pending = []
                yield outcome
                continue
            if pending and outcome.image.size != pending[0].image.size:
                yield from _run(counter, pending, threshold, keep_images)
                pending = []
            pending.append(outcome)
            if len(pending) == batch_size:
                yield from _run(counter, pending, threshold, keep_images)
                pending = []


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
