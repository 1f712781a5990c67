"""Overlay videos: ``viz`` on a video writes its drawn frames as H.264 in an MP4 file.

No torch; PyAV and Pillow are imported when the first frame is written, so importing this
module (the command line does) loads neither.
"""

from __future__ import annotations

import contextlib
import math
from contextlib import ExitStack
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from p2pcount.io.atomic import atomic_path
from p2pcount.output.overlay_files import SOFTWARE

if TYPE_CHECKING:
    import av
    from PIL import Image

#: Frame times are written in milliseconds: a frame at ``t`` seconds gets PTS round(1000 t).
TIME_BASE = Fraction(1, 1000)

#: libx264's options: quality about that of a web video (CRF 23, x264's default), a preset
#: fast enough for a couple of cores, and no B-frames: with B-frames, variable frame times
#: make the muxer compute the track's duration from decoding times that lag the last frame's
#: time, so players could stop before the last frames.
X264_OPTIONS = {"crf": "23", "preset": "veryfast", "bf": "0"}

#: How long the last frame is shown, in seconds, when neither ``rate_hint`` nor an earlier
#: frame tells the sampling interval (a video of one frame without a hint).
LONE_FRAME_SECONDS = 0.04


class VideoOverlayWriter:
    """Writes frames (Pillow images) shown at given times into an H.264 MP4 file.

    Use as a context manager, or call :meth:`close` (on success) yourself::

        with VideoOverlayWriter(Path("clip_p2p.mp4"), rate_hint=25.0) as video:
            for image, time in frames:
                video.write(image, time)

    The file is H.264 (libx264, :data:`X264_OPTIONS`) in yuv420p, BT.709 colours in the
    limited (TV) range and tagged so, in an MP4 container with its index first (fast
    start) whatever ``target``'s extension. It is written to a temporary file beside
    ``target`` and renamed into place by :meth:`close`; an exception inside the
    ``with`` block removes the temporary file and leaves ``target`` as it was, so a
    partial video never appears. A writer given no frame writes no file.

    Frames:
        - The first frame's size (width, height in pixels) is the video's, rounded up to
          even numbers (yuv420p stores colour per 2×2 pixels): a frame of odd width or
          height is padded with black columns on the right and rows at the bottom, never
          scaled, so a pixel of the image is a pixel of the video.
        - A later frame of another size (a stream changing resolution) is scaled to fit in
          the first frame's size, its aspect ratio kept, centred on black.
        - Images of any mode are converted to RGB first.

    Times:
        - A frame written with ``time`` (seconds, the source frame's presentation time) is
          shown from ``time``, rounded to the millisecond (:data:`TIME_BASE`), until the
          next frame's time; the video's timeline is the source's, so a video sampled from
          ``--start 10`` has its first frame at 10 s.
        - Frame times should increase: one not after the previous frame's (equal to the
          millisecond, or earlier, as a live stream's times can be after a discontinuity)
          is shown 1 ms after the previous frame, and a time before 0 is shown at 0 (MP4
          players skip frames with negative times).
        - The last frame is shown for ``1 / rate_hint`` seconds, else for the interval
          before it, else for :data:`LONE_FRAME_SECONDS`.

    Args:
        target: the MP4 file to write.
        rate_hint: the expected frames per second of the written frames (the sampling
            rate), if known: the video's nominal frame rate for the encoder's rate control
            and the last frame's duration. Times, not this rate, place the frames.

    Attributes:
        target: as given.
        frames: frames written so far.
        size: (width, height) in pixels of the video, even; None before the first frame.
        written: whether :meth:`close` put the video at ``target`` (False before, and
            after an error or without frames).
    """

    def __init__(self, target: Path, *, rate_hint: float | None = None) -> None:
        if rate_hint is not None and not (math.isfinite(rate_hint) and rate_hint > 0):
            raise ValueError(
                f"rate_hint must be a positive number of frames per second, not {rate_hint}"
            )
        self.target = Path(target)
        self.rate_hint = rate_hint
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.written = False
        self._content_size: tuple[int, int] = (0, 0)  # the first frame's size, unpadded
        self._files = ExitStack()  # holds the temporary file's atomic_path
        self._container: av.container.OutputContainer | None = None
        self._stream: av.video.stream.VideoStream | None = None
        self._held: av.Packet | None = None  # muxed once the next frame's time is known
        self._pts = -1  # the last frame's PTS in TIME_BASE units
        self._interval = 0  # the last frame's PTS less the one before it (0: one frame)
        self._closed = False

    def __enter__(self) -> VideoOverlayWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.close()
        else:
            self._discard(exc)

    def write(self, image: Image.Image, time: float) -> None:
        """Append ``image`` (any size and mode, see the class) shown from ``time`` seconds.

        An error here (or Ctrl-C) removes the temporary file and closes the writer: no
        video is written, :meth:`close` does nothing more."""
        if self._closed:
            raise ValueError(f"{self.target}: the overlay video is already closed")
        if not math.isfinite(time):
            raise ValueError(f"frame time must be a finite number of seconds, not {time}")
        try:
            if self._container is None:
                self._open(image.size)
            frame = self._frame(image)
            pts = max(round(time * 1000), self._pts + 1)
            frame.pts, frame.time_base = pts, TIME_BASE
            self._mux(self._stream.encode(frame))
        except BaseException as exc:
            self._discard(exc)
            raise
        self._interval = pts - self._pts if self.frames else 0
        self._pts = pts
        self.frames += 1

    def close(self) -> None:
        """Finish the video and rename it into place (nothing without frames); idempotent.

        If finishing fails, the temporary file is removed and the error raised."""
        if self._closed:
            return
        self._closed = True
        if self._container is None:
            return
        try:
            self._mux(self._stream.encode(None))  # flush the encoder
            self._held.duration = self._last_duration()
            self._container.mux(self._held)
            self._container.close()
        except BaseException as exc:
            self._discard(exc)
            raise
        self._files.close()  # renames the temporary file to the target
        self.written = True

    def _open(self, size: tuple[int, int]) -> None:
        import av
        from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

        width, height = size
        self._content_size = size
        self.size = (width + width % 2, height + height % 2)
        tmp = self._files.enter_context(atomic_path(self.target))
        self._container = av.open(str(tmp), "w", format="mp4", options={"movflags": "+faststart"})
        self._container.metadata["comment"] = SOFTWARE  # how a rerun tells its own overlays
        rate = None if self.rate_hint is None else Fraction(self.rate_hint)
        stream = self._container.add_stream(
            "libx264",
            rate=None if rate is None else rate.limit_denominator(1_001_000),
            options=X264_OPTIONS,
        )
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        context = stream.codec_context
        context.time_base = TIME_BASE
        context.colorspace = Colorspace.ITU709
        context.color_range = ColorRange.MPEG
        context.color_primaries = ColorPrimaries.BT709
        context.color_trc = ColorTrc.BT709
        self._stream = stream

    def _frame(self, image: Image.Image) -> av.VideoFrame:
        """``image`` as a yuv420p frame of the video's size (see the class)."""
        import av
        from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc
        from PIL import Image, ImageOps

        rgb = image.convert("RGB")
        if rgb.size != self._content_size:
            rgb = ImageOps.pad(rgb, self._content_size, color=(0, 0, 0))
        if rgb.size != self.size:
            canvas = Image.new("RGB", self.size)  # black
            canvas.paste(rgb, (0, 0))
            rgb = canvas
        return av.VideoFrame.from_image(rgb).reformat(
            format="yuv420p",
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            dst_color_primaries=ColorPrimaries.BT709,
            dst_color_trc=ColorTrc.BT709,
        )

    def _mux(self, packets: list[av.Packet]) -> None:
        """Mux all but the newest packet, each lasting until the next one's time.

        Without B-frames, packets come in presentation order, one per frame."""
        for packet in packets:
            if self._held is not None:
                self._held.duration = packet.pts - self._held.pts
                self._container.mux(self._held)
            self._held = packet

    def _last_duration(self) -> int:
        """How long the last frame is shown, in :data:`TIME_BASE` units (see the class)."""
        if self.rate_hint is not None:
            return max(1, round(1000 / self.rate_hint))
        return self._interval or round(LONE_FRAME_SECONDS * 1000)

    def _discard(self, exc: BaseException) -> None:
        """Close the container and remove the temporary file; ``exc`` is the reason."""
        self._closed = True
        try:
            if self._container is not None:
                # The video is thrown away: an error closing it matters less than ``exc``.
                with contextlib.suppress(Exception):
                    self._container.close()
        finally:
            self._files.__exit__(type(exc), exc, exc.__traceback__)
