"""P2PNet as an ncnn model: the ``.param`` text and the ``.bin`` weights, written directly
from a :class:`~p2pcount.model.config.ModelConfig` and a state dict, in NumPy (no tracer).

The graph, for an input blob ``images`` (3, H, W) already normalized and padded to
multiples of 16::

    VGG16: 13 convs (3×3, ReLU fused), 4 max-pools ─┬─ C4 ── 1×1 ──────────────────┐
                                       └─ pool, 3 convs ── C5 ── 1×1 ── nearest ×2 ── add
    add ── 3×3 ─┬─ regression head (3×3 ReLU, 3×3 ReLU, 3×3) ── ``offsets`` (2N, H/8, W/8)
                └─ classification head (the same)          ── ``logits``  (N, H/8, W/8)

The state dict must hold no batch norm (``vgg16``, or ``vgg16_bn`` folded by
:func:`~p2pcount.model.folding.inference_network`); its convolutions are read in the order
of their index, and a gap between two backbone indices wider than one layer (conv, ReLU;
or conv, folded norm, ReLU) is a max-pool, as in torchvision's VGG16.

Format (ncnn's ``param-and-model-file-structure``): magic 7767517, ``LAYERS BLOBS``, then
one line per layer, ``Type name inputs outputs in… out… key=value…``. A Convolution's
weights are a 4-byte storage tag (0: float32) and its (out, in, kh, kw) weights, then its
bias as raw float32.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from p2pcount.errors import WeightsError
from p2pcount.model.config import ModelConfig

#: First line of every ``.param`` file.
PARAM_MAGIC = 7767517
#: Blob names of the graph's input and outputs.
INPUT, OFFSETS, LOGITS = "images", "offsets", "logits"
#: Storage tag of float32 weights in a ``.bin`` file.
_FLOAT32_TAG = np.uint32(0).tobytes()
_FEATURE_WEIGHT = re.compile(r"backbone\.features\.(\d+)\.weight")
_VGG16_CONVS, _VGG16_POOLS, _C4_POOL = 13, 4, 3  # C4 is what the 4th pool (index 3) takes


@dataclass(frozen=True)
class NcnnModel:
    """An ncnn model in memory.

    Attributes:
        param: the ``.param`` text (the graph).
        weights: the ``.bin`` bytes (every convolution's weights and bias, in graph order).
    """

    param: str
    weights: bytes


class _Graph:
    """Layers and weights added one at a time; blob names are the layers' names."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.blobs: set[str] = set()
        self.chunks: list[bytes] = []

    def layer(self, kind: str, name: str, inputs: list[str], outputs: list[str], *params) -> str:
        fields = [kind, name, str(len(inputs)), str(len(outputs)), *inputs, *outputs, *params]
        self.lines.append(" ".join(fields))
        self.blobs.update(inputs + outputs)
        return outputs[0]

    def conv(self, name: str, source: str, weight: np.ndarray, bias: np.ndarray, relu: bool) -> str:
        out, _, kernel_h, kernel_w = weight.shape
        if kernel_h != kernel_w or kernel_h % 2 == 0:
            raise WeightsError(f"{name}: expected a square odd kernel, got {weight.shape}")
        params = (
            f"0={out} 1={kernel_w} 11={kernel_h} 2=1 3=1 4={kernel_w // 2} 5=1 "
            f"6={weight.size} 9={int(relu)}"
        )
        self.chunks += [_FLOAT32_TAG, _float32(weight), _float32(bias)]
        return self.layer("Convolution", name, [source], [name], params)

    def split(self, source: str) -> tuple[str, str]:
        first, second = f"{source}_a", f"{source}_b"
        self.layer("Split", f"{source}_split", [source], [first, second])
        return first, second

    def model(self) -> NcnnModel:
        header = f"{PARAM_MAGIC}\n{len(self.lines)} {len(self.blobs)}\n"
        return NcnnModel(header + "\n".join(self.lines) + "\n", b"".join(self.chunks))


def _float32(array: np.ndarray) -> bytes:
    return np.ascontiguousarray(array, dtype="<f4").tobytes()


def build_ncnn_model(config: ModelConfig, state: Mapping[str, np.ndarray]) -> NcnnModel:
    """The ncnn model of a P2PNet with ``config`` and the batch-norm-free ``state``.

    Raises :class:`WeightsError` when ``state`` is not a VGG16 P2PNet of that config
    (missing tensors, batch-norm statistics, wrong numbers of convolutions or pools).
    """
    if any(key.endswith("running_mean") for key in state):
        raise WeightsError("the ncnn writer takes folded weights: batch norm is still there")
    graph = _Graph()
    x = graph.layer("Input", INPUT, [], [INPUT])
    x, c4 = _backbone(graph, x, config, state)
    c5 = graph.conv("lateral_c5", x, *_conv(state, "neck.lateral_c5"), relu=False)
    c5 = graph.layer("Interp", "upsample_c5", [c5], ["upsample_c5"], "0=1 1=2.0 2=2.0")
    c4 = graph.conv("lateral_c4", c4, *_conv(state, "neck.lateral_c4"), relu=False)
    x = graph.layer("BinaryOp", "fpn_add", [c4, c5], ["fpn_add"], "0=0")
    features = graph.split(graph.conv("neck_output", x, *_conv(state, "neck.output"), False))
    for head, source, output in zip(
        ("regression", "classification"), features, (OFFSETS, LOGITS), strict=True
    ):
        x = graph.conv(f"{head}_1", source, *_conv(state, f"{head}.conv1"), relu=True)
        x = graph.conv(f"{head}_2", x, *_conv(state, f"{head}.conv2"), relu=True)
        graph.conv(output, x, *_conv(state, f"{head}.output"), relu=False)
    return graph.model()


def _backbone(
    graph: _Graph, x: str, config: ModelConfig, state: Mapping[str, np.ndarray]
) -> tuple[str, str]:
    """Add VGG16's convolutions and pools; returns the blobs of C5 and C4."""
    indices = sorted(int(match[1]) for key in state if (match := _FEATURE_WEIGHT.fullmatch(key)))
    period = 3 if config.backbone == "vgg16_bn" else 2  # layers per conv: conv, (BN,) ReLU
    pools, c4 = 0, ""
    for number, index in enumerate(indices):
        if number > 0 and index - indices[number - 1] > period:
            if pools == _C4_POOL:
                c4, x = graph.split(x)
            x = graph.layer("Pooling", f"pool{pools}", [x], [f"pool{pools}"], "0=0 1=2 2=2 5=1")
            pools += 1
        prefix = f"backbone.features.{index}"
        x = graph.conv(f"conv{number}", x, *_conv(state, prefix), relu=True)
    if len(indices) != _VGG16_CONVS or pools != _VGG16_POOLS:
        raise WeightsError(
            f"expected VGG16's {_VGG16_CONVS} convolutions and {_VGG16_POOLS} pools, "
            f"found {len(indices)} and {pools}"
        )
    return x, c4


def _conv(state: Mapping[str, np.ndarray], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """(weight (out, in, k, k), bias (out,)) of the convolution ``prefix``."""
    try:
        weight, bias = np.asarray(state[f"{prefix}.weight"]), np.asarray(state[f"{prefix}.bias"])
    except KeyError as exc:
        raise WeightsError(f"the weights have no tensor {exc.args[0]}") from None
    if weight.ndim != 4 or bias.shape != weight.shape[:1]:
        raise WeightsError(f"{prefix}: not a convolution ({weight.shape}, {bias.shape})")
    return weight, bias
