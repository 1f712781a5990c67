"""Training end to end on a tiny synthetic dataset: loss falls, resume is exact, Ctrl-C,
backbone initialization, and two processes with torch.distributed (gloo) on 127.0.0.1."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.data.datasets import load_dataset
from p2pcount.data.synthetic import write_dataset
from p2pcount.errors import ConfigError, DatasetError, WeightsError
from p2pcount.model.config import ModelConfig
from p2pcount.model.network import P2PNet
from p2pcount.train.config import CropLayout, TrainConfig
from p2pcount.train.setup import load_backbone_weights, resumed_config
from p2pcount.train.trainer import Trainer
from p2pcount.weights.checkpoint import load_model, read_weights
from tests.torchrun import torchrun


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("syn")
    return write_dataset(root, count=4, seed=3, min_size=64, max_size=96, max_people=12)


def tiny_config(**overrides) -> TrainConfig:
    base = dict(
        epochs=2, batch_size=2, crops_per_image=2, crop_size=64, workers=0, seed=0,
        lr=3e-4, lr_backbone=3e-4, device="cpu", precision="fp32",
    )  # fmt: skip
    return TrainConfig(**{**base, **overrides})


def _log(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]


def test_two_epochs_loss_falls_and_checkpoint_counts(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = [
        "train", str(tiny_dataset), "--val", str(tiny_dataset), "-o", str(out),
        "--epochs", "3", "--batch-size", "2", "--crops-per-image", "2", "--crop-size", "64",
        "--workers", "0", "--backbone-weights", "none", "--lr", "3e-4", "--lr-backbone", "3e-4",
        "--device", "cpu", "--precision", "fp32",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    log = _log(out)
    assert [r["epoch"] for r in log] == [1, 2, 3]
    assert log[-1]["loss"] < log[0]["loss"]
    assert set(log[0]["val"]) == {"mae", "mse", "precision", "recall", "f1"}
    assert "epoch 3: loss" in result.stderr
    for name in ("last.safetensors", "best.safetensors", "state.pt"):
        assert (out / name).is_file()
    assert read_weights(out / "last.safetensors").metadata["epoch"] == "3"
    image = next((tiny_dataset.parent / "images").iterdir())
    counted = CliRunner().invoke(app, ["count", str(image), "-w", str(out / "last.safetensors")])
    assert counted.exit_code == 0 and counted.stdout.endswith(f"\t{image}\n")


def test_resume_continues_exactly(tiny_dataset: Path, tmp_path: Path) -> None:
    samples = load_dataset(tiny_dataset)
    straight = Trainer(samples, tmp_path / "a", tiny_config(), ModelConfig())
    straight.run()
    first = Trainer(samples, tmp_path / "b", tiny_config(epochs=1), ModelConfig())
    first.run()
    resumed = Trainer(samples, tmp_path / "b", tiny_config(), ModelConfig(), resume=True)
    assert resumed.start_epoch == 1
    assert resumed.weights_origin == f"resumed from {tmp_path / 'b' / 'state.pt'} (epoch 1)"
    assert resumed.backbone_origin == first.backbone_origin == "random initialization"
    resumed.run()
    assert [r["epoch"] for r in _log(tmp_path / "b")] == [1, 2]
    a, b = straight.model.state_dict(), resumed.model.state_dict()
    assert all(torch.allclose(a[k].float(), b[k].float(), atol=1e-6) for k in a)


def test_ctrl_c_leaves_a_resumable_state(tiny_dataset: Path, tmp_path: Path) -> None:
    samples = load_dataset(tiny_dataset)
    trainer = Trainer(samples, tmp_path, tiny_config(epochs=3), ModelConfig())

    def interrupt(info) -> None:
        if info.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.run(on_step=interrupt)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["epoch"] == 1  # epoch 2 starts over, from the end of epoch 1
    after_epoch_1 = read_weights(tmp_path / "last.safetensors").state
    assert all(torch.equal(state["model"][k], after_epoch_1[k]) for k in after_epoch_1)
    again = Trainer(samples, tmp_path, tiny_config(epochs=3), ModelConfig(), resume=True)
    assert again.start_epoch == 1
    with pytest.raises(WeightsError, match="nothing to resume"):
        Trainer(samples, tmp_path / "empty", tiny_config(), ModelConfig(), resume=True)
    with pytest.raises(ConfigError, match="already holds a training run"):
        Trainer(samples, tmp_path, tiny_config(), ModelConfig())
    resumed = Trainer(samples, tmp_path, tiny_config(), ModelConfig("vgg16_bn"), resume=True)
    assert resumed.model.config.backbone == "vgg16"  # the run's own architecture


def test_ctrl_c_in_the_first_epoch_leaves_the_initial_state(tiny_dataset, tmp_path) -> None:
    samples = load_dataset(tiny_dataset)
    trainer = Trainer(samples, tmp_path, tiny_config(), ModelConfig())
    initial = {k: v.clone() for k, v in trainer.model.state_dict().items()}

    def interrupt(info) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trainer.run(on_step=interrupt)
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert state["epoch"] == 0
    assert all(torch.equal(state["model"][k], initial[k]) for k in initial)


@pytest.mark.parametrize("workers", [0, 1])
def test_corrupt_image_stops_training_with_one_line(tiny_dataset, tmp_path, workers) -> None:
    data = Path(shutil.copytree(tiny_dataset.parent, tmp_path / "data")) / tiny_dataset.name
    image = sorted((data.parent / "images").iterdir())[1]
    image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])  # header intact
    out = tmp_path / "run"
    args = [
        "train", str(data), "-o", str(out), "--epochs", "1", "--batch-size", "2",
        "--crops-per-image", "1", "--crop-size", "32", "--workers", str(workers),
        "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
    ]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("p2pcount: error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert errors[0].startswith(f"p2pcount: error: {image}: corrupt or truncated image (")
    assert errors[0].endswith("(training stopped; fix it and continue with --resume)")
    assert torch.load(out / "state.pt", weights_only=True)["epoch"] == 0


def test_crops_change_every_epoch_with_loader_workers(tiny_dataset, tmp_path) -> None:
    trainer = Trainer(load_dataset(tiny_dataset), tmp_path, tiny_config(workers=1), ModelConfig())
    batches = []
    for epoch in (0, 1):
        trainer.batches.set_epoch(epoch)
        trainer.dataset.set_epoch(epoch)
        batches.append(sorted(float(images.sum()) for images, _ in trainer.loader))
    assert batches[0] != batches[1]


def test_backbone_weights_from_a_torchvision_state_dict(tmp_path: Path) -> None:
    torchvision = pytest.importorskip("torchvision")
    reference = torchvision.models.vgg16(weights=None)
    path = tmp_path / "vgg16.pth"
    torch.save(reference.state_dict(), path)
    model = P2PNet(ModelConfig())
    assert load_backbone_weights(model, str(path)) == str(path)
    assert torch.equal(model.backbone.features[28].weight, reference.features[28].weight)
    with pytest.raises(WeightsError, match="not a vgg16_bn feature extractor"):
        load_backbone_weights(P2PNet(ModelConfig(backbone="vgg16_bn")), str(path))


def test_imagenet_offline_names_the_other_choices(monkeypatch) -> None:
    torchvision = pytest.importorskip("torchvision")

    def offline(**kwargs):
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.setattr(torchvision.models, "vgg16", offline)
    with pytest.raises(WeightsError, match="--backbone-weights none .* --backbone-weights PATH"):
        load_backbone_weights(P2PNet(ModelConfig()), "imagenet")


def test_two_processes_with_gloo(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    done = torchrun([
        "train", str(tiny_dataset), "-o", str(out), "--epochs", "2",
        "--batch-size", "1", "--crops-per-image", "2", "--crop-size", "64", "--workers", "0",
        "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
    ])  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    log = _log(out)
    assert [r["epoch"] for r in log] == [1, 2]  # rank 0 alone writes
    assert done.stderr.count("epoch 2: loss") == 1
    assert "; 2 processes, cpu" in done.stderr
    load_model(out / "last.safetensors")


def test_init_weights_start_the_whole_model(tiny_dataset: Path, tmp_path: Path) -> None:
    from p2pcount.weights.checkpoint import save_weights

    torch.manual_seed(5)
    source = P2PNet(ModelConfig(backbone="vgg16_bn"))
    path = save_weights(tmp_path / "init.safetensors", source, dtype=torch.float16)
    trainer = Trainer(
        load_dataset(tiny_dataset), tmp_path / "run", tiny_config(), ModelConfig(),
        init_weights=str(path),
    )  # fmt: skip
    assert trainer.model.config.backbone == "vgg16_bn"
    expected = source.neck.output.weight.half().float()
    assert torch.equal(trainer.model.neck.output.weight.detach(), expected)


def test_learning_rates_drop_like_the_releases_steplr() -> None:
    config = tiny_config(lr=1e-4, lr_backbone=1e-5, lr_drop=3, lr_gamma=0.5)
    assert [config.learning_rates(e) for e in (0, 2, 3, 5, 6)] == [
        (1e-4, 1e-5), (1e-4, 1e-5), (5e-5, 5e-6), (5e-5, 5e-6), (2.5e-5, 2.5e-6),
    ]  # fmt: skip
    with pytest.raises(ConfigError, match="lr_gamma"):
        tiny_config(lr_gamma=0.0)
    with pytest.raises(ConfigError, match="lr_drop"):
        tiny_config(lr_drop=0)


def test_lr_drop_applies_to_the_epoch_and_survives_resume(tiny_dataset, tmp_path) -> None:
    samples = load_dataset(tiny_dataset)
    Trainer(samples, tmp_path, tiny_config(epochs=1, lr_drop=1), ModelConfig()).run()
    resumed = Trainer(samples, tmp_path, tiny_config(lr_drop=1), ModelConfig(), resume=True)
    resumed.run()
    log = _log(tmp_path)
    assert [(r["lr"], r["lr_backbone"]) for r in log] == [(3e-4, 3e-4), (pytest.approx(3e-5),) * 2]
    assert [g["lr"] for g in resumed.optimizer.param_groups] == [pytest.approx(3e-5)] * 2


FAST = [
    "--epochs", "1", "--batch-size", "2", "--crops-per-image", "1", "--crop-size", "32",
    "--workers", "0", "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
]  # fmt: skip


def test_train_and_val_formats_are_set_separately(tiny_dataset: Path, tmp_path: Path) -> None:
    data = Path(shutil.copytree(tiny_dataset.parent, tmp_path / "data"))
    train_list = (data / "list.txt").rename(data / "train.data")  # a name nothing detects
    val = tmp_path / "val"  # a folder of images with sidecar annotations
    val.mkdir()
    for image in sorted((data / "images").iterdir())[:2]:
        shutil.copy(image, val / image.name)
        shutil.copy(data / "annotations" / f"{image.stem}.txt", val / f"{image.stem}.txt")
    base = ["train", str(train_list), "--val", str(val), *FAST]
    runner = CliRunner()

    undetected = runner.invoke(app, [*base, "-o", str(tmp_path / "a")])
    assert undetected.exit_code == 2
    assert undetected.stderr.startswith(f"p2pcount: error: {train_list}: ")
    # --format sets TRAIN_DATA's layout only; --val is still detected (a folder).
    result = runner.invoke(app, [*base, "-o", str(tmp_path / "b"), "--format", "list"])
    assert result.exit_code == 0, result.stderr
    assert set(_log(tmp_path / "b")[0]["val"]) == {"mae", "mse", "precision", "recall", "f1"}
    wrong = runner.invoke(
        app, [*base, "-o", str(tmp_path / "c"), "--data-format", "list", "--val-format", "list"]
    )
    assert wrong.exit_code == 2
    assert wrong.stderr == f"p2pcount: error: {val}: list file not found\n"


def test_unwritable_output_is_one_line(tiny_dataset: Path, tmp_path: Path, monkeypatch) -> None:
    runner = CliRunner()
    occupied = tmp_path / "file"
    occupied.write_text("not a folder")
    result = runner.invoke(app, ["train", str(tiny_dataset), "-o", str(occupied), *FAST])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"p2pcount: error: {occupied}: cannot create the output folder")
    assert result.stderr.count("\n") == 1 and occupied.read_text() == "not a folder"

    def disk_full(obj, path, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", str(tiny_dataset), "-o", str(out), *FAST])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("p2pcount: error")]
    assert errors == [
        f"p2pcount: error: {out / 'state.pt'}: cannot write training state (No space left on "
        "device) (training stopped; fix it and start again)"
    ]
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == []  # the atomic write left no temp file


def test_unreadable_backbone_weights_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "vgg.pth"
    torch.save({"net": torch.nn.Linear(2, 2)}, path)  # a pickled module: refused, not executed
    with pytest.raises(WeightsError) as error:
        load_backbone_weights(P2PNet(ModelConfig()), str(path))
    assert str(error.value) == (
        f"{path}: cannot read backbone weights: holds pickled Python objects "
        "(torch.nn.modules.linear.Linear), refused: loading could run code"
    )


def test_diverging_training_stops_before_saving(tiny_dataset: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["train", str(tiny_dataset), "-o", str(out), *FAST, "--epochs", "2"]
    result = CliRunner().invoke(app, [*args, "--lr", "1e30", "--lr-backbone", "1e30"])
    assert result.exit_code == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("p2pcount: error")]
    assert len(errors) == 1 and "Traceback" not in result.stderr
    assert errors[0].startswith("p2pcount: error: epoch 1")
    assert "not finite (training diverged: lower --lr)" in errors[0]
    assert not (out / "last.safetensors").exists() and not (out / "log.jsonl").exists()
    assert torch.load(out / "state.pt", weights_only=True)["epoch"] == 0


def test_resume_checks_the_state(tiny_dataset: Path, tmp_path: Path) -> None:
    samples = load_dataset(tiny_dataset)
    Trainer(samples, tmp_path, tiny_config(epochs=1), ModelConfig()).run()
    with pytest.raises(ConfigError, match=r"state\.pt: already trained 1 epoch; ask for more"):
        Trainer(samples, tmp_path, tiny_config(epochs=1), ModelConfig(), resume=True)
    saved = torch.load(tmp_path / "state.pt", weights_only=True)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    for payload, reason in [
        ([1, 2, 3], "not a p2pcount training state"),
        ({"model": {}}, "not a p2pcount training state"),
        ({**saved, "epoch": "1"}, r"not a p2pcount training state \(epoch '1'\)"),
        ({**saved, "model_config": ModelConfig(backbone="vgg16_bn").to_json()}, "does not match"),
    ]:
        torch.save(payload, foreign / "state.pt")
        with pytest.raises(WeightsError, match=reason):
            Trainer(samples, foreign, tiny_config(), ModelConfig(), resume=True)


def test_resume_logs_each_epoch_once(tiny_dataset: Path, tmp_path: Path) -> None:
    samples = load_dataset(tiny_dataset)
    Trainer(samples, tmp_path, tiny_config(epochs=1), ModelConfig()).run()
    # Interrupted after logging epoch 2 but before its state was written:
    with open(tmp_path / "log.jsonl", "a") as log:
        log.write(json.dumps({"epoch": 2, "loss": 1.0}) + "\n")
    Trainer(samples, tmp_path, tiny_config(epochs=2), ModelConfig(), resume=True).run()
    log = _log(tmp_path)
    assert [r["epoch"] for r in log] == [1, 2] and log[1]["loss"] != 1.0


def test_a_folder_with_checkpoints_is_not_reused(tiny_dataset: Path, tmp_path: Path) -> None:
    (tmp_path / "last.safetensors").write_bytes(b"a user's model")
    with pytest.raises(ConfigError, match="already holds a training run"):
        Trainer(load_dataset(tiny_dataset), tmp_path, tiny_config(), ModelConfig())
    assert (tmp_path / "last.safetensors").read_bytes() == b"a user's model"


def test_backbone_weights_must_be_a_dict_of_tensors(tmp_path: Path) -> None:
    path = tmp_path / "list.pth"
    torch.save([1, 2, 3], path)
    with pytest.raises(WeightsError, match="not a state dict"):
        load_backbone_weights(P2PNet(ModelConfig()), str(path))
    torch.save({"features.0.weight": "not a tensor"}, path)
    with pytest.raises(WeightsError, match="not a vgg16 feature extractor"):
        load_backbone_weights(P2PNet(ModelConfig()), str(path))


def test_unreadable_validation_images_are_found_before_training(tiny_dataset, tmp_path) -> None:
    data = Path(shutil.copytree(tiny_dataset.parent, tmp_path / "data")) / tiny_dataset.name
    bad = sorted((data.parent / "images").iterdir())[0]
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])  # header intact
    samples = load_dataset(data)
    with pytest.warns(UserWarning, match=rf"{bad.name}: .*\(left out of validation\)"):
        trainer = Trainer(samples, tmp_path / "a", tiny_config(), ModelConfig(), samples)
    assert [s.image for s in trainer.val_samples] == [s.image for s in samples[1:]]
    with pytest.warns(UserWarning), pytest.raises(DatasetError, match="no validation image"):
        Trainer(samples, tmp_path / "b", tiny_config(), ModelConfig(), samples[:1])


def test_resumed_config_keeps_the_run_recipe_for_fields_not_given(tmp_path: Path) -> None:
    recorded = TrainConfig(
        epochs=2, lr=3e-5, seed=7, frozen_blocks=2, augment="robust", workers=4,
        extra_crop_layouts=(CropLayout(1, 256),),
    )  # fmt: skip
    saved = {"train_config": json.dumps(asdict(recorded))}
    state = tmp_path / "state.pt"
    asked = TrainConfig(epochs=5, lr=1e-4, workers=0)  # every other field at its default
    # Only the fields named as given are the caller's (and workers, device, precision).
    resumed = resumed_config(asked, saved, state, given={"lr"})
    assert resumed == replace(recorded, lr=1e-4, workers=0)
    assert resumed_config(asked, saved, state, given={"epochs"}).epochs == 5
    assert resumed.crop_layouts == (CropLayout(4, 128), CropLayout(1, 256))
    # given=None: the caller's whole config, the augment recipe the run's when left None.
    assert resumed_config(asked, saved, state) == replace(asked, augment="robust")
    # A new run, or a state without p2pcount's JSON config: the caller's, release by default.
    assert resumed_config(asked, None, state, given=set()) == replace(asked, augment="release")
    for junk in ("not json", "[1, 2]", None):
        got = resumed_config(asked, {"train_config": junk}, state, given=set())
        assert got == replace(asked, augment="release")
    # A recorded recipe that TrainConfig refuses names the state file.
    for field, value in (("crop_size", 50), ("extra_crop_layouts", [{"crops": 1}])):
        bad = {"train_config": json.dumps({**asdict(recorded), field: value})}
        with pytest.raises(WeightsError, match=r"state\.pt: its training config cannot be res"):
            resumed_config(asked, bad, state, given=set())
