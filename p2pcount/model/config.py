"""The model configuration that travels with its weights.

A :class:`ModelConfig` is stored as JSON in the metadata of every ``.safetensors`` file
p2pcount writes, so a weights file always says how to build the network that reads it.
This module does not import torch.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields

from p2pcount.errors import ConfigError

#: Backbones p2pcount can build. Both are torchvision's VGG16 feature extractor, with
#: the layer indices of ``torchvision.models.vgg16(_bn)().features``.
BACKBONES = ("vgg16", "vgg16_bn")
#: VGG blocks in either backbone (five conv stages; the fifth, unpooled, feeds the neck's C5).
BACKBONE_BLOCKS = 5

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def anchor_lattice_side(num_anchors: int) -> int:
    """k for N = k² anchors per cell (on a k × k lattice); :class:`ConfigError` unless N is
    a positive perfect square."""
    side = math.isqrt(num_anchors) if num_anchors > 0 else 0
    if side == 0 or side * side != num_anchors:
        raise ConfigError(f"num_anchors must be a positive perfect square, not {num_anchors}")
    return side


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a P2PNet and to feed it images.

    Attributes:
        backbone: ``"vgg16"`` (the seed's) or ``"vgg16_bn"`` (the original release's).
        num_anchors: N, anchor points per grid cell; a perfect square (4 = 2×2).
        stride: pixels per grid cell of the prediction maps; 8 for the VGG16 backbone.
        offset_scale: predicted offsets are multiplied by this before being added to the
            anchors (pixels per unit of regression output). The original release uses 100.
        neck_channels: channels of the FPN neck's output.
        head_channels: channels of the heads' two hidden convolutions.
        mean, std: per-channel RGB normalization of images scaled to [0, 1].
    """

    backbone: str = "vgg16"
    num_anchors: int = 4
    stride: int = 8
    offset_scale: float = 100.0
    neck_channels: int = 256
    head_channels: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.backbone not in BACKBONES:
            raise ConfigError(f"unknown backbone {self.backbone!r} (known: {', '.join(BACKBONES)})")
        anchor_lattice_side(self.num_anchors)
        if self.stride != 8:
            raise ConfigError(f"the VGG16 backbone predicts at stride 8, not {self.stride}")
        if not self.offset_scale > 0:
            raise ConfigError(f"offset_scale must be positive, not {self.offset_scale}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ConfigError("mean and std must hold 3 values each, std positive")
        # JSON round trips give lists; keep the dataclass hashable and comparable.
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        object.__setattr__(self, "offset_scale", float(self.offset_scale))

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"model config is not valid JSON ({exc})") from None
        if not isinstance(data, dict):
            raise ConfigError("model config must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"model config has unknown fields: {', '.join(unknown)}")
        try:
            return cls(**data)
        except TypeError as exc:
            raise ConfigError(f"model config is malformed ({exc})") from None
