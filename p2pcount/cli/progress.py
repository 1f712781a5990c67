"""Rich progress bars on stderr, shown only when stderr is a terminal.

A bar only ever draws on stderr; results keep going to stdout, whatever stderr is. Rich's
live display would redirect ``sys.stdout`` into its console (stderr), which loses the
results of ``p2pcount count DIR > counts.txt`` on the terminal: stdout is redirected
only when it is the very terminal the bar draws on, so that result lines print above the bar.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from p2pcount.cli.console import message

if TYPE_CHECKING:
    from rich.progress import Progress

    from p2pcount.train.config import EpochRecord, StepInfo


def _interactive() -> bool:
    return sys.stderr.isatty()


def _stdout_on_stderr_terminal() -> bool:
    """Whether stdout is the same terminal as stderr (then results print above the bar)."""
    try:
        if not sys.stdout.isatty():
            return False
        return os.path.samestat(os.fstat(sys.stdout.fileno()), os.fstat(sys.stderr.fileno()))
    except (AttributeError, OSError, ValueError):  # a stream without a file descriptor
        return False


def stderr_progress(*columns: object, transient: bool = True) -> Progress:
    """A rich ``Progress`` drawing on stderr that never takes stdout away from the results."""
    from rich.console import Console
    from rich.progress import Progress

    return Progress(
        *columns,
        console=Console(stderr=True, soft_wrap=True),  # lines printed above it stay whole
        transient=transient,
        redirect_stdout=_stdout_on_stderr_terminal(),
        redirect_stderr=True,
    )


@contextmanager
def item_progress(total: int | None, what: str = "images") -> Iterator[Callable[[], None]]:
    """Yield an ``advance()`` callable; draws a bar for more than one item on a terminal
    (``total`` None: unknown, a bar that counts), labelled ``what``."""
    if (total is not None and total <= 1) or not _interactive():
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with stderr_progress(*columns) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)


def download_progress(name: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback drawing a download bar on a terminal."""
    if not _interactive():
        return lambda done, total: None
    from rich.progress import DownloadColumn, TransferSpeedColumn

    bar = stderr_progress(f"downloading {name}", DownloadColumn(), TransferSpeedColumn())
    task = bar.add_task(name, total=None)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)
        if done >= total:
            bar.stop()

    update.close = bar.stop  # called however the download ends
    return update


def describe_epoch(record: EpochRecord) -> str:
    """One line per epoch: losses, time, validation."""
    line = (
        f"epoch {record.epoch}: loss {record.loss:.4f} (class {record.loss_class:.4f}, "
        f"point {record.loss_point:.1f}) in {record.seconds:.0f}s"
    )
    if record.val:
        val = record.val
        line += f"; val MAE {val['mae']:.2f} MSE {val['mse']:.2f} F1 {val['f1']:.3f}"
        line += " (best)" if record.best else ""
    return line


@contextmanager
def train_progress(enabled: bool = True) -> Iterator[tuple[Callable, Callable]]:
    """Yield (on_step, on_epoch) callbacks: a live bar on a terminal, epoch lines always."""

    def on_epoch(record: EpochRecord) -> None:
        if enabled:
            message(describe_epoch(record))

    if not enabled:
        yield (lambda info: None), on_epoch
        return
    if not _interactive():  # logs: a line at every tenth of an epoch

        def on_step_line(info: StepInfo) -> None:
            if info.step == info.steps or info.step % max(1, info.steps // 10) == 0:
                message(f"epoch {info.epoch}/{info.epochs} step {info.step}/{info.steps} "
                     f"loss {info.loss:.4f}")  # fmt: skip

        yield on_step_line, on_epoch
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeRemainingColumn

    columns = (
        "{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        "loss {task.fields[loss]:.4f}",
        TimeRemainingColumn(),
    )
    with stderr_progress(*columns, transient=False) as bar:
        task = bar.add_task("epoch", total=None, loss=math.nan)

        def on_step(info: StepInfo) -> None:
            bar.update(
                task,
                description=f"epoch {info.epoch}/{info.epochs}",
                completed=info.step,
                total=info.steps,
                loss=info.loss,
            )

        def on_epoch_live(record: EpochRecord) -> None:
            bar.console.print(describe_epoch(record), highlight=False, markup=False)

        yield on_step, on_epoch_live
