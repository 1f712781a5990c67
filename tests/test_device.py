"""Device and precision selection."""

from __future__ import annotations

import pytest
import torch

from p2pcount.errors import ConfigError
from p2pcount.infer import precision as precision_module
from p2pcount.infer.device import resolve_device, resolve_precision

CPU = torch.device("cpu")
CUDA = torch.device("cuda")


def test_auto_precision_follows_the_hardware(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: True)
    assert resolve_precision("auto", CPU) is torch.bfloat16
    assert resolve_precision("auto", CUDA) is torch.float16
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: False)
    assert resolve_precision("auto", CPU) is None  # plain float32


def test_explicit_precisions() -> None:
    assert resolve_precision("fp32", CPU) is None
    assert resolve_precision("bf16", CPU) is torch.bfloat16
    assert resolve_precision("fp16", CUDA) is torch.float16
    with pytest.raises(ConfigError, match="fp16 runs on CUDA only"):
        resolve_precision("fp16", CPU)
    with pytest.raises(ConfigError, match="unknown precision"):
        resolve_precision("fp8", CPU)


def test_cpu_flags_are_read_from_cpuinfo(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    real_open = open

    def fake(flags: str):
        path = tmp_path / "cpuinfo"
        path.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        return lambda name, *a, **k: real_open(path if name == "/proc/cpuinfo" else name, *a, **k)

    monkeypatch.setattr("builtins.open", fake("fpu avx512f avx512_bf16"))
    assert precision_module.cpu_has_native_bf16()
    monkeypatch.setattr("builtins.open", fake("fpu avx2 amx_bf16 amx_tile"))
    assert precision_module.cpu_has_native_bf16()
    monkeypatch.setattr("builtins.open", fake("fpu avx2 avx512f"))
    assert not precision_module.cpu_has_native_bf16()


def test_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == CPU
    with pytest.raises(ConfigError, match="CUDA was requested"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match="unknown device"):
        resolve_device("gpu0")
    with pytest.raises(ConfigError, match="unsupported device"):
        resolve_device("meta")


@pytest.mark.parametrize("native", [True, False])
def test_bf16_on_a_cpu_without_native_bf16_warns_once(monkeypatch, native, recwarn) -> None:
    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: native)
    precision_module._warn_slow_bf16.cache_clear()
    for _ in range(3):
        assert resolve_precision("bf16", CPU) is torch.bfloat16
    assert resolve_precision("auto", CPU) is (torch.bfloat16 if native else None)
    messages = [str(w.message) for w in recwarn.list]
    assert len(messages) == (0 if native else 1)
    if not native:
        assert messages[0].startswith("bf16 on this CPU (no AVX512-BF16 or AMX) is emulated")


@pytest.mark.parametrize("native", [True, False])
def test_count_warns_once_on_stderr(monkeypatch, native, tmp_path, random_weights) -> None:
    from PIL import Image
    from typer.testing import CliRunner

    from p2pcount.cli import app

    monkeypatch.setattr(precision_module, "cpu_has_native_bf16", lambda: native)
    precision_module._warn_slow_bf16.cache_clear()
    paths = [str(tmp_path / f"{i}.png") for i in range(3)]
    for path in paths:
        Image.new("RGB", (16, 16)).save(path)
    args = ["count", *paths, "--precision", "bf16", "--device", "cpu", "--backend", "torch"]
    args += ["-w", str(random_weights)]  # the warning is about PyTorch's emulated bf16
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and len(result.stdout.splitlines()) == 3
    warned = "p2pcount: warning: bf16 on this CPU (no AVX512-BF16 or AMX) is emulated"
    assert result.stderr.count(warned) == (0 if native else 1)
