"""Saving and loading P2PNet weights, without executing pickles.

* ``.safetensors`` files written by p2pcount carry their :class:`ModelConfig` as JSON in
  the metadata (key ``"p2pcount.config"``), like timm's pretrained configs;
* PyTorch ``.pth``/``.pt`` files are read with ``torch.load(weights_only=True)``: a plain
  state dict, one under a ``"model"`` key, in p2pcount's layout or the original P2PNet
  release's (converted on load, see :mod:`p2pcount.weights.original`);
* models exported to ONNX or TorchScript (``p2pcount export``) are recognized and refused
  with a message saying so: they hold a graph, not a checkpoint p2pcount can load.

Every failure is a :class:`WeightsError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import os
import re
import warnings
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from p2pcount.errors import ConfigError, WeightsError, first_line
from p2pcount.io.atomic import atomic_path
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet, backbone_of
from p2pcount.text import plural
from p2pcount.weights.original import convert_original, is_original_state_dict

CONFIG_KEY = "p2pcount.config"
FORMAT_KEY = "format"
FORMAT_VALUE = "p2pcount"
_SHOWN_KEYS = 3
#: Field tags that can follow ``ir_version`` (field 1) at the start of an ONNX ModelProto:
#: producer_name, producer_version, domain, model_version, doc_string, graph, opset_import.
_ONNX_SECOND_TAGS = frozenset(b"\x12\x1a\x22\x28\x32\x3a\x42")


@dataclass
class LoadedWeights:
    """A checkpoint read from disk: its config, tensors and where they came from."""

    config: ModelConfig
    state: dict[str, torch.Tensor]
    source: str
    origin: str  # "p2pcount safetensors", "p2pcount state dict" or "original P2PNet release"
    metadata: dict[str, str] = field(default_factory=dict)


def save_weights(
    path: str | Path,
    model: P2PNet,
    metadata: Mapping[str, str] | None = None,
    dtype: torch.dtype | None = None,
) -> Path:
    """Write ``model``'s weights and config to a ``.safetensors`` file, atomically.

    ``dtype`` (e.g. ``torch.float16``) converts floating-point tensors; ``metadata`` adds
    string entries (origin, training data …) beside the config, which they cannot replace.
    """
    from safetensors.torch import save_file

    path = Path(path)
    state = {}
    for key, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        state[key] = tensor.contiguous()
    meta = {**(metadata or {}), FORMAT_KEY: FORMAT_VALUE, CONFIG_KEY: model.config.to_json()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(state, str(tmp), metadata=meta)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot write weights ({exc.strerror or exc})") from None
    return path


def read_weights(path: str | Path) -> LoadedWeights:
    """Read a weights file into a config and a p2pcount-layout state dict."""
    path = Path(path)
    if not os.path.exists(path):  # False, not an error, for a path that cannot be checked
        raise WeightsError(f"{path}: no such file")
    if os.path.isdir(path):
        raise WeightsError(f"{path}: is a directory, not a weights file")
    if _looks_like_safetensors(path):
        return _read_safetensors(path)
    return _read_torch(path)


def _looks_like_safetensors(path: Path) -> bool:
    """A safetensors file opens with its header's length (u64, little-endian) and ``{``."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return int.from_bytes(head[:8], "little") < path.stat().st_size


def _exported_format(path: str | Path) -> str | None:
    """``"ONNX"`` or ``"TorchScript"`` when ``path`` holds an exported model, else None.

    TorchScript archives are zips with a ``constants.pkl`` record (torch's own test);
    ONNX files are protobuf ModelProtos, which open with ``ir_version`` (tag 0x08, a small
    varint) and then another ModelProto field. A file that cannot be read is left to
    ``torch.load`` to report.
    """
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            return (
                "TorchScript"
                if any(n.partition("/")[2] == "constants.pkl" for n in names)
                else None
            )
        with open(path, "rb") as handle:
            head = handle.read(3)
    except (zipfile.BadZipFile, OSError):
        return None
    onnx = len(head) == 3 and head[0] == 0x08 and 0 < head[1] < 0x80
    return "ONNX" if onnx and head[2] in _ONNX_SECOND_TAGS else None


def stored_dtype(loaded: LoadedWeights) -> torch.dtype | None:
    """The dtype of ``loaded``'s floating-point tensors when they all share one, else None."""
    dtypes = {v.dtype for v in loaded.state.values() if v.is_floating_point()}
    return dtypes.pop() if len(dtypes) == 1 else None


def _read_safetensors(path: Path) -> LoadedWeights:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            state = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise WeightsError(
            f"{path}: truncated or corrupt safetensors file ({first_line(exc)})"
        ) from None
    if CONFIG_KEY in metadata:
        try:
            config = ModelConfig.from_json(metadata[CONFIG_KEY])
        except ConfigError as exc:
            raise WeightsError(f"{path}: {exc}") from None
    else:
        config = infer_config(state, str(path))
    return LoadedWeights(config, state, str(path), "p2pcount safetensors", metadata)


def _torch_load_reason(exc: Exception) -> str:
    """Why ``torch.load(..., weights_only=True)`` refused a file, in a few words.

    torch's own message is a paragraph that ends by suggesting ``weights_only=False``; the
    useful part is the refused global (a pickled class or function: code that loading would
    run) or the unsupported pickle instruction.
    """
    text = str(exc)
    refused = re.search(r"GLOBAL ([\w.]+)", text)
    if refused:
        return f"holds pickled Python objects ({refused.group(1)}), refused: loading could run code"
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if detail:
        return f"not a checkpoint of tensors (pickle refused: {detail.group(1).strip()})"
    if isinstance(exc, KeyError | IndexError | EOFError) or not text.strip():
        return "not a safetensors or PyTorch checkpoint, or truncated"
    return f"not a safetensors or PyTorch checkpoint, or truncated ({first_line(exc)})"


def load_torch_file(path: str | Path, what: str | None = None) -> object:
    """``torch.load(path, weights_only=True)`` on the CPU: tensors and plain containers only,
    no pickled code run.

    Raises :class:`WeightsError` ``"PATH: [WHAT: ]reason"`` when torch refuses the file or
    it is an exported ONNX or TorchScript model.
    """
    context = f"{what}: " if what else ""
    exported = _exported_format(path)
    if exported:
        raise WeightsError(
            f"{path}: {context}this is an exported {exported} file; "
            "p2pcount needs a .safetensors or .pth checkpoint"
        )
    try:
        with warnings.catch_warnings():  # refused or not, the protocol is not the user's concern
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad pickles and zips
        raise WeightsError(f"{path}: {context}{_torch_load_reason(exc)}") from None


def state_dict_in(obj: object, source: str, strict: bool = True) -> dict[str, torch.Tensor]:
    """The state dict in what :func:`load_torch_file` returned: ``obj`` itself, or the
    mapping under its ``"model"`` key (a training checkpoint such as p2pcount's ``state.pt``).

    Raises :class:`WeightsError` ``"SOURCE: not a state dict"`` when it is not a mapping,
    or when ``strict`` and an entry is not a string key with a tensor; without ``strict``
    such entries are left out (a caller that picks tensors by name then finds them missing).
    """
    if isinstance(obj, Mapping) and isinstance(obj.get("model"), Mapping):
        obj = obj["model"]
    if isinstance(obj, Mapping):
        state = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if len(state) == len(obj) or not strict:
            return state
    raise WeightsError(f"{source}: not a state dict (expected a dict of tensors)")


def _read_torch(path: Path) -> LoadedWeights:
    obj = state_dict_in(load_torch_file(path), str(path))
    state = {k.removeprefix("module."): v for k, v in obj.items()}
    if is_original_state_dict(state):
        config, converted = convert_original(state, str(path))
        return LoadedWeights(config, converted, str(path), "original P2PNet release")
    return LoadedWeights(infer_config(state, str(path)), state, str(path), "p2pcount state dict")


def infer_config(state: Mapping[str, torch.Tensor], source: str) -> ModelConfig:
    """Config of a p2pcount-layout state dict without metadata (offset scale: default)."""
    weight = state.get("classification.output.weight")
    if weight is None:
        raise WeightsError(f"{source}: not a P2PNet checkpoint (no classification.output.weight)")
    backbone = backbone_of(state)
    try:
        return ModelConfig(backbone=backbone, num_anchors=int(weight.shape[0]))
    except ConfigError as exc:
        raise WeightsError(f"{source}: {exc}") from None


def check_state(model: P2PNet, state: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`WeightsError` unless ``state`` has exactly ``model``'s keys and shapes."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    problems = [
        f"{plural(len(keys), f'{kind} key')} ({_some(keys)})"
        for kind, keys in (("missing", missing), ("unexpected", unexpected))
        if keys
    ]
    if problems:
        raise WeightsError(f"{source}: wrong architecture: {'; '.join(problems)}")
    for key, tensor in expected.items():
        if tuple(state[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{source}: wrong architecture: {key} has shape {tuple(state[key].shape)}, "
                f"expected {tuple(tensor.shape)}"
            )


def _some(keys: list[str]) -> str:
    """The first few of ``keys``, with "…" when there are more."""
    more = "…" if len(keys) > _SHOWN_KEYS else ""
    return ", ".join(keys[:_SHOWN_KEYS]) + more


def build_model(loaded: LoadedWeights) -> P2PNet:
    """A P2PNet in eval mode holding ``loaded``'s tensors (float32, on the CPU).

    The network is built on the meta device and the tensors assigned, so no time is
    spent on a random initialization that would be overwritten.
    """
    with torch.device("meta"):
        model = P2PNet(loaded.config)
    load_checked(model, loaded, assign=True)
    return model.eval()


def load_checked(model: P2PNet, loaded: LoadedWeights, assign: bool = False) -> None:
    """Load ``loaded``'s tensors into ``model`` after :func:`check_state`, floating-point
    ones cast to float32 (a float16 or bfloat16 file trains and runs in float32).

    ``assign`` replaces the parameters instead of copying into them (for a model built on
    the meta device); without it the model keeps its parameters and their device.
    """
    check_state(model, loaded.state, loaded.source)
    state = {k: v.float() if v.is_floating_point() else v for k, v in loaded.state.items()}
    model.load_state_dict(state, strict=True, assign=assign)


def load_model(path: str | Path) -> P2PNet:
    """Read a weights file and build its model (see :func:`read_weights`)."""
    return build_model(read_weights(path))


def describe(loaded: LoadedWeights) -> dict[str, object]:
    """Config, parameter count and origin of a checkpoint, for ``weights info``."""
    params = sum(
        v.numel() for k, v in loaded.state.items() if not k.endswith("num_batches_tracked")
    )
    extra = {k: v for k, v in loaded.metadata.items() if k not in (CONFIG_KEY, FORMAT_KEY)}
    return {
        "source": loaded.source,
        "origin": loaded.origin,
        "config": json.loads(loaded.config.to_json()),
        "parameters": params,
        "metadata": extra,
    }
