"""`count --distributed` under torchrun: two CPU processes (gloo) on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from tests.test_training import REPO, _free_port


@pytest.fixture
def frames(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        size = (24 + 8 * i, 16 + 8 * (i % 2))
        path = tmp_path / f"f{i}.png"
        Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), np.uint8)).save(path)
        paths.append(str(path))
    paths.insert(3, str(tmp_path / "missing.png"))
    return paths


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_two_ranks_match_a_single_process(frames, all_heads_weights, fmt) -> None:
    args = ["count", *frames, "-w", str(all_heads_weights), "--format", fmt, "--device", "cpu"]
    single = CliRunner().invoke(app, args)
    assert single.exit_code == 1
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "p2pcount", *args, "--distributed",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 1, done.stderr[-2000:]  # one input is missing: exit 1
    assert done.stdout == single.stdout  # same results, same order, printed once
    assert done.stderr.count("missing.png: no such file") == 1
    if fmt == "jsonl":
        assert [json.loads(line)["path"] for line in done.stdout.splitlines()] == [
            p for p in frames if "missing" not in p
        ]


def test_distributed_flag_without_torchrun_runs_single(frames, all_heads_weights) -> None:
    args = ["count", *frames, "-w", str(all_heads_weights), "--distributed", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 5


def test_two_ranks_share_paths_read_from_stdin(frames, all_heads_weights) -> None:
    args = ["count", "-", "-w", str(all_heads_weights), "--device", "cpu"]
    stdin = "\n".join(frames) + "\n"
    single = CliRunner().invoke(app, args, input=stdin)
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
        "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
        "-m", "p2pcount", *args, "--distributed",
    ]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        command, input=stdin, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout == single.stdout and len(done.stdout.splitlines()) == 5
