"""Reading video files, URLs and capture devices frame by frame, as 8-bit RGB, with PyAV.

:class:`VideoReader` yields the sampled frames of one source (:class:`Sampling`: every N-th
frame, F frames per second, a start and an end time) with their index in the decoded stream
and their presentation time, display rotation applied. Files are decoded in the iterating
thread; live sources (cameras, streams) in a background thread that keeps only the newest
frame (:class:`NewestFrame`), so a slow consumer gets bounded latency and memory and the
backlog is counted as dropped. Memory does not grow with a video's length.

This module imports numpy and PyAV on import (not torch): import it lazily where start-up
time matters (``p2pcount --help``).
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import Generic, TypeVar

import av
import numpy as np

from p2pcount.errors import VideoError, first_line

#: Lower-case suffixes of video files, listed from folders along with images (a file is
#: told to be a video by probing it: :func:`is_video`).
VIDEO_SUFFIXES = frozenset(
    {
        ".3g2", ".3gp", ".asf", ".avi", ".divx", ".dv", ".f4v", ".flv", ".h264", ".hevc",
        ".ivf", ".m2ts", ".m2v", ".m4v", ".mkv", ".mov", ".mp4", ".mpeg", ".mpg", ".mts",
        ".mxf", ".nut", ".ogv", ".qt", ".rm", ".rmvb", ".ts", ".vob", ".webm", ".wmv", ".y4m",
    }
)  # fmt: skip

#: URL schemes of network streams, always read as live (they are paced by the sender).
_STREAM_SCHEMES = frozenset({"rtsp", "rtsps", "rtmp", "rtmps", "rtp", "srt", "udp"})
#: URL schemes that may serve a file or a live stream: live when no duration is known.
_WEB_SCHEMES = frozenset({"http", "https"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")

#: FFmpeg demuxers of still-image (and text-art) formats: such a file is no video even when
#: Pillow cannot read it (a corrupt JPEG), so the image path reports it.
_IMAGE_DEMUXERS = frozenset(
    {"image2", "image2pipe", "gif", "apng", "webp", "ico", "jpegxl_anim", "tty", "bin",
     "xbin", "idf", "adf"}
)  # fmt: skip
#: MP4-family brands of HEIF/AVIF still images, which FFmpeg opens as one-frame videos.
_IMAGE_BRANDS = frozenset({"mif1", "msf1", "heic", "heix", "heim", "heis", "avif"})
#: Pillow formats that are videos: Pillow identifies MPEG but decodes nothing of it.
_PILLOW_VIDEO_FORMATS = frozenset({"MPEG"})

#: Seconds of slack when comparing a frame's time with a start, end or sampling instant:
#: times are exact rationals, the limits floats.
_EPSILON = 1e-6
#: Bytes of packets kept while skipping to ``start`` without decoding (those since the last
#: keyframe); past this (a stream with rare keyframes) the skipped part is decoded instead.
_SKIP_BUFFER_BYTES = 64 << 20


def parse_time(text: str) -> float:
    """A time in seconds from ``"12.5"`` (seconds), ``"MM:SS[.ms]"`` or ``"HH:MM:SS[.ms]"``
    (minutes and seconds below 60 after the first field). Raises :class:`ValueError` with a
    message for the user otherwise (negative, empty, malformed)."""
    match = re.fullmatch(r"\s*(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d*)?|\.\d+)\s*", text)
    if match:
        hours, minutes, seconds = match.groups()
        later = [float(seconds)] + ([int(minutes)] if hours is not None else [])
        if minutes is None or all(value < 60 for value in later):
            return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)
    raise ValueError(f"invalid time {text!r}: give seconds (12.5) or [HH:]MM:SS[.ms] (1:02.5)")


def is_live(source: str) -> bool:
    """Whether ``source`` names a stream rather than a file: an ``rtsp``, ``rtsps``,
    ``rtmp``, ``rtmps``, ``rtp``, ``srt``, ``udp``, ``http`` or ``https`` URL, or a capture
    device (``/dev/video*``). An ``http(s)`` URL of a file with a known duration is still
    read like a file (see :attr:`VideoReader.live`)."""
    match = _SCHEME.match(source)
    if match:
        return match.group(1).lower() in _STREAM_SCHEMES | _WEB_SCHEMES
    return _is_device(source)


def _is_device(source: str) -> bool:
    """A V4L2 capture device: ``/dev/video*``, or a link to one (``/dev/v4l/by-id/…``)."""
    return source.startswith("/dev/") and os.path.realpath(source).startswith("/dev/video")


def is_video(source: str) -> bool:
    """Whether ``source`` is read as a video: a stream or device (:func:`is_live`), or a
    file that Pillow cannot open as an image and FFmpeg opens with a video stream (not a
    still-image format, not only cover art). An animated GIF or WebP is an image (False).

    Never raises: a missing or unreadable file is not a video (the image path reports it).
    """
    return _is_video(source, by_name=False)


def reads_as_video(source: str) -> bool:
    """:func:`is_video`, or a file named like one (:data:`VIDEO_SUFFIXES`) that Pillow
    cannot open: a damaged or unfinished recording, whose error is then a video's ("no
    video stream", "not a video FFmpeg can read") rather than "not an image"."""
    return _is_video(source, by_name=True)


def _is_video(source: str, by_name: bool) -> bool:
    if is_live(source):
        return True
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(source) as image:
            if image.format not in _PILLOW_VIDEO_FORMATS:
                return False
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError):
        pass  # not an image Pillow reads: maybe a video
    named = by_name and os.path.splitext(source)[1].lower() in VIDEO_SUFFIXES
    try:
        with av.open(source, timeout=10.0) as container:
            brand = container.metadata.get("major_brand", "").strip().lower()
            return (
                container.format.name not in _IMAGE_DEMUXERS
                and not container.format.name.endswith("_pipe")
                and brand not in _IMAGE_BRANDS
                and _video_stream(container) is not None
            ) or named
    except (av.FFmpegError, OSError, ValueError):
        return named


@dataclass(frozen=True)
class Sampling:
    """Which decoded frames to keep. Times are seconds from the stream's start.

    - ``every``: every N-th frame, counted from the first frame at or after ``start``
      (frames 0, N, 2N … of the window);
    - ``fps``: F frames per second of presentation time: the first frame at or after each
      ``start + k/F`` seconds (k = 0, 1, …), so a variable frame rate is sampled evenly in
      time; an instant with no frame before the next one is skipped;
    - ``start``: frames before it are skipped (files: without decoding, up to the keyframe
      before it);
    - ``end``: the last frame kept is the last at or before it (inclusive); reading stops at
      the first frame after it.

    ``every`` and ``fps`` are exclusive; none given keeps every frame. Invalid values raise
    :class:`ValueError`.
    """

    every: int | None = None
    fps: float | None = None
    start: float | None = None
    end: float | None = None

    def __post_init__(self) -> None:
        if self.every is not None and self.fps is not None:
            raise ValueError("give every or fps, not both")
        if self.every is not None and (isinstance(self.every, bool) or self.every < 1):
            raise ValueError(f"every must be a whole number >= 1, not {self.every!r}")
        if self.fps is not None and not (math.isfinite(self.fps) and self.fps > 0):
            raise ValueError(f"fps must be a positive number, not {self.fps!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a time >= 0 seconds, not {value!r}")
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"end ({self.end:g} s) is before start ({self.start:g} s)")


@dataclass
class Frame:
    """One sampled frame of a video.

    ``index``: its 0-based index among all decoded frames of the stream (sampled or not).
    ``time``: its presentation time in seconds from the stream's start (from its timestamp,
    so variable frame rates are timed right). ``image``: (H, W, 3) uint8 RGB, the display
    rotation applied, any pixel format (10-bit too) converted, odd sizes kept.
    """

    index: int
    time: float
    image: np.ndarray


T = TypeVar("T")


class NewestFrame(Generic[T]):
    """A one-slot buffer between a producer thread and a slower consumer: :meth:`put`
    replaces an item not yet taken (counted in :attr:`dropped`), :meth:`take` waits for the
    next one. Latency and memory stay bounded however slow the consumer is."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._item: T | None = None
        self._has_item = False
        self._finished = False
        self._error: BaseException | None = None
        self.dropped = 0

    def put(self, item: T) -> None:
        """Offer the newest item (never blocks); an item still waiting is dropped."""
        with self._changed:
            self.dropped += self._has_item
            self._item, self._has_item = item, True
            self._changed.notify()

    def finish(self, error: BaseException | None = None) -> None:
        """The producer is done; ``error`` (if any) is raised by :meth:`take` after the
        waiting item is taken."""
        with self._changed:
            self._finished, self._error = True, error
            self._changed.notify()

    def take(self) -> T | None:
        """The newest item, waiting for one; ``None`` once the producer has finished and
        the last item was taken (the producer's error, if any, is raised instead)."""
        with self._changed:
            while not (self._has_item or self._finished):
                self._changed.wait()
            if self._has_item:
                item, self._item, self._has_item = self._item, None, False
                return item
            if self._error is not None:
                raise self._error
            return None


#: A decoded frame before conversion: (index, time in seconds, the PyAV frame).
_Decoded = tuple[int, float, av.VideoFrame]


class VideoReader:
    """The sampled frames of a video file, URL or capture device, as :class:`Frame`.

    Opening raises :class:`VideoError` (``SOURCE: reason``, one line, the source as given)
    for a missing file or device, a file with no video stream, an unsupported codec, or a
    URL that does not answer within ``timeout`` seconds (which also bounds each read).
    Iterating a damaged file yields the frames decoded before the damage, then raises
    :class:`VideoError` ``SOURCE: damaged after frame N at T s (reason)``: a decoding error,
    or an MP4/MOV cut short (its last packet incomplete; one whose index was at its end
    cannot be opened at all). MKV and MPEG-TS files cut short just end at the cut, as FFmpeg
    reads them (MPEG-TS decodes the cut frame, its missing part concealed).

    A file (and an ``http(s)`` URL with a known duration) is decoded in the iterating
    thread, every frame. A live source (:attr:`live`) is decoded in a background thread
    into a :class:`NewestFrame`: when the consumer is slower than the stream, the newest
    sampled frame is kept and the others are counted in :attr:`dropped`; times count from
    the first frame received. Use as a context manager, or call :meth:`close`; a reader is
    iterated once.

    Attributes: ``source`` (as given), ``sampling``, ``timeout`` (seconds), ``live``,
    ``duration`` (seconds, None if unknown), ``expected_frames`` (sampled frames expected
    from the duration and frame rate, an estimate for progress bars; None if unknown or
    live), ``dropped`` (0 for files).
    """

    def __init__(
        self, source: str, sampling: Sampling | None = None, *, timeout: float = 10.0
    ) -> None:
        self.source, self.timeout = source, timeout
        self.sampling = sampling or Sampling()
        self._container = _open(source, timeout)
        try:
            stream = _video_stream(self._container)
            if stream is None:
                raise VideoError(f"{source}: {_no_video_reason(self._container)}")
            if stream.codec_context is None:
                raise VideoError(f"{source}: unsupported video codec (no decoder for it here)")
        except BaseException:
            self._container.close()
            raise
        self._stream = stream
        self.duration = _duration(self._container, stream)
        scheme = _SCHEME.match(source)
        self.live = _is_device(source) or (
            scheme is not None
            and (scheme.group(1).lower() in _STREAM_SCHEMES or self.duration is None)
        )
        # Frame threads decode faster but hold frames back: not for live sources' latency.
        stream.thread_type = "SLICE" if self.live else "AUTO"
        rate = stream.average_rate or stream.guessed_rate
        self._rate = float(rate) if rate else None
        self.expected_frames = None if self.live else self._expected_frames(stream)
        self._slot: NewestFrame[_Decoded] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()  # held while PyAV reads or decodes, so close() waits
        self._thread: threading.Thread | None = None
        self._iterated = False

    @property
    def dropped(self) -> int:
        """Sampled frames of a live source dropped so far because the consumer was slower
        than the stream (0 for files)."""
        return 0 if self._slot is None else self._slot.dropped

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Frame]:
        if self._iterated:
            raise RuntimeError("a VideoReader is iterated once")
        self._iterated = True
        if not self.live:
            for decoded in self._sampled():
                yield self._convert(decoded)
            return
        self._slot = slot = NewestFrame()
        self._thread = threading.Thread(
            target=self._produce, args=(slot,), name=f"video {self.source}", daemon=True
        )
        self._thread.start()
        while (decoded := slot.take()) is not None:
            yield self._convert(decoded)

    def close(self) -> None:
        """Stop reading and release the source; an iteration in another thread then ends
        at its next packet. A live source's thread stops at its next packet, or when its
        read times out (``timeout``) if the stream has stalled; it closes the source."""
        self._stop.set()
        if self._thread is None:
            with self._lock:
                self._container.close()
        else:
            self._thread.join(timeout=self.timeout)

    def _produce(self, slot: NewestFrame[_Decoded]) -> None:
        """The live source's thread: decode and sample into ``slot`` until the stream ends,
        the end time, an error (handed to the consumer) or :meth:`close`."""
        error: BaseException | None = None
        try:
            for decoded in self._sampled():
                slot.put(decoded)
        except BaseException as exc:  # handed to the consumer, raised there
            error = exc
        finally:
            self._container.close()
            slot.finish(error)

    def _sampled(self) -> Iterator[_Decoded]:
        """The frames chosen by :attr:`sampling`, stopping after ``end``."""
        sampler = _Sampler(self.sampling)
        for decoded in self._decoded():
            if sampler.past_end(decoded[1]):
                return
            if sampler.take(decoded[1]):
                yield decoded

    def _decoded(self) -> Iterator[_Decoded]:
        """Every decoded frame from the one before ``start`` on, with its index and time.

        Before ``start``, a file's packets are read without being decoded; those since the
        last keyframe are kept and decoded once a packet at or after ``start`` arrives, so
        decoding starts at a keyframe. A frame's index is the number of packets skipped
        plus the frames decoded before it (one packet per frame).
        """
        stream = self._stream
        time_base = stream.time_base or Fraction(1, 1)
        origin = None if self.live else stream.start_time
        start = self.sampling.start
        skip_until = None
        if start and origin is not None:
            skip_until = origin + math.floor((start - _EPSILON) / time_base)
        kept: list[av.Packet] = []
        kept_bytes = skipped = decoded = 0
        index = time = None
        try:
            for packet in self._packets():
                if packet is None:
                    raise self._damaged(index, time, "the file is cut short")
                stamp = packet.pts if packet.pts is not None else packet.dts
                skipping = skip_until is not None and stamp is not None and stamp < skip_until
                if skipping and packet.is_keyframe:
                    skipped += len(kept)
                    kept, kept_bytes = [], 0
                kept.append(packet)
                kept_bytes += packet.size
                if skipping and kept_bytes <= _SKIP_BUFFER_BYTES:
                    continue
                skip_until = None
                for queued in kept:
                    with self._lock:
                        frames = stream.decode(queued)
                    for frame in frames:
                        index = skipped + decoded
                        decoded += 1
                        if frame.pts is None:
                            time = index / self._rate if self._rate else 0.0
                        else:
                            if origin is None:
                                origin = frame.pts
                            time = float((frame.pts - origin) * (frame.time_base or time_base))
                        yield index, time, frame
                kept, kept_bytes = [], 0
        except av.FFmpegError as exc:
            raise self._damaged(index, time, _strerror(exc)) from None

    def _packets(self) -> Iterator[av.Packet | None]:
        """The stream's packets in decoding order, ending with PyAV's empty packet (which
        flushes the decoder), until :meth:`close`.

        A file's packet that FFmpeg flags as cut short is held back until the next one
        shows where it is: at the end, the file was cut inside that frame: the packet is
        dropped, and ``None`` follows the empty packet; elsewhere (a glitch in a recorded
        stream) it is decoded like the others, the decoder concealing the damage.
        """
        held = None
        packets = self._container.demux(self._stream)
        while True:
            with self._lock:
                packet = None if self._stop.is_set() else next(packets, None)
            if packet is None:
                return
            if held is not None and packet.size == 0:
                yield packet
                yield None
                return
            if held is not None:
                yield held
            held = packet if packet.is_corrupt and packet.size and not self.live else None
            if held is None:
                yield packet

    def _damaged(self, index: int | None, time: float | None, reason: str) -> VideoError:
        """The error for a stream that breaks after frame ``index`` (None: before any)."""
        where = "before the first frame" if index is None else f"after frame {index}"
        at = "" if time is None else f" at {time:.3f} s"
        what = "stream broke" if self.live else "damaged"
        return VideoError(f"{self.source}: {what} {where}{at} ({reason})")

    def _convert(self, decoded: _Decoded) -> Frame:
        index, time, frame = decoded
        try:
            image = frame.to_ndarray(format="rgb24")
        except (av.FFmpegError, ValueError) as exc:
            raise VideoError(
                f"{self.source}: frame {index}: cannot convert {frame.format.name} to RGB "
                f"({first_line(exc)})"
            ) from None
        return Frame(index, time, np.ascontiguousarray(_display(image, frame)))

    def _expected_frames(self, stream: av.video.stream.VideoStream) -> int | None:
        """Sampled frames expected from the duration and the average frame rate."""
        sampling, duration, rate = self.sampling, self.duration, self._rate
        if duration is None or rate is None:
            return None
        start = sampling.start or 0.0
        first = math.ceil(start * rate - _EPSILON)  # of the first frame at or after start
        stop = math.ceil(duration * rate - _EPSILON)  # frames in the stream
        if sampling.end is not None:
            stop = min(stop, math.floor(sampling.end * rate + _EPSILON) + 1)
        if stream.frames > 0 and sampling.start is None and sampling.end is None:
            stop = stream.frames
        frames = max(0, stop - first)
        if sampling.every is not None:
            return math.ceil(frames / sampling.every)
        if sampling.fps is not None and frames:  # instants up to the last frame's time
            instants = math.floor(((stop - 1) / rate - start) * sampling.fps + _EPSILON) + 1
            return min(frames, instants)
        return frames


class _Sampler:
    """Decides frame by frame, in presentation order, what :class:`Sampling` keeps."""

    def __init__(self, sampling: Sampling) -> None:
        self.sampling = sampling
        self._in_window = 0  # frames seen at or after start
        self._next_instant = 0  # fps: the k of the next start + k/F seconds to fill

    def past_end(self, time: float) -> bool:
        return self.sampling.end is not None and time > self.sampling.end + _EPSILON

    def take(self, time: float) -> bool:
        sampling = self.sampling
        since = time - (sampling.start or 0.0)
        if since < -_EPSILON:
            return False
        self._in_window += 1
        if sampling.every is not None:
            return (self._in_window - 1) % sampling.every == 0
        if sampling.fps is not None:
            if (since + _EPSILON) * sampling.fps < self._next_instant:
                return False
            self._next_instant = math.floor((since + _EPSILON) * sampling.fps) + 1
        return True


#: FFmpeg options for ``http(s)`` URLs: when a connection fails, open a new one once, at
#: once. FFmpeg 8.1 (PyAV 18) asks the server to close each connection, yet seeking back
#: after a response was read to its end sends the next request on that same connection
#: ("soft seek"); a server that closed it without a ``Connection: close`` header leaves
#: that request unanswered, and the MP4 demuxer, seeking back from an index at the file's
#: end to the first samples while opening, silently skips the samples it could not read
#: (frames lost at the start, later timestamps shifted, no error). The retry reopens the
#: connection instead; a refused or unanswered URL still fails (once retried at once).
_HTTP_OPTIONS = {"reconnect_on_network_error": "1", "reconnect_delay_max": "0"}


def _open(source: str, timeout: float) -> av.container.InputContainer:
    """Open ``source`` for reading (a device with V4L2), or raise a one-line VideoError."""
    device = _is_device(source)
    scheme = _SCHEME.match(source)
    web = scheme is not None and scheme.group(1).lower() in _WEB_SCHEMES
    try:
        return av.open(
            source,
            format="v4l2" if device else None,
            container_options=dict(_HTTP_OPTIONS) if web else None,
            timeout=timeout,
        )
    except av.ExitError:  # PyAV's timeout interrupts FFmpeg
        raise VideoError(f"{source}: no answer within {timeout:g} s") from None
    except FileNotFoundError:
        missing = "not found" if _SCHEME.match(source) else "no such file"
        raise VideoError(f"{source}: {'no such device' if device else missing}") from None
    except IsADirectoryError:
        raise VideoError(f"{source}: is a directory") from None
    except PermissionError:
        raise VideoError(f"{source}: permission denied") from None
    except av.InvalidDataError:
        reason = "not a video FFmpeg can read, or truncated (invalid data)"
        if os.path.isfile(source) and os.path.getsize(source) == 0:
            reason = "empty file"
        raise VideoError(f"{source}: {reason}") from None
    except (av.FFmpegError, OSError) as exc:
        raise VideoError(f"{source}: cannot open ({_strerror(exc)})") from None


def _strerror(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or first_line(exc)


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first video stream that is not a still picture (cover art), if any."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def _no_video_reason(container: av.container.InputContainer) -> str:
    kinds = [stream.type for stream in container.streams]
    if not kinds:
        return "no video stream (no streams at all)"
    counts = ", ".join(f"{kinds.count(kind)} {kind}" for kind in dict.fromkeys(kinds))
    return f"no video stream ({counts} stream{'s' if len(kinds) > 1 else ''})"


def _duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    """The video stream's duration in seconds, else the container's, else None."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _display(image: np.ndarray, frame: av.VideoFrame) -> np.ndarray:
    """``image`` (H, W, 3) as displayed: the frame's display matrix (rotation by quarter
    turns and mirroring, as FFmpeg's player applies it) applied; a view, no copy.

    The matrix maps a stored pixel (x, y) (y down) to (a·x + c·y, b·x + d·y) on screen, in
    16.16 fixed point; rotations other than quarter turns are rounded to the nearest one.
    """
    side = frame.side_data.get("DISPLAYMATRIX")
    if side is None:
        return image
    a, b, _, c, d = (int(v) for v in np.frombuffer(bytes(side), dtype=np.int32)[:5])
    if abs(a) + abs(d) >= abs(b) + abs(c):  # x stays x: mirror each axis that flips
        return image[:: -1 if d < 0 else 1, :: -1 if a < 0 else 1]
    turned = image.transpose(1, 0, 2)  # x and y swap
    return turned[:: -1 if b < 0 else 1, :: -1 if c < 0 else 1]
