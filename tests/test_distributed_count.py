"""`count --distributed` under torchrun: two CPU processes (gloo) on 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from tests.torchrun import torchrun


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
    done = torchrun([*args, "--distributed"])
    assert done.returncode == 1, done.stderr[-2000:]  # one input is missing: exit 1
    assert done.stdout == single.stdout  # same results, same order, printed once
    assert done.stderr.count("missing.png: no such file") == 1
    if fmt == "jsonl":  # every input, the missing one as a record with its error
        records = [json.loads(line) for line in done.stdout.splitlines()]
        assert [r["path"] for r in records] == frames
        assert [r.get("error") for r in records] == [None] * 3 + ["no such file"] + [None] * 2


def test_distributed_flag_without_torchrun_runs_single(frames, all_heads_weights) -> None:
    args = ["count", *frames, "-w", str(all_heads_weights), "--distributed", "--device", "cpu"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 5  # text: the failure on stderr only


def test_two_ranks_share_paths_read_from_stdin(frames, all_heads_weights) -> None:
    args = ["count", "-", "-w", str(all_heads_weights), "--device", "cpu"]
    stdin = "\n".join(frames) + "\n"
    single = CliRunner().invoke(app, args, input=stdin)
    done = torchrun([*args, "--distributed"], stdin=stdin)
    assert done.returncode == 1, done.stderr[-2000:]
    assert done.stdout == single.stdout and len(done.stdout.splitlines()) == 5


def test_a_video_among_distributed_inputs_is_refused_by_name(frames, all_heads_weights, tmp_path):
    from tests.videos import numbered_frames, write_video

    clip = str(write_video(tmp_path / "clip.mp4", numbered_frames(3), fps=10))
    args = ["count", frames[0], clip, "-w", str(all_heads_weights), "-f", "jsonl"]
    done = torchrun([*args, "--distributed", "--device", "cpu"])
    assert done.returncode == 1, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stdout.splitlines()]
    reason = "a video: --distributed shards images only; count it without"
    assert records[0] == {"path": clip, "error": reason}
    assert records[1]["path"] == frames[0] and "count" in records[1]
    assert done.stderr.count(f"p2pcount: error: {clip}: {reason}") == 1


def test_two_ranks_write_regions_and_sidecars_as_one_process(
    frames, all_heads_weights, tmp_path
) -> None:
    """--region, --density and --points-csv under --distributed: rank 0 writes the same
    records and files as a single process."""
    images = [f for f in frames if "missing" not in f]
    out = {name: tmp_path / name for name in ("single", "ranks")}
    runs = {}
    for name, folder in out.items():
        args = [
            "count", *images, "-w", str(all_heads_weights), "-f", "jsonl", "--device", "cpu",
            "--region", "left=0%,0%,50%,0%,50%,100%,0%,100%",
            "--density", str(folder / "density"), "--points-csv", str(folder / "points"),
        ]  # fmt: skip
        if name == "single":
            result = CliRunner().invoke(app, args)
            runs[name] = (result.exit_code, result.stdout)
        else:
            done = torchrun([*args, "--distributed"])
            runs[name] = (done.returncode, done.stdout)
    assert runs["ranks"] == runs["single"] and runs["single"][0] == 0
    records = [json.loads(line) for line in runs["single"][1].splitlines()]
    assert all(0 < r["regions"]["left"]["count"] < r["count"] for r in records)
    for kind, suffix in (("density", "_p2p_density.npy"), ("points", "_p2p_points.csv")):
        names = sorted(p.name for p in (out["single"] / kind).iterdir())
        assert names == sorted(Path(f).stem + suffix for f in images)
        for file in names:
            a, b = (out[run] / kind / file for run in ("single", "ranks"))
            assert a.read_bytes() == b.read_bytes()
