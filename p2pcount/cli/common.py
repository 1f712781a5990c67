"""What every command shares: reporting errors, loading the model, walking the inputs."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from p2pcount.errors import P2PCountError
from p2pcount.formats import one_line

if TYPE_CHECKING:
    from p2pcount.counter import Counter
    from p2pcount.pipeline import Outcome

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
NO_INPUTS = "no input images (give files, folders, or - to read paths from stdin)"


def message(text: str) -> None:
    """A human message on stderr (through ``sys.stderr`` as it is now: while a progress bar is
    live, that is its redirection, which prints above the bar)."""
    print(text, file=sys.stderr, flush=True)


def warning(text: str) -> None:
    """``p2pcount: warning: TEXT`` on stderr, on one line."""
    message(f"p2pcount: warning: {one_line(text)}")


def error(text: str) -> None:
    """``p2pcount: error: TEXT`` on stderr, on one line (control characters escaped)."""
    message(f"p2pcount: error: {one_line(text)}")


@contextmanager
def usage_errors() -> Iterator[None]:
    """Turn library errors raised inside the block into one line and exit code 2."""
    try:
        yield
    except P2PCountError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None


def load_counter(weights: str | None, device: str, **options: object) -> Counter:
    """The model named by ``--weights`` (or the default) on ``device``; exits 2 on failure.

    ``options`` go to :class:`~p2pcount.counter.Counter` (precision, tile_size, tile_above).
    """
    from p2pcount.cli.progress import download_progress
    from p2pcount.counter import Counter
    from p2pcount.registry import resolve_weights

    with usage_errors():
        path = resolve_weights(weights, notify=message, progress=download_progress)
        return Counter.from_weights(path, device=device, **options)


class CurrentStdout:
    """A text stream writing to whatever ``sys.stdout`` is at each call, so that results
    printed while a progress bar is live go through its redirection, above the bar."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def stdin_lines() -> io.TextIOBase:
    """stdin as text, undecodable bytes kept (file names need not be UTF-8)."""
    if hasattr(sys.stdin, "buffer"):
        return io.TextIOWrapper(sys.stdin.buffer, errors="surrogateescape")
    return sys.stdin


def expand_paths(paths: list[str], recursive: bool) -> tuple[list[str], int]:
    """Expand files, folders and ``-`` into image paths; each folder that cannot be listed is
    reported (one error line) and skipped. Returns (paths, number of such folders)."""
    from p2pcount.images import expand_inputs

    unlisted: list[str] = []

    def report(problem: str) -> None:
        error(problem)
        unlisted.append(problem)

    stdin = stdin_lines() if "-" in paths else ()
    return list(expand_inputs(paths, stdin, recursive, on_error=report)), len(unlisted)


def collect_paths(paths: list[str], recursive: bool) -> tuple[list[str], int]:
    """:func:`expand_paths`, exiting 2 when there are no images at all."""
    found, unlisted = expand_paths(paths, recursive)
    if not found:
        error(NO_INPUTS)
        raise typer.Exit(EXIT_USAGE)
    return found, unlisted


def run_inputs(
    counter: Counter,
    paths: list[str],
    threshold: float,
    batch_size: int,
    max_pixels: int,
    keep_images: bool = False,
) -> Iterator[Outcome]:
    """Counted outcomes in input order; unreadable inputs are reported and skipped.

    Shows a progress bar on stderr when it is a terminal and there is more than one image.
    """
    from p2pcount.cli.progress import item_progress
    from p2pcount.pipeline import count_paths

    outcomes = count_paths(
        counter,
        paths,
        threshold,
        batch_size=batch_size,
        keep_images=keep_images,
        max_pixels=max_pixels,
    )
    with item_progress(len(paths)) as advance:
        for outcome in outcomes:
            advance()
            if outcome.error is not None:
                error(outcome.error)
                continue
            yield outcome


def finish(done: int, total: int) -> None:
    """Exit 0 when every input was processed, 1 when some failed (already reported)."""
    raise typer.Exit(EXIT_OK if done == total else EXIT_PARTIAL)
