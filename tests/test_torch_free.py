"""Counting without torch: with a backend that computes in NumPy, reading, decoding, tiling,
results and the ``count``/``viz`` commands never import torch (each check runs in a fresh
interpreter, where ``sys.modules`` tells what was imported)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from tests.videos import numbered_frames, write_video

#: A backend whose maps are constants (every logit 3, every offset 0.01: points 1 px right
#: and below their anchors), in NumPy, as the interface asks, and a fresh interpreter's
#: check that torch stayed out.
PRELUDE = """
import json, sys
import numpy as np
from p2pcount.infer.backends.base import InferenceBackend
from p2pcount.infer.counter import Counter
from p2pcount.model.config import ModelConfig

class ConstantBackend(InferenceBackend):
    name = "constant"

    def __init__(self):
        super().__init__(ModelConfig(), receptive_field=8, device="cpu")

    def forward_maps(self, batch):
        size, n = batch.shape[0], self.config.num_anchors
        grid_h, grid_w = (-(-side // 16) * 2 for side in batch.shape[1:3])
        return (
            np.full((size, 2 * n, grid_h, grid_w), 0.01, np.float32),
            np.full((size, n, grid_h, grid_w), 3.0, np.float32),
        )

def torch_free():
    loaded = sorted(m for m in ("torch", "torchvision") if m in sys.modules)
    assert not loaded, loaded
"""


def _run(code: str) -> str:
    """stdout of ``PRELUDE + code`` in a fresh interpreter; fails on a non-zero exit."""
    done = subprocess.run(
        [sys.executable, "-c", PRELUDE + code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _image(folder: Path, name: str = "crowd.png") -> Path:
    """A 56 × 40 image: it pads to 64 × 48, and 14 × 10 anchors lie inside it."""
    path = folder / name
    Image.fromarray(np.full((40, 56, 3), 90, np.uint8)).save(path)
    return path


def test_the_counting_modules_do_not_import_torch() -> None:
    _run(
        "import p2pcount.infer.batcher, p2pcount.infer.video, p2pcount.infer.counting\n"
        "import p2pcount.model.decoding, p2pcount.cli.count, p2pcount.cli.viz\n"
        "torch_free()\n"
    )


def test_counting_images_with_a_numpy_backend_never_imports_torch(tmp_path: Path) -> None:
    path = _image(tmp_path)
    _image(tmp_path, "second.png")
    out = _run(
        f"""
from p2pcount.infer.batcher import count_paths
counter = Counter.from_backend(ConstantBackend(), tile_above=0)
counter.keep_candidates = True
whole = counter.count({str(path)!r})
tiled = Counter.from_backend(ConstantBackend(), tile_size=16, tile_above=1).count({str(path)!r})
folder = [o.result.count for o in count_paths(counter, [{str(path)!r}, {str(path)!r}], 0.5)]
torch_free()
print(json.dumps({{
    "count": whole.count, "tiled": tiled.count, "folder": folder,
    "same_points": bool(np.array_equal(whole.points, tiled.points)),
    "first": whole.points[0].tolist(), "last": whole.points[-1].tolist(),
    "score": float(whole.scores[0]), "candidates": len(whole.candidates),
    "cells": list(whole.cell_scores.shape), "dtype": str(whole.points.dtype),
}}))
"""
    )
    result = json.loads(out)
    assert result["count"] == result["tiled"] == 14 * 10
    assert result["folder"] == [140, 140]
    assert result["same_points"]
    # Anchors at 2 and 6 px into each 8 px cell, moved by 0.01 × 100 = 1 px; the last
    # inside the 56 × 40 image is (54, 38).
    assert result["first"] == [3.0, 3.0] and result["last"] == [55.0, 39.0]
    assert result["score"] == np.float32(1 / (1 + np.exp(-3.0)))
    assert result["candidates"] == 140
    assert result["cells"] == [5, 7] and result["dtype"] == "float32"


def test_counting_a_video_with_a_numpy_backend_never_imports_torch(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.mp4", numbered_frames(6, width=56, height=40))
    out = _run(
        f"""
counter = Counter.from_backend(ConstantBackend())
results = list(counter.count_video({str(video)!r}, every=2, batch_size=2))
torch_free()
print(json.dumps([[r.frame, r.count] for r in results]))
"""
    )
    assert json.loads(out) == [[0, 140], [2, 140], [4, 140]]


def test_the_count_and_viz_commands_with_a_numpy_backend_never_import_torch(
    tmp_path: Path,
) -> None:
    path = _image(tmp_path)
    out = _run(
        f"""
import p2pcount.cli.count, p2pcount.cli.viz
from typer.testing import CliRunner
from p2pcount.cli import app

def load_counter(weights, device, **options):
    return Counter.from_backend(ConstantBackend(), source="constant")

p2pcount.cli.count.load_counter = p2pcount.cli.viz.load_counter = load_counter
runner = CliRunner()
counted = runner.invoke(app, ["count", {str(path)!r}, "--format", "jsonl", "--points"])
drawn = runner.invoke(app, ["viz", {str(path)!r}, "-o", {str(tmp_path / "out")!r}, "--heatmap"])
assert counted.exit_code == drawn.exit_code == 0, (counted.output, drawn.output)
torch_free()
print(json.dumps({{"count": counted.stdout, "viz": drawn.stdout}}))
"""
    )
    result = json.loads(out)
    record = json.loads(result["count"])
    assert record["count"] == 140 and len(record["points"]) == 140
    assert record["points"][0][:2] == [3.0, 3.0]
    overlay = tmp_path / "out" / "crowd_p2p.png"
    assert result["viz"] == f"140\t{overlay}\n"
    assert Image.open(overlay).size == (56, 40)
