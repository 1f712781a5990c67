"""Videos through the command line and the Python API: per-frame results with times,
sampling options, mixed inputs, damaged files, URLs, and `viz` overlays and plots."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount import Counter
from p2pcount.cli import app
from p2pcount.data.synthetic import generate_scene
from p2pcount.io.video import VideoReader
from tests.conftest import default_sigint
from tests.videos import numbered_frames, serve_videos, write_video

FRAME = re.compile(r"^(\d+(?:\.\d)?)\t(.+)#t=(\d+\.\d{3})$")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 synthetic crowd frames of 128×96 (frame i: 2 + i people) at 10 fps."""
    frames = [
        np.asarray(generate_scene(np.random.default_rng(i), 128, 96, 2 + i)[0]) for i in range(12)
    ]
    return write_video(tmp_path_factory.mktemp("clip") / "clip.mp4", frames, fps=10)


def run(args: list[str], weights: Path | str, **kwargs):
    return CliRunner().invoke(app, [*args, "-w", str(weights), "--precision", "fp32"], **kwargs)


def frame_lines(stdout: str) -> list[tuple[float, str, float]]:
    """(count, path, time) of each ``COUNT<TAB>PATH#t=SECONDS`` line."""
    matches = (FRAME.match(line) for line in stdout.splitlines())
    return [(float(m[1]), m[2], float(m[3])) for m in matches if m]


def test_each_frame_counts_as_that_frame_saved_as_an_image(clip, tmp_path) -> None:
    result = run(["count", str(clip), "--soft"], "synthetic-demo")
    assert result.exit_code == 0, result.stderr
    lines = frame_lines(result.stdout)
    assert [(path, t) for _, path, t in lines] == [(str(clip), i / 10) for i in range(12)]
    with VideoReader(str(clip)) as reader:
        frames = list(reader)
    for (count, _, _), frame in zip(lines, frames, strict=True):
        png = tmp_path / f"{frame.index}.png"
        Image.fromarray(frame.image).save(png)
        single = run(["count", str(png), "--soft"], "synthetic-demo")
        assert float(single.stdout.split("\t")[0]) == count
    assert len({count for count, _, _ in lines}) > 1  # the frames differ
    summary = result.stderr.strip().splitlines()[-1]
    assert summary.startswith(f"{clip}: 12 frames, count mean ")


@pytest.mark.parametrize(
    ("options", "times"),
    [
        (["--every", "4"], [0.0, 0.4, 0.8]),
        (["--fps", "2.5"], [0.0, 0.4, 0.8]),
        (["--start", "0.5", "--end", "0:00:00.8"], [0.5, 0.6, 0.7, 0.8]),
    ],
)
def test_sampling_options_pick_frames_by_time(clip, all_heads_weights, options, times) -> None:
    result = run(["count", str(clip), *options], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    assert [t for _, _, t in frame_lines(result.stdout)] == pytest.approx(times)


def test_sampling_options_that_contradict_are_usage_errors(clip, all_heads_weights) -> None:
    both = run(["count", str(clip), "--every", "2", "--fps", "1"], all_heads_weights)
    assert both.exit_code == 2 and "--every and --fps both choose frames" in both.stderr
    backwards = run(["count", str(clip), "--start", "2", "--end", "1"], all_heads_weights)
    assert backwards.exit_code == 2 and "--end 1 s is before --start 2 s" in backwards.stderr
    missing = ["viz", str(clip), "--every", "2", "--fps", "1", "-w", "no-such-model"]
    viz = CliRunner().invoke(app, missing)  # refused before any model is looked for
    assert viz.exit_code == 2 and "--every and --fps both choose frames" in viz.stderr
    bad = run(["count", str(clip), "--start", "soon"], all_heads_weights)
    assert bad.exit_code == 2 and "Invalid value for '--start'" in bad.stderr


def test_images_and_videos_mixed_keep_their_order(clip, all_heads_weights, tmp_path) -> None:
    image = tmp_path / "a.png"
    Image.new("RGB", (40, 24)).save(image)
    args = ["count", str(image), str(clip), str(image), "--every", "6", "-f"]
    table = run([*args, "csv"], all_heads_weights)
    assert table.exit_code == 0, table.stderr
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [(r["path"], r["frame"], r["time"]) for r in rows] == [
        (str(image), "", ""),
        (str(clip), "0", "0.0"),
        (str(clip), "6", "0.6"),
        (str(image), "", ""),
    ]
    document = json.loads(run([*args, "json"], all_heads_weights).stdout)
    assert [(r.get("frame"), r.get("time")) for r in document["images"]] == [
        (None, None), (0, 0.0), (6, 0.6), (None, None),
    ]  # fmt: skip
    (video,) = document["videos"]
    assert video["path"] == str(clip) and video["frames"] == 2 and video["dropped"] == 0
    assert video["max_count"] == 768 and video["max_time"] == 0.0  # 16 × 12 cells × 4 anchors


def test_a_damaged_video_gives_its_good_frames_then_one_error(all_heads_weights, tmp_path):
    path = tmp_path / "cut.mp4"
    write_video(
        path, numbered_frames(30, texture=True), container_options={"movflags": "faststart"}
    )
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    result = run(["count", str(path), "-f", "jsonl"], all_heads_weights)
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    good = [r for r in records if "error" not in r]
    assert 5 <= len(good) < 30 and [r["frame"] for r in good] == list(range(len(good)))
    assert records[-1]["error"].startswith(f"damaged after frame {len(good) - 1} at ")
    errors = [line for line in result.stderr.splitlines() if line.startswith("p2pcount: error:")]
    assert errors == [f"p2pcount: error: {path}: {records[-1]['error']}"]


def test_a_video_served_over_http_is_counted(clip, all_heads_weights) -> None:
    with serve_videos({"/clip.mp4": clip.read_bytes()}) as base:
        url = f"{base}/clip.mp4"
        result = run(["count", url, "--every", "3"], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    assert [(path, t) for _, path, t in frame_lines(result.stdout)] == [
        (url, 0.0), (url, 0.3), (url, 0.6), (url, 0.9),
    ]  # fmt: skip


def test_folders_list_videos_too(clip, all_heads_weights) -> None:
    result = run(["count", str(clip.parent), "--every", "12"], all_heads_weights)
    assert result.exit_code == 0
    assert result.stdout == f"768\t{clip}#t=0.000\n"


def test_count_video_in_python(clip, random_weights) -> None:
    counter = Counter.from_weights(random_weights, device="cpu", precision="fp32")
    results = list(counter.count_video(clip, fps=5))
    assert [(r.frame, r.time, r.path) for r in results] == [
        (i, pytest.approx(i / 10), str(clip)) for i in range(0, 12, 2)
    ]
    with VideoReader(str(clip)) as reader:
        first = next(iter(reader))
    assert results[0].count == counter.count(first.image).count


def test_viz_writes_an_overlay_video_and_a_plot(clip, all_heads_weights, tmp_path) -> None:
    out = tmp_path / "out"
    result = run(["viz", str(clip), "-o", str(out), "--every", "2"], all_heads_weights)
    assert result.exit_code == 0, result.stderr
    movie, plot = out / "clip_p2p.mp4", out / "clip_p2p_counts.png"
    assert result.stdout == f"768\t{movie}\n768\t{plot}\n"
    with av.open(str(movie)) as container:
        frames = list(container.decode(video=0))
    assert len(frames) == 6 and (frames[0].width, frames[0].height) == (128, 96)
    times = [float(f.pts * f.time_base) for f in frames]
    assert times == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], abs=1e-3)
    drawn = frames[0].to_ndarray(format="rgb24").astype(int)
    with VideoReader(str(clip)) as reader:
        plain = next(iter(reader)).image.astype(int)
    assert np.abs(drawn - plain).mean() > 5  # dots and the label drawn on it
    with Image.open(plot) as image:
        assert image.format == "PNG" and image.size == (1200, 500)
    assert sorted(p.name for p in out.iterdir()) == ["clip_p2p.mp4", "clip_p2p_counts.png"]


def test_ctrl_c_ends_a_live_stream_cleanly(all_heads_weights, tmp_path) -> None:
    """A live stream counted until Ctrl-C: what was counted is printed, its summary given,
    exit 0."""
    stream = write_video(tmp_path / "live.ts", numbered_frames(50)).read_bytes()
    with serve_videos({"/live.ts": stream}, pace=0.05) as base:  # about 8 s of stream
        url = f"{base}/live.ts"
        after = tmp_path / "after.png"  # Ctrl-C ends the run: never counted
        Image.new("RGB", (16, 16)).save(after)
        command = ["count", url, str(after), "-w", str(all_heads_weights)]
        process = subprocess.Popen(
            [sys.executable, "-m", "p2pcount", *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
            preexec_fn=default_sigint,
        )
        try:
            first = process.stdout.readline()
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=60) == 0
            out, err = first + process.stdout.read(), process.stderr.read().decode()
        finally:
            process.kill()
            process.wait()
    lines = out.decode().splitlines()
    pattern = rf"192\t{re.escape(url)}#t=\d+\.\d{{3}}"
    assert lines and not [x for x in lines if not re.fullmatch(pattern, x)], err
    summary = re.search(rf"^{re.escape(url)}: (\d+) frames?, .*dropped$", err, re.M)
    # Ctrl-C may land after a frame is counted and before its line is written.
    assert summary and int(summary[1]) in (len(lines), len(lines) + 1), err
    assert "count mean 192.0" in err


def test_viz_into_the_videos_folder_twice_replaces_its_own_outputs(all_heads_weights, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "c.mp4", numbered_frames(4), fps=10)
    first = run(["viz", str(folder), "-o", str(folder)], all_heads_weights)
    assert first.exit_code == 0, first.stderr
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["c.mp4", "c_p2p.mp4", "c_p2p_counts.png"]
    second = run(["viz", str(folder), "-o", str(folder)], all_heads_weights)
    assert second.exit_code == 0, second.stderr
    assert "skipped 2 overlays written by p2pcount" in second.stderr
    assert second.stdout == first.stdout
    assert sorted(p.name for p in folder.iterdir()) == names


def test_a_broken_recording_gets_a_videos_error(all_heads_weights, tmp_path) -> None:
    path = write_video(tmp_path / "cut.mp4", numbered_frames(10))  # its index at the end
    path.write_bytes(path.read_bytes()[: path.stat().st_size * 2 // 3])
    result = run(["count", str(path)], all_heads_weights)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"p2pcount: error: {path}: ")  # a video's reason, not
    assert "not an image file" not in result.stderr  # the image reader's
    assert len(result.stderr.splitlines()) == 1


def test_a_span_without_frames_says_so(clip, all_heads_weights) -> None:
    result = run(["count", str(clip), "--start", "5"], all_heads_weights)
    assert result.exit_code == 0 and result.stdout == ""
    assert f"p2pcount: warning: {clip}: no frame in the span --start/--end chose" in result.stderr
    viz = run(
        ["viz", str(clip), "--start", "5", "-o", str(clip.parent / "none")], all_heads_weights
    )
    assert viz.exit_code == 0 and viz.stdout == ""
