"""Inputs as users give them: folders of any format Pillow reads, stdin read lazily (a folder
named there expanded), URLs kept as typed, hints for folders with images only in subfolders,
and text output that can be unescaped."""

from __future__ import annotations

import codecs
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, features
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.errors import ImageError
from p2pcount.io.images import load_image
from p2pcount.io.inputs import InputScan, image_suffixes, list_folder
from tests.conftest import default_sigint

ROOT = Path(__file__).resolve().parent.parent


def save_rgb(path: Path, size: tuple[int, int] = (24, 16), **kwargs) -> Path:
    array = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(array).save(path, **kwargs)
    return path


def test_folder_suffixes_are_what_pillow_opens() -> None:
    suffixes = image_suffixes()
    assert {".jpg", ".jpeg", ".jfif", ".png", ".webp", ".tif", ".qoi"} <= suffixes
    assert ".pdf" not in suffixes  # Pillow writes PDF, it cannot read it
    assert not {".mpg", ".mpeg", ".h5", ".grib"} & suffixes  # a video's header, stubs
    assert (".avif" in suffixes) == features.check("avif")


@pytest.mark.skipif(not features.check("avif"), reason="this Pillow has no AVIF codec")
def test_a_folder_of_avif_and_jfif_is_counted(tmp_path, all_heads_weights) -> None:
    save_rgb(tmp_path / "a.avif", format="AVIF")
    save_rgb(tmp_path / "b.jfif", format="JPEG")
    assert [p.name for p in list_folder(tmp_path)] == ["a.avif", "b.jfif"]
    result = CliRunner().invoke(app, ["count", str(tmp_path), "-w", str(all_heads_weights)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"24\t{tmp_path / 'a.avif'}\n24\t{tmp_path / 'b.jfif'}\n"


def test_a_folder_named_on_stdin_is_expanded(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    save_rgb(tmp_path / "sub" / "b.png")
    save_rgb(tmp_path / "sub" / "a.png")
    stdin = [f"{tmp_path / 'sub'}\n", "x.png\n"]
    found = list(InputScan(["-"], stdin))
    assert found == [str(tmp_path / "sub" / "a.png"), str(tmp_path / "sub" / "b.png"), "x.png"]


def test_stdin_is_read_as_the_paths_are_consumed() -> None:
    read: list[str] = []

    def lines():
        for name in ("a.png", "b.png"):
            read.append(name)
            yield name + "\n"

    scan = iter(InputScan(["-"], lines()))
    assert next(scan) == "a.png" and read == ["a.png"]
    assert next(scan) == "b.png" and read == ["a.png", "b.png"]


def test_each_result_is_printed_as_its_path_arrives(tmp_path, all_heads_weights) -> None:
    """A path written into the pipe is counted and printed while stdin stays open."""
    first, second = save_rgb(tmp_path / "1.png"), save_rgb(tmp_path / "2.png", (16, 16))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "p2pcount", "count", "-", "-w", str(all_heads_weights)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        process.stdin.write(f"{first}\n")
        process.stdin.flush()
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))
        reader.start()
        reader.join(timeout=60)
        assert line == [f"24\t{first}\n"]  # printed while stdin is still open
        process.stdin.write(f"{second}\n")
        process.stdin.close()
        assert process.stdout.read() == f"16\t{second}\n"
        assert process.wait(timeout=60) == 0
    finally:
        process.kill()
        process.wait()


def test_no_paths_on_stdin_is_a_usage_error(all_heads_weights) -> None:
    result = CliRunner().invoke(app, ["count", "-", "-w", str(all_heads_weights)], input="\n")
    assert result.exit_code == 2
    assert "no input images" in result.stderr


def test_a_folder_with_images_only_in_subfolders_suggests_r(tmp_path, all_heads_weights):
    (tmp_path / "day1").mkdir()
    save_rgb(tmp_path / "day1" / "a.png")
    result = CliRunner().invoke(app, ["count", str(tmp_path), "-w", str(all_heads_weights)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"p2pcount: error: no input images in {tmp_path}: its images are in subfolders (add -r)\n"
    )
    recursive = CliRunner().invoke(
        app, ["count", str(tmp_path), "-r", "-w", str(all_heads_weights)]
    )
    assert recursive.exit_code == 0 and recursive.stdout.startswith("24\t")


def test_urls_are_kept_as_typed(all_heads_weights) -> None:
    url = "https://example.com/crowd.jpg"
    with pytest.raises(ImageError, match=f"^{url}: a URL; images are read from local files"):
        load_image(url)  # the image reader; the command line reads URLs as streams
    unreachable = "http://127.0.0.1:9/crowd.mp4"  # nothing listens on port 9
    args = ["count", unreachable, "-w", str(all_heads_weights), "-f", "jsonl", "--timeout", "5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"p2pcount: error: {unreachable}: ")
    assert len(result.stderr.splitlines()) == 1
    assert json.loads(result.stdout)["path"] == unreachable


def test_messages_name_a_path_as_typed(tmp_path: Path) -> None:
    typed = f"{tmp_path}//missing.png"
    with pytest.raises(ImageError, match=f"^{typed}: no such file$"):
        load_image(typed)


def test_text_output_escaping_can_be_undone(tmp_path, all_heads_weights) -> None:
    name = "back\\slash\\n\ttab.png"  # a literal backslash before n, and a real tab
    save_rgb(tmp_path / name)
    result = CliRunner().invoke(app, ["count", str(tmp_path), "-w", str(all_heads_weights)])
    assert result.exit_code == 0, result.stderr
    count, printed = result.stdout.rstrip("\n").split("\t")
    assert printed == f"{tmp_path}/back\\\\slash\\\\n\\ttab.png"
    assert codecs.decode(printed, "unicode_escape") == str(tmp_path / name)


@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_points_with_text_or_csv_warns(fmt, tmp_path, all_heads_weights) -> None:
    image = save_rgb(tmp_path / "a.png")
    args = ["count", str(image), "--points", "-f", fmt, "-w", str(all_heads_weights)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0
    assert result.stderr == (
        f"p2pcount: warning: --points is ignored with --format {fmt}: "
        "points are in json and jsonl\n"
    )


def start_counting_stdin(weights: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "p2pcount", "count", "-", "-w", str(weights), *extra],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONFAULTHANDLER": "1"},
        preexec_fn=default_sigint,
    )


def exit_code_of(process: subprocess.Popen, timeout: float = 60) -> int:
    """The process's exit code; if it hangs, its threads' stacks (faulthandler, on SIGABRT)
    in the failure message."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=30)
        pytest.fail(f"hung; its threads:\n{process.stderr.read().decode()[-6000:]}")


def first_line_of(process: subprocess.Popen) -> bytes:
    line: list[bytes] = []
    reader = threading.Thread(target=lambda: line.append(process.stdout.readline()))
    reader.start()
    reader.join(timeout=60)
    return line[0] if line else b""


def test_ctrl_c_while_waiting_for_stdin_exits_cleanly(tmp_path, all_heads_weights) -> None:
    """Stopping ``inotifywait … | p2pcount count -`` with Ctrl-C: exit 130, no crash of
    the interpreter (the thread waiting on stdin holds no lock), a json document closed."""
    image = save_rgb(tmp_path / "1.png")
    process = start_counting_stdin(all_heads_weights, "-f", "json")
    try:
        process.stdin.write(f"{image}\n".encode())
        process.stdin.flush()
        head = first_line_of(process)
        assert head.startswith(b'{"weights"')
        time.sleep(1.0)  # the result is written once its image is counted
        process.send_signal(signal.SIGINT)
        assert exit_code_of(process) == 130
        out, err = process.stdout.read(), process.stderr.read()
    finally:
        process.kill()
        process.wait()
    assert b"Fatal Python error" not in err and b"Traceback" not in err
    assert json.loads(head + out)["images"] == [
        {
            "path": str(image),
            "width": 24,
            "height": 16,
            "count": 24,
            "soft_count": 21.139,
            "count_std": 1.587,
            "interval_low": 18.028,
            "interval_high": 24.25,
        }
    ]


def test_a_closed_stdout_while_waiting_for_stdin_exits_1_quietly(tmp_path, all_heads_weights):
    """``p2pcount count - | head -1``: the reader goes away, p2pcount exits 1 without a word."""
    first, second = save_rgb(tmp_path / "1.png"), save_rgb(tmp_path / "2.png")
    process = start_counting_stdin(all_heads_weights)
    try:
        process.stdin.write(f"{first}\n".encode())
        process.stdin.flush()
        assert first_line_of(process) == f"24\t{first}\n".encode()
        process.stdout.close()  # like head -1 after its line
        process.stdin.write(f"{second}\n".encode())
        process.stdin.flush()
        assert exit_code_of(process) == 1
        err = process.stderr.read()
    finally:
        process.kill()
        process.wait()
    assert err == b""
