"""``p2pcount eval``: measure a model on an annotated dataset."""

import csv
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import EXIT_OK, EXIT_PARTIAL, load_counter, usage_errors
from p2pcount.cli.console import error, message, warning

if TYPE_CHECKING:
    from p2pcount.data.corruptions import Corruption
    from p2pcount.evaluate.evaluation import EvaluationReport, ImageEvaluation

#: The report's formats: per-image csv rows, or one json document.
EvalFormat = opt.choice_enum("EvalFormat", ("csv", "json"))


def evaluate(
    data: Annotated[
        Path, typer.Argument(metavar="DATA", help="Annotated dataset (list file or folder).")
    ],
    weights: opt.Weights = None,
    data_format: opt.DatasetFormat = None,
    threshold: opt.Threshold = 0.5,
    radius: opt.Radius = 8.0,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Also report MAE/MSE at thresholds 0.05 … 0.95.")
    ] = False,
    fmt: Annotated[
        EvalFormat,
        typer.Option(
            "--format",
            "-f",
            help="csv: per-image rows (path,gt,pred,error,…); json: one document with "
            "mae, mse, precision, recall, f1, nap at the top and per-image results.",
        ),
    ] = EvalFormat.csv,
    viz: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--viz",
            metavar="DIR",
            help="Write overlays here: matched predictions (dots), false heads (crosses), "
            "missed heads (rings), with a legend.",
        ),
    ] = None,
    plots: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--plots",
            metavar="DIR",
            help="Write PNG figures here: predicted vs true counts, the count errors, "
            "MAE/MSE against the threshold, localization precision-recall.",
        ),
    ] = None,
    device: opt.Device = "auto",
    precision: opt.Precision = opt.PrecisionChoice.fp32,
    backend: opt.Backend = opt.BackendChoice.auto,
    threads: opt.Threads = None,
    corrupt: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--corrupt",
            metavar="NAME[:SEVERITY]",
            help="Also evaluate on the images corrupted so (severity 1-5, default 3): "
            "gaussian_noise, shot_noise, jpeg, blur, motion_blur, low_light, bright, contrast, "
            "grayscale. Repeatable; adds per-corruption metrics to the report.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Count and localization metrics: MAE, MSE (root mean squared error), P/R/F1, nAP."""
    from p2pcount.data.corruptions import parse_corruption
    from p2pcount.data.datasets import load_dataset
    from p2pcount.errors import ConfigError
    from p2pcount.evaluate.evaluation import DEFAULT_SWEEP
    from p2pcount.evaluate.evaluation import evaluate as run_evaluation
    from p2pcount.output.overlay_files import prepare_output_dir

    with usage_errors():
        corruptions = list(dict.fromkeys(parse_corruption(text) for text in corrupt or ()))
        samples = load_dataset(data, data_format, on_warning=warning)
        for folder in (viz, plots):
            if folder is None:
                continue
            if folder.resolve() in {sample.image.parent.resolve() for sample in samples}:
                what = "overlays" if folder is viz else "plots"
                raise ConfigError(
                    f"{folder}: holds the dataset's images; write {what} elsewhere "
                    "(the dataset is never modified)"
                )
            prepare_output_dir(folder)
    counter = load_counter(
        weights, device, backend=backend.value, precision=precision.value, threads=threads
    )
    failures: list[str] = []

    def on_error(exc: Exception) -> None:
        error(str(exc))
        failures.append(str(exc))

    on_image = (
        _overlay_writer(viz, threshold, radius, samples, on_error) if viz is not None else None
    )
    with usage_errors():
        report = run_evaluation(
            counter,
            samples,
            threshold,
            radius,
            sweep=DEFAULT_SWEEP if sweep else (),
            on_image=on_image,
            on_error=on_error,
        )
        # Images that failed clean are reported once, not again under each corruption.
        done = {evaluation.path for evaluation in report.images}
        readable = [sample for sample in samples if str(sample.image) in done]
        corrupted = [
            (
                corruption,
                run_evaluation(
                    counter,
                    readable,
                    threshold,
                    radius,
                    sweep=DEFAULT_SWEEP if sweep else (),
                    on_error=on_error,
                    corruption=corruption,
                ),
            )
            for corruption in corruptions
        ]
    rows = [evaluation.row() for evaluation in report.images]
    if fmt is EvalFormat.json:
        document = {"weights": counter.source, **report.summary(), "per_image": rows}
        if corrupted:
            document["corruptions"] = [
                {
                    "name": c.name,
                    "severity": c.severity,
                    **r.summary(),
                    "per_image": [e.row() for e in r.images],
                }
                for c, r in corrupted
            ]
        json.dump(document, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        if corrupted:
            rows = [{"corruption": "none", **row} for row in rows] + [
                {"corruption": c.label, **e.row()} for c, r in corrupted for e in r.images
            ]
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    _print_summary(report.summary())
    if corrupted:
        _print_corruptions(report, corrupted)
    if plots is not None:
        _write_plots(report, plots, on_error)
    raise typer.Exit(EXIT_PARTIAL if failures else EXIT_OK)


def _write_plots(report: "EvaluationReport", folder: Path, on_error: Callable) -> None:
    """Write the report's figures into ``folder`` and say so; a file that cannot be
    written is an error (exit 1), the report being printed already."""
    from p2pcount.errors import ImageError
    from p2pcount.evaluate.plots import PLOT_FILES, write_plots
    from p2pcount.text import plural

    try:
        write_plots(report, folder)
    except OSError as exc:
        on_error(ImageError(f"{folder}: cannot write the plots ({exc.strerror or exc})"))
        return
    message(f"wrote {plural(len(PLOT_FILES), 'plot')} to {folder}")


def _overlay_writer(
    folder: Path, threshold: float, radius: float, samples: list, on_error: Callable
):
    """Write each evaluated image to ``folder`` with its predictions matched, false and
    missed heads as the metrics count them (one-to-one within ``radius`` px)."""
    from p2pcount.errors import ImageError
    from p2pcount.evaluate.metrics import match_points
    from p2pcount.io.images import load_image
    from p2pcount.output.overlay_files import OverlayNamer, write_overlay_atomic
    from p2pcount.output.render import render_comparison

    namer = OverlayNamer(folder, [str(s.image) for s in samples])

    def write(evaluation: "ImageEvaluation") -> None:
        image = load_image(evaluation.path, max_pixels=None, exif=False)
        predicted = evaluation.kept(threshold)
        matches = match_points(predicted, evaluation.gt_points, radius)
        overlay = render_comparison(image, evaluation.gt_points, predicted, matches)
        target = namer.name_for(evaluation.path)
        try:
            write_overlay_atomic(overlay, target)
        except OSError as exc:
            on_error(ImageError(f"{target}: cannot write ({exc.strerror or exc})"))

    return write


def _print_summary(summary: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    from p2pcount.text import plural

    table = Table(title=plural(summary["images"], "image"), show_header=True)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("threshold", f"{summary['threshold']:g}")
    table.add_row("MAE", f"{summary['mae']:.3f}")
    table.add_row("MSE (RMSE)", f"{summary['mse']:.3f}")
    radius = f"{summary['radius']:g} px"
    for name in ("precision", "recall", "f1"):
        table.add_row(f"{name} @ {radius}", f"{summary[name]:.4f}")
    for delta, value in summary["nap"].items():
        table.add_row(f"nAP δ={delta}", "none (no heads)" if value is None else f"{value:.4f}")
    calibration = summary["calibration"]
    table.add_row("truth in soft count ∓ 1.96 σ", f"{calibration['coverage']:.1%} of images")
    factor = calibration["factor"]
    table.add_row("σ × factor for 95 %", "none" if factor is None else f"{factor:.2f}")
    for row in summary["sweep"]:
        table.add_row(f"MAE / MSE @ t={row['threshold']:g}", f"{row['mae']:.3f} / {row['mse']:.3f}")
    best = summary["best_threshold"]
    if best is not None:
        table.add_row(
            "best threshold (lowest MAE)",
            f"{best['threshold']:g} ({best['mae']:.3f} / {best['mse']:.3f})",
        )
    Console(stderr=True).print(table)


def _print_corruptions(
    clean: "EvaluationReport", corrupted: list[tuple["Corruption", "EvaluationReport"]]
) -> None:
    """The table on stderr of MAE, MSE, P/R/F1 clean and under each corruption."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"corruptions (F1 @ {clean.radius:g} px)", show_header=True)
    table.add_column("corruption")
    for name in ("MAE", "MSE", "precision", "recall", "F1"):
        table.add_column(name, justify="right")
    for label, report in [("none", clean), *((c.label, r) for c, r in corrupted)]:
        localization = report.localization
        table.add_row(
            label,
            f"{report.mae:.3f}",
            f"{report.mse:.3f}",
            f"{localization.precision:.4f}",
            f"{localization.recall:.4f}",
            f"{localization.f1:.4f}",
        )
    Console(stderr=True).print(table)
