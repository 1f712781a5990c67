"""Reading videos (p2pcount.io.video): frame times and indices, sampling, rotation, odd sizes
and pixel formats, damaged and non-video files, URLs and live streams. Every video is
written here with PyAV (tests/videos.py), tiny; the network is 127.0.0.1 only."""

from __future__ import annotations

import itertools
import os
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p2pcount.errors import ImageError, VideoError
from p2pcount.io.inputs import expand_inputs, list_folder
from p2pcount.io.video import (
    VIDEO_SUFFIXES,
    NewestFrame,
    Sampling,
    VideoReader,
    is_live,
    is_video,
    parse_time,
)
from tests.videos import (
    frame_number,
    numbered_frames,
    red_corner,
    serve_videos,
    write_audio,
    write_video,
)

#: Keyframes every 6 frames and B-frames, so that decoding order differs from display
#: order and skipping to a start time has keyframes to skip between.
GOPS = {"g": "6", "bf": "2"}


def read(source: str | Path, sampling: Sampling | None = None) -> list[tuple[int, float, int]]:
    """(index, time rounded to ms, number read from the pixels) of each frame."""
    with VideoReader(str(source), sampling) as reader:
        return [(f.index, round(f.time, 3), frame_number(f.image)) for f in reader]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 numbered frames, 64×48 at 25 fps, H.264 with B-frames, MP4."""
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    return write_video(path, numbered_frames(40), codec_options=GOPS)


# --- parsing and recognising sources ---------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("12.5", 12.5), ("0", 0.0), (".5", 0.5), ("90", 90.0), ("1:30", 90.0),
     ("01:02:03.25", 3723.25), ("0:00:00", 0.0), ("75:00", 4500.0), (" 7 ", 7.0)],
)  # fmt: skip
def test_parse_time_reads_seconds_and_clock_times(text: str, seconds: float) -> None:
    assert parse_time(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "-1", "1:60", "1:75:00", "1:2:3:4", "abc", "1e3", "nan"])
def test_parse_time_rejects_other_text_with_the_expected_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid time .*seconds \(12\.5\) or \[HH:\]MM:SS"):
        parse_time(text)


def test_is_live_for_urls_and_capture_devices() -> None:
    for source in ("rtsp://cam/1", "RTMP://x/y", "http://h/a.mp4", "https://h/s", "udp://@:1234"):
        assert is_live(source), source
    assert is_live("/dev/video0")
    for source in ("clip.mp4", "/data/video0.mp4", "file://x.mp4", "-"):
        assert not is_live(source), source


def test_is_video_probes_the_file_not_its_name(tmp_path: Path, clip: Path) -> None:
    Image.new("RGB", (8, 8)).save(tmp_path / "still.png")
    frames = [Image.new("RGB", (8, 8), (i * 60, 0, 0)) for i in range(3)]
    frames[0].save(tmp_path / "moving.gif", save_all=True, append_images=frames[1:])
    (tmp_path / "clip.jpg").write_bytes(clip.read_bytes())  # a video named like an image
    jpeg = tmp_path / "broken.jpg"  # FFmpeg opens a corrupt JPEG as a one-frame "video"
    jpeg.write_bytes(b"\xff\xd8\xff" + bytes(200))
    (tmp_path / "notes.txt").write_text("not a video\n")
    write_audio(tmp_path / "sound.m4a")

    assert is_video(str(clip))
    assert is_video(str(tmp_path / "clip.jpg"))
    assert is_video("rtsp://127.0.0.1:1/stream")
    for name in ("still.png", "moving.gif", "broken.jpg", "notes.txt", "sound.m4a", "missing"):
        assert not is_video(str(tmp_path / name)), name


def test_input_folders_list_videos_with_images(tmp_path: Path) -> None:
    for name in ("b.MP4", "a.jpg", "c.mkv", "d.txt", "e.ts"):
        (tmp_path / name).write_bytes(b"x")
    listed = ["a.jpg", "b.MP4", "c.mkv", "e.ts"]
    assert [Path(p).name for p in expand_inputs([str(tmp_path)])] == listed
    assert [p.name for p in list_folder(tmp_path, videos=True)] == listed
    assert [p.name for p in list_folder(tmp_path)] == ["a.jpg"]  # datasets: images only
    assert {".mp4", ".mov", ".mkv", ".webm", ".avi", ".ts", ".m2ts", ".mpg"} <= VIDEO_SUFFIXES


# --- frames, times and sampling --------------------------------------------------------


def test_frames_come_with_index_time_and_rgb_pixels(clip: Path) -> None:
    with VideoReader(str(clip)) as reader:
        assert (reader.live, reader.duration, reader.expected_frames) == (False, 1.6, 40)
        frames = list(reader)
        assert reader.dropped == 0
    assert [(f.index, round(f.time, 3)) for f in frames] == [
        (i, round(i * 0.04, 3)) for i in range(40)
    ]
    assert [frame_number(f.image) for f in frames] == list(range(40))
    image = frames[0].image
    assert (image.shape, image.dtype, image.flags.c_contiguous) == ((48, 64, 3), np.uint8, True)
    assert red_corner(image) == "top-left"


def test_variable_frame_rate_is_timed_by_timestamps(tmp_path: Path) -> None:
    durations = [0.04, 0.1, 0.02, 0.5, 0.04, 0.25, 0.04]
    for suffix in (".mp4", ".mkv"):
        path = write_video(tmp_path / f"vfr{suffix}", numbered_frames(7), times=durations)
        starts = np.cumsum([0.0, *durations[:-1]]).round(3).tolist()
        assert read(path) == [(i, t, i) for i, t in enumerate(starts)], suffix
        # the first frames at or after 0, 0.25 (none before 0.66), 0.75 and 1 s (none)
        assert read(path, Sampling(fps=4)) == [(0, 0.0, 0), (4, 0.66, 4), (6, 0.95, 6)]


@pytest.mark.parametrize(
    ("sampling", "indices"),
    [
        (Sampling(every=7), [0, 7, 14, 21, 28, 35]),
        (Sampling(fps=3), [0, 9, 17, 25, 34]),  # first frames at or after 0, 1/3, 2/3 … s
        (Sampling(start=0.5, end=1.0), list(range(13, 26))),  # 0.52 s … 1.00 s inclusive
        (Sampling(start=0.5, every=5), [13, 18, 23, 28, 33, 38]),
        (Sampling(start=1.0, fps=2), [25, 38]),
        (Sampling(end=0.1), [0, 1, 2]),
        (Sampling(start=1.56), [39]),
        (Sampling(start=5.0), []),
    ],
    ids=repr,
)
def test_sampling_selects_frames(clip: Path, sampling: Sampling, indices: list[int]) -> None:
    assert read(clip, sampling) == [(i, round(i * 0.04, 3), i) for i in indices]
    with VideoReader(str(clip), sampling) as reader:
        assert reader.expected_frames == len(indices)


@pytest.mark.parametrize("suffix", [".mp4", ".ts", ".mkv"])
def test_start_skips_undecoded_packets_and_keeps_exact_indices(tmp_path: Path, suffix: str) -> None:
    path = write_video(tmp_path / f"gop{suffix}", numbered_frames(40), codec_options=GOPS)
    everything = read(path)
    assert [number for _, _, number in everything] == list(range(40))
    for start in (0.3, 0.52, 0.99, 1.5):
        assert read(path, Sampling(start=start)) == [f for f in everything if f[1] >= start]


@pytest.mark.parametrize(
    "kwargs",
    [{"every": 0}, {"every": True}, {"fps": 0.0}, {"fps": float("inf")}, {"start": -1.0},
     {"end": float("nan")}, {"start": 2.0, "end": 1.0}, {"every": 2, "fps": 1.0}],
)  # fmt: skip
def test_invalid_sampling_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"^(every|fps|start|end|give every)"):
        Sampling(**kwargs)


# --- what frames look like -------------------------------------------------------------


@pytest.mark.parametrize(
    ("rotation", "mirror", "shape", "corner"),
    [(90, False, (64, 48, 3), "bottom-left"), (-90, False, (64, 48, 3), "top-right"),
     (180, False, (48, 64, 3), "bottom-right"), (0, False, (48, 64, 3), "top-left"),
     (0, True, (48, 64, 3), "top-right"), (90, True, (64, 48, 3), "bottom-right")],
)  # fmt: skip
def test_display_rotation_is_applied(
    tmp_path: Path, rotation: int, mirror: bool, shape: tuple[int, ...], corner: str
) -> None:
    """The display matrix is applied as a player applies it. PyAV's angle is
    counter-clockwise: turned 90°, the top-left mark shows bottom-left; mirrored after the
    turn, bottom-right (FFmpeg's player: ``transpose=clock_flip``)."""
    path = write_video(
        tmp_path / "turned.mp4", numbered_frames(3), rotation=rotation, mirror=mirror
    )
    with VideoReader(str(path)) as reader:
        frames = list(reader)
    assert [(f.image.shape, red_corner(f.image), frame_number(f.image)) for f in frames] == [
        (shape, corner, i) for i in range(3)
    ]
    assert all(f.image.flags.c_contiguous for f in frames)


@pytest.mark.parametrize(
    ("name", "codec", "pix_fmt"),
    [("odd.mp4", "mpeg4", "yuv420p"), ("odd.mkv", "libx264", "yuv444p"),
     ("deep.mkv", "ffv1", "yuv420p10le")],
)  # fmt: skip
def test_odd_sizes_and_10_bit_pixels_are_kept(
    tmp_path: Path, name: str, codec: str, pix_fmt: str
) -> None:
    options = {"mpeg4": {"b": "2M"}, "libx264": {"crf": "10"}}  # keep frame numbers readable
    path = write_video(
        tmp_path / name, numbered_frames(4, 33, 25), codec=codec, pix_fmt=pix_fmt,
        codec_options=options.get(codec),
    )  # fmt: skip
    with VideoReader(str(path)) as reader:
        frames = list(reader)
    assert [(f.image.shape, f.image.dtype, frame_number(f.image)) for f in frames] == [
        ((25, 33, 3), np.uint8, i) for i in range(4)
    ]


# --- damaged files and errors ----------------------------------------------------------


def cut(path: Path, fraction: float) -> Path:
    data = path.read_bytes()
    short = path.with_name(f"cut-{path.name}")
    short.write_bytes(data[: int(len(data) * fraction)])
    return short


def test_truncated_mp4_yields_its_good_frames_then_a_one_line_error(tmp_path: Path) -> None:
    """With its index first (faststart), a cut MP4 decodes up to the cut, then fails: FFmpeg
    flags the last packet as cut short."""
    whole = write_video(
        tmp_path / "clip.mp4",
        numbered_frames(30, texture=True),
        container_options={"movflags": "faststart"},
    )
    source = str(cut(whole, 0.5))
    got = []
    with pytest.raises(VideoError) as error, VideoReader(source) as reader:
        got.extend((frame.index, frame_number(frame.image)) for frame in reader)
    assert 5 <= len(got) < 30 and got == [(i, i) for i in range(len(got))]
    last = got[-1][0]
    message = f"{source}: damaged after frame {last} at {last * 0.04:.3f} s (the file is cut short)"
    assert str(error.value) == message


def test_corrupt_data_mid_file_ends_with_the_frames_before_it(tmp_path: Path) -> None:
    """Bytes overwritten mid-file: the H.264 decoder refuses the packet; the frames decoded
    before it come out, then one line."""
    path = write_video(tmp_path / "clip.mp4", numbered_frames(30, texture=True))
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 3000] = b"\xff" * 3000
    path.write_bytes(data)
    got = []
    with pytest.raises(VideoError) as error, VideoReader(str(path)) as reader:
        got.extend((frame.index, frame_number(frame.image)) for frame in reader)
    assert 5 <= len(got) < 30 and got == [(i, i) for i in range(len(got))]
    last = got[-1][0]
    assert str(error.value) == (
        f"{path}: damaged after frame {last} at {last * 0.04:.3f} s "
        "(Invalid data found when processing input)"
    )


def test_truncated_mp4_without_its_index_cannot_be_opened(tmp_path: Path) -> None:
    """FFmpeg writes an MP4's index last by default: cut, no frame can be found."""
    source = str(cut(write_video(tmp_path / "clip.mp4", numbered_frames(30, texture=True)), 0.5))
    with pytest.raises(VideoError, match=r": not a video FFmpeg can read, or truncated"):
        VideoReader(source)


@pytest.mark.parametrize("suffix", [".mkv", ".ts"])
def test_truncated_stream_containers_just_end_early(tmp_path: Path, suffix: str) -> None:
    """MKV and MPEG-TS have no index to miss: FFmpeg reads a cut file to the cut, silently
    (MPEG-TS decodes the cut frame too, its missing part concealed: its pixels may be off)."""
    path = cut(write_video(tmp_path / f"clip{suffix}", numbered_frames(30, texture=True)), 0.5)
    got = read(path)
    assert 5 <= len(got) < 30
    assert [(i, t) for i, t, _ in got] == [(i, round(i * 0.04, 3)) for i in range(len(got))]
    assert [number for _, _, number in got[:-1]] == list(range(len(got) - 1))


def test_non_video_sources_fail_at_open_in_one_line(tmp_path: Path, clip: Path) -> None:
    audio = write_audio(tmp_path / "sound.m4a")
    unknown = tmp_path / "unknown.mp4"  # an H.264 MP4 whose codec tag is made up
    data = bytearray(clip.read_bytes())
    tag = data.rfind(b"avc1")
    unknown.write_bytes(data[:tag] + b"zzzz" + data[tag + 4 :])
    (tmp_path / "empty.mp4").touch()
    missing_device = next(
        f"/dev/video{n}" for n in range(60, 100) if not os.path.exists(f"/dev/video{n}")
    )
    cases = {
        str(audio): "no video stream (1 audio stream)",
        str(unknown): "unsupported video codec (no decoder for it here)",
        str(tmp_path / "missing.mp4"): "no such file",
        str(tmp_path): "is a directory",
        str(tmp_path / "empty.mp4"): "empty file",
        missing_device: "no such device",
    }
    for source, reason in cases.items():
        with pytest.raises(VideoError) as error:
            VideoReader(source)
        assert str(error.value) == f"{source}: {reason}"
        assert isinstance(error.value, ImageError)


# --- URLs and live streams -------------------------------------------------------------


def test_a_url_of_a_file_is_read_like_a_file(clip: Path) -> None:
    """An MP4 with its index last needs byte ranges; with a duration it is no live stream."""
    with serve_videos({"/clip.mp4": clip.read_bytes()}) as url:
        with VideoReader(f"{url}/clip.mp4", timeout=5) as reader:
            assert (reader.live, reader.expected_frames) == (False, 40)
            got = [(f.index, frame_number(f.image)) for f in reader]
        assert got == [(i, i) for i in range(40)]
        with pytest.raises(VideoError, match=r"/nothing\.mp4: cannot open \(.*404"):
            VideoReader(f"{url}/nothing.mp4", timeout=5)


def test_an_mp4_url_read_again_and_slowly_keeps_its_first_frames(tmp_path: Path) -> None:
    """Regression: FFmpeg 8.1 reused a connection that the server had closed (at FFmpeg's
    own request) to seek back from the MP4's index, at its end, to its first samples, and
    the demuxer silently skipped those: frames lost at the start, wrong indices and times,
    no error. It happened when the file came in pieces (``trickle``), so reliably here."""
    path = write_video(tmp_path / "clip.mp4", numbered_frames(12, texture=True), fps=10)
    expected = [(i, round(i / 10, 3), i) for i in range(12)]
    with serve_videos({"/clip.mp4": path.read_bytes()}, trickle=0.002) as base:
        url = f"{base}/clip.mp4"
        assert is_video(url)
        for _ in range(2):  # the same URL again
            assert read(url) == expected
        got: list[tuple[int, float, int]] = []
        errors: list[BaseException] = []

        def consume() -> None:  # in another thread, slower than decoding (as the CLI's feed)
            try:
                with VideoReader(url, timeout=5) as reader:
                    assert not reader.live and reader.dropped == 0
                    for f in reader:
                        got.append((f.index, round(f.time, 3), frame_number(f.image)))
                        time.sleep(0.02)
            except BaseException as exc:  # raised in the test below
                errors.append(exc)

        thread = threading.Thread(target=consume)
        thread.start()
        thread.join(timeout=30)
        assert not thread.is_alive() and not errors
        assert got == expected


def test_unreachable_urls_fail_within_the_timeout() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}/live"
    with pytest.raises(VideoError, match=r"^http://127\.0\.0\.1:\d+/live: cannot open \(Conn"):
        VideoReader(refused, timeout=2)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        source = f"http://127.0.0.1:{silent.getsockname()[1]}/live"
        began = time.monotonic()
        with pytest.raises(VideoError) as error:
            VideoReader(source, timeout=0.5)
        assert time.monotonic() - began < 3
    assert str(error.value) == f"{source}: no answer within 0.5 s"


@pytest.fixture(scope="module")
def stream_bytes(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """50 numbered frames at 25 fps as MPEG-TS, to be sent like a live stream."""
    path = tmp_path_factory.mktemp("live") / "live.ts"
    return write_video(path, numbered_frames(50)).read_bytes()


def test_a_slow_consumer_of_a_live_stream_gets_the_newest_frames(stream_bytes: bytes) -> None:
    got = []
    with (
        serve_videos({"/live.ts": stream_bytes}, pace=0.005) as url,
        VideoReader(f"{url}/live.ts", timeout=5) as reader,
    ):
        assert (reader.live, reader.duration, reader.expected_frames) == (True, None, None)
        for frame in reader:
            got.append((frame.index, round(frame.time, 3), frame_number(frame.image)))
            time.sleep(0.15)
    assert reader.dropped > 0 and len(got) + reader.dropped == 50
    # The newest frame when the consumer asks, the stream's last at the end. Which frame comes
    # first depends on how long opening took on a loaded machine, so it is not asserted; a
    # consumer slower than the stream skips frames between two that it gets.
    assert got[-1] == (49, 1.96, 49)
    assert len(got) == 1 or any(b[0] - a[0] > 1 for a, b in itertools.pairwise(got))
    assert [i for i, _, _ in got] == sorted({i for i, _, _ in got})  # in order, no repeats
    assert all(t == round(i * 0.04, 3) and n == i for i, t, n in got)


def test_live_sampling_and_a_prompt_close(stream_bytes: bytes) -> None:
    with serve_videos({"/live.ts": stream_bytes}, pace=0.03) as url:  # about 3 s long
        reader = VideoReader(f"{url}/live.ts", Sampling(every=10), timeout=5)
        frames = iter(reader)
        first, second = next(frames), next(frames)
        began = time.monotonic()
        reader.close()
        assert time.monotonic() - began < 1.5  # well before the stream would end
    # Every 10th frame; which one comes first depends on when the consumer first asks
    # (a live source keeps only the newest).
    assert first.index % 10 == 0 and second.index % 10 == 0 and first.index < second.index
    assert not [t for t in threading.enumerate() if t.name == f"video {url}/live.ts"]


def test_newest_frame_keeps_the_newest_and_counts_the_dropped() -> None:
    slot: NewestFrame[int] = NewestFrame()
    for item in (1, 2, 3):
        slot.put(item)
    assert (slot.take(), slot.dropped) == (3, 2)
    later = threading.Timer(0.05, slot.put, args=(4,))
    later.start()
    assert slot.take() == 4  # waits for the producer
    slot.put(5)
    slot.finish(VideoError("x: stream broke"))
    assert slot.take() == 5  # the last item first, then the error
    with pytest.raises(VideoError, match="stream broke"):
        slot.take()
    done: NewestFrame[int] = NewestFrame()
    done.finish()
    assert done.take() is None


def test_closing_a_file_read_by_another_thread_ends_its_iteration(clip: Path) -> None:
    """The CLI decodes in a helper thread: close() from the main thread must not pull the
    file from under a decode in progress; the iteration just ends."""
    reader = VideoReader(str(clip))
    got: list[int] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            for frame in reader:
                got.append(frame.index)
                time.sleep(0.01)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=consume)
    thread.start()
    while len(got) < 3:
        time.sleep(0.005)
    reader.close()
    thread.join(timeout=5)
    assert not thread.is_alive() and not errors
    assert 3 <= len(got) < 40 and got == list(range(len(got)))


def test_reads_as_video_also_takes_a_broken_file_named_like_one(tmp_path: Path) -> None:
    from p2pcount.io.video import reads_as_video

    (tmp_path / "cut.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(40))
    Image.new("RGB", (8, 8)).save(tmp_path / "still.png")
    (tmp_path / "still.png").rename(tmp_path / "still.mp4")  # an image named like a video
    assert not is_video(str(tmp_path / "cut.mp4")) and reads_as_video(str(tmp_path / "cut.mp4"))
    assert not reads_as_video(str(tmp_path / "still.mp4"))  # Pillow opens it: an image
    assert not reads_as_video(str(tmp_path / "notes.txt"))
