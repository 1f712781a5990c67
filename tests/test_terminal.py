"""The command line as a user meets it in a terminal: stderr a pseudo-terminal (so progress
bars draw), stdout a file. Every result must reach stdout, byte for byte what the same
command prints without a terminal; the bars may only draw on stderr.

Each command runs in a real process (``python -m p2pcount``), as from a shell.
"""

from __future__ import annotations

import json
import os
import pty
import re
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.data.synthetic import write_dataset
from tests.test_registry import blob_id, original_bytes  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class TerminalRun:
    returncode: int
    stdout: bytes  # what reached the file stdout was redirected to
    terminal: str  # what was drawn on the terminal (stderr)


def run_in_terminal(
    args: list[str],
    tmp_path: Path,
    *,
    prelude: str = "",
    stdin: bytes | None = None,
    stdout_on_terminal: bool = False,
    env: dict[str, str] | None = None,
) -> TerminalRun:
    """Run ``p2pcount ARGS`` with stderr on a pseudo-terminal and stdout in a file (or on
    the terminal too, with ``stdout_on_terminal``). ``prelude`` is Python run first in the
    process (to register a test model, say)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # the terminal must be read, or a long bar would block the child
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed its side
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    out_path = tmp_path / f"stdout-{len(list(tmp_path.glob('stdout-*')))}.bin"
    code = prelude + "\nfrom p2pcount.cli import main\nmain()\n"
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "100", **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), full_env.get("PYTHONPATH")]))
    with open(out_path, "wb") as out:
        process = subprocess.run(
            [sys.executable, "-c", code, *args],
            stdin=subprocess.DEVNULL if stdin is None else None,
            input=stdin,
            stdout=slave if stdout_on_terminal else out,
            stderr=slave,
            env=full_env,
            cwd=tmp_path,
            timeout=300,
        )
    os.close(slave)
    reader.join(timeout=30)
    os.close(master)
    terminal = b"".join(chunks).decode("utf-8", "replace")
    return TerminalRun(process.returncode, out_path.read_bytes(), terminal)


def without_terminal(args: list[str]) -> tuple[int, bytes]:
    """Exit code and stdout bytes of the same command run without a terminal."""
    result = CliRunner().invoke(app, args)
    return result.exit_code, result.stdout_bytes


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four small images and one that is not an image (a failure among successes)."""
    root = tmp_path_factory.mktemp("terminal")
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(40, 24), (17, 33), (40, 24), (24, 24)]):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(root / f"{i}.png")
    (root / "9.png").write_bytes(b"not an image")
    return root


def drew_a_bar(terminal: str) -> bool:
    return "━" in terminal  # rich's bar glyph: the bar was shown, on the terminal


@pytest.mark.parametrize("fmt", ["text", "json", "jsonl", "csv"])
def test_count_results_reach_stdout_when_stderr_is_a_terminal(
    fmt, folder, all_heads_weights, tmp_path
) -> None:
    args = ["count", str(folder), "-w", str(all_heads_weights), "--format", fmt]
    run = run_in_terminal(args, tmp_path)
    code, expected = without_terminal(args)
    assert (run.returncode, code) == (1, 1)  # 9.png is not an image
    assert run.stdout == expected
    assert str(folder / "3.png").encode() in run.stdout
    assert drew_a_bar(run.terminal)
    assert "9.png: not an image file" in run.terminal
    assert str(folder / "3.png") not in run.terminal  # results never drawn on the terminal


def test_count_from_stdin_in_a_terminal(folder, all_heads_weights, tmp_path) -> None:
    names = "".join(f"{folder / f'{i}.png'}\n" for i in range(4)).encode()
    args = ["count", "-", "-w", str(all_heads_weights), "--format", "csv"]
    run = run_in_terminal(args, tmp_path, stdin=names)
    assert run.returncode == 0
    lines = run.stdout.decode().splitlines()
    assert lines[0].startswith("path,") and len(lines) == 5
    expected = [str(folder / f"{i}.png") for i in range(4)]
    assert [line.split(",")[0] for line in lines[1:]] == expected


def test_results_print_above_the_bar_when_stdout_is_the_terminal_too(
    folder, all_heads_weights, tmp_path
) -> None:
    args = ["count", str(folder), "-w", str(all_heads_weights)]
    run = run_in_terminal(args, tmp_path, stdout_on_terminal=True)
    assert run.returncode == 1
    for i in range(4):  # the terminal shows the tab as spaces
        assert re.search(rf"K\d+ +{re.escape(str(folder / f'{i}.png'))}\r\n", run.terminal)
    assert "9.png: not an image file" in run.terminal


def test_long_result_lines_are_not_wrapped_above_the_bar(folder, all_heads_weights, tmp_path):
    args = ["count", str(folder), "-w", str(all_heads_weights), "-f", "jsonl", "--points"]
    run = run_in_terminal(args, tmp_path, stdout_on_terminal=True, env={"COLUMNS": "60"})
    records = re.findall(r'\{"path": [^\r\n]*\}(?=\r\n)', run.terminal)
    assert len(records) == 5  # four counted, one failed; each whole on its line
    assert {len(json.loads(r)) for r in records} == {2, 9}  # errors; results with points


def test_viz_lists_what_it_wrote_on_stdout(folder, all_heads_weights, tmp_path) -> None:
    images = [str(folder / f"{i}.png") for i in range(4)]
    out = tmp_path / "overlays"
    run = run_in_terminal(["viz", *images, "-o", str(out), "-w", str(all_heads_weights)], tmp_path)
    assert run.returncode == 0, run.terminal
    written = sorted(out.iterdir())
    assert len(written) == 4
    assert drew_a_bar(run.terminal)
    listed = [line.split("\t")[-1] for line in run.stdout.decode().splitlines()]
    assert sorted(listed) == [str(p) for p in written]


def test_eval_rows_reach_stdout(all_heads_weights, tmp_path_factory, tmp_path) -> None:
    data = tmp_path_factory.mktemp("toy")
    for name in ("a", "b", "c"):
        Image.new("RGB", (32, 32), (90, 90, 90)).save(data / f"{name}.png")
        (data / f"{name}.txt").write_text("2 2\n10 6\n")
    args = ["eval", str(data), "-w", str(all_heads_weights)]
    run = run_in_terminal(args, tmp_path)
    code, expected = without_terminal(args)
    assert run.returncode == code == 0
    assert run.stdout == expected
    assert run.stdout.decode().splitlines()[0].startswith("path,gt,pred")
    assert "MAE" in run.terminal  # the summary table, on the terminal


def test_train_writes_nothing_on_stdout_and_its_bar_on_the_terminal(tmp_path_factory, tmp_path):
    data = write_dataset(
        tmp_path_factory.mktemp("syn"), count=2, seed=3, min_size=64, max_size=64, max_people=4
    )
    out = tmp_path / "run"
    args = [
        "train", str(data), "-o", str(out), "--epochs", "1", "--batch-size", "1",
        "--crops-per-image", "1", "--crop-size", "32", "--workers", "0",
        "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
    ]  # fmt: skip
    run = run_in_terminal(args, tmp_path)
    assert run.returncode == 0, run.terminal
    assert run.stdout == b""
    assert "epoch 1: loss" in run.terminal and drew_a_bar(run.terminal)
    assert (out / "last.safetensors").is_file()


def test_weights_fetch_prints_the_path_on_stdout(original_bytes, tmp_path) -> None:  # noqa: F811
    from tests.http_server import serve

    home = tmp_path / "cache"
    routes = {"/TEST.pth": (original_bytes, len(original_bytes))}
    with serve(routes) as base:
        prelude = (
            "from p2pcount.weights.registry import REGISTRY, ModelEntry\n"
            "from p2pcount.weights.download import Expected\n"
            "REGISTRY['test-model'] = ModelEntry(name='test-model', description='d', "
            "backbone='vgg16', licence='research only', accuracy='none', "
            f"url={base + '/TEST.pth'!r}, filename='TEST.pth', "
            f"expected=Expected(size={len(original_bytes)}, "
            f"git_blob_sha1={blob_id(original_bytes)!r}))\n"
        )
        run = run_in_terminal(
            ["weights", "fetch", "test-model"],
            tmp_path,
            prelude=prelude,
            env={"P2PCOUNT_HOME": str(home)},
        )
    assert run.returncode == 0, run.terminal
    assert run.stdout == f"{home / 'models' / 'test-model.safetensors'}\n".encode()
    assert "licence of test-model" in run.terminal


def test_video_frames_reach_stdout_with_a_bar_on_the_terminal(all_heads_weights, tmp_path):
    from tests.videos import numbered_frames, write_video

    clip = write_video(tmp_path / "clip.mp4", numbered_frames(10), fps=10)
    args = ["count", str(clip), "-w", str(all_heads_weights)]
    run = run_in_terminal(args, tmp_path)
    code, expected = without_terminal(args)
    assert run.returncode == code == 0
    assert run.stdout == expected
    assert run.stdout.decode().splitlines()[-1] == f"192\t{clip}#t=0.900"
    assert drew_a_bar(run.terminal) and "frames" in run.terminal
    assert f"{clip}: 10 frames, count mean 192.0" in run.terminal
