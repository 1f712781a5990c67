"""The P2PNet network: truncated VGG16 backbone, FPN neck, regression and classification heads.

Data flow for an input of H × W pixels (see ``shared/seeds``)::

    image (B, 3, H, W) in [0, 1]
      → normalize, zero-pad right/bottom to multiples of 16
      → backbone → C4 (B, 512, H/8, W/8), C5 (B, 512, H/16, W/16)
      → neck     → P4 (B, 256, H/8, W/8)
      → heads    → offsets (B, 2N, H/8, W/8), logits (B, N, H/8, W/8)

Parameter names of the backbone are torchvision's (``backbone.features.<index>.*``), so
ImageNet weights of ``torchvision.models.vgg16(_bn)`` load by index. This module does
not import torchvision.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from p2pcount.model.config import ModelConfig
from p2pcount.model.decoding import SIZE_DIVISOR

#: VGG16's convolution widths, "M" for a 2×2 max-pool (torchvision's configuration "D").
VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512,
)  # fmt: skip


def vgg16_features(batch_norm: bool) -> nn.Sequential:
    """torchvision's VGG16(-BN) ``features`` without its final max-pool.

    vgg16: indices 0–29; vgg16_bn: indices 0–42 (conv, batch norm, ReLU per layer).
    """
    layers: list[nn.Module] = []
    in_channels = 3
    for item in VGG16_LAYOUT:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(in_channels, int(item), kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(int(item)))
        layers.append(nn.ReLU(inplace=True))
        in_channels = int(item)
    return nn.Sequential(*layers)


def backbone_of(state_keys: object) -> str:
    """``vgg16_bn`` if a state dict's keys hold batch-norm statistics, else ``vgg16``."""
    return "vgg16_bn" if any(str(k).endswith("running_mean") for k in state_keys) else "vgg16"


def block_bounds(features: nn.Sequential) -> list[tuple[int, int]]:
    """[start, end) indices of the five VGG blocks; every block but the first opens with a pool.

    vgg16 gives (0, 4), (4, 9), (9, 16), (16, 23), (23, 30), the seed's blocks.
    """
    starts = [0] + [i for i, layer in enumerate(features) if isinstance(layer, nn.MaxPool2d)]
    ends = starts[1:] + [len(features)]
    return list(zip(starts, ends, strict=True))


class Backbone(nn.Module):
    """Truncated VGG16: returns C4 (stride 8, 512 ch) and C5 (stride 16, 512 ch)."""

    def __init__(self, batch_norm: bool) -> None:
        super().__init__()
        self.features = vgg16_features(batch_norm)
        blocks = block_bounds(self.features)
        self.c4_end = blocks[3][1]  # end of block 4

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) → C4 (B, 512, H/8, W/8), C5 (B, 512, H/16, W/16)."""
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index == self.c4_end - 1:
                c4 = x
        return c4, x


class Neck(nn.Module):
    """The seed's FPN: 1×1 convs to 256 ch, nearest ×2 upsample of C5, add, 3×3 conv."""

    def __init__(self, in_channels: int = 512, channels: int = 256) -> None:
        super().__init__()
        self.lateral_c4 = nn.Conv2d(in_channels, channels, kernel_size=1)
        self.lateral_c5 = nn.Conv2d(in_channels, channels, kernel_size=1)
        self.output = nn.Conv2d(channels, channels, kernel_size=3, padding=1)

    def forward(self, c4: torch.Tensor, c5: torch.Tensor) -> torch.Tensor:
        """C4 (B, 512, h, w), C5 (B, 512, h/2, w/2) → (B, 256, h, w)."""
        top = F.interpolate(self.lateral_c5(c5), scale_factor=2.0, mode="nearest")
        return self.output(self.lateral_c4(c4) + top)


class Head(nn.Module):
    """3×3 conv, ReLU, 3×3 conv, ReLU, 3×3 conv to ``out_channels`` (all padding 1)."""

    def __init__(self, in_channels: int, hidden: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(hidden, hidden, kernel_size=3, padding=1)
        self.output = nn.Conv2d(hidden, out_channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.conv1(x), inplace=True)
        x = F.relu(self.conv2(x), inplace=True)
        return self.output(x)


def pad_to_multiple(x: torch.Tensor, multiple: int = SIZE_DIVISOR) -> torch.Tensor:
    """Zero-pad (B, C, H, W) on the right and bottom so H and W are multiples of ``multiple``."""
    height, width = x.shape[-2:]
    # Always pad (zero amounts are a cheap copy): no branch on the size, so exported
    # graphs (ONNX, torch.export) stay valid for every input size.
    return F.pad(x, (0, -width % multiple, 0, -height % multiple))


class P2PNet(nn.Module):
    """P2PNet: for every 8×8 patch, N candidate head points and a logit each.

    ``forward`` takes RGB images scaled to [0, 1], shape (B, 3, H, W), any H and W.
    They are normalized with the config's mean/std and zero-padded (in normalized space,
    i.e. with the mean colour) on the right and bottom to multiples of 16; never resized.
    It returns the raw maps of the padded grid h = ceil(H/16)·2, w = ceil(W/16)·2:
    offsets (B, 2N, h, w) (N x-offsets, then N y-offsets) and logits (B, N, h, w).
    """

    def __init__(self, config: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = config or ModelConfig()
        n = self.config.num_anchors
        self.backbone = Backbone(batch_norm=self.config.backbone == "vgg16_bn")
        self.neck = Neck(512, self.config.neck_channels)
        self.regression = Head(self.config.neck_channels, self.config.head_channels, 2 * n)
        self.classification = Head(self.config.neck_channels, self.config.head_channels, n)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] → normalized with the config's per-channel mean/std."""
        mean = images.new_tensor(self.config.mean).view(1, 3, 1, 1)
        std = images.new_tensor(self.config.std).view(1, 3, 1, 1)
        return (images - mean) / std

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = pad_to_multiple(self.normalize(images))
        c4, c5 = self.backbone(x)
        features = self.neck(c4, c5)
        return self.regression(features), self.classification(features)
