"""`p2pcount weights import` keeps what a safetensors source carries; exported models are
named as such by every command that reads weights."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.model.network import P2PNet
from p2pcount.weights.checkpoint import CONFIG_KEY, FORMAT_KEY, read_weights, save_weights

SOURCE_META = {"name": "my-model", "licence": "CC-BY-4.0", "notes": "trained on my crowds"}


@pytest.fixture(scope="module")
def half_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A float16 p2pcount file with its own metadata."""
    torch.manual_seed(2)
    folder = tmp_path_factory.mktemp("src")
    return save_weights(
        folder / "src.safetensors", P2PNet(), metadata=SOURCE_META, dtype=torch.float16
    )


def _import(source: Path, dest: Path, *options: str):
    return CliRunner().invoke(app, ["weights", "import", str(source), str(dest), *options])


def _extra(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k not in (CONFIG_KEY, FORMAT_KEY)}


def test_import_keeps_metadata_and_float16(half_source: Path, tmp_path: Path) -> None:
    dest = tmp_path / "out.safetensors"
    result = _import(half_source, dest)
    assert result.exit_code == 0, result.stderr
    source, imported = read_weights(half_source), read_weights(dest)
    assert _extra(imported.metadata) == {
        **SOURCE_META,
        "origin": "p2pcount safetensors",
        "imported_from": "src.safetensors",
    }
    assert imported.config == source.config
    assert imported.state.keys() == source.state.keys()
    for key, tensor in source.state.items():
        assert imported.state[key].dtype == tensor.dtype
        assert torch.equal(imported.state[key], tensor)
    assert dest.stat().st_size < 1.05 * half_source.stat().st_size  # not doubled to float32


def test_import_keeps_the_source_origin(tmp_path: Path) -> None:
    origin = "https://example.org/weights/SHTechA.pth"
    source = save_weights(tmp_path / "cached.safetensors", P2PNet(), metadata={"origin": origin})
    dest = tmp_path / "copy.safetensors"
    assert _import(source, dest).exit_code == 0
    assert _extra(read_weights(dest).metadata) == {
        "origin": origin,
        "imported_from": "cached.safetensors",
    }


def test_import_float32_and_half_force_the_dtype(half_source: Path, tmp_path: Path) -> None:
    wide = tmp_path / "wide.safetensors"
    result = _import(half_source, wide, "--float32")
    assert result.exit_code == 0, result.stderr
    source, imported = read_weights(half_source), read_weights(wide)
    assert imported.state["neck.output.weight"].dtype == torch.float32
    assert all(torch.equal(imported.state[k], v.float()) for k, v in source.state.items())
    assert _extra(imported.metadata)["name"] == "my-model"
    narrow = tmp_path / "narrow.safetensors"
    assert _import(wide, narrow, "--half").exit_code == 0
    assert read_weights(narrow).state["neck.output.weight"].dtype == torch.float16
    both = _import(half_source, tmp_path / "x.safetensors", "--half", "--float32")
    assert both.exit_code == 2
    assert both.stderr == "p2pcount: error: --half and --float32 contradict each other; give one\n"


@pytest.fixture(scope="module")
def torchscript_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from p2pcount.export.exporter import export_model

    return export_model(P2PNet(), tmp_path_factory.mktemp("exp") / "model.pt", "torchscript")


def test_every_command_names_an_exported_model(torchscript_file: Path, tmp_path: Path) -> None:
    image = tmp_path / "crowd.png"
    Image.new("RGB", (32, 24)).save(image)
    expected = (
        f"p2pcount: error: {torchscript_file}: this is an exported TorchScript file; "
        "p2pcount needs a .safetensors or .pth checkpoint\n"
    )
    runner = CliRunner()
    for args in (
        ["count", str(image), "-w", str(torchscript_file)],
        ["viz", str(image), "-o", str(tmp_path / "viz"), "-w", str(torchscript_file)],
        ["weights", "info", str(torchscript_file)],
        ["weights", "import", str(torchscript_file), str(tmp_path / "m.safetensors")],
    ):
        result = runner.invoke(app, args)
        assert (result.exit_code, result.stdout, result.stderr) == (2, "", expected), args
