"""The network: layer indices, shapes, padding, neck arithmetic (seed: shared/seeds/001_*)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet, block_bounds, pad_to_multiple, vgg16_features


def test_vgg16_blocks_are_the_seeds_layer_indices() -> None:
    features = vgg16_features(batch_norm=False)
    assert len(features) == 30  # indices 0–29; the final max-pool (30) is excluded
    assert block_bounds(features) == [(0, 4), (4, 9), (9, 16), (16, 23), (23, 30)]
    convs = [i for i, layer in enumerate(features) if isinstance(layer, nn.Conv2d)]
    assert convs == [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]


def test_vgg16_bn_blocks_follow_torchvision_indices() -> None:
    features = vgg16_features(batch_norm=True)
    assert len(features) == 43
    # C4 after features[0:33], C5 after features[0:43].
    assert block_bounds(features) == [(0, 6), (6, 13), (13, 23), (23, 33), (33, 43)]


@pytest.mark.parametrize("batch_norm", [False, True])
def test_torchvision_vgg_features_load_by_index(batch_norm: bool) -> None:
    torchvision = pytest.importorskip("torchvision")
    builder = torchvision.models.vgg16_bn if batch_norm else torchvision.models.vgg16
    reference = builder(weights=None).features
    ours = vgg16_features(batch_norm)
    state = {k: v for k, v in reference.state_dict().items() if int(k.split(".")[0]) < len(ours)}
    ours.load_state_dict(state, strict=True)
    x = torch.rand(1, 3, 32, 32)
    reference.eval(), ours.eval()
    with torch.no_grad():
        assert torch.equal(ours(x), reference[: len(ours)](x))


@pytest.mark.parametrize(
    ("height", "width", "grid"), [(1, 1, (2, 2)), (33, 17, (6, 4)), (64, 48, (8, 6))]
)
def test_output_shapes_for_any_size(height: int, width: int, grid: tuple[int, int]) -> None:
    model = P2PNet().eval()
    with torch.no_grad():
        offsets, logits = model(torch.rand(2, 3, height, width))
    assert offsets.shape == (2, 8, *grid)
    assert logits.shape == (2, 4, *grid)


def test_pad_to_multiple_pads_right_and_bottom_only() -> None:
    x = torch.arange(6.0).view(1, 1, 2, 3)
    padded = pad_to_multiple(x, 4)
    assert padded.shape == (1, 1, 4, 4)
    assert torch.equal(padded[..., :2, :3], x)
    assert padded[..., 2:, :].abs().sum() == 0 and padded[..., :, 3:].abs().sum() == 0
    assert pad_to_multiple(torch.zeros(1, 1, 16, 32)).shape == (1, 1, 16, 32)


def test_forward_composes_backbone_neck_heads_as_the_seed() -> None:
    torch.manual_seed(0)
    model = P2PNet().eval()
    images = torch.rand(1, 3, 32, 48)
    with torch.no_grad():
        offsets, logits = model(images)
        mean = torch.tensor(model.config.mean).view(1, 3, 1, 1)
        std = torch.tensor(model.config.std).view(1, 3, 1, 1)
        x = (images - mean) / std
        features = model.backbone.features
        c4 = features[0:23](x)
        c5 = features[23:30](c4)
        assert c4.shape == (1, 512, 4, 6) and c5.shape == (1, 512, 2, 3)
        neck = model.neck
        p4 = neck.output(neck.lateral_c4(c4) + F.interpolate(neck.lateral_c5(c5), scale_factor=2.0))

        def head(h: nn.Module) -> torch.Tensor:
            return h.output(F.relu(h.conv2(F.relu(h.conv1(p4)))))

        assert torch.allclose(offsets, head(model.regression), atol=1e-6)
        assert torch.allclose(logits, head(model.classification), atol=1e-6)


def test_heads_layer_shapes() -> None:
    model = P2PNet(ModelConfig(num_anchors=9))
    assert model.regression.output.weight.shape == (18, 256, 3, 3)
    assert model.classification.output.weight.shape == (9, 256, 3, 3)
    assert model.neck.lateral_c4.weight.shape == (256, 512, 1, 1)
    assert model.neck.output.weight.shape == (256, 256, 3, 3)


def test_odd_sizes_are_padded_with_the_mean_colour() -> None:
    # Padding happens after normalization, with zeros, i.e. with the mean colour: a
    # 33 × 17 image gives the same maps as the same image extended by hand with the mean.
    model = P2PNet().eval()
    images = torch.rand(1, 3, 33, 17)
    mean = torch.tensor(model.config.mean).view(1, 3, 1, 1)
    extended = mean.expand(1, 3, 48, 32).clone()
    extended[..., :33, :17] = images
    with torch.no_grad():
        for a, b in zip(model(images), model(extended), strict=True):
            assert torch.allclose(a, b, atol=1e-5)
