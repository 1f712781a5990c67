"""Tiny test videos written with PyAV, and an HTTP server on 127.0.0.1 that serves them.

Frames from :func:`numbered_frames` carry their number in their grey level and a red mark
in their top-left corner, so a test can tell which frame it got (:func:`frame_number`) and
which way up it is. Keep videos small (64×48, a few dozen frames): the test machine is slow.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from fractions import Fraction
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import av
import numpy as np

from tests.http_server import serve_with

#: Grey level of frame 0, and the step between consecutive frames (up to 59 frames).
LEVEL0, STEP = 16, 4


def numbered_frames(
    count: int, width: int = 64, height: int = 48, texture: bool = False
) -> list[np.ndarray]:
    """``count`` (H, W, 3) uint8 RGB frames: frame ``i`` is grey ``LEVEL0 + STEP * i`` with a
    pure red 8×8 (or smaller) square in its top-left corner. With ``texture``, ±12 of noise
    is added (a different pattern each frame), so that every frame takes some kilobytes
    of the file (to cut a file between frames)."""
    if LEVEL0 + STEP * (count - 1) > 255 - 12 * texture:
        raise ValueError(f"at most {(255 - 12 * texture - LEVEL0) // STEP + 1} numbered frames")
    rng = np.random.default_rng(0)
    frames = []
    for i in range(count):
        level = np.full((height, width, 1), LEVEL0 + STEP * i, dtype=np.int16)
        if texture:
            level = level + rng.integers(-12, 13, size=(height, width, 1), dtype=np.int16)
        image = np.repeat(level.clip(0, 255).astype(np.uint8), 3, axis=2)
        image[: min(8, height // 3), : min(8, width // 3)] = (255, 0, 0)
        frames.append(image)
    return frames


def frame_number(image: np.ndarray) -> int:
    """The number of a frame of :func:`numbered_frames` after a lossy round trip (from the
    mean green of its central part, away from the red mark however the frame is turned)."""
    height, width = image.shape[:2]
    centre = image[height // 4 : height - height // 4, width // 4 : width - width // 4, 1]
    return round((float(centre.mean()) - LEVEL0) / STEP)


def red_corner(image: np.ndarray) -> str:
    """Which corner of ``image`` holds the red mark: ``"top-left"``, ``"top-right"``,
    ``"bottom-left"`` or ``"bottom-right"``."""
    height, width = image.shape[:2]
    corners = {
        "top-left": image[1, 1],
        "top-right": image[1, width - 2],
        "bottom-left": image[height - 2, 1],
        "bottom-right": image[height - 2, width - 2],
    }
    return max(corners, key=lambda name: int(corners[name][0]) - int(corners[name][1]))


def write_video(
    path: str | Path,
    frames: Sequence[np.ndarray],
    fps: int = 25,
    times: Sequence[float] | None = None,
    rotation: int | None = None,
    mirror: bool = False,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    codec_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode (H, W, 3) uint8 RGB ``frames`` into ``path`` (the container from its suffix).

    ``times``, if given, is each frame's duration in seconds (a variable frame rate, timed
    in milliseconds); otherwise frames are ``1/fps`` s apart. ``rotation`` writes a display
    matrix turning the picture that many degrees counter-clockwise for display (PyAV's
    convention, :attr:`av.VideoFrame.rotation`), then mirroring it left to right if
    ``mirror`` (PyAV 18's :meth:`~av.video.stream.VideoStream.set_display_rotation`).
    ``codec_options`` go to the encoder (``{"g": "5", "bf": "2"}``: a keyframe every 5
    frames, B-frames), ``container_options`` to the muxer (``{"movflags": "faststart"}``
    puts an MP4's index first).
    """
    path = Path(path)
    height, width = frames[0].shape[:2]
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.options = codec_options or {}
        if times is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation is not None:
            stream.set_display_rotation(rotation, hflip=mirror)
        start = 0.0
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(start * 1000), Fraction(1, 1000)
                start += times[i]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def write_audio(path: str | Path, seconds: float = 0.5, rate: int = 8000) -> Path:
    """An audio-only file (AAC silence in an MP4/M4A container)."""
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        samples = np.zeros((1, 1024), dtype=np.float32)
        for i in range(int(seconds * rate) // 1024 + 1):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def _handler(routes: dict[str, bytes], pace: float, trickle: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            try:
                if pace:
                    self._send_paced(body)
                else:
                    self._send_range(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the reader closed the stream early

        def _send_range(self, body: bytes) -> None:
            first, last = 0, len(body) - 1
            spec = self.headers.get("Range", "")
            if spec.startswith("bytes="):
                low, _, high = spec[6:].partition("-")
                first = int(low or 0)
                last = min(int(high), last) if high else last
            self.send_response(206 if spec else 200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(last - first + 1))
            if spec:
                self.send_header("Content-Range", f"bytes {first}-{last}/{len(body)}")
            self.end_headers()
            if not trickle:
                self.wfile.write(body[first : last + 1])
                return
            for offset in range(first, last + 1, 4096):
                self.wfile.write(body[offset : min(offset + 4096, last + 1)])
                self.wfile.flush()
                time.sleep(trickle)

        def _send_paced(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "video/mp2t")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for offset in range(0, len(body), 188):
                chunk = body[offset : offset + 188]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
                time.sleep(pace)
            self.wfile.write(b"0\r\n\r\n")

        def log_message(self, format: str, *args: object) -> None:
            """Keep the test output quiet."""

    return Handler


@contextmanager
def serve_videos(
    routes: dict[str, bytes], pace: float = 0.0, trickle: float = 0.0
) -> Iterator[str]:
    """Serve ``routes`` (path → bytes) on 127.0.0.1; yield the base URL.

    By default a file is served with its length and byte ranges (seekable, like a web
    server), all at once; with ``trickle`` (seconds), in 4 KiB pieces that far apart, as
    over a slower network. A connection is kept open between requests unless the client
    asks to close it (FFmpeg does); then it is closed after the response without saying so
    in a ``Connection: close`` header (allowed, though real servers mostly send it).
    With ``pace`` (seconds), a file is sent like a live stream instead: no length, no
    ranges, chunked transfer encoding, 188-byte chunks (one MPEG-TS packet) ``pace`` seconds apart.
    """
    with serve_with(_handler(routes, pace, trickle)) as base:
        yield base
