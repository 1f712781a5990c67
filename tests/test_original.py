"""The original P2PNet release's checkpoints convert exactly.

The test builds a checkpoint in the release's key layout from random tensors and runs an
independent re-implementation of the release's forward pass (written here from the
published description: torchvision VGG slices body1..4, a 3-level FPN of which P4 is
used, 4-layer heads of which conv1, conv2 and output are used, interleaved regression
channels ×100, two-class softmax) against p2pcount's conversion.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from p2pcount.errors import WeightsError
from p2pcount.model.anchors import decode, make_anchors
from p2pcount.weights.checkpoint import build_model, read_weights
from p2pcount.weights.original import convert_original

torchvision = pytest.importorskip("torchvision")

SLICES = {
    "vgg16": [(0, 9), (9, 16), (16, 23), (23, 30)],
    "vgg16_bn": [(0, 13), (13, 23), (23, 33), (33, 43)],
}


def _conv(out_ch: int, in_ch: int, k: int, gen: torch.Generator) -> dict[str, torch.Tensor]:
    return {
        "weight": torch.randn(out_ch, in_ch, k, k, generator=gen) * (2 / (in_ch * k * k)) ** 0.5,
        "bias": torch.randn(out_ch, generator=gen) * 0.1,
    }


def make_original_checkpoint(backbone: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict in the release's layout, every tensor random (BN stats included)."""
    gen = torch.Generator().manual_seed(seed)
    builder = getattr(torchvision.models, backbone)
    features = builder(weights=None).features
    state: dict[str, torch.Tensor] = {}
    for body, (start, end) in enumerate(SLICES[backbone], start=1):
        for key, tensor in nn.Sequential(*features[start:end]).state_dict().items():
            if key.endswith("num_batches_tracked"):
                value = torch.tensor(7)
            elif key.endswith("running_var") or key.endswith("weight") and tensor.dim() == 1:
                value = torch.rand(tensor.shape, generator=gen) + 0.5
            elif tensor.dim() == 4:
                value = torch.randn(tensor.shape, generator=gen) * (2 / tensor[0].numel()) ** 0.5
            else:
                value = torch.randn(tensor.shape, generator=gen) * 0.1
            state[f"backbone.body{body}.{key}"] = value
    fpn = {"P5_1": (256, 512, 1), "P5_2": (256, 256, 3), "P4_1": (256, 512, 1),
           "P4_2": (256, 256, 3), "P3_1": (256, 256, 1), "P3_2": (256, 256, 3)}  # fmt: skip
    for name, (o, i, k) in fpn.items():
        for leaf, value in _conv(o, i, k, gen).items():
            state[f"fpn.{name}.{leaf}"] = value
    for head in ("regression", "classification"):
        for name in ("conv1", "conv2", "conv3", "conv4"):
            for leaf, value in _conv(256, 256, 3, gen).items():
                state[f"{head}.{name}.{leaf}"] = value
        for leaf, value in _conv(8, 256, 3, gen).items():
            state[f"{head}.output.{leaf}"] = value * 0.1
    return state


def original_forward(
    state: dict[str, torch.Tensor], backbone: str, images: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The release's inference: (B, K, 2) points and (B, K) person probabilities.

    K = h·w·4, cells row-major, anchors innermost with x varying fastest.
    """
    builder = getattr(torchvision.models, backbone)
    features = builder(weights=None).features
    bodies = []
    for body, (start, end) in enumerate(SLICES[backbone], start=1):
        module = nn.Sequential(*features[start:end]).eval()
        prefix = f"backbone.body{body}."
        module.load_state_dict(
            {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        )
        bodies.append(module)

    def conv(x: torch.Tensor, name: str, padding: int) -> torch.Tensor:
        return F.conv2d(x, state[f"{name}.weight"], state[f"{name}.bias"], padding=padding)

    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    x = (images - mean) / std
    c2 = bodies[1](bodies[0](x))
    c4 = bodies[2](c2)
    c5 = bodies[3](c4)
    p5 = conv(c5, "fpn.P5_1", 0)
    p4 = conv(c4, "fpn.P4_1", 0) + F.interpolate(p5, scale_factor=2, mode="nearest")
    p4 = conv(p4, "fpn.P4_2", 1)

    def head(name: str) -> torch.Tensor:
        y = F.relu(conv(p4, f"{name}.conv1", 1))
        y = F.relu(conv(y, f"{name}.conv2", 1))
        return conv(y, f"{name}.output", 1).permute(0, 2, 3, 1)  # (B, h, w, 8)

    batch, h, w, _ = head("regression").shape
    regression = head("regression").reshape(batch, h * w * 4, 2) * 100
    classification = head("classification").reshape(batch, h * w * 4, 2)

    # Anchor points: cell centres ((j + .5)·8, (i + .5)·8), offsets ±2 px, x fastest.
    shift = torch.tensor([-2.0, 2.0])
    sy, sx = torch.meshgrid(shift, shift, indexing="ij")
    per_cell = torch.stack([sx.reshape(-1), sy.reshape(-1)], dim=1)  # (4, 2)
    cy, cx = torch.meshgrid((torch.arange(h) + 0.5) * 8, (torch.arange(w) + 0.5) * 8, indexing="ij")
    centres = torch.stack([cx.reshape(-1), cy.reshape(-1)], dim=1)  # (h·w, 2), row-major
    anchors = (centres[:, None, :] + per_cell[None]).reshape(-1, 2)
    points = anchors + regression
    probabilities = classification.softmax(dim=-1)[..., 1]
    return points, probabilities


@pytest.mark.parametrize(
    ("backbone", "height", "width"), [("vgg16_bn", 128, 256), ("vgg16", 128, 128)]
)
def test_conversion_is_exact(tmp_path: Path, backbone: str, height: int, width: int) -> None:
    state = make_original_checkpoint(backbone)
    path = tmp_path / "SHTechA.pth"
    torch.save({"model": state}, path)
    images = torch.rand(2, 3, height, width, generator=torch.Generator().manual_seed(3))

    loaded = read_weights(path)
    assert loaded.origin == "original P2PNet release"
    assert loaded.config.backbone == backbone and loaded.config.offset_scale == 100.0
    model = build_model(loaded)
    with torch.no_grad():
        offsets, logits = model(images)
        anchors = make_anchors(height, width)
        decoded = decode(offsets, logits, anchors, loaded.config.offset_scale)
        ours_points = decoded.points.permute(0, 3, 4, 2, 1).reshape(2, -1, 2)
        ours_scores = decoded.scores.permute(0, 2, 3, 1).reshape(2, -1)
        ref_points, ref_scores = original_forward(state, backbone, images)

    assert ours_points.shape == ref_points.shape == (2, height * width // 16, 2)
    assert (ours_points - ref_points).abs().max() < 1e-3
    assert (ours_scores - ref_scores).abs().max() < 1e-5
    assert ref_scores.std() > 0.01  # the comparison is not between constants


def test_unused_tensors_are_dropped_and_channels_reordered() -> None:
    state = make_original_checkpoint("vgg16")
    config, converted = convert_original(state)
    assert config.num_anchors == 4
    assert not any(k.startswith("fpn.") or "conv3" in k or "conv4" in k for k in converted)
    assert torch.equal(converted["backbone.features.10.weight"], state["backbone.body2.1.weight"])
    reg = state["regression.output.weight"]
    assert torch.equal(converted["regression.output.weight"][1], reg[2])  # x of anchor 1
    assert torch.equal(converted["regression.output.weight"][5], reg[3])  # y of anchor 1
    cls = state["classification.output.bias"]
    assert torch.allclose(converted["classification.output.bias"][2], cls[5] - cls[4])


def test_unexpected_tensor_in_an_original_checkpoint() -> None:
    state = make_original_checkpoint("vgg16")
    state["fpn.P6.weight"] = torch.zeros(1)
    with pytest.raises(WeightsError, match="unexpected tensor 'fpn.P6.weight'"):
        convert_original(state, "x.pth")
