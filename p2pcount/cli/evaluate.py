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
from p2pcount.cli.console import error, warning

if TYPE_CHECKING:
    from p2pcount.evaluate.evaluation import ImageEvaluation

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
    device: opt.Device = "auto",
    precision: opt.Precision = opt.PrecisionChoice.fp32,
) -> None:
    """Count and localization metrics: MAE, MSE (root mean squared error), P/R/F1, nAP."""
    from p2pcount.data.datasets import load_dataset
    from p2pcount.errors import ConfigError
    from p2pcount.evaluate.evaluation import DEFAULT_SWEEP
    from p2pcount.evaluate.evaluation import evaluate as run_evaluation
    from p2pcount.output.overlay_files import prepare_output_dir

    with usage_errors():
        samples = load_dataset(data, data_format, on_warning=warning)
        if viz is not None:
            if viz.resolve() in {sample.image.parent.resolve() for sample in samples}:
                raise ConfigError(
                    f"{viz}: holds the dataset's images; write overlays elsewhere "
                    "(the dataset is never modified)"
                )
            prepare_output_dir(viz)
    counter = load_counter(weights, device, precision=precision.value)
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
    rows = [evaluation.row() for evaluation in report.images]
    if fmt is EvalFormat.json:
        document = {"weights": counter.source, **report.summary(), "per_image": rows}
        json.dump(document, sys.stdout, indent=1, allow_nan=False)
        sys.stdout.write("\n")
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    _print_summary(report.summary())
    raise typer.Exit(EXIT_PARTIAL if failures else EXIT_OK)


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
        table.add_row(f"nAP δ={delta}", f"{value:.4f}")
    for row in summary["sweep"]:
        table.add_row(f"MAE / MSE @ t={row['threshold']:g}", f"{row['mae']:.3f} / {row['mse']:.3f}")
    Console(stderr=True).print(table)
