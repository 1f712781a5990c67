"""Counting the frames of a video or live stream, frame by frame, as they are decoded.

Frames are decoded in a background thread (see :class:`~p2pcount.infer.feed.Feed`) while
the network runs; consecutive frames of one size are batched (up to ``batch_size``), a
batch is run as soon as no further frame is ready, and large frames are tiled like images.
Memory stays bounded whatever the video's length: a few frames are in flight at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from p2pcount.infer.feed import Feed
from p2pcount.io.video import Frame, Sampling, VideoReader
from p2pcount.output.result import CountResult

if TYPE_CHECKING:
    from p2pcount.infer.counter import Counter


def count_frames(
    counter: Counter,
    reader: VideoReader,
    threshold: float = 0.5,
    *,
    batch_size: int = 1,
    source: str | None = None,
) -> Iterator[tuple[Frame, CountResult]]:
    """Count the frames ``reader`` yields, in order: (frame, result) per sampled frame, the
    result's ``frame`` (index in the decoded stream), ``time`` (seconds) and ``path``
    (``source``) set. A :class:`~p2pcount.errors.VideoError` met while decoding is raised
    after the results of every frame decoded before it."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    if reader.live:  # the newest frame, counted at once: no read-ahead queue, no batching
        feed: Feed[Frame] = Feed(reader, threaded=False)
        batch_size = 1
    else:
        feed = Feed(reader, size=batch_size + 1)
    pending: list[Frame] = []

    def run() -> list[tuple[Frame, CountResult]]:
        results = counter.count_batch([frame.image for frame in pending], threshold)
        for frame, result in zip(pending, results, strict=True):
            result.path, result.frame, result.time = source, frame.index, frame.time
        done = list(zip(pending, results, strict=True))
        pending.clear()
        return done

    try:
        while True:
            try:
                frame = feed.take(wait=not pending)
            except BaseException:
                if pending:  # the frames decoded before the damage are counted first
                    yield from run()
                raise
            if frame is None:
                if pending:
                    yield from run()
                if feed.done:
                    return
                continue
            if pending and frame.image.shape != pending[0].image.shape:
                yield from run()
            pending.append(frame)
            if len(pending) == batch_size:
                yield from run()
    finally:
        feed.close()


def count_video(
    counter: Counter,
    source: str,
    sampling: Sampling | None = None,
    threshold: float = 0.5,
    *,
    batch_size: int = 1,
    timeout: float = 10.0,
) -> Iterator[CountResult]:
    """Open ``source`` (a video file, a URL or a capture device) and count its sampled
    frames (see :func:`count_frames`); the reader is closed however the iteration ends."""
    with VideoReader(source, sampling or Sampling(), timeout=timeout) as reader:
        counted = count_frames(counter, reader, threshold, batch_size=batch_size, source=source)
        for _, result in counted:
            yield result
