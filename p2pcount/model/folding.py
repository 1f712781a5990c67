"""Making a trained P2PNet fast for inference, without changing what it computes.

* batch norm folded into the preceding convolution (``vgg16_bn``): one op instead of two;
* channels-last memory layout, which oneDNN (CPU) and cuDNN (CUDA) run fastest;
* optionally weights cast to bfloat16/float16 once, instead of autocast re-casting them on
  every forward pass.

Also the receptive field, from which the overlap margin of tiled inference follows
(:mod:`p2pcount.infer.tiling`).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from p2pcount.model.network import P2PNet


def fold_batchnorm(features: nn.Sequential) -> None:
    """Fold every BatchNorm2d that follows a Conv2d into it (in place; BN → Identity).

    conv(x)·γ/√(σ²+ε) + (β − μ·γ/√(σ²+ε)) is the same affine map as BN(conv(x)) in eval mode.
    """
    for index in range(1, len(features)):
        conv, norm = features[index - 1], features[index]
        if not (isinstance(conv, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d)):
            continue
        scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
        bias = conv.bias if conv.bias is not None else torch.zeros_like(norm.running_mean)
        folded = nn.Conv2d(
            conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding
        ).to(conv.weight.device)
        with torch.no_grad():
            folded.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
            folded.bias.copy_((bias - norm.running_mean) * scale + norm.bias)
        features[index - 1] = folded
        features[index] = nn.Identity()


def inference_network(
    model: P2PNet,
    device: torch.device,
    weight_dtype: torch.dtype | None = None,
    copy_model: bool = True,
) -> P2PNet:
    """``model`` on ``device``, BN folded, channels-last, weights in ``weight_dtype``.

    With ``copy_model`` the original is left untouched (it may be in the middle of
    training); without, it is converted in place (saves a copy of the weights).
    """
    net = (copy.deepcopy(model) if copy_model else model).eval()
    with torch.no_grad():
        fold_batchnorm(net.backbone.features)
    net = net.to(device=device, memory_format=torch.channels_last)
    if weight_dtype is not None:
        net = net.to(weight_dtype)
    return net.requires_grad_(False)


def receptive_field(model: P2PNet) -> int:
    """Receptive field (pixels) of one output cell: backbone to C5, neck, three head convs."""
    size, jump = 1, 1
    for layer in model.backbone.features:
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            kernel = (
                layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            )
            stride = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            size += (kernel - 1) * jump
            jump *= stride
    # Neck 3×3 and the head's three 3×3 convs run at stride 8 (jump of C4 = C5 / 2).
    return size + 4 * 2 * (jump // 2)
