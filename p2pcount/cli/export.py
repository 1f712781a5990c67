"""``p2pcount export``: write a model as ONNX or TorchScript."""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import usage_errors
from p2pcount.cli.console import message
from p2pcount.export.formats import EXPORT_FORMATS, OUTPUTS, SUFFIX_FORMATS

ExportFormat = opt.choice_enum("ExportFormat", EXPORT_FORMATS)
ExportOutputs = opt.choice_enum("ExportOutputs", OUTPUTS)


def export(
    weights: Annotated[str, typer.Argument(metavar="WEIGHTS", help="Weights file or model name.")],
    output: Annotated[Path, typer.Argument(metavar="OUTPUT", help="File to write (.onnx or .pt).")],
    fmt: Annotated[
        Optional[ExportFormat],  # noqa: UP045 (typer needs Optional on Python 3.10)
        typer.Option(
            "--format", "-f", help="Default: from OUTPUT's suffix (.onnx; .pt for torchscript)."
        ),
    ] = None,
    outputs: Annotated[
        ExportOutputs,
        typer.Option(
            "--outputs",
            help="points: points (B, K, 2) px and scores (B, K); raw: offsets (B, 2N, h, w) "
            "and logits (B, N, h, w).",
        ),
    ] = ExportOutputs.points,
    opset: Annotated[int, typer.Option("--opset", min=18, help="ONNX opset.")] = 18,
) -> None:
    """Export a model for other runtimes (ONNX, TorchScript).

    Input: images (B, 3, H, W) float RGB in [0, 1], any H and W.
    """
    import warnings

    from p2pcount.cli.progress import download_progress
    from p2pcount.errors import ConfigError
    from p2pcount.export.exporter import export_model
    from p2pcount.weights.checkpoint import load_model
    from p2pcount.weights.registry import resolve_weights

    with usage_errors():
        name = fmt.value if fmt is not None else SUFFIX_FORMATS.get(output.suffix.lower())
        if name is None:
            raise ConfigError(
                f"{output}: cannot tell the format from the suffix (use .onnx or .pt, or --format)"
            )
        path = resolve_weights(weights, notify=message, progress=download_progress)
        if os.path.exists(output) and output.resolve() == path.resolve():
            raise ConfigError(f"{output}: refusing to overwrite the weights being exported")
        model = load_model(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_model(model, output, name, outputs.value, opset)
    typer.echo(str(output))
