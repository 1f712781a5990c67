"""Named models: download through a local HTTP server, verification, cache, offline errors,
and `weights list/fetch/info`, `export`, `Counter.from_pretrained`."""

from __future__ import annotations

import hashlib
import io
import json
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from p2pcount import Counter
from p2pcount.cli import app
from p2pcount.errors import WeightsError
from p2pcount.weights import registry
from p2pcount.weights.checkpoint import read_weights
from p2pcount.weights.download import Expected
from p2pcount.weights.registry import REGISTRY, ModelEntry, download_path, model_path
from tests.http_server import serve
from tests.test_original import make_original_checkpoint


@pytest.fixture(scope="module")
def original_bytes() -> bytes:
    buffer = io.BytesIO()
    torch.save({"model": make_original_checkpoint("vgg16", seed=4)}, buffer)
    return buffer.getvalue()


def blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("P2PCOUNT_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def inject(monkeypatch: pytest.MonkeyPatch, url: str, data: bytes, size: int | None = None):
    entry = ModelEntry(
        name="test-model",
        description="a generated original-format checkpoint",
        backbone="vgg16",
        licence="test licence: research only",
        accuracy="none",
        url=url,
        filename="TEST.pth",
        expected=Expected(size=size, git_blob_sha1=blob_id(data)),
    )
    monkeypatch.setitem(REGISTRY, entry.name, entry)
    return entry


def cache_files(home: Path) -> list[str]:
    return sorted(str(p.relative_to(home)) for p in home.rglob("*") if p.is_file())


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 40, 3), np.uint8)).save(path)
    return path


def test_download_verify_convert_cache(home, monkeypatch, original_bytes, image) -> None:
    routes = {"/TEST.pth": (original_bytes, len(original_bytes))}
    with serve(routes) as base:
        entry = inject(monkeypatch, f"{base}/TEST.pth", original_bytes)
        runner = CliRunner()
        first = runner.invoke(app, ["count", str(image), "-w", "test-model"])
        assert first.exit_code == 0, first.stderr
        assert "licence of test-model: test licence: research only" in first.stderr
        files = cache_files(home)  # and the ncnn model that `auto` counts with on the CPU
        assert [f for f in files if not f.startswith("ncnn/")] == [
            "downloads/TEST.pth",
            "models/test-model.safetensors",
        ]
        ncnn = [f.rsplit("/", 1)[1] for f in files if f.startswith("ncnn/")]
        assert ncnn == ["entry.json", "model.bin", "model.param"]
        routes.clear()  # the second run must not touch the network
        second = runner.invoke(app, ["count", str(image), "-w", "test-model"])
        assert second.exit_code == 0 and "licence" not in second.stderr
        assert second.stdout == first.stdout
    loaded = read_weights(model_path(entry))
    assert loaded.metadata["name"] == "test-model" and loaded.config.backbone == "vgg16"
    counter = Counter.from_pretrained("test-model", device="cpu")
    assert counter.count(image).count == int(first.stdout.split("\t")[0])


def test_hash_mismatch_leaves_nothing(home, monkeypatch, original_bytes, image) -> None:
    tampered = bytearray(original_bytes)
    tampered[-10] ^= 0xFF
    with serve({"/TEST.pth": (bytes(tampered), len(tampered))}) as base:
        inject(monkeypatch, f"{base}/TEST.pth", original_bytes)
        result = CliRunner().invoke(app, ["count", str(image), "-w", "test-model"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("p2pcount: error")]
    assert len(errors) == 1 and "hash mismatch" in errors[0]
    assert cache_files(home) == []


def test_truncated_transfer_leaves_nothing(home, monkeypatch, original_bytes) -> None:
    half = original_bytes[: len(original_bytes) // 2]
    with serve({"/TEST.pth": (half, len(original_bytes))}) as base:
        inject(monkeypatch, f"{base}/TEST.pth", original_bytes)
        result = CliRunner().invoke(app, ["weights", "fetch", "test-model"])
    assert result.exit_code == 2 and "transfer interrupted" in result.stderr
    assert cache_files(home) == []


def test_server_down_says_how_to_get_out(home, monkeypatch, original_bytes, image) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    entry = inject(monkeypatch, f"http://127.0.0.1:{port}/TEST.pth", original_bytes)
    result = CliRunner().invoke(app, ["count", str(image), "-w", "test-model"])
    assert result.exit_code == 2
    *notes, line = result.stderr.strip().splitlines()
    assert notes == [
        f"downloading test-model from {entry.url}",
        "licence of test-model: test licence: research only",
    ]
    assert line.startswith("p2pcount: error: model 'test-model': download failed")
    assert "could not connect" in line
    assert "--weights PATH" in line and str(download_path(entry)) in line
    assert cache_files(home) == []


def test_a_file_put_in_the_cache_by_hand_is_verified_and_used(
    home, monkeypatch, original_bytes, image
) -> None:
    entry = inject(monkeypatch, "http://127.0.0.1:9/unreachable", original_bytes)
    download_path(entry).parent.mkdir(parents=True)
    download_path(entry).write_bytes(original_bytes)
    result = CliRunner().invoke(app, ["count", str(image), "-w", "test-model"])
    assert result.exit_code == 0, result.stderr
    download_path(entry).write_bytes(original_bytes[:-1] + b"x")
    model_path(entry).unlink()
    bad = CliRunner().invoke(app, ["count", str(image), "-w", "test-model"])
    assert bad.exit_code == 2 and "does not match" in bad.stderr


def test_default_model_offline(home, monkeypatch, image) -> None:
    monkeypatch.delenv("P2PCOUNT_WEIGHTS", raising=False)
    entry = REGISTRY["shtech-a"]
    monkeypatch.setitem(
        REGISTRY, "shtech-a", ModelEntry(**{**entry.__dict__, "url": "http://127.0.0.1:9/x.pth"})
    )
    result = CliRunner().invoke(app, ["count", str(image)])
    assert result.exit_code == 2
    assert "model 'shtech-a': download failed" in result.stderr
    assert "SHTechA.pth" in result.stderr


def test_weights_list_and_info(home, monkeypatch, original_bytes) -> None:
    result = CliRunner().invoke(app, ["weights", "list"])
    assert result.exit_code == 0
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0][:2] == ["shtech-a", "not downloaded"]
    assert "academic research only" in result.stderr
    missing = CliRunner().invoke(app, ["weights", "info", "shtech-a"])
    assert missing.exit_code == 2 and "not in the cache yet" in missing.stderr
    unknown = CliRunner().invoke(app, ["weights", "fetch", "nope"])
    assert unknown.exit_code == 2 and "unknown model" in unknown.stderr


def test_bundled_models_are_found_in_the_tree_or_an_installed_wheel(tmp_path, monkeypatch):
    entry = REGISTRY["synthetic-demo"]
    tree, wheel = tmp_path / "tree", tmp_path / "prefix" / "share" / "p2pcount" / "weights"
    monkeypatch.setattr(registry, "BUNDLED_DIRS", (tree, wheel))
    assert model_path(entry) == tree / entry.bundled  # neither: named in the error
    with pytest.raises(WeightsError, match="bundled model 'synthetic-demo' is missing"):
        registry.fetch(entry)
    wheel.mkdir(parents=True)
    (wheel / entry.bundled).write_bytes(b"x")
    assert model_path(entry) == wheel / entry.bundled
    tree.mkdir()
    (tree / entry.bundled).write_bytes(b"x")
    assert model_path(entry) == tree / entry.bundled


def test_every_bundled_model_is_a_wheel_data_file() -> None:
    root = Path(__file__).resolve().parents[1]
    line = next(
        line
        for line in (root / "pyproject.toml").read_text().splitlines()
        if line.startswith('"share/p2pcount/weights" = ')
    )
    data_files = json.loads(line.split(" = ", 1)[1])
    bundled = [f"weights/{e.bundled}" for e in REGISTRY.values() if e.bundled]
    assert bundled and sorted(bundled) == sorted(data_files)
    assert all((root / name).is_file() for name in bundled)


def test_weights_import_original_then_info(tmp_path, original_bytes) -> None:
    source = tmp_path / "SHTechA.pth"
    source.write_bytes(original_bytes)
    dest = tmp_path / "shtech.safetensors"
    result = CliRunner().invoke(app, ["weights", "import", str(source), str(dest)])
    assert result.exit_code == 0, result.stderr
    info = json.loads(CliRunner().invoke(app, ["weights", "info", str(dest)]).stdout)
    assert info["metadata"]["origin"] == "original P2PNet release"
    assert info["config"]["offset_scale"] == 100.0


@pytest.mark.parametrize("outputs", ["points", "raw"])
def test_onnx_export_matches_pytorch(tmp_path, random_weights, outputs) -> None:
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript")
    from p2pcount.export.exporter import PointsModel
    from p2pcount.weights.checkpoint import load_model

    out = tmp_path / "m.onnx"
    args = ["export", str(random_weights), str(out), "--outputs", outputs]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    assert [p.name for p in tmp_path.iterdir() if p.name != "m.onnx"] == []  # no side files
    moved = tmp_path / "elsewhere" / "moved.onnx"
    moved.parent.mkdir()
    out.rename(moved)  # self-contained: still loads once moved
    session = ort.InferenceSession(str(moved))
    model = load_model(random_weights)
    reference = PointsModel(model) if outputs == "points" else model
    for shape in [(1, 3, 48, 64), (2, 3, 33, 17)]:  # not the export example's size
        images = torch.rand(*shape)
        got = session.run(None, {"images": images.numpy()})
        with torch.no_grad():
            want = reference(images)
        for a, b in zip(got, want, strict=True):
            assert a.shape == tuple(b.shape)
            assert np.abs(a - b.numpy()).max() < 1e-4


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_torchscript_export(tmp_path, random_weights) -> None:
    from p2pcount.export.exporter import PointsModel
    from p2pcount.weights.checkpoint import load_model

    out = tmp_path / "m.pt"
    result = CliRunner().invoke(app, ["export", str(random_weights), str(out), "-f", "torchscript"])
    assert result.exit_code == 0, result.stderr
    scripted = torch.jit.load(str(out))
    images = torch.rand(1, 3, 40, 24)
    with torch.no_grad():
        for a, b in zip(
            scripted(images), PointsModel(load_model(random_weights))(images), strict=True
        ):
            assert torch.allclose(a, b, atol=1e-4)


@pytest.mark.filterwarnings("ignore:`torch.jit.load` is deprecated")
def test_export_format_from_the_suffix_and_opset_checked(tmp_path, random_weights) -> None:
    pytest.importorskip("onnxscript")
    runner = CliRunner()
    scripted = runner.invoke(app, ["export", str(random_weights), str(tmp_path / "m.pt")])
    assert scripted.exit_code == 0, scripted.stderr
    assert isinstance(torch.jit.load(str(tmp_path / "m.pt")), torch.jit.ScriptModule)
    unknown = runner.invoke(app, ["export", str(random_weights), str(tmp_path / "m.bin")])
    assert unknown.exit_code == 2
    assert unknown.stderr == (
        f"p2pcount: error: {tmp_path / 'm.bin'}: cannot tell the format from the suffix "
        "(use .onnx, .pt or .param, or --format)\n"
    )
    args = ["export", str(random_weights), str(tmp_path / "m.onnx"), "--opset", "99"]
    future = runner.invoke(app, args)
    assert future.exit_code == 2
    assert future.stderr.startswith("p2pcount: error: opset 99 is not supported here")
    assert future.stderr.count("\n") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # nothing else left
