"""The output side of video counting: the per-video summary, the overlay video (H.264 MP4)
and the count-over-time plot. Tiny videos (63×47, a few frames) keep it quick."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from p2pcount.output.plots import plot_counts
from p2pcount.output.result import CountResult
from p2pcount.output.video_overlay import LONE_FRAME_SECONDS, VideoOverlayWriter
from p2pcount.output.video_summary import VideoSummary, format_time


def result(count: int, soft_count: float, time: float | None, frame: int = 0) -> CountResult:
    return CountResult(
        width=64,
        height=48,
        count=count,
        soft_count=soft_count,
        points=np.zeros((count, 2), np.float32),
        scores=np.full(count, 0.9, np.float32),
        cell_scores=np.zeros((6, 8), np.float32),
        threshold=0.5,
        path="clip.mp4",
        frame=frame,
        time=time,
    )


def gradient(width: int = 63, height: int = 47) -> Image.Image:
    """A smooth RGB image (H.264 keeps it well): red across, green down, blue constant."""
    x = np.linspace(0, 255, width)[None, :] * np.ones((height, 1))
    y = np.linspace(0, 255, height)[:, None] * np.ones((1, width))
    pixels = np.stack([x, y, np.full_like(x, 96)], axis=-1)
    return Image.fromarray(pixels.round().astype(np.uint8))


def decode(path: Path) -> tuple[list[float], list[np.ndarray], float]:
    """(frame times in seconds, RGB frames (H, W, 3), the stream's duration in seconds:
    from the first frame's time to the end of the last frame)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base)
        frames = list(container.decode(stream))
    return [f.time for f in frames], [f.to_ndarray(format="rgb24") for f in frames], duration


# --- the summary -------------------------------------------------------------------------


def test_summary_numbers() -> None:
    summary = VideoSummary("clip.mp4")
    values = [(3, 2.5, 0.0), (7, 7.25, 0.5), (5, 5.0, 1.0), (7, 6.75, 63.4)]
    for index, (count, soft, time) in enumerate(values):
        summary.add(result(count, soft, time, frame=index))
    summary.dropped = 2
    assert (summary.frames, summary.min_count, summary.max_count) == (4, 3, 7)
    assert summary.mean_count == pytest.approx(5.5)
    assert summary.mean_soft_count == pytest.approx(5.375)
    assert summary.max_time == 0.5  # the first frame with the maximum
    assert summary.record() == {
        "path": "clip.mp4",
        "frames": 4,
        "dropped": 2,
        "mean_count": 5.5,
        "min_count": 3,
        "max_count": 7,
        "max_time": 0.5,
        "mean_soft_count": 5.375,
    }
    assert summary.line() == (
        "clip.mp4: 4 frames, count mean 5.5 (min 3, max 7 at 00:00:00.500), 2 dropped"
    )


def test_summary_rounding_and_late_maximum() -> None:
    summary = VideoSummary("a.mkv")
    for count, soft, time in [(1, 1 / 3, 0.0), (1, 1 / 3, 1.0), (2, 1 / 3, 3723.4567)]:
        summary.add(result(count, soft, time))
    record = summary.record()
    assert (record["mean_count"], record["mean_soft_count"]) == (1.333, 0.333)
    assert record["max_time"] == 3723.457
    assert summary.line() == (
        "a.mkv: 3 frames, count mean 1.3 (min 1, max 2 at 01:02:03.457), 0 dropped"
    )


def test_summary_without_frames_or_times() -> None:
    empty = VideoSummary("rtsp://camera/live\n")
    assert empty.mean_count is None and empty.mean_soft_count is None
    assert empty.record() == {
        "path": "rtsp://camera/live\n",
        "frames": 0,
        "dropped": 0,
        "mean_count": None,
        "min_count": None,
        "max_count": None,
        "max_time": None,
        "mean_soft_count": None,
    }
    assert empty.line() == "rtsp://camera/live\\n: 0 frames, 0 dropped"
    untimed = VideoSummary("b.mp4")
    untimed.add(result(4, 3.9, None))
    assert untimed.line() == "b.mp4: 1 frame, count mean 4.0 (min 4, max 4), 0 dropped"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "00:00:00.000"),
        (63.4, "00:01:03.400"),
        (3599.9996, "01:00:00.000"),
        (360000.25, "100:00:00.250"),
        (-1.5, "-00:00:01.500"),
        (-0.0004, "00:00:00.000"),
    ],
)
def test_format_time(seconds: float, text: str) -> None:
    assert format_time(seconds) == text


# --- the overlay video -------------------------------------------------------------------


def test_overlay_video_frames_times_size_and_pixels(tmp_path: Path) -> None:
    target = tmp_path / "clip_p2p.mp4"
    # Variable intervals, one of them a single millisecond.
    times = [0.0, 0.04, 0.1, 0.5, 0.501, 0.6, 1.0, 1.25, 1.3, 2.0]
    times += [2.0 + 0.033 * k for k in range(1, 11)]
    image = gradient()  # 63×47: odd both ways
    with VideoOverlayWriter(target, rate_hint=30.0) as video:
        for time in times:
            video.write(image, time)
        assert video.size == (64, 48)
        assert not video.written
    assert video.written
    assert sorted(tmp_path.iterdir()) == [target]  # no temporary file left
    decoded_times, frames, duration = decode(target)
    assert len(frames) == len(times) == video.frames == 20
    assert decoded_times == pytest.approx([round(t, 3) for t in times], abs=1e-6)
    assert frames[0].shape == (48, 64, 3)  # padded to even
    difference = np.abs(frames[0][:47, :63].astype(int) - np.asarray(image, int))
    assert difference.mean() < 4
    # The padding is black: luma (0…255) of the last column and row, up to the ringing of
    # the sharp edge beside it (in RGB the image's colour also bleeds in: yuv420p shares
    # colour per 2×2 pixels), next to the gradient's bright last column and row.
    with av.open(str(target)) as container:
        luma = next(container.decode(video=0)).to_ndarray(format="gray")
    assert luma[:, 63].mean() < 40 < 120 < luma[:, 62].mean()
    assert luma[47].mean() < 40 < 120 < luma[46].mean()
    # The last frame is shown for 1 / rate_hint seconds.
    assert duration == pytest.approx(times[-1] + 1 / 30, abs=1e-3)


def test_overlay_video_times_forced_up_and_lone_frame(tmp_path: Path) -> None:
    target = tmp_path / "v.mp4"
    with VideoOverlayWriter(target) as video:
        for time in (-0.5, 0.0, 0.0004, 0.3, 0.2):
            video.write(gradient(), time)
    times, _, duration = decode(target)
    # Below 0 → 0; each time at least 1 ms after the one before.
    assert times == pytest.approx([0.0, 0.001, 0.002, 0.3, 0.301], abs=1e-6)
    assert duration == pytest.approx(0.302, abs=1e-6)  # last interval: 1 ms
    with VideoOverlayWriter(tmp_path / "one.mp4") as video:
        video.write(gradient(), 5.0)
    times, _, duration = decode(tmp_path / "one.mp4")
    assert times == [5.0]
    assert duration == pytest.approx(LONE_FRAME_SECONDS, abs=1e-6)


def test_overlay_video_later_frame_of_other_size_fits(tmp_path: Path) -> None:
    target = tmp_path / "v.mp4"
    tall = Image.new("RGB", (20, 40), (255, 255, 255))  # scaled to 23×47, centred
    with VideoOverlayWriter(target) as video:
        video.write(Image.new("RGB", (64, 48), (0, 0, 0)), 0.0)
        video.write(tall.convert("L"), 0.1)  # any mode: converted to RGB
    _, frames, _ = decode(target)
    assert [f.shape for f in frames] == [(48, 64, 3)] * 2
    assert frames[1][10:38, 26:38].mean() > 235  # the white image in the middle
    assert frames[1][:, :16].mean() < 16 and frames[1][:, 48:].mean() < 16  # black bars


def test_overlay_video_not_written_on_error_or_without_frames(tmp_path: Path) -> None:
    target = tmp_path / "v.mp4"
    with pytest.raises(RuntimeError), VideoOverlayWriter(target) as video:
        video.write(gradient(), 0.0)
        video.write(gradient(), 0.1)
        raise RuntimeError("the source broke")
    assert list(tmp_path.iterdir()) == []
    # A previous file stays as it was.
    target.write_bytes(b"earlier")
    with pytest.raises(KeyboardInterrupt), VideoOverlayWriter(target) as video:
        video.write(gradient(), 0.0)
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [target] and target.read_bytes() == b"earlier"
    # An error inside write (a time that is no number) closes the writer without a file.
    other = tmp_path / "w.mp4"
    with pytest.raises(ValueError, match="finite"), VideoOverlayWriter(other) as video:
        video.write(gradient(), 0.0)
        video.write(gradient(), float("nan"))
    assert not other.exists() and not video.written
    with VideoOverlayWriter(other) as video:
        pass
    assert not video.written
    assert list(tmp_path.iterdir()) == [target]  # no frames: no file


def test_overlay_writer_refuses_bad_rate_and_writes_after_close(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="rate_hint"):
        VideoOverlayWriter(tmp_path / "v.mp4", rate_hint=0)
    video = VideoOverlayWriter(tmp_path / "v.mp4", rate_hint=30000 / 1001)
    video.write(gradient(), 0.0)
    video.close()
    video.close()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        video.write(gradient(), 1.0)
    assert decode(tmp_path / "v.mp4")[0] == [0.0]


# --- the plot ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frames", "size"),
    [(40, (1200, 500)), (1, (1200, 500)), (0, (640, 480)), (300, (801, 333))],
)
def test_plot_is_png_of_the_size(tmp_path: Path, frames: int, size: tuple[int, int]) -> None:
    target = tmp_path / "clip_p2p_counts.png"
    times = [0.5 * k for k in range(frames)]  # 300 frames: 149.5 s, a m:ss axis
    counts = [10 + k % 7 for k in range(frames)]
    soft = [c - 0.3 for c in counts]
    plot_counts(times, counts, soft, target, title="clip.mp4 $not maths$", size=size)
    assert list(tmp_path.iterdir()) == [target]
    with Image.open(target) as image:
        assert (image.format, image.size) == ("PNG", size)
        assert np.asarray(image.convert("L")).std() > 0  # something is drawn


def test_plot_without_soft_counts_and_bad_lengths(tmp_path: Path) -> None:
    target = tmp_path / "p.png"
    plot_counts(np.arange(5.0), np.zeros(5, int), None, target, title="zeros")
    assert Image.open(target).size == (1200, 500)
    with pytest.raises(ValueError, match="one value per frame"):
        plot_counts([0.0, 1.0], [1], None, tmp_path / "q.png", title="x")
    with pytest.raises(ValueError, match="one value per frame"):
        plot_counts([0.0], [1], [1.0, 2.0], tmp_path / "q.png", title="x")
    assert not (tmp_path / "q.png").exists()


# --- imports -----------------------------------------------------------------------------


def test_av_and_matplotlib_are_imported_only_when_used(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
import p2pcount.output.plots, p2pcount.output.video_overlay, p2pcount.output.video_summary
heavy = ("av", "matplotlib", "numpy", "PIL", "torch")
assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]
p2pcount.output.plots.plot_counts([0.0], [1], None, Path({str(tmp_path)!r}) / "p.png", title="t")
assert "matplotlib" in sys.modules and "av" not in sys.modules
assert "matplotlib.pyplot" not in sys.modules  # the user's pyplot backend is left alone
from PIL import Image
with p2pcount.output.video_overlay.VideoOverlayWriter(Path({str(tmp_path)!r}) / "v.mp4") as v:
    v.write(Image.new("RGB", (8, 8)), 0.0)
assert "av" in sys.modules and "torch" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
