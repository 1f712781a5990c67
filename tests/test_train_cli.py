"""`p2pcount train`'s messages: the start line (counts, where the weights come from) and
the command printed after Ctrl-C, which must run as printed."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from p2pcount.cli import app
from p2pcount.cli.train import _resume_command
from p2pcount.data.synthetic import write_dataset
from p2pcount.model.network import P2PNet
from p2pcount.train.trainer import Trainer
from p2pcount.weights.checkpoint import read_weights

FAST = [
    "--epochs", "1", "--batch-size", "1", "--crops-per-image", "1", "--crop-size", "32",
    "--workers", "0", "--backbone-weights", "none", "--device", "cpu", "--precision", "fp32",
]  # fmt: skip
INTERRUPTED = "interrupted; continue with: "


@pytest.fixture(scope="module")
def one_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dataset of one synthetic image (with several heads)."""
    root = tmp_path_factory.mktemp("one")
    return write_dataset(root, count=1, seed=3, min_size=64, max_size=64, max_people=12)


def _start_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("training on "))


def test_start_line_counts_in_words(one_image: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["train", str(one_image), "-o", str(tmp_path / "r"), *FAST])
    assert result.exit_code == 0, result.stderr
    line = _start_line(result.stderr)
    assert line.startswith("training on 1 image, ") and " heads (" in line
    assert "; 1 process, cpu" in line
    assert line.endswith("vgg16: random initialization, epoch 1")


def test_resumed_run_says_so(one_image: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(app, ["train", str(one_image), "-o", str(out), *FAST]).exit_code == 0
    args = ["train", str(one_image), "-o", str(out), *FAST, "--epochs", "3", "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    line = _start_line(result.stderr)
    assert line.endswith(f"vgg16: resumed from {out / 'state.pt'} (epoch 1), epochs 2–3")
    # The checkpoints still record how the backbone was first initialized.
    assert read_weights(out / "last.safetensors").metadata["backbone_init"] == (
        "random initialization"
    )


def test_init_weights_cannot_be_an_exported_model(one_image: Path, tmp_path: Path) -> None:
    from p2pcount.export.exporter import export_model

    scripted = export_model(P2PNet(), tmp_path / "model.pt", "torchscript")
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["train", str(one_image), "-o", str(out), *FAST, "--init-weights", str(scripted)]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        f"p2pcount: error: {scripted}: this is an exported TorchScript file; "
        "p2pcount needs a .safetensors or .pth checkpoint\n"
    )


def _interrupt_first_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def ctrl_c(self, images, targets):
        raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "step", ctrl_c)


@pytest.mark.parametrize("with_resume", [False, True])
def test_ctrl_c_prints_a_command_that_runs(
    one_image: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_resume: bool
) -> None:
    out = tmp_path / "it's my run" / "out dir"
    argv = ["train", str(one_image), "-o", str(out), *FAST, "--epochs", "2"]
    argv += ["--resume"] if with_resume else []
    if with_resume:  # a run to resume, stopped after its first epoch
        first = ["train", str(one_image), "-o", str(out), *FAST]
        assert CliRunner().invoke(app, first).exit_code == 0
    monkeypatch.setattr(sys, "argv", ["/somewhere/bin/p2pcount", *argv])
    with monkeypatch.context() as patch:
        _interrupt_first_step(patch)
        result = CliRunner().invoke(app, argv)
    assert result.exit_code == 130
    printed = [line for line in result.stderr.splitlines() if line.startswith(INTERRUPTED)]
    assert len(printed) == 1
    command = shlex.split(printed[0].removeprefix(INTERRUPTED))
    assert command == ["p2pcount", *argv] + ([] if with_resume else ["--resume"])
    again = CliRunner().invoke(app, command[1:])  # what the shell would run
    assert again.exit_code == 0, again.stderr
    assert "resumed from " in _start_line(again.stderr)


def test_under_torchrun_the_torchrun_part_is_left_to_the_user(monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["/x/p2pcount/__main__.py", "train", "a b", "-o", "o"])
    assert _resume_command(torchrun=True) == (
        "torchrun <the same options> -m p2pcount train 'a b' -o o --resume"
    )


def _saved_config(run: Path) -> dict:
    return json.loads(torch.load(run / "state.pt", weights_only=True)["train_config"])


def test_resume_keeps_the_run_recipe_for_options_not_given_again(
    one_image: Path, tmp_path: Path
) -> None:
    out, runner = tmp_path / "run", CliRunner()
    recipe = ["--freeze-blocks", "2", "--also-crop", "2x16", "--seed", "7", "--augment", "none"]
    first = runner.invoke(app, ["train", str(one_image), "-o", str(out), *FAST, *recipe])
    assert first.exit_code == 0, first.stderr
    # Resumed with no recipe option but --lr: the rest is the run's own, not the defaults.
    where = ["--workers", "0", "--device", "cpu", "--precision", "fp32", "--resume"]
    args = ["train", str(one_image), "-o", str(out), *where, "--epochs", "2", "--lr", "2e-5"]
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.stderr
    assert _start_line(again.stderr).endswith(
        "epoch 2, crops per image 1x32 or 2x16 by batch, backbone blocks 1–2 fixed"
    )
    saved = _saved_config(out)
    assert (saved["lr"], saved["seed"], saved["frozen_blocks"], saved["augment"]) == (
        2e-5, 7, 2, "none",
    )  # fmt: skip
    assert (saved["batch_size"], saved["crops_per_image"], saved["crop_size"]) == (1, 1, 32)
    assert saved["extra_crop_layouts"] == [{"crops": 2, "size": 16}]
    # An option given again wins over the run's.
    args = ["train", str(one_image), "-o", str(out), *where, "--epochs", "3"]
    third = runner.invoke(app, [*args, "--freeze-blocks", "0"])
    assert third.exit_code == 0, third.stderr
    assert _start_line(third.stderr).endswith("epoch 3, crops per image 1x32 or 2x16 by batch")
    assert (_saved_config(out)["frozen_blocks"], _saved_config(out)["lr"]) == (0, 2e-5)
    # Without --epochs, the run's own count: all done.
    done = runner.invoke(app, ["train", str(one_image), "-o", str(out), *where])
    assert done.exit_code == 2
    assert done.stderr == (
        f"p2pcount: error: {out / 'state.pt'}: already trained 3 epochs; "
        "ask for more with --epochs\n"
    )
