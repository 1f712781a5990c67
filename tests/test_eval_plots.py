"""``eval --plots``, the curves over thresholds and the calibration of the count uncertainty.

Hand-computed cases for the calibration and the localization sweep; curves computed from one
pass equal evaluations re-run at each threshold; plots are PNGs of the stated size.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from p2pcount import Counter
from p2pcount.cli import app
from p2pcount.data.datasets import load_dataset
from p2pcount.evaluate.calibration import Z_95, interval_calibration
from p2pcount.evaluate.curves import best_threshold, localization_sweep
from p2pcount.evaluate.evaluation import evaluate
from p2pcount.evaluate.metrics import LocalizationCounts, threshold_sweep
from p2pcount.evaluate.plots import PLOT_FILES, write_plots
from p2pcount.output.eval_plots import (
    PLOT_SIZE,
    plot_counts_vs_truth,
    plot_error_histogram,
    plot_precision_recall,
    plot_threshold_errors,
)
from p2pcount.weights.checkpoint import save_weights
from tests.conftest import constant_model

# --- calibration -------------------------------------------------------------------------


def test_calibration_hand_computed() -> None:
    # errors 1, 4, 0, 0, 4 against σ 1, 1, 0, 0, 2: ratios 1, 4, 0, 0, 2. Within 1.96 σ:
    # the first, and both σ = 0 images (no error); the last misses (4 > 3.92). The 95th
    # percentile of 5 ratios is the 5th smallest (at least 95 % at or below it): 4.
    calibration = interval_calibration([10, 12, 5, 0, 3], [9, 8, 5, 0, 7], [1, 1, 0, 0, 2])
    assert calibration.images == 5
    assert calibration.coverage == pytest.approx(0.6)
    assert calibration.factor == pytest.approx(4 / 1.96)
    assert calibration.summary() == {"coverage": 0.6, "factor": round(4 / 1.96, 4)}


def test_calibration_factor_makes_the_interval_cover_95_percent() -> None:
    # 20 images, errors 0 … 19 people with σ = 1: 19 of 20 (95 %) are within 18 σ.
    truth = np.arange(20.0)
    soft, std = 2 * truth, np.ones(20)
    calibration = interval_calibration(truth, soft, std)
    assert calibration.coverage == pytest.approx(2 / 20)  # errors 0 and 1 ≤ 1.96
    assert calibration.factor == pytest.approx(18 / Z_95)
    error = np.abs(truth - soft)
    assert np.mean(error <= Z_95 * calibration.factor * std) == pytest.approx(0.95)
    assert np.mean(error <= Z_95 * (calibration.factor - 0.01) * std) < 0.95


def test_calibration_with_sigma_zero() -> None:
    # σ = 0 with an error on 1 image of 20 (5 %): the factor still covers the other 19.
    truth, soft, std = np.zeros(20), np.r_[1.0, np.full(19, 0.5)], np.r_[0.0, np.ones(19)]
    assert interval_calibration(truth, soft, std).factor == pytest.approx(0.5 / Z_95)
    # on 2 of 20: no factor covers 95 %; JSON gets null
    soft[1], std[1] = 1.0, 0.0
    calibration = interval_calibration(truth, soft, std)
    assert calibration.factor == math.inf and calibration.summary()["factor"] is None
    assert calibration.coverage == pytest.approx(18 / 20)


@pytest.mark.parametrize(
    ("truth", "soft", "std", "message"),
    [
        ([], [], [], "at least one image"),
        ([1, 2], [1], [1, 1], "one of each per image"),
        ([1], [1], [-0.5], "negative"),
    ],
)
def test_calibration_refuses_bad_input(truth, soft, std, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        interval_calibration(truth, soft, std)


# --- curves ------------------------------------------------------------------------------


def test_localization_sweep_hand_computed() -> None:
    # Image 1: predictions at (0, 0) p 0.9, (10, 0) p 0.6, (50, 50) p 0.3; heads at (1, 0)
    # and (10, 2), within 3 px of the first two. Image 2: no head, one prediction at p 0.8.
    preds = [
        (np.array([[0.0, 0.0], [10.0, 0.0], [50.0, 50.0]]), np.array([0.9, 0.6, 0.3])),
        (np.array([[5.0, 5.0]]), np.array([0.8])),
    ]
    gts = [np.array([[1.0, 0.0], [10.0, 2.0]]), np.zeros((0, 2))]
    sweep = localization_sweep(preds, gts, [0.2, 0.5, 0.7, 0.95], radius=3.0)
    assert sweep == [
        (0.2, LocalizationCounts(2, 2, 0)),
        (0.5, LocalizationCounts(2, 1, 0)),
        (0.7, LocalizationCounts(1, 1, 1)),
        (0.95, LocalizationCounts(0, 0, 2)),
    ]
    with pytest.raises(ValueError, match="2 points but 1 scores"):
        localization_sweep([(np.zeros((2, 2)), np.zeros(1))], [np.zeros((0, 2))], [0.5], 3.0)
    with pytest.raises(ValueError, match="1 prediction sets but 2"):
        localization_sweep(preds[:1], gts, [0.5], 3.0)


def test_best_threshold_lowest_mae_then_mse_then_threshold() -> None:
    sweep = [(0.3, 2.0, 3.0), (0.4, 1.0, 2.5), (0.5, 1.0, 2.0), (0.6, 1.0, 2.0)]
    assert best_threshold(sweep) == (0.5, 1.0, 2.0)
    with pytest.raises(ValueError, match="empty"):
        best_threshold([])


@pytest.fixture
def noise_dataset(tmp_path: Path) -> Path:
    """Two noise images (64 × 48, 48 × 48) with 12 and 5 heads; random weights give scores
    spread over about 0.4957 … 0.5003 on them."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "noise"
    folder.mkdir()
    for name, (w, h), heads in (("a", (64, 48), 12), ("b", (48, 48), 5)):
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            folder / f"{name}.png"
        )
        points = rng.uniform(0, [w, h], (heads, 2))
        (folder / f"{name}.txt").write_text("".join(f"{x:.2f} {y:.2f}\n" for x, y in points))
    return folder


def test_curves_of_one_pass_equal_evaluations_at_each_threshold(
    noise_dataset: Path, random_weights: Path
) -> None:
    counter = Counter.from_weights(random_weights, device="cpu")
    samples = load_dataset(noise_dataset)
    thresholds = [0.496, 0.497, 0.498, 0.499, 0.5]
    report = evaluate(counter, samples, threshold=0.5, radius=6.0, with_nap=False)
    counts = threshold_sweep(
        [e.gt for e in report.images], [e.scores for e in report.images], thresholds
    )
    localization = localization_sweep(
        [(e.points, e.scores) for e in report.images],
        [e.gt_points for e in report.images],
        thresholds,
        radius=6.0,
    )
    predicted = set()
    for (t, mae, mse), (_, loc) in zip(counts, localization, strict=True):
        direct = evaluate(counter, samples, threshold=t, radius=6.0, with_nap=False)
        assert (mae, mse) == pytest.approx((direct.mae, direct.mse))
        assert loc == direct.localization
        assert (loc.precision, loc.recall) == (
            direct.localization.precision,
            direct.localization.recall,
        )
        predicted.add(loc.tp + loc.fp)
    assert len(predicted) == len(thresholds)  # the thresholds do split the candidates


# --- plots -------------------------------------------------------------------------------


@pytest.fixture
def toy_report(tmp_path: Path):
    """The constant model (p = sigmoid(2) on every anchor) on a.png (10 heads on anchors)
    and b.png (none), 32 × 32 each."""
    for name in ("a", "b"):
        Image.new("RGB", (32, 32), (90, 90, 90)).save(tmp_path / f"{name}.png")
    heads = [(2 + 4 * k, 2 + 8 * (k % 4)) for k in range(8)] + [(30, 30), (26, 22)]
    (tmp_path / "a.txt").write_text("".join(f"{x} {y}\n" for x, y in heads))
    (tmp_path / "b.txt").write_text("")
    counter = Counter(constant_model(logit=2.0), device="cpu")
    return evaluate(counter, load_dataset(tmp_path), threshold=0.5, radius=1.0)


def _png(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.info.get("Software") == "p2pcount"
        assert np.asarray(image.convert("L")).std() > 0  # something is drawn
        return image.size


def test_report_calibration_hand_computed(toy_report) -> None:
    # 64 candidates at p = sigmoid(2): soft 64 p, σ = 8 √(p(1 − p)); truths 10 and 0.
    p = 1 / (1 + math.exp(-2))
    soft, sigma = 64 * p, 8 * math.sqrt(p * (1 - p))
    calibration = toy_report.calibration
    assert calibration.coverage == 0.0
    assert calibration.factor == pytest.approx(soft / sigma / Z_95, rel=1e-5)
    assert toy_report.images[0].row()["count_std"] == round(sigma, 3)


@pytest.mark.parametrize("size", [PLOT_SIZE, (640, 480), (1601, 1203)])
def test_write_plots_are_pngs_of_the_size(toy_report, tmp_path: Path, size) -> None:
    folder = tmp_path / "plots"
    folder.mkdir()
    paths = write_plots(toy_report, folder, size=size)
    assert [p.name for p in paths] == list(PLOT_FILES)
    assert sorted(folder.iterdir()) == sorted(paths)  # no temporary file left
    assert [_png(p) for p in paths] == [size] * 4


def test_write_plots_refuses_thresholds_below_the_candidates(toy_report, tmp_path) -> None:
    folder = tmp_path / "plots"
    folder.mkdir()
    with pytest.raises(ValueError, match="at least 0.05"):
        write_plots(toy_report, folder, thresholds=[0.01, 0.5])
    with pytest.raises(ValueError, match="need thresholds"):
        write_plots(toy_report, folder, thresholds=[])
    assert list(folder.iterdir()) == []


def test_plot_functions_and_their_errors(tmp_path: Path) -> None:
    truth, predicted = [0, 10, 200], [3, 9, 100]  # errors over 60 people: 30 bars
    plot_error_histogram(truth, predicted, tmp_path / "e.png", threshold=0.5, size=(500, 400))
    plot_counts_vs_truth([7], [7], tmp_path / "c.png", threshold=0.3)
    thresholds = [0.1, 0.5, 0.9]
    plot_threshold_errors(
        thresholds, [3, 1, 2], [4, 2, 3], tmp_path / "t.png", threshold=0.5, best=0.5
    )
    plot_precision_recall(
        thresholds,
        [0.5, 0.8, math.nan],
        [1.0, 0.7, 0.0],
        tmp_path / "p.png",
        threshold=0.9,
        radius=8,
    )
    sizes = {p.name: _png(p) for p in tmp_path.iterdir()}
    assert sizes == {
        "e.png": (500, 400),
        "c.png": PLOT_SIZE,
        "t.png": PLOT_SIZE,
        "p.png": PLOT_SIZE,
    }
    bad = tmp_path / "bad.png"
    with pytest.raises(ValueError, match="one count per image"):
        plot_counts_vs_truth([1, 2], [1], bad, threshold=0.5)
    with pytest.raises(ValueError, match="one count per image"):
        plot_error_histogram([], [], bad, threshold=0.5)
    with pytest.raises(ValueError, match="not one of the thresholds"):
        plot_threshold_errors(thresholds, [3, 1, 2], [4, 2, 3], bad, threshold=0.5, best=0.4)
    with pytest.raises(ValueError, match="one value per threshold"):
        plot_precision_recall(thresholds, [1.0], [1.0], bad, threshold=0.5, radius=8)
    with pytest.raises(ValueError, match="must be positive"):
        plot_counts_vs_truth([1], [1], bad, threshold=0.5, size=(0, 10))
    assert not bad.exists()


def test_matplotlib_is_imported_only_when_plotting(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
import p2pcount.output.eval_plots as plots
assert "matplotlib" not in sys.modules and "torch" not in sys.modules
plots.plot_counts_vs_truth([1], [2], Path({str(tmp_path)!r}) / "c.png", threshold=0.5)
assert "matplotlib" in sys.modules and "matplotlib.pyplot" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# --- the command line --------------------------------------------------------------------


@pytest.fixture
def toy_dataset(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name in ("a", "b"):
        Image.new("RGB", (32, 32), (90, 90, 90)).save(folder / f"{name}.png")
    heads = [(2 + 4 * k, 2 + 8 * (k % 4)) for k in range(8)] + [(30, 30), (26, 22)]
    (folder / "a.txt").write_text("".join(f"{x} {y}\n" for x, y in heads))
    (folder / "b.txt").write_text("")
    return folder


@pytest.fixture
def constant_weights(weights_dir: Path) -> Path:
    return save_weights(weights_dir / "const.safetensors", constant_model(logit=2.0))


def test_eval_plots_calibration_and_best_threshold(
    toy_dataset: Path, constant_weights: Path, tmp_path: Path
) -> None:
    plots = tmp_path / "figures" / "run1"  # created, parents too
    args = ["eval", str(toy_dataset), "-w", str(constant_weights), "--radius", "1"]
    result = CliRunner().invoke(app, [*args, "--format", "json", "--sweep", "--plots", str(plots)])
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in plots.iterdir()) == sorted(PLOT_FILES)
    assert all(_png(plots / name) == PLOT_SIZE for name in PLOT_FILES)
    doc = json.loads(result.stdout)
    p = 1 / (1 + math.exp(-2))
    factor = 64 * p / (8 * math.sqrt(p * (1 - p))) / Z_95
    assert doc["calibration"] == {"coverage": 0.0, "factor": pytest.approx(factor, abs=1e-4)}
    # t ≥ 0.9 drops every candidate (p ≈ 0.881): MAE (10 + 0) / 2 = 5
    assert doc["best_threshold"] == {"threshold": 0.9, "mae": 5.0, "mse": pytest.approx(50**0.5)}
    assert "best threshold (lowest MAE)" in result.stderr and "0.9 (5.000 / 7.071)" in result.stderr
    assert "truth in soft count ∓ 1.96 σ" in result.stderr
    assert f"wrote 4 plots to {plots}" in result.stderr
    # without --sweep: the plots all the same, no best threshold in the report
    result = CliRunner().invoke(app, [*args, "--format", "json", "--plots", str(plots)])
    assert result.exit_code == 0 and json.loads(result.stdout)["best_threshold"] is None
    assert sorted(p.name for p in plots.iterdir()) == sorted(PLOT_FILES)


@pytest.mark.parametrize("where", ["file", "under_file", "dataset"])
def test_eval_plots_unusable_dir_is_one_line_exit_2(
    toy_dataset: Path, constant_weights: Path, tmp_path: Path, where: str
) -> None:
    blocker = tmp_path / "taken"
    blocker.write_text("not a folder")
    folder = {"file": blocker, "under_file": blocker / "plots", "dataset": toy_dataset}[where]
    before = sorted(toy_dataset.iterdir())
    args = ["eval", str(toy_dataset), "-w", str(constant_weights), "--plots", str(folder)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        f"p2pcount: error: {folder}: "
    )
    reason = {
        "file": "output path exists and is not a directory",
        "under_file": "cannot create output directory",
        "dataset": "holds the dataset's images; write plots elsewhere",
    }[where]
    assert reason in result.stderr
    assert sorted(toy_dataset.iterdir()) == before


def test_eval_plots_write_failure_is_exit_1_after_the_report(
    toy_dataset: Path, constant_weights: Path, tmp_path: Path, monkeypatch
) -> None:
    import p2pcount.evaluate.plots

    def full_disk(report, folder, *args, **kwargs):
        raise OSError(28, "No space left on device", str(folder / ".pred_vs_truth.png.tmp"))

    monkeypatch.setattr(p2pcount.evaluate.plots, "write_plots", full_disk)
    plots = tmp_path / "plots"
    args = ["eval", str(toy_dataset), "-w", str(constant_weights), "--plots", str(plots)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 3  # the csv header and both images
    assert f"p2pcount: error: {plots}: cannot write the plots (No space left on device)\n" in (
        result.stderr
    )
