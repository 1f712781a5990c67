"""The command line, end to end, with CliRunner: outputs, formats and every error path.

``all_heads_weights`` makes every anchor a person with probability sigmoid(2) ≈ 0.8808
and puts every point on its anchor, so counts follow from the image size: a W × H image
has (number of anchor x < W) × (number of anchor y < H) points, anchors at 8k + 2 and 8k + 6.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount.cli import app

SIGMOID_2 = 1 / (1 + math.exp(-2))


def expected_count(width: int, height: int) -> int:
    def axis(n: int) -> int:
        return sum(1 for k in range(0, n + 16, 8) for d in (2, 6) if k + d < n)

    return axis(width) * axis(height)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def images(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    folder = tmp_path / "imgs"
    folder.mkdir()
    made = {}
    for name, (w, h) in {"a.jpg": (40, 24), "b.png": (17, 33), "c.jpg": (40, 24)}.items():
        array = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
        Image.fromarray(array).save(folder / name)
        made[name] = folder / name
    (folder / "notes.txt").write_text("not an image")
    return made


def invoke(runner: CliRunner, args: list[str], weights: Path, **kwargs):
    return runner.invoke(app, [*args, "--weights", str(weights)], **kwargs)


def test_count_text_output(runner, images, all_heads_weights) -> None:
    result = invoke(
        runner, ["count", str(images["a.jpg"]), str(images["b.png"])], all_heads_weights
    )
    assert result.exit_code == 0, result.output
    assert (expected_count(40, 24), expected_count(17, 33)) == (60, 32)  # 10 × 6, 4 × 8 anchors
    assert result.stdout.splitlines() == [f"60\t{images['a.jpg']}", f"32\t{images['b.png']}"]
    assert result.stderr == ""


def test_count_soft_and_threshold(runner, images, all_heads_weights) -> None:
    path = str(images["a.jpg"])
    soft = invoke(runner, ["count", path, "--soft"], all_heads_weights)
    assert soft.stdout == f"{60 * SIGMOID_2:.1f}\t{path}\n"
    above = invoke(runner, ["count", path, "--threshold", "0.9"], all_heads_weights)
    assert above.stdout.split("\t")[0] == "0"


def test_folder_skips_non_images_and_batches(runner, images, all_heads_weights) -> None:
    folder = str(images["a.jpg"].parent)
    result = invoke(runner, ["count", folder, "--batch-size", "4"], all_heads_weights)
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["60", "32", "60"]


def test_json_with_points(runner, images, all_heads_weights) -> None:
    result = invoke(
        runner, ["count", str(images["b.png"]), "--format", "json", "--points"], all_heads_weights
    )
    doc = json.loads(result.stdout)
    assert doc["threshold"] == 0.5 and doc["weights"] == str(all_heads_weights)
    (record,) = doc["images"]
    assert (record["width"], record["height"], record["count"]) == (17, 33, 32)
    assert record["soft_count"] == pytest.approx(32 * SIGMOID_2, abs=1e-3)
    points = np.array(record["points"])
    assert points.shape == (32, 3)
    assert set(points[:, 0]) == {2.0, 6.0, 10.0, 14.0}  # on the anchors, inside the image
    assert points[:, 1].max() == 30.0
    assert np.allclose(points[:, 2], SIGMOID_2, atol=1e-4)
    # Cells row-major, anchors innermost: the first cell's anchors come first.
    assert points[:4, :2].tolist() == [[2, 2], [6, 2], [2, 6], [6, 6]]


def test_jsonl_and_csv(runner, images, all_heads_weights) -> None:
    paths = [str(images["a.jpg"]), str(images["b.png"])]
    jsonl = invoke(runner, ["count", *paths, "--format", "jsonl"], all_heads_weights)
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert [r["count"] for r in records] == [60, 32] and "points" not in records[0]
    table = invoke(runner, ["count", *paths, "-f", "csv"], all_heads_weights)
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert list(rows[0]) == [
        "path", "width", "height", "count", "soft_count", "count_std", "interval_low",
        "interval_high", "frame", "time", "error",
    ]  # fmt: skip
    assert [(r["path"], r["count"]) for r in rows] == [(paths[0], "60"), (paths[1], "32")]
    assert [r["error"] for r in rows] == ["", ""]


def test_a_document_of_failures_is_valid(runner, tmp_path, all_heads_weights) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_text("x")
    result = invoke(runner, ["count", str(bad), "--format", "json"], all_heads_weights)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["images"] == [
        {"path": str(bad), "error": "not an image file Pillow can read"}
    ]


def test_failed_inputs_are_records_in_machine_readable_formats(
    runner, images, all_heads_weights, tmp_path, deny_listing
) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    deny_listing(locked)
    notes = images["a.jpg"].parent / "notes.txt"
    paths = [str(images["a.jpg"]), str(notes), str(locked), str(images["b.png"])]
    reasons = {
        paths[1]: "not an image file Pillow can read",
        paths[2]: "cannot list folder (Permission denied)",
    }
    jsonl = invoke(runner, ["count", *paths, "-f", "jsonl"], all_heads_weights)
    assert jsonl.exit_code == 1
    records = [json.loads(line) for line in jsonl.stdout.splitlines()]
    # The folder's failure is known when it is listed, before anything is counted.
    assert [r["path"] for r in records] == [paths[2], paths[0], paths[1], paths[3]]
    assert {r["path"]: r["error"] for r in records if "error" in r} == reasons
    assert [r.get("count") for r in records] == [None, 60, None, 32]
    document = json.loads(invoke(runner, ["count", *paths, "-f", "json"], all_heads_weights).stdout)
    assert document["images"] == records
    table = invoke(runner, ["count", *paths, "-f", "csv"], all_heads_weights)
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [(r["path"], r["count"], r["error"]) for r in rows] == [
        (paths[2], "", reasons[paths[2]]),
        (paths[0], "60", ""),
        (paths[1], "", reasons[paths[1]]),
        (paths[3], "32", ""),
    ]
    text = invoke(runner, ["count", *paths], all_heads_weights)
    assert text.stdout == f"60\t{paths[0]}\n32\t{paths[3]}\n"
    for result in (jsonl, table, text):
        assert result.stderr.count("p2pcount: error: ") == 2


def test_stdin_paths(runner, images, all_heads_weights) -> None:
    stdin = f"{images['b.png']}\n\n{images['a.jpg']}\n"
    result = invoke(runner, ["count", "-"], all_heads_weights, input=stdin)
    assert result.exit_code == 0
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["32", "60"]


def test_bad_inputs_are_reported_and_the_rest_counted(runner, images, tmp_path, all_heads_weights):
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(images["a.jpg"].read_bytes()[:200])
    missing = tmp_path / "missing.jpg"
    args = ["count", str(missing), str(images["a.jpg"]), str(corrupt), str(images["b.png"])]
    result = invoke(runner, args, all_heads_weights)
    assert result.exit_code == 1
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["60", "32"]
    errors = result.stderr.splitlines()
    assert errors == [
        f"p2pcount: error: {missing}: no such file",
        errors[1],
    ]
    assert errors[1].startswith(f"p2pcount: error: {corrupt}: corrupt or truncated image")


def test_unlistable_folder_is_reported_and_the_rest_counted(
    runner, images, all_heads_weights, deny_listing
) -> None:
    folder = images["a.jpg"].parent
    locked = folder / "locked"
    locked.mkdir()
    (folder / "sub").mkdir()
    (folder / "sub" / "up").symlink_to("..")
    deny_listing(locked)
    for command in (["count"], ["count", "--distributed"]):
        result = invoke(runner, [*command, "-r", str(folder)], all_heads_weights)
        assert result.exit_code == 1
        assert [line.split("\t")[0] for line in result.stdout.splitlines()] == ["60", "32", "60"]
        denied = f"p2pcount: error: {locked}: cannot list folder (Permission denied)"
        assert result.stderr.splitlines() == [denied]


def test_library_warnings_are_one_line(runner, images, all_heads_weights, monkeypatch) -> None:
    import logging
    import warnings

    from PIL import ImageOps

    transpose = ImageOps.exif_transpose

    def noisy(image):  # what Pillow does on a damaged EXIF block
        logging.getLogger("PIL.TiffImagePlugin").error("Corrupt EXIF data (log record)")
        warnings.warn("Corrupt EXIF data.\n  warnings.warn(str(msg))", UserWarning, stacklevel=1)
        return transpose(image)

    monkeypatch.setattr(ImageOps, "exif_transpose", noisy)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        result = invoke(runner, ["count", str(images["a.jpg"])], all_heads_weights)
    assert result.exit_code == 0 and result.stdout == f"60\t{images['a.jpg']}\n"
    assert result.stderr == "p2pcount: warning: Corrupt EXIF data.\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threshold", "1.5"], "'--threshold'"),
        (["--threshold", "-0.1"], "'--threshold'"),
        (["--batch-size", "0"], "batch-size"),
        (["--format", "xml"], "xml"),
        (["--device", "tpu"], "tpu"),
    ],
)
def test_bad_option_values_exit_2(runner, images, all_heads_weights, args, message) -> None:
    result = invoke(runner, ["count", str(images["a.jpg"]), *args], all_heads_weights)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_no_inputs_exit_2(runner, tmp_path, all_heads_weights) -> None:
    result = invoke(runner, ["count", str(tmp_path)], all_heads_weights)
    assert result.exit_code == 2
    assert "no input images" in result.stderr
    assert runner.invoke(app, ["count"]).exit_code == 2


def test_cuda_without_cuda_exit_2(runner, images, all_heads_weights, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = invoke(runner, ["count", str(images["a.jpg"]), "--device", "cuda"], all_heads_weights)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "p2pcount: error: CUDA was requested but is not available on this machine"
    )


def test_bad_weights_exit_2_with_one_line(runner, images, tmp_path) -> None:
    bad = tmp_path / "bad.safetensors"
    bad.write_text("nonsense")
    result = invoke(runner, ["count", str(images["a.jpg"])], bad)
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith(f"p2pcount: error: {bad}: not a safetensors or PyTorch")
    missing = invoke(runner, ["count", str(images["a.jpg"])], tmp_path / "none.pth")
    assert missing.exit_code == 2 and "none.pth: no such file" in missing.stderr
    unknown = runner.invoke(app, ["count", str(images["a.jpg"]), "-w", "no-such-model"])
    assert unknown.exit_code == 2 and "no-such-model: unknown model" in unknown.stderr


def test_weights_from_environment(runner, images, all_heads_weights) -> None:
    env = {"P2PCOUNT_WEIGHTS": str(all_heads_weights)}
    result = runner.invoke(app, ["count", str(images["a.jpg"])], env=env)
    assert result.exit_code == 0 and result.stdout.startswith("60\t")


def test_viz_writes_full_size_overlays(runner, images, tmp_path, all_heads_weights) -> None:
    out = tmp_path / "out" / "nested"
    before = {p: p.read_bytes() for p in images.values()}
    result = invoke(
        runner,
        ["viz", str(images["a.jpg"]), str(images["b.png"]), "-o", str(out)],
        all_heads_weights,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == f"60\t{out / 'a_p2p.png'}\n32\t{out / 'b_p2p.png'}\n"
    written = [out / "a_p2p.png", out / "b_p2p.png"]
    with Image.open(written[1]) as overlay:
        assert overlay.size == (17, 33) and overlay.format == "PNG"
    assert {p: p.read_bytes() for p in images.values()} == before
    assert not list(out.glob(".*"))  # no temporary files left


def test_viz_draws_dots_and_heatmap(runner, tmp_path, all_heads_weights) -> None:
    source = tmp_path / "grey.png"
    Image.new("RGB", (64, 48), (128, 128, 128)).save(source)
    args = ["viz", str(source), "-o", str(tmp_path), "--color", "#00ff00", "--radius", "1"]
    assert invoke(runner, args, all_heads_weights).exit_code == 0
    overlay = np.asarray(Image.open(tmp_path / "grey_p2p.png"))
    assert overlay[46, 2].tolist() == [0, 255, 0]  # a dot on the anchor (2, 46)
    assert overlay[44, 4].tolist() == [128, 128, 128]  # between anchors: untouched
    heat = tmp_path / "heat"
    assert invoke(runner, [*args[:3], str(heat), "--heatmap"], all_heads_weights).exit_code == 0
    assert np.asarray(Image.open(heat / "grey_p2p.png"))[44, 4].tolist() != [128, 128, 128]


def test_viz_never_overwrites_inputs(runner, tmp_path, all_heads_weights) -> None:
    first = tmp_path / "x.png"
    clash = tmp_path / "x_p2p.png"  # would be x.png's overlay name
    for path in (first, clash):
        Image.new("RGB", (16, 16), (10, 20, 30)).save(path)
    original = clash.read_bytes()
    result = invoke(runner, ["viz", str(first), str(clash), "-o", str(tmp_path)], all_heads_weights)
    assert result.exit_code == 0
    assert clash.read_bytes() == original
    # x_p2p.png has an overlay's name but p2pcount did not write it: an input like any other
    assert result.stdout == (f"16\t{tmp_path / 'x_p2p-2.png'}\n16\t{tmp_path / 'x_p2p_p2p.png'}\n")


def test_viz_same_stem_twice_gets_two_files(runner, tmp_path, all_heads_weights) -> None:
    for sub in ("one", "two"):
        (tmp_path / sub).mkdir()
        Image.new("RGB", (16, 16)).save(tmp_path / sub / "frame.jpg")
    out = tmp_path / "out"
    result = invoke(runner, ["viz", str(tmp_path), "-r", "-o", str(out)], all_heads_weights)
    assert sorted(p.name for p in out.iterdir()) == ["frame_p2p-2.png", "frame_p2p.png"]
    assert result.exit_code == 0


def test_viz_bad_output_dir_and_colour(runner, images, tmp_path, all_heads_weights) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    result = invoke(runner, ["viz", str(images["a.jpg"]), "-o", str(a_file)], all_heads_weights)
    assert result.exit_code == 2 and "is not a directory" in result.stderr
    under = invoke(
        runner, ["viz", str(images["a.jpg"]), "-o", str(a_file / "x")], all_heads_weights
    )
    assert under.exit_code == 2 and "cannot create output directory" in under.stderr
    colour = invoke(runner, ["viz", str(images["a.jpg"]), "--color", "nope"], all_heads_weights)
    assert colour.exit_code == 2 and "unknown colour 'nope'" in colour.stderr


def test_weights_info_and_import(runner, tmp_path, all_heads_weights) -> None:
    info = runner.invoke(app, ["weights", "info", str(all_heads_weights)])
    details = json.loads(info.stdout)
    assert details["config"]["backbone"] == "vgg16" and details["parameters"] > 17_000_000
    import torch

    from p2pcount.weights.checkpoint import read_weights

    pth = tmp_path / "plain.pth"
    torch.save({"model": read_weights(all_heads_weights).state}, pth)
    dest = tmp_path / "conv.safetensors"
    result = runner.invoke(app, ["weights", "import", str(pth), str(dest), "--half"])
    assert result.exit_code == 0, result.stderr
    assert read_weights(dest).state["neck.output.weight"].dtype == torch.float16
    bad = runner.invoke(app, ["weights", "import", str(pth), str(tmp_path / "x.pth")])
    assert bad.exit_code == 2 and "must end in .safetensors" in bad.stderr


def test_help_lists_commands(runner) -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("count", "viz", "weights"):
        assert command in result.stdout


def test_help_and_import_do_not_load_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, p2pcount, p2pcount.cli\n"
        "from typer.testing import CliRunner\n"
        "CliRunner().invoke(p2pcount.cli.app, ['count', '--help'])\n"
        "print(sorted(m for m in ('torch', 'torchvision', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_precision_and_tiling_options(runner, images, all_heads_weights) -> None:
    path = str(images["a.jpg"])
    for args in (
        ["--precision", "fp32"],
        ["--precision", "bf16"],
        ["--tile", "16", "--tile-above", "1"],
    ):
        result = invoke(runner, ["count", path, *args], all_heads_weights)
        assert result.exit_code == 0, result.stderr
        assert result.stdout == f"60\t{path}\n"
    # fp16 on the CPU: ncnn's fp16 storage; PyTorch has no fp16 CPU path.
    half = ["count", path, "--precision", "fp16", "--device", "cpu"]
    result = invoke(runner, [*half, "--backend", "ncnn"], all_heads_weights)
    assert result.exit_code == 0 and result.stdout == f"60\t{path}\n", result.stderr
    bad = invoke(runner, [*half, "--backend", "torch"], all_heads_weights)
    assert bad.exit_code == 2 and "fp16 runs on CUDA only" in bad.stderr


def test_empty_path_is_an_error_not_the_current_folder(runner, all_heads_weights) -> None:
    result = invoke(runner, ["count", ""], all_heads_weights)
    assert result.exit_code == 1
    assert result.stderr.strip() == "p2pcount: error: '': empty path"


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs Linux's /dev/full")
def test_a_full_stdout_is_one_line(images, all_heads_weights) -> None:
    import subprocess
    import sys

    args = [sys.executable, "-m", "p2pcount", "count", str(images["a.jpg"])]
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*args, "-w", str(all_heads_weights)], stdout=full, stderr=subprocess.PIPE, text=True
        )
    assert done.returncode == 1
    assert done.stderr == "p2pcount: error: stdout: No space left on device\n"


def test_paths_that_cannot_be_checked_are_one_line(runner, images, all_heads_weights) -> None:
    too_long = "x" * 300 + ".jpg"  # os.stat fails with "File name too long"
    result = invoke(runner, ["count", too_long, str(images["a.jpg"])], all_heads_weights)
    assert result.exit_code == 1
    assert result.stdout == f"60\t{images['a.jpg']}\n"
    assert result.stderr.startswith(f"p2pcount: error: {too_long}: ")
    assert result.stderr.count("\n") == 1
    weights = runner.invoke(app, ["count", str(images["a.jpg"]), "-w", too_long])
    assert (
        weights.exit_code == 2 and weights.stderr == f"p2pcount: error: {too_long}: no such file\n"
    )


def test_weights_info_refuses_what_count_cannot_load(runner, tmp_path, all_heads_weights) -> None:
    import torch

    from p2pcount.weights.checkpoint import read_weights

    state = read_weights(all_heads_weights).state
    partial = tmp_path / "partial.pth"
    torch.save({k: v for k, v in state.items() if k.startswith("classification.")}, partial)
    info = runner.invoke(app, ["weights", "info", str(partial)])
    counted = runner.invoke(app, ["count", str(partial), "-w", str(partial)])
    assert info.exit_code == counted.exit_code == 2 and info.stdout == ""
    assert info.stderr.startswith(f"p2pcount: error: {partial}: ") and "missing keys" in info.stderr


def test_control_characters_in_names_keep_lines_whole(
    runner, images, tmp_path, all_heads_weights
) -> None:
    odd = tmp_path / "new\nline\t.jpg"
    odd.write_bytes(images["a.jpg"].read_bytes())
    missing = tmp_path / "nope\nx.jpg"
    result = invoke(runner, ["count", str(odd), str(missing)], all_heads_weights)
    assert result.exit_code == 1
    assert result.stdout == f"60\t{tmp_path}/new\\nline\\t.jpg\n"
    assert result.stderr == f"p2pcount: error: {tmp_path}/nope\\nx.jpg: no such file\n"
    as_json = invoke(runner, ["count", str(odd), "--format", "jsonl"], all_heads_weights)
    assert json.loads(as_json.stdout)["path"] == str(odd)  # JSON escapes by itself
