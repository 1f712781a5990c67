"""Rich progress bars on stderr, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def _interactive() -> bool:
    return sys.stderr.isatty()


@contextmanager
def item_progress(total: int) -> Iterator[Callable[[], None]]:
    """Yield an ``advance()`` callable; draws a bar for more than one item on a terminal."""
    if total <= 1 or not _interactive():
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("images", total=total)
        yield lambda: bar.advance(task)


def download_progress(name: str) -> Callable[[int, int], None]:
    """A ``progress(done, total)`` callback drawing a download bar on a terminal."""
    if not _interactive():
        return lambda done, total: None
    from rich.console import Console
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    bar = Progress(
        f"downloading {name}",
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
        transient=True,
    )
    task = bar.add_task(name, total=None)

    def update(done: int, total: int) -> None:
        if not bar.live.is_started:
            bar.start()
        bar.update(task, completed=done, total=total)
        if done >= total:
            bar.stop()

    return update
