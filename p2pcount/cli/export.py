"""``p2pcount export``: write a model as ONNX, TorchScript or ncnn."""

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from p2pcount.cli import options as opt
from p2pcount.cli.common import usage_errors
from p2pcount.cli.console import message
from p2pcount.export.formats import (
    EXPORT_FORMATS,
    OUTPUTS,
    RAW_ONLY,
    SUFFIX_FORMATS,
    exported_files,
)

ExportFormat = opt.choice_enum("ExportFormat", EXPORT_FORMATS)
ExportOutputs = opt.choice_enum("ExportOutputs", OUTPUTS)


def export(
    weights: Annotated[str, typer.Argument(metavar="WEIGHTS", help="Weights file or model name.")],
    output: Annotated[
        Path,
        typer.Argument(
            metavar="OUTPUT",
            help="File to write (.onnx, .pt, or .param: ncnn, with its .bin and .json beside).",
        ),
    ],
    fmt: Annotated[
        Optional[ExportFormat],  # noqa: UP045 (typer needs Optional on Python 3.10)
        typer.Option(
            "--format",
            "-f",
            help="Default: from OUTPUT's suffix (.onnx; .pt for torchscript; .param for ncnn).",
        ),
    ] = None,
    outputs: Annotated[
        Optional[ExportOutputs],  # noqa: UP045
        typer.Option(
            "--outputs",
            help="points: points (B, K, 2) px and scores (B, K); raw: offsets (B, 2N, h, w) "
            "and logits (B, N, h, w). Default: points (raw for ncnn, which has only raw).",
            show_default=False,
        ),
    ] = None,
    opset: Annotated[int, typer.Option("--opset", min=18, help="ONNX opset.")] = 18,
) -> None:
    """Export a model for other runtimes (ONNX, TorchScript, ncnn); prints the files written.

    Input: images (B, 3, H, W) float RGB in [0, 1], any H and W. ncnn: one image (3, H, W),
    normalized and padded to multiples of 16 by the caller (its .json says how).
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
                f"{output}: cannot tell the format from the suffix (use .onnx, .pt or .param, "
                "or --format)"
            )
        path = resolve_weights(weights, notify=message, progress=download_progress)
        written = exported_files(output, name)
        for target in written:
            if os.path.exists(target) and target.resolve() == path.resolve():
                raise ConfigError(f"{target}: refusing to overwrite the weights being exported")
        kind = outputs.value if outputs is not None else "raw" if name in RAW_ONLY else "points"
        model = load_model(path)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            export_model(model, output, name, kind, opset)
    for target in written:
        typer.echo(str(target))
