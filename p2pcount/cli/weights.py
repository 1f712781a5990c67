"""``p2pcount weights``: list, fetch, import and inspect model weights."""

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from p2pcount.cli.common import usage_errors
from p2pcount.cli.console import message
from p2pcount.cli.help import Command

app = typer.Typer(
    help="List, download, convert and inspect model weights.",
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("list", cls=Command)
def list_models() -> None:
    """Show the named models, where they come from and whether each is present locally."""
    from p2pcount.weights.registry import REGISTRY, is_present, model_path

    for entry in REGISTRY.values():
        state = "present" if is_present(entry) else "not downloaded"
        typer.echo(f"{entry.name}\t{state}\t{model_path(entry)}")
        message(f"  {entry.description}")
        message(f"  accuracy: {entry.accuracy}")
        message(f"  licence: {entry.licence}")
        if entry.url:
            message(f"  source: {entry.url}")


@app.command("fetch", cls=Command)
def fetch(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Model name (see `weights list`).")],
) -> None:
    """Download, verify and cache a named model ahead of time; prints its path."""
    from p2pcount.cli.progress import download_progress
    from p2pcount.weights.registry import fetch as fetch_model
    from p2pcount.weights.registry import get_entry

    with usage_errors():
        path = fetch_model(get_entry(name), notify=message, progress=download_progress)
    typer.echo(str(path))


@app.command("import", cls=Command)
def import_weights(
    source: Annotated[
        Path, typer.Argument(metavar="SOURCE", help="A .pth/.pt/.safetensors checkpoint.")
    ],
    dest: Annotated[
        Path, typer.Argument(metavar="DEST", help="Where to write the .safetensors file.")
    ],
    half: Annotated[
        bool, typer.Option("--half", help="Store float16 tensors (default: as SOURCE stores them).")
    ] = False,
    float32: Annotated[
        bool, typer.Option("--float32", help="Store float32 tensors (default: as SOURCE).")
    ] = False,
) -> None:
    """Convert a checkpoint (the original release's SHTechA.pth, say) to p2pcount's format.

    A safetensors SOURCE keeps its metadata (name, licence, notes …) and its dtype.
    """
    from p2pcount.errors import ConfigError
    from p2pcount.weights.checkpoint import build_model, read_weights, save_weights, stored_dtype

    with usage_errors():
        if half and float32:
            raise ConfigError("--half and --float32 contradict each other; give one")
        if dest.suffix != ".safetensors":
            raise ConfigError(f"{dest}: the destination must end in .safetensors")
        if os.path.exists(dest) and dest.resolve() == source.resolve():
            raise ConfigError(f"{dest}: refusing to overwrite the source checkpoint")
        loaded = read_weights(source)
        model = build_model(loaded)
        import torch

        # The source's metadata is kept (its config is rewritten by save_weights).
        meta = {"origin": loaded.origin, **loaded.metadata, "imported_from": source.name}
        dtype = torch.float16 if half else torch.float32 if float32 else stored_dtype(loaded)
        save_weights(dest, model, metadata=meta, dtype=dtype)
    typer.echo(str(dest))


@app.command("info", cls=Command)
def info(
    spec: Annotated[str, typer.Argument(metavar="WEIGHTS", help="A weights file or a model name.")],
) -> None:
    """Print a checkpoint's config, parameter count and origin as JSON."""
    from p2pcount.weights.checkpoint import build_model, describe, read_weights
    from p2pcount.weights.registry import resolve_local_weights

    with usage_errors():
        loaded = read_weights(resolve_local_weights(spec))
        build_model(loaded)  # what count would load: refuse a checkpoint it could not
        details = describe(loaded)
    typer.echo(json.dumps(details, indent=2))
