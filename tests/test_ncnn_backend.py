"""The ncnn backend: its model against PyTorch's on random weights, precision switches, the
cache (hits, corrupt entries rebuilt), the accuracy guard, ``auto`` and the fallbacks."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.errors import ConfigError, WeightsError
from p2pcount.infer.backends import ncnn_build, selection
from p2pcount.infer.backends.ncnn import NcnnBackend
from p2pcount.infer.backends.ncnn_cache import (
    BIN,
    ENTRY,
    PARAM,
    WRITER_VERSION,
    entry_folder,
    read_entry,
    write_model,
)
from p2pcount.infer.backends.ncnn_model import build_ncnn_model
from p2pcount.infer.backends.torch import TorchBackend
from p2pcount.model.config import ModelConfig
from p2pcount.model.folding import receptive_field
from p2pcount.weights.checkpoint import save_weights
from tests.conftest import constant_model, random_model

#: Odd sizes and sizes that are not multiples of 16, (height, width).
SIZES = [(37, 53), (64, 80), (100, 33), (16, 1)]


@pytest.fixture(params=["vgg16", "vgg16_bn"], scope="module")
def pair(request, tmp_path_factory) -> tuple[TorchBackend, NcnnBackend, tuple[Path, Path]]:
    """The same random model run by PyTorch (fp32) and by ncnn (written here, fp32), and
    the ncnn model's files."""
    model = random_model(request.param)
    field = receptive_field(model)
    reference = TorchBackend(model, "cpu", "fp32")
    state = {k: v.numpy() for k, v in reference.net.state_dict().items()}
    folder = tmp_path_factory.mktemp(request.param)
    write_model(folder, build_ncnn_model(model.config, state))
    files = (folder / PARAM, folder / BIN)
    return reference, NcnnBackend(*files, model.config, field, "fp32", 2), files


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("P2PCOUNT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(scope="module")
def weights_bn(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bn")
    return save_weights(folder / "bn.safetensors", random_model("vgg16_bn"))


@pytest.mark.parametrize("size", SIZES)
def test_ncnn_maps_equal_torch(pair, size) -> None:
    reference, candidate, _ = pair
    rng = np.random.default_rng(sum(size))
    batch = rng.integers(0, 256, (2, *size, 3), dtype=np.uint8)
    expected = [np.asarray(m) for m in reference.forward_maps(batch)]
    offsets, logits = candidate.forward_maps(batch)
    assert isinstance(offsets, np.ndarray) and offsets.dtype == np.float32
    height, width = (-(-side // 16) * 2 for side in size)
    assert offsets.shape == (2, 8, height, width) and logits.shape == (2, 4, height, width)
    assert min(np.abs(m).max() for m in expected) > 0.1  # not trivial maps
    np.testing.assert_allclose(offsets, expected[0], rtol=0, atol=1e-3)
    np.testing.assert_allclose(logits, expected[1], rtol=0, atol=1e-2)


def test_graph_text() -> None:
    model = random_model("vgg16")
    text = build_ncnn_model(model.config, model.state_dict()).param
    lines = text.splitlines()
    assert lines[0] == "7767517"
    layers = [line.split()[0] for line in lines[2:]]
    assert int(lines[1].split()[0]) == len(layers) == 13 + 4 + 3 + 1 + 1 + 2 + 6 + 1
    assert layers.count("Convolution") == 13 + 3 + 6 and layers.count("Split") == 2
    assert "Interp upsample_c5 1 1 lateral_c5 upsample_c5 0=1 1=2.0 2=2.0" in lines


def test_writer_refuses_unfolded_or_incomplete_weights() -> None:
    model = random_model("vgg16_bn")
    with pytest.raises(WeightsError, match="batch norm"):
        build_ncnn_model(model.config, model.state_dict())
    state = {k: v for k, v in random_model("vgg16").state_dict().items() if "neck.output" not in k}
    with pytest.raises(WeightsError, match="neck.output.weight"):
        build_ncnn_model(ModelConfig(), state)
    state = {k: v for k, v in random_model("vgg16").state_dict().items() if ".28." not in k}
    with pytest.raises(WeightsError, match="13 convolutions"):
        build_ncnn_model(ModelConfig(), state)


@pytest.mark.parametrize(
    ("precision", "on"),
    [
        ("fp32", set()),
        ("auto", set()),
        ("bf16", {"use_bf16_storage", "use_bf16_packed"}),
        ("fp16", {"use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"}),
    ],
)
def test_precision_switches(pair, precision: str, on: set[str]) -> None:
    _, fp32, (param, weights) = pair
    backend = NcnnBackend(param, weights, fp32.config, 1, precision, threads=3)
    switches = ["use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic"]
    switches += ["use_bf16_storage", "use_bf16_packed"]
    assert {name for name in switches if getattr(backend.net.opt, name)} == on
    assert backend.net.opt.num_threads == 3
    assert backend.precision == ("fp32" if precision == "auto" else precision)
    with pytest.raises(ConfigError, match="unknown precision"):
        NcnnBackend(param, weights, fp32.config, 1, "int8")


def test_reduced_precision_stays_close(pair) -> None:
    reference, fp32, files = pair
    batch = np.random.default_rng(0).integers(0, 256, (1, 48, 64, 3), dtype=np.uint8)
    expected = np.asarray(reference.forward_maps(batch)[1])
    for precision in ("bf16", "fp16"):
        backend = NcnnBackend(*files, fp32.config, 1, precision, threads=2)
        logits = backend.forward_maps(batch)[1]
        assert np.abs(logits - expected).max() < 0.1 * np.abs(expected).max()


def test_cache_hit_reuses_the_entry(weights_bn: Path, cache_home: Path, monkeypatch) -> None:
    built = selection.load_backend(weights_bn, "ncnn", "cpu", "fp32", threads=2)
    assert isinstance(built, NcnnBackend)
    (folder,) = (cache_home / "ncnn").iterdir()
    assert folder.name.endswith(f"-w{WRITER_VERSION}") and "-ncnn" in folder.name
    assert read_entry(folder).verdict.agrees
    monkeypatch.setattr(ncnn_build, "build_entry", _must_not_build)
    again = selection.load_backend(weights_bn, "ncnn", "cpu", "bf16", threads=2)
    assert isinstance(again, NcnnBackend) and again.precision == "bf16"
    assert again.receptive_field == built.receptive_field == 260
    assert entry_folder("ab" * 32, "1.0") != entry_folder("ab" * 32, "1.1")


def _must_not_build(*args, **kwargs):
    raise AssertionError("the cached entry was not used")


def _truncate_bin(folder: Path) -> None:
    with open(folder / BIN, "r+b") as handle:
        handle.truncate(1000)


def _garble_param(folder: Path) -> None:
    (folder / PARAM).write_text("7767517\nnot a graph\n")


def _garble_record(folder: Path) -> None:
    (folder / ENTRY).write_text("{")


def _unloadable_but_consistent(folder: Path) -> None:
    """A param that ncnn refuses, with a record that vouches for it: the load fails."""
    text = "7767517\n1 1\nNoSuchLayer x 0 1 x\n"
    (folder / PARAM).write_text(text)
    record = json.loads((folder / ENTRY).read_text())
    record["param_sha256"] = hashlib.sha256(text.encode()).hexdigest()
    (folder / ENTRY).write_text(json.dumps(record))


def test_corrupt_entry_is_rebuilt(weights_bn: Path, cache_home: Path) -> None:
    selection.load_backend(weights_bn, "ncnn", "cpu", "fp32", threads=2)
    (folder,) = (cache_home / "ncnn").iterdir()
    size = (folder / BIN).stat().st_size
    for damage in (_truncate_bin, _garble_param, _garble_record, _unloadable_but_consistent):
        damage(folder)
        backend = selection.load_backend(weights_bn, "ncnn", "cpu", "fp32", threads=2)
        assert isinstance(backend, NcnnBackend), damage.__name__
        entry = read_entry(folder)
        assert entry is not None and entry.verdict.agrees, damage.__name__
        assert (folder / BIN).stat().st_size == size
        batch = np.zeros((1, 32, 32, 3), np.uint8)
        assert np.isfinite(backend.forward_maps(batch)[0]).all()


def test_guard_falls_back_to_torch(weights_bn: Path, cache_home: Path, monkeypatch) -> None:
    """An ncnn model that computes something else (a bias changed on purpose) is caught by
    the guard, recorded, and never used: PyTorch counts, with one warning, now and later."""
    write = ncnn_build.build_ncnn_model

    def corrupted(config, state):
        state = dict(state)
        state["classification.output.bias"] = state["classification.output.bias"] + 0.5
        return write(config, state)

    monkeypatch.setattr(ncnn_build, "build_ncnn_model", corrupted)
    with pytest.warns(UserWarning, match=r"differ from PyTorch's .*counting with PyTorch"):
        backend = selection.load_backend(weights_bn, "ncnn", "cpu", "fp32")
    assert isinstance(backend, TorchBackend)
    (folder,) = (cache_home / "ncnn").iterdir()
    verdict = read_entry(folder).verdict
    assert not verdict.agrees and verdict.logits_error == pytest.approx(0.5, rel=0.05)
    assert verdict.offsets_error < 1e-4
    monkeypatch.setattr(ncnn_build, "build_entry", _must_not_build)
    with pytest.warns(UserWarning, match="counting with PyTorch"):
        assert isinstance(selection.load_backend(weights_bn, "ncnn", "cpu"), TorchBackend)


def test_compare_maps_by_hand() -> None:
    offsets = np.array([0.0, 2.0, -4.0])
    logits = np.array([0.5, -0.5])
    verdict = ncnn_build.compare_maps((offsets, logits), (offsets + 0.003, logits + 0.009))
    assert verdict.offsets_error == pytest.approx(0.003 / 4)  # relative to the peak, 4
    assert verdict.logits_error == pytest.approx(0.009)  # peak below 1: absolute
    assert verdict.agrees
    assert not ncnn_build.compare_maps((offsets, logits), (offsets + 0.005, logits)).agrees
    assert not ncnn_build.compare_maps((offsets, logits), (offsets, logits + 0.011)).agrees
    # Broken weights: NaN at the same places in both is for counting to report; elsewhere not.
    broken = np.array([np.nan, 0.5])
    verdict = ncnn_build.compare_maps((offsets, broken), (offsets, broken + 0.009))
    assert verdict.agrees and verdict.logits_error == pytest.approx(0.009)
    assert not ncnn_build.compare_maps((offsets, broken), (offsets, logits)).agrees


def test_ncnn_import_failure_falls_back(random_weights: Path, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ncnn", None)  # "import ncnn" raises ImportError
    with pytest.warns(UserWarning, match=r"ncnn cannot be imported .*counting with PyTorch"):
        backend = selection.load_backend(random_weights, "auto", "cpu", "fp32")
    assert isinstance(backend, TorchBackend)


def test_unwritable_cache_falls_back(random_weights: Path, tmp_path: Path, monkeypatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("P2PCOUNT_HOME", str(blocker))  # a file: no folder can be made in it
    with pytest.warns(UserWarning, match="cannot write the ncnn model cache"):
        backend = selection.load_backend(random_weights, "ncnn", "cpu", "fp32")
    assert isinstance(backend, TorchBackend)


@pytest.mark.parametrize("bf16", [False, True])
def test_auto_on_both_cpu_kinds(bf16: bool, monkeypatch) -> None:
    monkeypatch.setattr(selection, "cpu_has_native_bf16", lambda: bf16)
    monkeypatch.setattr(selection, "_cuda_available", lambda: False)
    assert selection.choose_backend("auto", "auto") == "ncnn"
    assert selection.choose_backend("auto", "cpu") == "ncnn"
    assert selection.choose_backend("auto", "cuda") == "torch"
    assert selection.choose_backend("torch", "cpu") == "torch"
    monkeypatch.setattr(selection, "_cuda_available", lambda: True)
    assert selection.choose_backend("auto", "auto") == "torch"
    assert selection.choose_backend("auto", "cpu") == "ncnn"


def test_backend_choice_errors() -> None:
    with pytest.raises(ConfigError, match="unknown backend 'onnx'"):
        selection.choose_backend("onnx", "cpu")
    with pytest.raises(ConfigError, match="ncnn backend runs on the CPU"):
        selection.choose_backend("ncnn", "cuda:0")
    with pytest.raises(ConfigError, match="threads must be at least 1"):
        selection.load_backend("x.safetensors", "ncnn", "cpu", threads=0)


def test_torch_threads(random_weights: Path, monkeypatch) -> None:
    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    backend = selection.load_backend(random_weights, "torch", "cpu", "fp32", threads=3)
    assert isinstance(backend, TorchBackend) and calls == [3]


def test_cli_backends_agree(all_heads_weights: Path, tmp_path: Path) -> None:
    image = tmp_path / "a.png"
    Image.new("RGB", (50, 30), (10, 200, 30)).save(image)
    runner = CliRunner()
    outputs = {}
    for backend in ("torch", "ncnn"):
        args = ["count", str(image), "-w", str(all_heads_weights), "-f", "json", "--points"]
        result = runner.invoke(app, [*args, "--backend", backend, "--threads", "2"])
        assert result.exit_code == 0, result.output
        outputs[backend] = json.loads(result.stdout)["images"][0]
    assert outputs["ncnn"]["count"] == outputs["torch"]["count"] == 12 * 7  # anchors x < 50, y < 30
    np.testing.assert_allclose(outputs["ncnn"]["points"], outputs["torch"]["points"], atol=1e-4)


@pytest.mark.parametrize("command", ["count", "viz", "eval"])
def test_cli_passes_backend_and_threads(command, random_weights, tmp_path, monkeypatch) -> None:
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    (tmp_path / "a.txt").write_text("1 1\n")
    seen = []
    load = selection.load_backend

    def spy(weights, backend, device, precision, threads, notify=None):
        seen.append((backend, threads))
        return load(weights, "torch", device, precision, None)

    monkeypatch.setattr(selection, "load_backend", spy)
    args = {
        "count": ["count", str(tmp_path / "a.png")],
        "viz": ["viz", str(tmp_path / "a.png"), "-o", str(tmp_path / "out")],
        "eval": ["eval", str(tmp_path)],
    }[command]
    runner = CliRunner()
    result = runner.invoke(app, [*args, "-w", str(random_weights), "--threads", "4"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, [*args, "-w", str(random_weights)], env={"P2PCOUNT_BACKEND": "torch"}
    )
    assert result.exit_code == 0, result.output
    assert seen == [("auto", 4), ("torch", None)]
    for bad in (["--backend", "onnx"], ["--threads", "0"]):
        result = runner.invoke(app, [*args, "-w", str(random_weights), *bad])
        assert result.exit_code == 2


def test_cached_counting_imports_no_torch(random_weights: Path, cache_home: Path) -> None:
    """Once the model is cached, `p2pcount count` with ncnn never imports torch."""
    selection.load_backend(random_weights, "ncnn", "cpu", "fp32", threads=2)
    script = (
        "import sys\n"
        "from p2pcount.cli import main\n"
        "sys.argv = ['p2pcount', 'count', sys.argv[1], '-w', sys.argv[2], '--backend', 'ncnn']\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as exit:\n"
        "    assert exit.code in (0, None), exit.code\n"
        "print('torch' in sys.modules, file=sys.stderr)\n"
    )
    image = cache_home.parent / "a.png"
    Image.new("RGB", (40, 24)).save(image)
    done = subprocess.run(
        [sys.executable, "-c", script, str(image), str(random_weights)],
        capture_output=True,
        text=True,
        env={**os.environ, "P2PCOUNT_HOME": str(cache_home)},
        check=True,
    )
    assert done.stdout.split("\t")[1].strip() == str(image)
    assert done.stderr.strip().splitlines()[-1] == "False"


def test_cli_ncnn_on_cuda_is_a_usage_error(random_weights: Path, tmp_path: Path) -> None:
    Image.new("RGB", (32, 32)).save(tmp_path / "a.png")
    args = ["count", str(tmp_path / "a.png"), "-w", str(random_weights)]
    result = CliRunner().invoke(app, [*args, "--backend", "ncnn", "--device", "cuda"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "p2pcount: error: the ncnn backend runs on the CPU: use --device cpu or --backend torch"
    )


@pytest.mark.parametrize(
    ("options", "shapes"),
    [([], [(40, 60)] * 4), (["--tile-above", "0"], [(40, 60)])],
)
def test_cli_tiles_as_the_backend_says_unless_told(
    options, shapes, random_weights: Path, tmp_path: Path, monkeypatch
) -> None:
    """Without --tile/--tile-above, `count` tiles as the backend's defaults say (here 32-px
    tiles above 1000 pixels: 2 x 2 tiles whose 144-px margins reach the whole 60 x 40
    image); given, the options win. Tiled or not, the count is torch's."""
    selection.load_backend(random_weights, "ncnn", "cpu", "fp32")  # built (and probed) here
    monkeypatch.setattr(NcnnBackend, "default_tile_size", 32)
    monkeypatch.setattr(NcnnBackend, "default_tile_above", 1000)
    seen = []
    forward = NcnnBackend.forward_maps

    def spy(self, batch):
        seen.append(batch.shape[1:3])
        return forward(self, batch)

    monkeypatch.setattr(NcnnBackend, "forward_maps", spy)
    image = tmp_path / "a.png"
    Image.fromarray(np.random.default_rng(4).integers(0, 256, (40, 60, 3), np.uint8)).save(image)
    args = ["count", str(image), "-w", str(random_weights), "--soft", "--backend"]
    runner = CliRunner()
    ncnn = runner.invoke(app, [*args, "ncnn", *options])
    assert ncnn.exit_code == 0, ncnn.output
    assert seen == shapes
    torch_run = runner.invoke(app, [*args, "torch"])
    assert float(ncnn.stdout.split()[0]) == pytest.approx(float(torch_run.stdout.split()[0]), 1e-4)


def test_the_first_count_with_new_weights_says_it_builds_the_ncnn_model(
    tmp_path: Path, monkeypatch
) -> None:
    """One line on stderr the first time (a few seconds of work), none once cached."""
    monkeypatch.setenv("P2PCOUNT_HOME", str(tmp_path / "home"))
    weights = save_weights(tmp_path / "new.safetensors", constant_model(logit=2.0))
    image = tmp_path / "a.png"
    Image.new("RGB", (32, 16)).save(image)
    args = ["count", str(image), "-w", str(weights), "--backend", "ncnn"]
    first, second = (CliRunner().invoke(app, args) for _ in range(2))
    assert first.exit_code == second.exit_code == 0 and first.stdout == second.stdout
    folder = next((tmp_path / "home" / "ncnn").iterdir())
    assert first.stderr == f"{weights}: building its ncnn model once (cached in {folder})\n"
    assert second.stderr == ""
