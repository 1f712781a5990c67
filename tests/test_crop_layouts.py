"""Crop layouts (``train --also-crop NxS``): parsing, the per-batch layout schedule, the
crops each layout cuts, and a run that mixes two layouts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import BatchSampler
from torch.utils.data.distributed import DistributedSampler
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.data.datasets import load_dataset
from p2pcount.errors import ConfigError
from p2pcount.io.images import load_image
from p2pcount.model.config import ModelConfig
from p2pcount.train.augment import AugmentConfig
from p2pcount.train.config import CropLayout, TrainConfig
from p2pcount.train.crops import CrowdCrops, LayoutBatches
from p2pcount.train.recipes import crop_recipe
from p2pcount.train.trainer import Trainer
from tests.tiny_training import cli_train_args, tiny_scenes


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_scenes(tmp_path_factory.mktemp("syn"))


def test_layouts_parse_and_check() -> None:
    assert CropLayout.parse("1x256") == CropLayout(1, 256)
    assert CropLayout.parse(" 4X128 ") == CropLayout(4, 128)
    assert str(CropLayout(2, 64)) == "2x64"
    for text in ("256", "x256", "1x", "ax16", "1x256x2", "-1x16"):
        with pytest.raises(ConfigError, match=r"expected NxS, N crops of S px per image"):
            CropLayout.parse(text)
    with pytest.raises(ConfigError, match="'0x128': crops per image must be at least 1, not 0"):
        CropLayout.parse("0x128")
    with pytest.raises(ConfigError, match="'2x100': crop size must be a positive multiple of 16"):
        CropLayout.parse("2x100")
    # the main layout (crops_per_image x crop_size) is checked as any other
    with pytest.raises(ConfigError, match="crops per image must be at least 1, not 0"):
        TrainConfig(crops_per_image=0)
    with pytest.raises(ConfigError, match="crop size must be a positive multiple of 16, not 50"):
        TrainConfig(crop_size=50)
    config = TrainConfig(crops_per_image=4, crop_size=128, extra_crop_layouts=[(1, 256)])
    assert config.extra_crop_layouts == (CropLayout(1, 256),)
    assert config.crop_layouts == (CropLayout(4, 128), CropLayout(1, 256))
    assert TrainConfig().crop_layouts == (CropLayout(4, 128),)


def _sampler(length: int, seed: int = 5, rank: int = 0, replicas: int = 1) -> DistributedSampler:
    return DistributedSampler(range(length), num_replicas=replicas, rank=rank, seed=seed)


def test_one_layout_batches_as_a_dataloader_would() -> None:
    batches = LayoutBatches(_sampler(11), batch_size=4, layouts=1, seed=5)
    reference = BatchSampler(_sampler(11), batch_size=4, drop_last=False)
    for epoch in (0, 3):
        batches.set_epoch(epoch)
        reference.sampler.set_epoch(epoch)
        assert [[i for i, _ in b] for b in batches] == list(reference)
        assert {k for b in batches for _, k in b} == {0}
    assert len(batches) == 3


def test_layouts_take_equal_shares_of_the_batches_in_a_seeded_order() -> None:
    batches = LayoutBatches(_sampler(37), batch_size=4, layouts=3, seed=5)
    seen = []
    for epoch in range(4):
        batches.set_epoch(epoch)
        listed = list(batches)
        # one layout per batch; every index once per epoch
        assert all(len({k for _, k in b}) == 1 for b in listed)
        assert sorted(i for b in listed for i, _ in b) == list(range(37))
        layouts = [b[0][1] for b in listed]
        assert sorted(Counter(layouts).values()) == [3, 3, 4]  # 10 batches in 3 layouts
        assert layouts == batches.batch_layouts().tolist()
        seen.append(layouts)
    assert len({tuple(s) for s in seen}) > 1  # the order changes with the epoch
    again = LayoutBatches(_sampler(37), batch_size=4, layouts=3, seed=5)
    again.set_epoch(2)
    assert [b[0][1] for b in again] == seen[2]
    # the processes of a distributed run cut their k-th batches alike
    ranks = [LayoutBatches(_sampler(37, rank=r, replicas=2), 4, 3, seed=5) for r in (0, 1)]
    assert ranks[0].batch_layouts().tolist() == ranks[1].batch_layouts().tolist()


def test_each_layout_cuts_its_crops_from_its_own_seed(tiny_dataset: Path) -> None:
    samples = load_dataset(tiny_dataset)
    recipes = [
        crop_recipe("release", AugmentConfig(crop_size=32, crops=2)),
        crop_recipe("release", AugmentConfig(crop_size=64, crops=1)),
    ]
    crops = CrowdCrops(samples, recipes, seed=7)
    crops.set_epoch(2)
    image = load_image(samples[3].image, max_pixels=None, exif=False)
    for key, layout, entropy in (
        (3, 0, [7, 2, 3]),
        ((3, 0), 0, [7, 2, 3]),
        ((3, 1), 1, [7, 2, 3, 1]),
    ):
        images, points = crops[key]
        expected = recipes[layout](image, samples[3].points, np.random.default_rng(entropy))
        assert images.shape == (len(expected), 3, *expected[0][0].shape[:2])
        for got, got_points, (pixels, where) in zip(images, points, expected, strict=True):
            assert torch.equal(got, torch.from_numpy(pixels).permute(2, 0, 1).float() / 255)
            assert torch.equal(got_points, torch.from_numpy(where))
    assert crops[(3, 1)][0].shape == (1, 3, 64, 64)


def test_a_run_mixes_the_layouts(tiny_dataset: Path, tmp_path: Path) -> None:
    samples = load_dataset(tiny_dataset)
    config = TrainConfig(
        epochs=1, batch_size=2, crops_per_image=2, crop_size=32, workers=0, seed=0,
        device="cpu", precision="fp32", extra_crop_layouts=(CropLayout(1, 64),),
    )  # fmt: skip
    trainer = Trainer(samples, tmp_path / "run", config, ModelConfig())
    trainer.batches.set_epoch(0)
    trainer.dataset.set_epoch(0)
    shapes = Counter()
    for images, targets in trainer.loader:
        shapes[tuple(images.shape)] += 1
        size = images.shape[-1]
        assert len(targets) == images.shape[0]
        assert all(((t >= 0) & (t < size)).all() for t in targets)
    # 6 images in batches of 2: 3 batches, layouts 2x32 and 1x64 in shares 2 and 1
    assert sum(shapes.values()) == 3
    assert shapes == {(4, 3, 32, 32): 2, (2, 3, 64, 64): 1}
    (record,) = trainer.run()
    assert np.isfinite(record.loss)
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=True)
    assert json.loads(state["train_config"])["extra_crop_layouts"] == [{"crops": 1, "size": 64}]


def test_cli_also_crop(tiny_dataset: Path, tmp_path: Path) -> None:
    base = cli_train_args(tiny_dataset)
    out = tmp_path / "run"
    result = CliRunner().invoke(app, [*base, "-o", str(out), "--also-crop", "2x48"])
    assert result.exit_code == 0, result.stderr
    start = result.stderr.splitlines()[0]
    assert start.endswith(", epoch 1, crops per image 1x32 or 2x48 by batch")
    state = torch.load(out / "state.pt", weights_only=True)
    assert json.loads(state["train_config"])["extra_crop_layouts"] == [{"crops": 2, "size": 48}]
    bad = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "bad"), "--also-crop", "2x50"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "p2pcount: error: crop layout '2x50': crop size must be a positive multiple of 16, not 50"
    ]
    assert not (tmp_path / "bad").exists()
    bad = CliRunner().invoke(app, [*base, "-o", str(tmp_path / "bad"), "--crop-size", "50"])
    assert bad.exit_code == 2
    assert bad.stderr.strip().splitlines() == [
        "p2pcount: error: crop size must be a positive multiple of 16, not 50"
    ]
    assert not (tmp_path / "bad").exists()
