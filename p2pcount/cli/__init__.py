"""The ``p2pcount`` command line: a thin layer over the Python API.

Results go to stdout, messages to stderr. Exit codes: 0 success, 1 some inputs failed
(each reported on stderr), 2 usage errors (bad option, no inputs, bad weights, no CUDA).
Command modules import torch only inside their functions, so ``--help`` stays fast.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import warnings
from typing import Annotated, TextIO

import typer

from p2pcount.cli import count as _count
from p2pcount.cli import evaluate as _evaluate
from p2pcount.cli import export as _export
from p2pcount.cli import train as _train
from p2pcount.cli import viz as _viz
from p2pcount.cli import weights as _weights
from p2pcount.cli.console import error, warning
from p2pcount.cli.help import Command
from p2pcount.errors import first_line

app = typer.Typer(
    name="p2pcount",
    help="Count and localize people in images with P2PNet.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(asked: bool) -> None:
    if asked:
        from importlib.metadata import version

        typer.echo(f"p2pcount {version('p2pcount')}")
        raise typer.Exit()


@app.callback()
def _one_line_messages(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """Count and localize people in images with P2PNet."""
    # Library warnings (Pillow's "Corrupt EXIF data" …) as one ``p2pcount: warning:`` line
    # each; Pillow's log records are dropped, as the errors they announce are raised anyway
    # and reported with the file's name.
    warnings.showwarning = _show_warning
    logging.getLogger("PIL").addHandler(logging.NullHandler())


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    warning(first_line(message))


app.command("count", cls=Command)(_count.count)
app.command("viz", cls=Command)(_viz.viz)
app.command("train", cls=Command)(_train.train)
app.command("eval", cls=Command)(_evaluate.evaluate)
app.command("export", cls=Command)(_export.export)
app.add_typer(_weights.app, name="weights")


def main() -> None:
    """The console script: the app, with a failed write to stdout (a full disk, a closed
    pipe) reported as one line, exit 1, instead of a traceback."""
    try:
        try:
            app(prog_name="p2pcount")
        finally:
            sys.stdout.flush()
    except OSError as exc:
        if exc.errno != errno.EPIPE:  # a closed pipe (``| head``) is not worth a message
            error(f"{exc.filename or 'stdout'}: {exc.strerror}")
        # Nothing more can be written: later flushes at exit would fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
