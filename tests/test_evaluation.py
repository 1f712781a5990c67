"""`p2pcount eval` and the evaluation module on toy cases with hand-computed metrics.

The constant model predicts one point on every anchor with probability sigmoid(2) ≈ 0.88:
a 32 × 32 image gets 64 predictions at (8i + 2 or 6, 8j + 2 or 6).
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

from p2pcount import Counter
from p2pcount.cli import app
from p2pcount.data.datasets import load_dataset
from p2pcount.evaluate.evaluation import evaluate
from tests.conftest import cached, constant_model


@pytest.fixture
def toy_dataset(tmp_path: Path) -> Path:
    """a.png: 10 heads exactly on anchors; b.png: no heads. Folder layout with sidecars."""
    for name in ("a", "b"):
        Image.new("RGB", (32, 32), (90, 90, 90)).save(tmp_path / f"{name}.png")
    anchors = [(2 + 4 * k, 2 + 8 * (k % 4)) for k in range(8)] + [(30, 30), (26, 22)]
    (tmp_path / "a.txt").write_text("".join(f"{x} {y}\n" for x, y in anchors))
    (tmp_path / "b.txt").write_text("")
    return tmp_path


def test_hand_computed_metrics(toy_dataset: Path) -> None:
    counter = Counter(constant_model(logit=2.0), device="cpu")
    report = evaluate(counter, load_dataset(toy_dataset), threshold=0.5, radius=1.0)
    assert [(e.gt, e.predicted) for e in report.images] == [(10, 64), (0, 64)]
    assert report.mae == pytest.approx((54 + 64) / 2)
    assert report.mse == pytest.approx(math.sqrt((54**2 + 64**2) / 2))
    loc = report.localization
    assert (loc.tp, loc.fp, loc.fn) == (10, 118, 0)
    assert loc.precision == pytest.approx(10 / 128) and loc.recall == 1.0
    assert loc.f1 == pytest.approx(2 * (10 / 128) / (1 + 10 / 128))
    # At δ = 0.05 only exact hits match. All scores tie, so the ranking is image a's 64
    # candidates in order (cells row-major, anchors innermost), then image b's. The 10 hits
    # are at ranks 1, 9, 18, 26, 37, 45, 47, 54, 62, 64: precisions 1, 2/9, 3/18, then at
    # most 10/64 once made monotone, so AP = (1 + 2/9 + 3/18 + 7 · 10/64) / 10.
    assert set(report.nap) == {0.05, 0.25, 0.5}
    assert report.nap[0.05] == pytest.approx((1 + 2 / 9 + 3 / 18 + 7 * 10 / 64) / 10)
    above = evaluate(counter, load_dataset(toy_dataset), threshold=0.9, with_nap=False)
    assert above.mae == pytest.approx(5.0) and above.localization.tp == 0


def test_eval_command_json_csv_sweep_and_viz(toy_dataset: Path, tmp_path: Path, weights_dir):
    from p2pcount.weights.checkpoint import save_weights

    weights = save_weights(weights_dir / "const.safetensors", constant_model(logit=2.0))
    runner = CliRunner()
    out = tmp_path / "overlays"
    args = ["eval", str(toy_dataset), "-w", str(weights), "--radius", "1", "--format", "json"]
    result = runner.invoke(app, [*args, "--sweep", "--viz", str(out)])
    assert result.exit_code == 0, result.stderr
    doc = json.loads(result.stdout)
    for key in ("mae", "mse", "precision", "recall", "f1", "nap", "threshold", "radius"):
        assert key in doc
    assert doc["mae"] == pytest.approx(59.0) and doc["radius"] == 1.0
    assert [r["gt"] for r in doc["per_image"]] == [10, 0]
    sweep = {row["threshold"]: row["mae"] for row in doc["sweep"]}
    assert sweep[0.85] == pytest.approx(59.0) and sweep[0.9] == pytest.approx(5.0)
    assert "MAE" in result.stderr  # the summary table, sweep rows with MAE and RMSE:
    assert "MAE / MSE @ t=0.9" in result.stderr and "5.000 / 7.071" in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a_p2p.png", "b_p2p.png"]
    overlay = np.asarray(Image.open(out / "a_p2p.png"))
    assert overlay.shape == (32, 32, 3)
    table = runner.invoke(app, ["eval", str(toy_dataset), "-w", str(weights)])
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [(r["path"].endswith("a.png"), r["gt"], r["pred"], r["error"]) for r in rows] == [
        (True, "10", "64", "54"),
        (False, "0", "64", "64"),
    ]


def test_eval_bad_dataset_exit_2(tmp_path: Path, random_weights: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(tmp_path / "nope"), "-w", str(random_weights)])
    assert result.exit_code == 2 and "p2pcount: error:" in result.stderr


def test_unreadable_image_is_reported_and_skipped(toy_dataset: Path, random_weights: Path) -> None:
    (toy_dataset / "b.png").write_bytes((toy_dataset / "b.png").read_bytes()[:60])
    result = CliRunner().invoke(app, ["eval", str(toy_dataset), "-w", str(random_weights)])
    assert result.exit_code == 1
    assert "b.png: corrupt or truncated image" in result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [Path(r["path"]).name for r in rows] == ["a.png"]


def test_nap_does_not_depend_on_the_threshold(toy_dataset: Path) -> None:
    # Every candidate at p = sigmoid(-3.5) ≈ 0.029, below NAP_MIN_SCORE: counted at a 0.01
    # threshold, but never ranked by nAP, whatever the threshold.
    counter = Counter(constant_model(logit=-3.5), device="cpu")
    low, high = (
        evaluate(counter, load_dataset(toy_dataset), threshold=t, radius=1.0) for t in (0.01, 0.5)
    )
    assert [e.predicted for e in low.images] == [64, 64]
    assert [e.predicted for e in high.images] == [0, 0]
    assert low.nap == high.nap == {0.05: 0.0, 0.25: 0.0, 0.5: 0.0}


def test_broken_weights_and_overlays_into_the_dataset_are_refused(
    toy_dataset: Path, weights_dir: Path
) -> None:
    from p2pcount.weights.checkpoint import save_weights

    runner = CliRunner()
    nan = cached(save_weights(weights_dir / "nan.safetensors", constant_model(float("nan"))))
    result = runner.invoke(app, ["eval", str(toy_dataset), "-w", str(nan), "--format", "json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr == (
        f"p2pcount: error: {nan}: probabilities on {toy_dataset / 'a.png'} are not finite "
        "(broken weights?)\n"
    )
    good = save_weights(weights_dir / "const.safetensors", constant_model(logit=2.0))
    before = sorted(p.name for p in toy_dataset.iterdir())
    result = runner.invoke(
        app, ["eval", str(toy_dataset), "-w", str(good), "--viz", str(toy_dataset)]
    )
    assert result.exit_code == 2 and "holds the dataset's images" in result.stderr
    assert sorted(p.name for p in toy_dataset.iterdir()) == before


def test_nap_is_null_without_ground_truth(toy_dataset: Path, weights_dir: Path) -> None:
    from p2pcount.weights.checkpoint import save_weights

    (toy_dataset / "a.txt").write_text("")  # nobody anywhere
    weights = save_weights(weights_dir / "const.safetensors", constant_model(logit=2.0))
    args = ["eval", str(toy_dataset), "-w", str(weights), "--format", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0 and "nAP δ=0.05" in result.stderr  # the summary: none
    doc = json.loads(result.stdout)
    assert doc["nap"] == {"0.05": None, "0.25": None, "0.5": None}
    assert doc["mae"] == 64.0 and doc["precision"] == 0.0


def test_dropped_points_are_a_warning_line(toy_dataset: Path, weights_dir: Path) -> None:
    from p2pcount.weights.checkpoint import save_weights

    with open(toy_dataset / "a.txt", "a") as ann:
        ann.write("100 100\n")  # far outside the 32 x 32 image
    weights = save_weights(weights_dir / "const.safetensors", constant_model(logit=2.0))
    result = CliRunner().invoke(app, ["eval", str(toy_dataset), "-w", str(weights)])
    assert result.exit_code == 0
    assert result.stderr.startswith(
        f"p2pcount: warning: {toy_dataset / 'a.txt'}: dropped 1 of 11 points outside the "
        "32x32 image\n"
    )
