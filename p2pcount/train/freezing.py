"""Training with the backbone's first VGG blocks fixed (``train --freeze-blocks K``).

The layers of blocks 1..K keep the weights the run starts from: their parameters do not
require gradients, so autograd neither computes nor keeps anything for them, and a step
skips their backward pass (the costliest part of VGG16's, at full and half resolution: see
``scripts/benchmark.py --sections train_step``). Their batch-norm statistics (vgg16_bn) stay
fixed too, as those layers are held in eval mode while the rest trains. Adam passes over
parameters without gradients, so the frozen ones stay in the optimizer's backbone group and a
run's state resumes with any K.
"""

from __future__ import annotations

from torch import nn

from p2pcount.model.network import P2PNet, block_bounds


def frozen_layers(model: P2PNet, blocks: int) -> list[nn.Module]:
    """The backbone's layers of VGG blocks 1..``blocks`` (none for 0, all for 5)."""
    if blocks == 0:
        return []
    features = model.backbone.features
    end = block_bounds(features)[blocks - 1][1]
    return list(features[:end])


def freeze(model: P2PNet, blocks: int) -> None:
    """Stop gradients to the parameters of the backbone's first ``blocks`` VGG blocks."""
    for layer in frozen_layers(model, blocks):
        layer.requires_grad_(False)


def train_mode(model: P2PNet, blocks: int) -> None:
    """``model.train()``, with the first ``blocks`` VGG blocks left in eval mode (their
    batch-norm statistics are not updated)."""
    model.train()
    for layer in frozen_layers(model, blocks):
        layer.eval()
