"""Exporting a P2PNet to ONNX, TorchScript or ncnn, for any input height and width.

Input ``images``: (B, 3, H, W) float32 RGB in [0, 1] (normalization and padding happen
inside the graph). Outputs, by ``outputs``:

* ``"points"`` (default): ``points`` (B, K, 2) head candidates (x, y) in pixels and
  ``scores`` (B, K) probabilities, K = ceil(H/16)·2 · ceil(W/16)·2 · N, cells row-major and
  anchors innermost; candidates whose anchor lies in the padding have score 0. The count
  is ``(scores > threshold).sum(1)``, the soft count ``scores.sum(1)``.
* ``"raw"``: the maps ``offsets`` (B, 2N, h, w) and ``logits`` (B, N, h, w), as
  :class:`~p2pcount.model.network.P2PNet` returns them.

ncnn (``.param`` graph, ``.bin`` weights, and a ``.json`` description beside them) is
written by the ncnn backend's own writer (:mod:`~p2pcount.infer.backends.ncnn_model`,
batch norm folded) and ends at the raw maps: its input blob ``images`` is one image (3, H, W)
already normalized with the config's mean and std and zero-padded right and bottom to
multiples of 16, as ncnn apps prepare it (``Mat::substract_mean_normalize``; the ``.json``
gives the values for pixels in 0–255), its outputs ``offsets`` (2N, h, w) and ``logits``
(N, h, w).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import torch
from torch import nn

from p2pcount.errors import ConfigError
from p2pcount.export.formats import EXPORT_FORMATS, OUTPUTS, RAW_ONLY, exported_files
from p2pcount.infer.backends.ncnn_build import folded_ncnn_model
from p2pcount.infer.backends.ncnn_model import INPUT, LOGITS, OFFSETS
from p2pcount.io.atomic import atomic_path
from p2pcount.model.anchors import PointDecoder, flatten_proposals
from p2pcount.model.decoding import SIZE_DIVISOR
from p2pcount.model.folding import inference_network
from p2pcount.model.network import P2PNet


class PointsModel(nn.Module):
    """P2PNet followed by decoding: images → (points (B, K, 2), scores (B, K))."""

    def __init__(self, model: P2PNet) -> None:
        super().__init__()
        self.model = model
        self.decoder = PointDecoder(model.config, cache_size=0)  # a trace sees every step

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        offsets, logits = self.model(images)
        decoded = self.decoder(offsets, logits, image_size=images.shape[-2:])
        return flatten_proposals(decoded.points, decoded.scores * decoded.valid)


def export_model(
    model: P2PNet, path: Path, fmt: str = "onnx", outputs: str = "points", opset: int = 18
) -> Path:
    """Write ``model`` (eval mode, CPU, float32) to ``path`` in ``fmt``; returns ``path``.

    ncnn also writes the files :func:`~p2pcount.export.formats.exported_files` names, and
    only the ``"raw"`` outputs (a :class:`ConfigError` for ``"points"``).
    """
    if fmt not in EXPORT_FORMATS:
        raise ConfigError(f"unknown export format {fmt!r} (use {', '.join(EXPORT_FORMATS)})")
    if outputs not in OUTPUTS:
        raise ConfigError(f"unknown outputs {outputs!r} (use {', '.join(OUTPUTS)})")
    if fmt in RAW_ONLY and outputs != "raw":
        raise ConfigError(
            f"{fmt} export writes the raw maps only (--outputs raw); the .json written beside "
            "them says how to decode them"
        )
    model = model.float().cpu().eval()
    module = PointsModel(model).eval() if outputs == "points" else model
    names = ["points", "scores"] if outputs == "points" else ["offsets", "logits"]
    example = torch.rand(1, 3, 64, 48)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "ncnn":
            _export_ncnn(model, path)
            return path
        with atomic_path(path) as tmp:
            if fmt == "onnx":
                _export_onnx(module, example, tmp, names, opset)
            else:
                with torch.no_grad():
                    traced = torch.jit.trace(module, example, check_trace=False)
                traced.save(str(tmp))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def _export_ncnn(model: P2PNet, path: Path) -> None:
    """Write ``path`` (.param), its .bin and its .json (see the module's docstring)."""
    ncnn_model = folded_ncnn_model(inference_network(model, torch.device("cpu")))
    config = model.config
    description = {
        "format": "p2pcount ncnn export",
        "input": {
            "blob": INPUT,
            "layout": "(3, H, W) float32 RGB, one image",
            "normalize": "(pixel / 255 - mean) / std, per channel",
            "mean_255": [round(255 * m, 6) for m in config.mean],
            "norm_255": [round(1 / (255 * s), 9) for s in config.std],
            "pad": f"zeros right and bottom to multiples of {SIZE_DIVISOR}",
        },
        "outputs": {
            OFFSETS: f"(2N, H/{config.stride}, W/{config.stride}): the N x-offsets, then "
            "the N y-offsets; point = anchor + offset_scale * offset, px",
            LOGITS: f"(N, H/{config.stride}, W/{config.stride}): one logit per anchor; "
            "score = sigmoid(logit)",
            "anchors": f"cell (i, j) is centred at ((j + 0.5) S, (i + 0.5) S), S = "
            f"{config.stride} px; its N anchors on a square lattice around it, x fastest "
            "(N = 4: centre ± S/4, in the order (-,-), (+,-), (-,+), (+,+))",
        },
        "config": dataclasses.asdict(config),
    }
    contents = [
        ncnn_model.param.encode(),
        ncnn_model.weights,
        (json.dumps(description, indent=2) + "\n").encode(),
    ]
    for target, data in zip(exported_files(path, "ncnn"), contents, strict=True):
        with atomic_path(target) as tmp:
            tmp.write_bytes(data)


def _export_onnx(
    module: nn.Module, example: torch.Tensor, path: Path, names: list[str], opset: int
) -> None:
    try:
        import onnxscript  # noqa: F401  (torch's ONNX exporter needs it)
    except ImportError:
        raise ConfigError(
            "ONNX export needs the onnx extra: pip install 'p2pcount[onnx]'"
        ) from None
    dims = {
        0: torch.export.Dim("batch", min=1, max=1024),
        2: torch.export.Dim("height", min=1, max=65536),
        3: torch.export.Dim("width", min=1, max=65536),
    }
    # onnxscript logs whole tracebacks for conversions it then gives up on (checked below).
    quiet = logging.getLogger("onnxscript")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)
    try:
        _onnx_export(module, example, path, names, opset, dims)
    finally:
        quiet.setLevel(level)
    import onnx

    written = {o.domain: o.version for o in onnx.load(str(path)).opset_import}.get("", opset)
    if written != opset:  # the exporter falls back to its own opset when it cannot convert
        raise ConfigError(f"opset {opset} is not supported here (the exporter wrote {written})")


def _onnx_export(
    module: nn.Module,
    example: torch.Tensor,
    path: Path,
    names: list[str],
    opset: int,
    dims: dict[int, object],
) -> None:
    with torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["images"],
            output_names=names,
            dynamic_shapes={"images": dims},
            opset_version=opset,
            dynamo=True,
            external_data=False,  # one self-contained file (the model is far below 2 GB)
            verbose=False,
        )
