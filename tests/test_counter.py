"""The Python API: Counter on paths, PIL images and arrays; padding and point bounds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from p2pcount import Counter
from p2pcount.errors import ConfigError, ImageError
from p2pcount.infer.backends.ncnn import NcnnBackend
from p2pcount.infer.backends.torch import TorchBackend
from p2pcount.infer.batcher import count_paths
from p2pcount.infer.tiling import DEFAULT_TILE_ABOVE, DEFAULT_TILE_SIZE
from tests.conftest import constant_model
from tests.test_backend import BrightnessBackend


@pytest.fixture(scope="module")
def counter(random_weights: Path) -> Counter:
    return Counter.from_weights(random_weights, device="cpu")


@pytest.mark.parametrize(("width", "height"), [(1, 1), (17, 33), (500, 301)])
def test_points_lie_inside_the_image(counter: Counter, width: int, height: int) -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (height, width, 3), np.uint8))
    result = counter.count(image, threshold=0.0)
    assert (result.width, result.height) == (width, height)
    assert result.points.shape == (result.count, 2) and result.scores.shape == (result.count,)
    assert (result.points >= 0).all()
    assert (result.points[:, 0] <= width).all() and (result.points[:, 1] <= height).all()
    assert result.cell_scores.shape == (-(-height // 8), -(-width // 8))
    # At threshold 0 every candidate whose anchor lies in the image is kept.
    anchors_x = sum(1 for k in range(0, width + 8, 8) for d in (2, 6) if k + d < width)
    anchors_y = sum(1 for k in range(0, height + 8, 8) for d in (2, 6) if k + d < height)
    assert result.count == anchors_x * anchors_y
    assert result.soft_count == pytest.approx(float(result.scores.sum()), rel=1e-4)


def test_path_pil_and_array_inputs_agree(counter: Counter, tmp_path: Path) -> None:
    array = np.random.default_rng(1).integers(0, 255, (40, 56, 3), np.uint8)
    path = tmp_path / "x.png"
    Image.fromarray(array).save(path)
    by_path = counter.count(path)
    by_image = counter.count(Image.fromarray(array))
    by_array = counter.count(array)
    assert by_path.path == str(path) and by_image.path is None
    for other in (by_image, by_array):
        assert other.count == by_path.count
        assert np.array_equal(other.points, by_path.points)
        assert other.soft_count == pytest.approx(by_path.soft_count)


def test_batches_equal_single_images(counter: Counter) -> None:
    rng = np.random.default_rng(2)
    images = [Image.fromarray(rng.integers(0, 255, (24, 40, 3), np.uint8)) for _ in range(3)]
    batch = counter.count_batch(images, threshold=0.5)
    for image, batched in zip(images, batch, strict=True):
        single = counter.count(image, threshold=0.5)
        assert batched.count == single.count
        assert np.allclose(batched.points, single.points, atol=1e-4)
        assert batched.soft_count == pytest.approx(single.soft_count, rel=1e-5)
    with pytest.raises(ValueError, match="one size"):
        counter.count_batch([images[0], Image.new("RGB", (8, 8))])


def test_unusable_inputs_are_clear_errors(counter: Counter) -> None:
    assert counter.count_batch([]) == []
    for empty in (np.zeros((0, 5, 3), np.uint8), Image.new("RGB", (0, 0))):
        with pytest.raises(ValueError, match=r"image has no pixels \(\d+x\d+\)"):
            counter.count(empty)
    for other in (None, b"\xff\xd8", [[1]]):
        with pytest.raises(TypeError, match=r"expected a path \(str or pathlib.Path\), a PIL"):
            counter.count(other)
    with pytest.raises(ValueError, match="expected an \\(H, W, 3\\) uint8 array, got float64"):
        counter.count(np.zeros((8, 8, 3)))


def test_threshold_is_validated(counter: Counter) -> None:
    with pytest.raises(ConfigError, match="threshold must be in"):
        counter.count(Image.new("RGB", (8, 8)), threshold=1.5)


def test_offsets_move_points_by_offset_scale() -> None:
    # offset 0.01 × scale 100 = +1 px in x and y for every anchor.
    counter = Counter(constant_model(logit=5.0, offset=0.01), device="cpu")
    result = counter.count(Image.new("RGB", (16, 16)), threshold=0.5)
    assert result.count == 16
    assert np.allclose(result.points[:4], [[3, 3], [7, 3], [3, 7], [7, 7]], atol=1e-5)


def test_pipeline_keeps_order_and_reports_errors(counter: Counter, tmp_path: Path) -> None:
    paths = []
    for i, size in enumerate([(16, 16), (16, 16), (24, 8), (16, 16)]):
        path = tmp_path / f"{i}.png"
        Image.new("RGB", size, (i * 40, 0, 0)).save(path)
        paths.append(str(path))
    paths.insert(2, str(tmp_path / "missing.png"))
    outcomes = list(count_paths(counter, paths, batch_size=2, keep_images=True))
    assert [o.path for o in outcomes] == paths
    assert outcomes[2].error is not None and "no such file" in outcomes[2].error
    assert all(
        o.result is not None and o.image is not None for i, o in enumerate(outcomes) if i != 2
    )
    assert [o.result.width for o in outcomes if o.result] == [16, 16, 24, 16]
    with pytest.raises(ImageError):
        counter.count(tmp_path / "missing.png")


def test_count_batch_takes_paths(counter: Counter, tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    arrays = [rng.integers(0, 255, (24, 40, 3), np.uint8) for _ in range(2)]
    paths = [tmp_path / "a.png", str(tmp_path / "b.png")]
    for array, path in zip(arrays, paths, strict=True):
        Image.fromarray(array).save(path)
    by_path = counter.count_batch(paths)
    in_memory = counter.count_batch(arrays)
    assert [r.path for r in by_path] == [str(p) for p in paths]
    assert [r.path for r in in_memory] == [None, None]
    for read, given in zip(by_path, in_memory, strict=True):
        assert read.count == given.count and np.array_equal(read.points, given.points)
    with pytest.raises(ImageError, match="missing.png: no such file"):
        counter.count_batch([tmp_path / "missing.png"])
    with pytest.raises(ImageError, match="over the --max-pixels limit"):
        counter.count_batch(paths, max_pixels=100)
    with pytest.raises(TypeError, match="count_batch takes a list of images"):
        counter.count_batch(str(paths[1]))  # not read character by character


def test_from_pretrained_has_the_command_lines_default(monkeypatch, random_weights) -> None:
    import p2pcount.weights.registry as registry

    asked: list[str | None] = []

    def resolve(name: str | None) -> Path:
        asked.append(name)
        return random_weights

    monkeypatch.setattr(registry, "resolve_weights", resolve)
    monkeypatch.delenv("P2PCOUNT_WEIGHTS", raising=False)
    assert Counter.from_pretrained(device="cpu").source == str(random_weights)
    monkeypatch.setenv("P2PCOUNT_WEIGHTS", "synthetic-demo")
    Counter.from_pretrained(device="cpu")
    Counter.from_pretrained("other", device="cpu")
    # None is the registry's default (shtech-a), as for `count` without --weights.
    assert asked == [None, "synthetic-demo", "other"]
    assert registry.DEFAULT_MODEL == "shtech-a"


def test_count_uncertainty_is_the_poisson_binomial_spread(tmp_path: Path) -> None:
    """Every candidate at p = sigmoid(2): variance K·p(1 − p) over the K candidates inside
    the image, the same whole or tiled; the 95 % interval is soft ∓ 1.96 σ, not below 0."""
    import math

    from tests.test_cli import expected_count

    counter = Counter(constant_model(logit=2.0), device="cpu")
    p = 1 / (1 + math.exp(-2))
    for width, height in ((40, 24), (17, 33)):
        result = counter.count(Image.new("RGB", (width, height)))
        k = expected_count(width, height)
        assert result.soft_variance == pytest.approx(k * p * (1 - p), rel=1e-5)
        assert result.count_std == pytest.approx(math.sqrt(k * p * (1 - p)), rel=1e-5)
        low, high = result.interval()
        assert (low, high) == pytest.approx(
            (k * p - 1.96 * result.count_std, k * p + 1.96 * result.count_std)
        )
    tiled = Counter(constant_model(logit=2.0), device="cpu", tile_size=16, tile_above=1)
    big = np.random.default_rng(0).integers(0, 255, (70, 90, 3), np.uint8)
    assert tiled.count(big).soft_variance == pytest.approx(
        counter.count(big).soft_variance, rel=1e-5
    )
    none = Counter(constant_model(logit=-30.0), device="cpu").count(Image.new("RGB", (16, 16)))
    assert none.interval()[0] == 0.0 and none.interval()[1] < 1e-4  # never below 0


def test_kept_candidates_are_every_candidate_and_agree_with_the_counts(
    random_weights,
) -> None:
    """``keep_candidates``: every anchor's candidate inside the image, the points above the
    threshold among them, the soft count their sum; the same whole or in tiles."""
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, size=(40, 56, 3), dtype=np.uint8)
    whole = Counter.from_weights(random_weights, device="cpu")
    assert whole.count(image).candidates is None
    whole.keep_candidates = True
    tiled = Counter.from_weights(random_weights, device="cpu", tile_size=16, tile_above=1)
    tiled.keep_candidates = True
    for counter in (whole, tiled):
        result = counter.count(image, threshold=0.5)
        assert result.candidates.shape == (5 * 7 * 4, 2) and result.candidates.dtype == np.float32
        assert result.candidate_scores.shape == (5 * 7 * 4,)
        above = result.candidate_scores > 0.5
        np.testing.assert_array_equal(result.candidates[above], result.points)
        np.testing.assert_array_equal(result.candidate_scores[above], result.scores)
        assert result.candidate_scores.sum() == pytest.approx(result.soft_count, rel=1e-5)
    a, b = whole.count(image), tiled.count(image)
    np.testing.assert_allclose(a.candidates, b.candidates, atol=1e-3)
    np.testing.assert_allclose(a.candidate_scores, b.candidate_scores, atol=1e-4)


class _TiledBackend(BrightnessBackend):
    """A backend with its own tiling defaults: 32-px tiles for images above 1000 pixels."""

    default_tile_size = 32
    default_tile_above = 1000


def test_tiling_defaults_are_the_backends_unless_given() -> None:
    counter = Counter.from_backend(_TiledBackend())
    assert (counter.tile_size, counter.tile_above) == (32, 1000)
    assert counter.needs_tiling(40, 26) and not counter.needs_tiling(40, 25)
    given = Counter.from_backend(_TiledBackend(), tile_size=40, tile_above=0)
    assert (given.tile_size, given.tile_above) == (48, 0)  # rounded up to 16; 0 = never
    plain = Counter.from_backend(BrightnessBackend())
    assert (plain.tile_size, plain.tile_above) == (DEFAULT_TILE_SIZE, DEFAULT_TILE_ABOVE)
    torch_counter = Counter(constant_model(logit=2.0), device="cpu")
    assert (torch_counter.tile_size, torch_counter.tile_above) == (1024, 2048 * 2048)
    # 60 × 40 = 2400 pixels > 1000: counted in 32-px tiles, 2 × 2 of them, each crop its
    # core and a 16-px margin (half the 8-px receptive field and one cell, rounded up to
    # 16) inside the image; every anchor in the image counted once.
    from tests.test_cli import expected_count

    backend = _TiledBackend()
    result = Counter.from_backend(backend).count(np.full((40, 60, 3), 200, np.uint8))
    shapes = [batch.shape[1:3] for batch in backend.batches]
    assert shapes == [(40, 48), (40, 44), (24, 48), (24, 44)]
    assert result.count == expected_count(60, 40)


@pytest.mark.parametrize(
    ("backend", "kind"), [("auto", NcnnBackend), ("ncnn", NcnnBackend), ("torch", TorchBackend)]
)
def test_from_weights_runs_the_backend_asked_for(random_weights: Path, backend, kind) -> None:
    counter = Counter.from_weights(random_weights, device="cpu", backend=backend, threads=1)
    assert isinstance(counter.backend, kind) and counter.source == str(random_weights)
    assert counter.tile_size == kind.default_tile_size
    assert counter.tile_above == kind.default_tile_above
    image = np.random.default_rng(2).integers(0, 256, (40, 56, 3), np.uint8)
    reference = Counter.from_weights(random_weights, device="cpu", backend="torch").count(image)
    np.testing.assert_allclose(counter.count(image).soft_count, reference.soft_count, rtol=1e-4)
    if kind is NcnnBackend:
        assert counter.backend.net.opt.num_threads == 1 and counter.backend.precision == "fp32"


def test_from_pretrained_passes_the_backend(monkeypatch, random_weights) -> None:
    import p2pcount.weights.registry as registry

    monkeypatch.setattr(registry, "resolve_weights", lambda name: random_weights)
    counter = Counter.from_pretrained("any", device="cpu", backend="torch", tile_size=64)
    assert isinstance(counter.backend, TorchBackend) and counter.tile_size == 64
    with pytest.raises(ConfigError, match="unknown backend 'onnx'"):
        Counter.from_pretrained("any", device="cpu", backend="onnx")
