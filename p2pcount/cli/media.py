"""Inputs of two kinds: runs of images (counted by the threaded batcher) and videos or
streams (counted frame by frame), in input order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from p2pcount.cli.console import message, warning

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
    :func:`p2pcount.io.video.reads_as_video`: containers are probed, an animated GIF stays
    an image). A list is classified up front; any other iterable (stdin) lazily, each image
    run being consumed to its end before the next item is asked for."""
    from p2pcount.io.video import reads_as_video as video

    if isinstance(paths, list):
        run: list[str] = []
        for path in paths:
            if video(path):
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
    pending_video: list[str] = []  # the video that ended the last image run

    def images_from(first: str) -> Iterator[str]:
        yield first
        for path in source:
            if video(path):
                pending_video.append(path)
                return
            yield path

    while True:
        if pending_video:
            yield VideoInput(pending_video.pop())
            continue
        head = next(source, None)
        if head is None:
            return
        yield VideoInput(head) if video(head) else ImageRun(images_from(head))


@dataclass
class VideoCounted:
    """How counting one video ended: its summary, the error that ended it early (None: it
    ended by itself), and whether Ctrl-C stopped a live source (the whole run stops)."""

    summary: VideoSummary
    problem: str | None = None
    stopped: bool = False


def count_one_video(
    counter: Counter,
    source: str,
    sampling: Sampling,
    threshold: float,
    *,
    batch_size: int,
    timeout: float,
    on_frame: Callable[[Frame, CountResult], None],
) -> VideoCounted:
    """Count one video frame by frame, each (frame, result) handed to ``on_frame`` as it is
    counted, a progress bar on a terminal (frames done of those the container's duration
    promises), and the video's summary line on stderr (frames dropped from a live source
    included, however it ended). A source that cannot be read, or damage met after some
    frames (those are counted), is the returned problem; Ctrl-C on a live source ends it
    cleanly and is reported as ``stopped``; a window (``--start``/``--end``) holding no
    frame is one warning line."""
    from p2pcount.cli.progress import item_progress
    from p2pcount.errors import VideoError
    from p2pcount.infer.video import count_frames
    from p2pcount.io.video import VideoReader
    from p2pcount.output.video_summary import VideoSummary

    outcome = VideoCounted(VideoSummary(source))
    reader = None
    try:
        with VideoReader(source, sampling, timeout=timeout) as reader:
            counted = count_frames(counter, reader, threshold, batch_size=batch_size, source=source)
            with item_progress(reader.expected_frames, what="frames") as advance:
                try:
                    for frame, result in counted:
                        outcome.summary.add(result)  # Ctrl-C may land between the two
                        on_frame(frame, result)
                        advance()
                except KeyboardInterrupt:
                    if not reader.live:
                        raise
                    outcome.stopped = True
    except VideoError as exc:
        outcome.problem = str(exc)
    finally:
        if reader is not None:
            outcome.summary.dropped = reader.dropped
    if outcome.problem is None or outcome.summary.frames:
        message(outcome.summary.line())
    if outcome.problem is None and not outcome.stopped and outcome.summary.frames == 0:
        span = f" ({reader.duration:.3f} s long)" if reader.duration is not None else ""
        warning(f"{source}: no frame in the span --start/--end chose{span}")
    return outcome
