"""Saving and loading weights: round trips, PyTorch files, and every kind of bad file."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest
import torch

from p2pcount.errors import WeightsError
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet
from p2pcount.weights.checkpoint import (
    CONFIG_KEY,
    describe,
    load_model,
    load_torch_file,
    read_weights,
    save_weights,
)


def _outputs(model: P2PNet, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return model.eval()(images)


def test_safetensors_round_trip_keeps_config_and_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = ModelConfig(backbone="vgg16_bn", offset_scale=42.0)
    model = P2PNet(config).eval()
    path = save_weights(tmp_path / "m.safetensors", model, metadata={"note": "hi"})
    loaded = read_weights(path)
    assert loaded.config == config
    assert loaded.metadata["note"] == "hi"
    images = torch.rand(1, 3, 32, 32)
    for a, b in zip(_outputs(model, images), _outputs(load_model(path), images), strict=True):
        assert torch.equal(a, b)
    assert not list(tmp_path.glob(".*tmp"))  # the temporary file was renamed away


def test_half_precision_file_loads_as_float32(tmp_path: Path) -> None:
    model = P2PNet()
    path = save_weights(tmp_path / "half.safetensors", model, dtype=torch.float16)
    assert read_weights(path).state["neck.output.weight"].dtype == torch.float16
    loaded = load_model(path)
    assert loaded.neck.output.weight.dtype == torch.float32
    assert path.stat().st_size < 40e6


@pytest.mark.parametrize("wrapped", [False, True])
def test_pytorch_state_dicts_load_plain_or_under_model(tmp_path: Path, wrapped: bool) -> None:
    torch.manual_seed(0)
    model = P2PNet().eval()
    state = model.state_dict()
    path = tmp_path / "m.pth"
    torch.save({"model": state, "epoch": 3} if wrapped else state, path)
    loaded = read_weights(path)
    assert loaded.origin == "p2pcount state dict"
    assert loaded.config == ModelConfig()
    images = torch.rand(1, 3, 16, 16)
    for a, b in zip(_outputs(model, images), _outputs(load_model(path), images), strict=True):
        assert torch.equal(a, b)


def test_metadata_cannot_replace_the_config(tmp_path: Path) -> None:
    other = ModelConfig(backbone="vgg16_bn").to_json()
    path = save_weights(tmp_path / "m.safetensors", P2PNet(), metadata={CONFIG_KEY: other})
    assert read_weights(path).config == ModelConfig()
    load_model(path)  # the config matches the tensors


def test_describe_counts_parameters(tmp_path: Path) -> None:
    model = P2PNet()
    path = save_weights(tmp_path / "m.safetensors", model)
    info = describe(read_weights(path))
    assert info["parameters"] == sum(p.numel() for p in model.parameters())
    assert info["config"]["backbone"] == "vgg16"


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="no such file"):
        read_weights(tmp_path / "nope.safetensors")
    with pytest.raises(WeightsError, match="is a directory"):
        read_weights(tmp_path)


def test_text_file_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(WeightsError, match=r"notes\.pth: not a safetensors or PyTorch"):
        read_weights(path)


def test_truncated_files(random_weights: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(random_weights.read_bytes()[:100_000])
    with pytest.raises(WeightsError, match="cut.safetensors: truncated or corrupt safetensors"):
        read_weights(cut)
    pth = tmp_path / "full.pth"
    torch.save(P2PNet().state_dict(), pth)
    cut_pth = tmp_path / "cut.pth"
    cut_pth.write_bytes(pth.read_bytes()[:50_000])
    with pytest.raises(
        WeightsError, match="cut.pth: not a safetensors or PyTorch checkpoint, or truncated"
    ):
        read_weights(cut_pth)


def test_wrong_architecture_names_missing_keys(tmp_path: Path) -> None:
    state = P2PNet().state_dict()
    del state["neck.output.weight"]
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError) as error:
        load_model(path)
    assert str(error.value) == f"{path}: wrong architecture: 1 missing key (neck.output.weight)"
    for key in ("neck.output.bias", "neck.lateral_c4.weight", "neck.lateral_c4.bias"):
        del state[key]
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r": 4 missing keys \(neck\.[\w.]+, [\w.]+, [\w.]+…\)$"):
        load_model(path)


def test_wrong_architecture_names_unexpected_keys_and_shapes(tmp_path: Path) -> None:
    state = P2PNet().state_dict()
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "extra.pth"
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"1 unexpected key \(extra\.weight\)$"):
        load_model(path)
    state = P2PNet().state_dict()
    state["neck.output.weight"] = torch.zeros(256, 256, 1, 1)
    torch.save(state, path)
    with pytest.raises(WeightsError, match=r"neck.output.weight has shape \(256, 256, 1, 1\)"):
        load_model(path)


def test_a_pickle_with_code_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": {"x": torch.zeros(1)}, "payload": Path("/")}, path)
    refused = r"evil\.pth: holds pickled Python objects \(pathlib\.[\w.]*Path\), refused: loading"
    with pytest.raises(WeightsError, match=refused):
        read_weights(path)


def test_unrelated_state_dict_is_not_p2pnet(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save({"fc.weight": torch.zeros(2, 2)}, path)
    with pytest.raises(WeightsError, match="not a P2PNet checkpoint"):
        read_weights(path)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_exported_models_are_named_not_loaded(tmp_path: Path, fmt: str) -> None:
    if fmt == "onnx":
        pytest.importorskip("onnxscript")
    from p2pcount.export.exporter import export_model

    exported = export_model(P2PNet(), tmp_path / f"model.{'onnx' if fmt == 'onnx' else 'pt'}", fmt)
    renamed = Path(shutil.copy(exported, tmp_path / "model.bin"))  # found by content, not name
    kind = "ONNX" if fmt == "onnx" else "TorchScript"
    for path in (exported, renamed):
        needs = f"this is an exported {kind} file; p2pcount needs a .safetensors or .pth checkpoint"
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # torch's "dispatching to torch.jit.load" included
            with pytest.raises(WeightsError) as error:
                read_weights(path)
        assert str(error.value) == f"{path}: {needs}"
        with pytest.raises(WeightsError) as error:
            load_torch_file(path, "cannot read backbone weights")
        assert str(error.value) == f"{path}: cannot read backbone weights: {needs}"
