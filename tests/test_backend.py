"""The inference backend interface: any backend plugged into Counter goes through the same
decode, tiling and result assembly; the torch backend computes what the model computes."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from p2pcount import Counter
from p2pcount.errors import ConfigError
from p2pcount.infer.backends.base import InferenceBackend
from p2pcount.infer.backends.torch import TorchBackend
from p2pcount.infer.tiling import tile_grid
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet


class BrightnessBackend(InferenceBackend):
    """Constant maps: every logit is +``logit`` in images brighter than mid-grey and
    −``logit`` in others, every offset ``offset``; it records the batches it is given."""

    name = "brightness"

    def __init__(self, logit: float = 3.0, offset: float = 0.01) -> None:
        super().__init__(ModelConfig(), receptive_field=8, device="cpu")
        self.logit, self.offset = logit, offset
        self.batches: list[np.ndarray] = []

    def forward_maps(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.batches.append(batch)
        size, n = batch.shape[0], self.config.num_anchors
        grid_h, grid_w = (-(-side // 16) * 2 for side in batch.shape[1:3])
        sign = np.where(batch.mean(axis=(1, 2, 3)) > 127, 1, -1).reshape(size, 1, 1, 1)
        logits = np.broadcast_to(sign * self.logit, (size, n, grid_h, grid_w))
        offsets = np.full((size, 2 * n, grid_h, grid_w), self.offset, np.float32)
        return offsets, logits.astype(np.float32)


def _image(height: int, width: int, value: int) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


def test_a_backends_maps_are_decoded_by_the_counter() -> None:
    backend = BrightnessBackend(logit=3.0, offset=0.01)
    counter = Counter.from_backend(backend, source="fake")
    assert (counter.backend, counter.config, counter.device) == (backend, backend.config, "cpu")
    result = counter.count(_image(12, 20, 200), threshold=0.5)
    # A 20 × 12 image pads to 32 × 16: 4 × 2 cells of 8 px, anchors at 2 and 6 px into each
    # cell. Those inside the image (x < 20, y < 12), moved by 0.01 × 100 = 1 px, cells
    # row-major, anchors x fastest:
    expected = [
        [x + 1, y + 1]
        for row in range(2)
        for col in range(4)
        for y in (row * 8 + 2, row * 8 + 6)
        for x in (col * 8 + 2, col * 8 + 6)
        if x < 20 and y < 12
    ]
    probability = 1 / (1 + math.exp(-3.0))
    assert result.count == len(expected) == 15
    assert np.allclose(result.points, expected, atol=1e-5)
    assert np.allclose(result.scores, probability)
    assert result.soft_count == pytest.approx(15 * probability)
    assert np.allclose(result.cell_scores, np.full((2, 3), probability))
    (batch,) = backend.batches
    assert batch.shape == (1, 12, 20, 3) and batch.dtype == np.uint8


def test_a_batch_is_one_call_and_results_keep_its_order() -> None:
    backend = BrightnessBackend()
    images = [_image(12, 20, 0), _image(12, 20, 255), _image(12, 20, 0)]
    results = Counter.from_backend(backend).count_batch(images, threshold=0.5)
    assert [r.count for r in results] == [0, 15, 0]
    assert [b.shape for b in backend.batches] == [(3, 12, 20, 3)]


def test_a_backend_counts_large_images_tile_by_tile() -> None:
    image = _image(40, 56, 200)
    whole = Counter.from_backend(BrightnessBackend(), tile_above=0).count(image)
    backend = BrightnessBackend()
    counter = Counter.from_backend(backend, tile_size=16, tile_above=1)
    tiled = counter.count(image)
    assert counter.margin == 16  # half the receptive field of 8 px plus one cell, rounded to 16
    tiles = list(tile_grid(56, 40, 16, counter.margin))
    assert len(backend.batches) == len(tiles) == 12
    for batch, tile in zip(backend.batches, tiles, strict=True):
        x0, y0, x1, y1 = tile.crop
        assert batch.shape == (1, y1 - y0, x1 - x0, 3)
    assert tiled.count == whole.count == 14 * 10
    assert np.array_equal(tiled.points, whole.points)
    assert np.array_equal(tiled.cell_scores, whole.cell_scores)


def test_from_backend_checks_the_tiling() -> None:
    with pytest.raises(ConfigError, match="tile_size must be positive"):
        Counter.from_backend(BrightnessBackend(), tile_size=0)
    with pytest.raises(ConfigError, match="tile_above non-negative"):
        Counter.from_backend(BrightnessBackend(), tile_above=-1)


@pytest.fixture(scope="module")
def model() -> P2PNet:
    torch.manual_seed(4)
    return P2PNet().eval()


def test_the_torch_backend_computes_the_models_maps(model: P2PNet) -> None:
    backend = TorchBackend(model, device="cpu")
    assert (backend.name, backend.device, backend.config) == ("torch", "cpu", model.config)
    assert (backend.weight_dtype, backend.autocast_dtype) == (None, None)
    batch = np.random.default_rng(0).integers(0, 255, (2, 37, 50, 3), np.uint8)
    offsets, logits = backend.forward_maps(batch)
    with torch.no_grad():
        expected = model(torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255)
    assert offsets.shape == (2, 8, 6, 8) and logits.shape == (2, 4, 6, 8)  # ⌈37/16⌉·2, ⌈50/16⌉·2
    assert isinstance(offsets, np.ndarray) and isinstance(logits, np.ndarray)
    assert offsets.dtype == logits.dtype == np.float32
    for got, want in zip((offsets, logits), expected, strict=True):
        assert np.allclose(got, want.numpy(), rtol=1e-5, atol=1e-5)


def test_bf16_weights_are_cast_once_and_maps_are_float32(model: P2PNet) -> None:
    backend = TorchBackend(model, device="cpu", precision="bf16")
    assert (backend.weight_dtype, backend.autocast_dtype) == (torch.bfloat16, None)
    offsets, logits = backend.forward_maps(np.zeros((1, 16, 16, 3), np.uint8))
    assert offsets.dtype == logits.dtype == np.float32


def test_counter_runs_a_torch_backend_by_default(model: P2PNet) -> None:
    image = np.random.default_rng(1).integers(0, 255, (40, 56, 3), np.uint8)
    counter = Counter(model, device="cpu", source="here")
    assert isinstance(counter.backend, TorchBackend)
    assert (counter.device, counter.source, counter.config) == ("cpu", "here", model.config)
    given = Counter.from_backend(TorchBackend(model, device="cpu"), source="here")
    assert counter.margin == given.margin == 144
    ours, theirs = counter.count(image, threshold=0.5), given.count(image, threshold=0.5)
    assert ours.count == theirs.count and ours.soft_count == theirs.soft_count
    assert np.array_equal(ours.points, theirs.points)
    assert np.array_equal(ours.cell_scores, theirs.cell_scores)


def test_the_interface_imports_neither_torch_nor_numpy() -> None:
    code = (
        "import sys, p2pcount.infer.backends.base; "
        "print(sorted({'torch', 'numpy'} & set(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
