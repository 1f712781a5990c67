"""Inputs of two kinds: runs of images (counted by the threaded batcher) and videos or
streams (counted frame by frame), in input order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from p2pcount.cli.console import message

if TYPE_CHECKING:
    from p2pcount.infer.counter import Counter
    from p2pcount.io.video import Frame, Sampling
    from p2pcount.output.result import CountResult
    from p2pcount.output.video_summary import VideoSummary


@dataclass
class ImageRun:
    """Consecutive image inputs: a list when the inputs were listed up front, else a lazy
    iterator that ends at the next video (which comes next as a :class:`VideoInput`)."""

    paths: Iterable[str]


@dataclass
class VideoInput:
    """A video file, URL or capture device."""

    source: str


def media_runs(paths: Iterable[str]) -> Iterator[ImageRun | VideoInput]:
    """Split inputs, in order, into runs of images and single videos (see
    :func:`p2pcount.io.video.is_video`: containers are probed, an animated GIF stays an
    image). A list is classified up front; any other iterable (stdin) lazily, each image
    run being consumed to its end before the next item is asked for."""
    from p2pcount.io.video import is_video

    if isinstance(paths, list):
        run: list[str] = []
        for path in paths:
            if is_video(path):
                if run:
                    yield ImageRun(run)
                    run = []
                yield VideoInput(path)
            else:
                run.append(path)
        if run:
            yield ImageRun(run)
        return
    source = iter(paths)
    video: list[str] = []  # the video that ended the last image run

    def images_from(first: str) -> Iterator[str]:
        yield first
        for path in source:
            if is_video(path):
                video.append(path)
                return
            yield path

    while True:
        if video:
            yield VideoInput(video.pop())
            continue
        head = next(source, None)
        if head is None:
            return
        yield VideoInput(head) if is_video(head) else ImageRun(images_from(head))


def count_one_video(
    counter: Counter,
    source: str,
    sampling: Sampling,
    threshold: float,
    *,
    batch_size: int,
    timeout: float,
    on_frame: Callable[[Frame, CountResult], None],
) -> tuple[VideoSummary, str | None]:
    """Count one video frame by frame, each (frame, result) handed to ``on_frame`` as it is
    counted, a progress bar on a terminal (frames done of those the container's duration
    promises), and the video's summary line on stderr. Returns (summary, error message or
    None): a source that cannot be read, or damage met after some frames (those are
    counted). Ctrl-C ends a live source cleanly (its summary is still given)."""
    from p2pcount.cli.progress import item_progress
    from p2pcount.errors import VideoError
    from p2pcount.infer.video import count_frames
    from p2pcount.io.video import VideoReader
    from p2pcount.output.video_summary import VideoSummary

    summary = VideoSummary(source)
    problem = None
    try:
        with VideoReader(source, sampling, timeout=timeout) as reader:
            counted = count_frames(counter, reader, threshold, batch_size=batch_size, source=source)
            with item_progress(reader.expected_frames, what="frames") as advance:
                try:
                    for frame, result in counted:
                        on_frame(frame, result)
                        summary.add(result)
                        advance()
                except KeyboardInterrupt:
                    if not reader.live:
                        raise
            summary.dropped = reader.dropped
    except VideoError as exc:
        problem = str(exc)
    if problem is None or summary.frames:
        message(summary.line())
    return summary, problem
