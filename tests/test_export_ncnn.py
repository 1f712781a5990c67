"""``p2pcount export --format ncnn``: the .param/.bin pair runs in plain ncnn, prepared as
its .json says, and gives PyTorch's raw maps; options and errors of the command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.infer.backends.ncnn import NcnnBackend
from p2pcount.model.folding import receptive_field
from p2pcount.model.network import P2PNet
from p2pcount.weights.checkpoint import load_model, save_weights
from tests.conftest import random_model

ncnn = pytest.importorskip("ncnn")


@pytest.fixture(scope="module", params=["vgg16", "vgg16_bn"])
def lively_weights(request, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random weights whose maps reach magnitudes of about 1, batch norm doing something in
    vgg16_bn (the export folds it)."""
    folder = tmp_path_factory.mktemp("lively")
    return save_weights(folder / f"{request.param}.safetensors", random_model(request.param))


def _export(weights: Path, out: Path, *extra: str):
    return CliRunner().invoke(app, ["export", str(weights), str(out), *extra])


def _run_ncnn(param: Path, pixels: np.ndarray, description: dict) -> tuple[np.ndarray, ...]:
    """Run the exported files as an ncnn app would: normalize with the .json's values, pad
    to multiples of 16 with zeros, extract both outputs."""
    net = ncnn.Net()
    for reduced in (
        "fp16_packed",
        "fp16_storage",
        "fp16_arithmetic",
        "bf16_storage",
        "bf16_packed",
    ):
        setattr(net.opt, f"use_{reduced}", False)  # fp32 throughout, as PyTorch here
    assert net.load_param(str(param)) == 0
    assert net.load_model(str(param.with_suffix(".bin"))) == 0
    height, width = pixels.shape[:2]
    spec = description["input"]
    mat = ncnn.Mat.from_pixels(pixels, ncnn.Mat.PixelType.PIXEL_RGB, width, height)
    mat.substract_mean_normalize(spec["mean_255"], spec["norm_255"])
    padded = ncnn.Mat()
    pad_h, pad_w = -height % 16, -width % 16
    ncnn.copy_make_border(mat, padded, 0, pad_h, 0, pad_w, ncnn.BorderType.BORDER_CONSTANT, 0.0)
    extractor = net.create_extractor()
    extractor.input(spec["blob"], padded)
    maps = []
    for name in ("offsets", "logits"):
        status, out = extractor.extract(name)
        assert status == 0
        maps.append(np.array(out))
    return tuple(maps)


def test_ncnn_export_gives_pytorchs_raw_maps(tmp_path, lively_weights) -> None:
    weights = lively_weights
    out = tmp_path / "exported" / "p2p.param"
    result = _export(weights, out)  # the format from the suffix, raw outputs by default
    assert result.exit_code == 0, result.stderr
    files = [out, out.with_suffix(".bin"), out.with_suffix(".json")]
    assert result.stdout.splitlines() == [str(f) for f in files]
    assert sorted(p.name for p in out.parent.iterdir()) == ["p2p.bin", "p2p.json", "p2p.param"]
    description = json.loads(out.with_suffix(".json").read_text())
    model = load_model(weights).eval()
    assert description["config"]["backbone"] == model.config.backbone
    assert description["input"]["mean_255"] == pytest.approx([123.675, 116.28, 103.53])
    assert description["input"]["norm_255"] == pytest.approx(
        [1 / (255 * s) for s in (0.229, 0.224, 0.225)]
    )

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)  # pads to 48 × 64
    offsets, logits = _run_ncnn(out, pixels, description)
    image = torch.from_numpy(pixels).permute(2, 0, 1).float()[None] / 255
    mean = torch.tensor(model.config.mean).view(1, 3, 1, 1)
    std = torch.tensor(model.config.std).view(1, 3, 1, 1)
    padded = torch.nn.functional.pad((image - mean) / std, (0, 8, 0, 8))
    with torch.no_grad():
        want = model(padded)
    assert offsets.shape == (8, 6, 8) and logits.shape == (4, 6, 8)
    # What `count --backend ncnn` computes from the same pixels (its own preparation).
    backend = NcnnBackend(
        out, out.with_suffix(".bin"), model.config, receptive_field(model), "fp32", threads=1
    )
    for got, expected, counted in zip(
        (offsets, logits), want, backend.forward_maps(pixels[None]), strict=True
    ):
        expected = expected[0].numpy()
        assert np.abs(expected).max() > 0.3  # maps of some size: a wrong graph shows
        # ncnn's fp32 convolutions (Winograd, other summation orders) differ from PyTorch's by
        # up to ~0.5 % of the peak on these random networks (heads scaled by 50).
        assert np.abs(got - expected).max() <= 1e-2 * max(1.0, np.abs(expected).max())
        np.testing.assert_allclose(got, counted[0], rtol=0, atol=1e-5)


def test_ncnn_export_options_and_errors(tmp_path, random_weights) -> None:
    explicit = _export(random_weights, tmp_path / "m.ncnn", "-f", "ncnn", "--outputs", "raw")
    assert explicit.exit_code == 0, explicit.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.bin", "m.json", "m.ncnn"]

    points = _export(random_weights, tmp_path / "p.param", "--outputs", "points")
    assert points.exit_code == 2
    assert points.stderr.startswith("p2pcount: error: ncnn export writes the raw maps only")
    assert points.stderr.count("\n") == 1
    assert not (tmp_path / "p.param").exists()

    # The .bin beside OUTPUT would be the weights themselves: refused, nothing written.
    weights = tmp_path / "w.bin"
    save_weights(weights, P2PNet())
    before = weights.read_bytes()
    clash = _export(weights, tmp_path / "w.param")
    assert clash.exit_code == 2
    assert clash.stderr == (
        f"p2pcount: error: {weights}: refusing to overwrite the weights being exported\n"
    )
    assert weights.read_bytes() == before
    assert not (tmp_path / "w.param").exists()
