"""Training with the backbone's first VGG blocks fixed (``train --freeze-blocks K``): which
layers, the gradients of the others unchanged, frozen weights and batch-norm statistics kept
through a run, validation leaving every module in its mode, resuming with another K, and
the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.data.datasets import load_dataset
from p2pcount.errors import ConfigError
from p2pcount.model.anchors import flatten_proposals
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet
from p2pcount.train.config import TrainConfig
from p2pcount.train.freezing import freeze, frozen_layers, train_mode
from p2pcount.train.loop import validate
from p2pcount.train.trainer import Trainer
from tests.tiny_training import cli_train_args, tiny_scenes


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_scenes(tmp_path_factory.mktemp("syn"))


def _feature_index(name: str) -> int:
    """The backbone layer index of a parameter or buffer name (``backbone.features.7.weight``
    → 7); 99, past every backbone layer, for the neck's and heads'."""
    return int(name.split(".")[2]) if name.startswith("backbone.") else 99


def _config(**overrides) -> TrainConfig:
    base = dict(
        epochs=1, batch_size=3, crops_per_image=1, crop_size=48, workers=0, seed=0,
        device="cpu", precision="fp32",
    )  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def test_frozen_layers_are_whole_vgg_blocks() -> None:
    plain, bn = P2PNet(ModelConfig()), P2PNet(ModelConfig(backbone="vgg16_bn"))
    assert frozen_layers(plain, 0) == []
    # vgg16: blocks end at features[4], [9], [16], [23], [30] (the pools open blocks 2-5)
    for blocks, end in ((1, 4), (2, 9), (3, 16), (5, 30)):
        assert frozen_layers(plain, blocks) == list(plain.backbone.features[:end])
    assert len(plain.backbone.features) == 30
    # vgg16_bn: conv, batch norm, ReLU per convolution; block 1 is 6 layers, block 2 ends at 13
    assert frozen_layers(bn, 1) == list(bn.backbone.features[:6])
    assert isinstance(frozen_layers(bn, 2)[-1], nn.ReLU) and len(frozen_layers(bn, 2)) == 13
    freeze(bn, 2)
    for name, param in bn.named_parameters():
        index = _feature_index(name)
        assert param.requires_grad == (index >= 13), name
    train_mode(bn, 2)
    assert [m.training for m in bn.backbone.features[12:15]] == [False, True, True]
    assert bn.neck.training


def test_validation_restores_each_modules_mode(tiny_dataset: Path) -> None:
    model = P2PNet(ModelConfig(backbone="vgg16_bn"))
    train_mode(model, 2)
    modes = [m.training for m in model.modules()]
    assert not all(modes) and any(modes)
    metrics = validate(model, torch.device("cpu"), _config(), load_dataset(tiny_dataset)[:1])
    assert set(metrics) == {"mae", "mse", "precision", "recall", "f1"}
    assert [m.training for m in model.modules()] == modes
    model.eval()  # a model validated in eval mode stays there
    validate(model, torch.device("cpu"), _config(), load_dataset(tiny_dataset)[:1])
    assert not any(m.training for m in model.modules())


def test_config_checks_the_block_count() -> None:
    assert TrainConfig().frozen_blocks == 0
    for bad in (-1, 6):
        with pytest.raises(ConfigError, match=f"frozen_blocks must be 0 to 5, not {bad}"):
            TrainConfig(frozen_blocks=bad)


def _gradients(trainer: Trainer) -> dict[str, torch.Tensor | None]:
    """The gradients of one forward and backward pass on the trainer's first batch."""
    trainer.batches.set_epoch(0)
    trainer.dataset.set_epoch(0)
    images, targets = next(iter(trainer.loader))
    train_mode(trainer.model, trainer.config.frozen_blocks)
    offsets, logits = trainer.model(images)
    points, flat = flatten_proposals(trainer.decoder(offsets, logits).points, logits)
    trainer.model.zero_grad(set_to_none=True)
    trainer.criterion(points, flat, targets)["loss"].backward()
    return {n: p.grad for n, p in trainer.model.named_parameters()}


def test_freezing_leaves_the_other_gradients_as_they_were(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    samples = load_dataset(tiny_dataset)
    full = _gradients(Trainer(samples, tmp_path / "a", _config(), ModelConfig()))
    frozen = _gradients(Trainer(samples, tmp_path / "b", _config(frozen_blocks=3), ModelConfig()))
    assert full.keys() == frozen.keys()
    for name, grad in frozen.items():
        index = _feature_index(name)
        if index < 16:  # blocks 1-3 of vgg16: features[0:16]
            assert grad is None, name
        else:
            assert full[name] is not None and grad is not None
            assert torch.allclose(grad, full[name], rtol=1e-5, atol=1e-9), name
            assert grad.abs().sum() > 0, name


def test_a_run_keeps_frozen_weights_and_statistics(tiny_dataset: Path, tmp_path: Path) -> None:
    samples = load_dataset(tiny_dataset)
    config = _config(epochs=2, lr=1e-3, lr_backbone=1e-3, frozen_blocks=2)
    trainer = Trainer(samples, tmp_path / "run", config, ModelConfig(backbone="vgg16_bn"))
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.run()
    after = trainer.model.state_dict()
    # vgg16_bn blocks 1-2 are features[0:13]: weights, biases and batch-norm statistics kept
    for key, value in before.items():
        index = _feature_index(key)
        if index < 13:
            assert torch.equal(after[key], value), key
        elif key.endswith(("weight", "running_mean", "running_var")):
            assert not torch.equal(after[key], value), key
    # validation after each epoch put the model back in training mode, blocks 1-2 in eval
    features = trainer.model.backbone.features
    assert not any(m.training for m in features[:13]) and all(m.training for m in features[13:])
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert json.loads(state["train_config"])["frozen_blocks"] == 2
    # the state resumes with another K (the optimizer keeps every backbone weight)
    more = _config(epochs=3, lr=1e-3, lr_backbone=1e-3, frozen_blocks=0)
    resumed = Trainer(samples, tmp_path / "run", more, ModelConfig(), resume=True)
    (record,) = resumed.run()
    assert record.epoch == 3
    assert not torch.equal(resumed.model.state_dict()["backbone.features.0.weight"],
                           before["backbone.features.0.weight"])  # fmt: skip


def test_cli_freeze_blocks(tiny_dataset: Path, tmp_path: Path) -> None:
    base = cli_train_args(tiny_dataset)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [*base, "-o", str(out), "--freeze-blocks", "5"])
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0].endswith(", epoch 1, backbone blocks 1–5 fixed")
    state = torch.load(out / "state.pt", weights_only=True)
    assert json.loads(state["train_config"])["frozen_blocks"] == 5
    one = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "one"), "--freeze-blocks", "1"])
    assert one.stderr.splitlines()[0].endswith(", epoch 1, backbone block 1 fixed")
    bad = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "bad"), "--freeze-blocks", "6"])
    assert bad.exit_code == 2
    last = bad.stderr.strip().splitlines()[-1]  # click's range message, worded by version
    assert last.startswith("Error: Invalid value for '--freeze-blocks'") and "5" in last
    assert not (tmp_path / "bad").exists()
