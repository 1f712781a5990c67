"""Reading checkpoints of the original P2PNet release (TencentYoutuResearch/CrowdCounting-P2PNet).

The release saves ``{"model": state_dict}`` with keys ``backbone.body1..4.*`` (slices of
torchvision's VGG16(-BN) ``features``), ``fpn.*``, ``regression.*`` and
``classification.*``. :func:`convert_original` maps them onto p2pcount's layout, exactly:

* ``backbone.body<b>.<k>.*`` → ``backbone.features.<start_b + k>.*``;
* ``fpn.P4_1`` / ``fpn.P5_1`` / ``fpn.P4_2`` → ``neck.lateral_c4`` / ``lateral_c5`` / ``output``;
* the heads' ``conv1``, ``conv2``, ``output`` keep their names;
* regression output channels are interleaved per anchor (2a = x, 2a+1 = y of anchor a);
  ours hold all x first: ours[a] = theirs[2a], ours[N + a] = theirs[2a + 1];
* the two-class output (2a background, 2a+1 person) becomes one logit per anchor,
  person − background, since softmax([b, p])[1] = sigmoid(p − b);
* tensors the release computes but never uses (``fpn.P3_*``, ``fpn.P5_2``, the heads'
  ``conv3``/``conv4``) are dropped.

The release multiplies regression outputs by 100, our default ``offset_scale``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from p2pcount.errors import WeightsError
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import backbone_of

#: First ``features`` index of body1..body4 for each backbone (body1 starts at 0).
BODY_STARTS = {"vgg16": (0, 9, 16, 23), "vgg16_bn": (0, 13, 23, 33)}

_NECK_NAMES = {
    "fpn.P4_1": "neck.lateral_c4",
    "fpn.P5_1": "neck.lateral_c5",
    "fpn.P4_2": "neck.output",
}
_UNUSED = re.compile(r"^(fpn\.(P3_1|P3_2|P5_2)|(regression|classification)\.(conv3|conv4))\.")
_BODY = re.compile(r"^backbone\.body([1-4])\.(\d+)\.(.+)$")


def is_original_state_dict(state: Mapping[str, object]) -> bool:
    """True when the keys are the original release's (``backbone.body*`` and ``fpn.*``)."""
    return any(k.startswith("backbone.body") for k in state) and any(
        k.startswith("fpn.") for k in state
    )


def convert_original(
    state: Mapping[str, torch.Tensor], source: str = "checkpoint"
) -> tuple[ModelConfig, dict[str, torch.Tensor]]:
    """Convert an original-release state dict to (config, p2pcount state dict).

    Raises :class:`WeightsError` naming ``source`` if a tensor has an unexpected name or
    the output layers do not have the two-channels-per-anchor layout.
    """
    backbone = backbone_of(state)
    starts = BODY_STARTS[backbone]
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        if _UNUSED.match(key):
            continue
        body = _BODY.match(key)
        if body:
            index = starts[int(body.group(1)) - 1] + int(body.group(2))
            out[f"backbone.features.{index}.{body.group(3)}"] = tensor
            continue
        prefix, _, leaf = key.rpartition(".")
        if prefix in _NECK_NAMES:
            out[f"{_NECK_NAMES[prefix]}.{leaf}"] = tensor
        elif prefix.split(".")[0] in ("regression", "classification"):
            out[key] = tensor
        else:
            raise WeightsError(
                f"{source}: unexpected tensor {key!r} in an original P2PNet checkpoint"
            )

    for head in ("regression", "classification"):
        for leaf in ("weight", "bias"):
            if f"{head}.output.{leaf}" not in out:
                raise WeightsError(f"{source}: missing {head}.output.{leaf}")
    channels = out["classification.output.weight"].shape[0]
    if channels % 2 or out["regression.output.weight"].shape[0] != channels:
        raise WeightsError(
            f"{source}: output layers have {channels} and "
            f"{out['regression.output.weight'].shape[0]} channels; expected 2 per anchor each"
        )
    num_anchors = channels // 2
    for leaf in ("weight", "bias"):
        reg = out[f"regression.output.{leaf}"]
        out[f"regression.output.{leaf}"] = torch.cat([reg[0::2], reg[1::2]], dim=0).contiguous()
        cls = out[f"classification.output.{leaf}"]
        out[f"classification.output.{leaf}"] = (cls[1::2] - cls[0::2]).contiguous()
    config = ModelConfig(backbone=backbone, num_anchors=num_anchors, offset_scale=100.0)
    return config, out
