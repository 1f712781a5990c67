"""What a user reads in --help and in usage errors: readable value names, whole summaries,
the version, and option errors that say what is expected."""

from __future__ import annotations

import re
from importlib.metadata import version

import pytest
from typer.testing import CliRunner

from p2pcount.cli import app

COMMANDS = [[], ["count"], ["viz"], ["train"], ["eval"], ["export"], ["weights"]]
COMMANDS += [["weights", name] for name in ("list", "fetch", "import", "info")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "p2pcount")
def test_help_names_values_readably(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "100"})
    assert result.exit_code == 0
    text = result.stdout
    assert not re.search(r"<(str|int|float|path|list\[str\])( range)?>", text), text
    assert "{" not in text.split("\n")[0]  # the usage line: PATH..., not {PATH}...
    assert "..\n" not in text.replace("...\n", "")  # no summary cut with "..."


def test_command_lists_show_whole_summaries() -> None:
    text = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "100"}).stdout
    summary = " ".join(text.split("Commands:")[1].split())
    assert "viz Write an overlay per image: a dot per detected head, the count, optionally a" in (
        summary
    )
    assert "heat map. train" in summary
    assert (
        "Usage: p2pcount count [OPTIONS] PATH...\n"
        in CliRunner().invoke(app, ["count", "--help"]).stdout
    )


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout == f"p2pcount {version('p2pcount')}\n"


@pytest.mark.parametrize("value", ["nan", "1.5", "-0.1", "inf", "abc"])
def test_threshold_must_be_a_probability(value: str, tmp_path) -> None:
    result = CliRunner().invoke(app, ["count", str(tmp_path), "-t", value])
    assert result.exit_code == 2
    assert f"the threshold must be a number in [0, 1], not {value}\n" in result.stderr


@pytest.mark.parametrize("value", ["nan", "-1", "inf", "x"])
def test_eval_radius_must_be_a_distance(value: str, tmp_path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path), "--radius", value])
    assert result.exit_code == 2
    assert f"the radius must be a number of pixels ≥ 0, not {value}\n" in result.stderr


def test_commands_in_help_stay_on_one_line() -> None:
    text = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "60"}).stdout
    assert "\n  torchrun --nproc-per-node K -m p2pcount train ...\n" in text


def test_device_takes_a_cuda_index(tmp_path, random_weights) -> None:
    from PIL import Image

    image = tmp_path / "a.png"
    Image.new("RGB", (16, 16)).save(image)
    args = ["count", str(image), "-w", str(random_weights)]
    cuda = CliRunner().invoke(app, [*args, "--device", "cuda:99"])
    assert cuda.exit_code == 2
    assert cuda.stderr.startswith("p2pcount: error: ")  # no CUDA here: the library says so
    assert "CUDA" in cuda.stderr and "Invalid value" not in cuda.stderr
    wrong = CliRunner().invoke(app, [*args, "--device", "gpu"])
    assert wrong.exit_code == 2
    assert "'gpu' is not a device: use auto, cpu, cuda or cuda:N" in wrong.stderr
    assert CliRunner().invoke(app, [*args, "--device", "cpu"]).exit_code == 0
