"""What every command shares: exit codes, library errors as one line, loading the model,
walking the inputs. Messages themselves are :mod:`p2pcount.cli.console`'s."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, NoReturn

import typer

from p2pcount.cli.console import error, message, warning
from p2pcount.errors import P2PCountError

if TYPE_CHECKING:
    from pathlib import Path

    from p2pcount.infer.batcher import Outcome
    from p2pcount.infer.counter import Counter
    from p2pcount.io.inputs import InputScan
    from p2pcount.io.video import Sampling
    from p2pcount.output.regions import Region
    from p2pcount.output.result import CountResult

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE = 0, 1, 2
NO_INPUTS = "no input images (give files, folders, or - to read paths from stdin)"


@contextmanager
def usage_errors() -> Iterator[None]:
    """Turn library errors raised inside the block into one line and exit code 2."""
    try:
        yield
    except P2PCountError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_USAGE) from None


def load_counter(
    weights: str | None,
    device: str,
    backend: str = "auto",
    precision: str = "auto",
    threads: int | None = None,
    **options: int | None,
) -> Counter:
    """The model named by ``--weights`` (or the default) on ``device``, run by ``backend``
    (see :func:`~p2pcount.infer.backends.selection.load_backend`); exits 2 on failure.

    ``options`` go to :meth:`Counter.from_backend
    <p2pcount.infer.counter.Counter.from_backend>` (tile_size, tile_above; None: the
    backend's).
    """
    from p2pcount.cli.progress import download_progress
    from p2pcount.infer.backends.selection import load_backend
    from p2pcount.infer.counter import Counter
    from p2pcount.weights.registry import resolve_weights

    with usage_errors():
        path = resolve_weights(weights, notify=message, progress=download_progress)
        chosen = load_backend(path, backend, device, precision, threads, notify=message)
        return Counter.from_backend(chosen, source=str(path), **options)


class CurrentStdout:
    """A text stream writing to whatever ``sys.stdout`` is at each call, so that results
    printed while a progress bar is live go through its redirection, above the bar."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def stdin_lines() -> Iterator[str]:
    """stdin's lines as text, undecodable bytes kept (file names need not be UTF-8).

    The real stdin is read with ``os.read`` on its descriptor, without Python's buffered
    reader: the thread waiting there for the next path (see :mod:`p2pcount.infer.feed`)
    then holds no lock that the interpreter needs when it exits (after Ctrl-C or a closed
    stdout), so that exit stays clean. Streams without a descriptor (tests) are read as they are.
    """
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        if hasattr(sys.stdin, "buffer"):
            yield from io.TextIOWrapper(sys.stdin.buffer, errors="surrogateescape")
        else:
            yield from sys.stdin
        return
    pending = b""
    while chunk := os.read(fd, 65536):
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            yield os.fsdecode(line) + "\n"
    if pending:
        yield os.fsdecode(pending)


def scan_inputs(
    paths: list[str], recursive: bool, on_error: Callable[[str, str], None] | None = None
) -> InputScan:
    """The lazy expansion of files, folders and ``-`` (stdin, read line by line) into image
    paths; each folder that cannot be listed is reported (one error line, and
    ``on_error(folder, reason)``) and skipped."""
    from p2pcount.io.inputs import InputScan

    def report(folder: str, reason: str) -> None:
        error(f"{folder}: {reason}")
        if on_error is not None:
            on_error(folder, reason)

    return InputScan(paths, stdin_lines() if "-" in paths else (), recursive, on_error=report)


def no_inputs(scan: InputScan) -> str:
    """Why a command has nothing to do, with the fix: ``-r`` for a folder whose images are
    all in subfolders, what inputs can be when none was found."""
    nested = scan.nested_folder()
    if nested is not None:
        return f"no input images in {nested}: its images are in subfolders (add -r)"
    if scan.empty_folders:
        return f"no input images in {scan.empty_folders[0]}"
    return NO_INPUTS


def collect_paths(paths: list[str], recursive: bool) -> tuple[list[str], int]:
    """Every image path of the inputs, read to the end, and the number of folders that could
    not be listed; exits 2 when there are no images at all."""
    scan = scan_inputs(paths, recursive)
    found = list(scan)
    if not found:
        error(no_inputs(scan))
        raise typer.Exit(EXIT_USAGE)
    return found, scan.unlisted


class Inputs:
    """The inputs of a command that streams its results: listed up front (known total,
    checked before the model is loaded) unless paths come from stdin, which is read as the
    images are counted (``inotifywait … | p2pcount count -`` prints each result as its path
    arrives). Folders that cannot be listed are reported on stderr at once, and to the sink
    given to :meth:`report_folders_to` (those met before it was given, then the rest)."""

    def __init__(self, paths: list[str], recursive: bool) -> None:
        self._unlisted: list[tuple[str, str]] = []
        self._sink: Callable[[str, str], None] = lambda *failure: self._unlisted.append(failure)
        self.scan = scan_inputs(paths, recursive, lambda *failure: self._sink(*failure))
        self.paths: Iterable[str] = self.scan if self.scan.reads_stdin else list(self.scan)
        if self.paths == []:
            self.refuse_empty()

    def report_folders_to(self, sink: Callable[[str, str], None]) -> None:
        """Send each folder that could not be listed to ``sink(folder, reason)``."""
        for failure in self._unlisted:
            sink(*failure)
        self._sink = sink

    def refuse_empty(self) -> NoReturn:
        error(no_inputs(self.scan))
        raise typer.Exit(EXIT_USAGE)

    def finish(self, done: int) -> NoReturn:
        """Exit 0 when every input was processed, 1 when some failed (already reported), 2
        when stdin named no image at all."""
        if self.scan.found == 0:
            self.refuse_empty()
        finish(done, self.scan.found + self.scan.unlisted)


def run_inputs(
    counter: Counter,
    paths: Iterable[str],
    threshold: float,
    batch_size: int,
    max_pixels: int,
    keep_images: bool = False,
    *,
    on_error: Callable[[str, str], None] | None = None,
) -> Iterator[Outcome]:
    """Counted outcomes in input order; unreadable inputs are reported (and passed to
    ``on_error(path, message)``) and skipped.

    Shows a progress bar on stderr when it is a terminal and there is more than one image
    (of a list; a bar that only counts for paths that come lazily, as from stdin).
    """
    from p2pcount.cli.progress import item_progress
    from p2pcount.infer.batcher import count_paths

    total = len(paths) if isinstance(paths, list) else None
    outcomes = count_paths(
        counter,
        paths,
        threshold,
        batch_size=batch_size,
        keep_images=keep_images,
        max_pixels=max_pixels,
    )
    with item_progress(total) as advance:
        for outcome in outcomes:
            advance()
            if outcome.error is not None:
                error(outcome.error)
                if on_error is not None:
                    on_error(outcome.path, outcome.error)
                continue
            yield outcome


def video_sampling(
    every: int | None, fps: float | None, start: float | None, end: float | None
) -> Sampling:
    """The frames to count in videos, from ``--every``, ``--fps``, ``--start``, ``--end``;
    exits 2 for two ways of sampling at once or an end before the start."""
    from p2pcount.io.video import Sampling

    if every is not None and fps is not None:
        error("--every and --fps both choose frames; give one")
        raise typer.Exit(EXIT_USAGE)
    if start is not None and end is not None and end < start:
        error(f"--end {end:g} s is before --start {start:g} s")
        raise typer.Exit(EXIT_USAGE)
    return Sampling(every=every, fps=fps, start=start, end=end)


def load_region_options(specs: list[str] | None, file: Path | None) -> list[Region]:
    """The regions of ``--region`` (each ``NAME=x1,y1,…``) and ``--regions FILE``, checked and
    with distinct names; exits 2 with one line naming the bad region or file."""
    if not specs and file is None:
        return []
    from p2pcount.output.region_specs import load_regions, parse_region
    from p2pcount.output.regions import check_names

    with usage_errors():
        regions = [parse_region(spec) for spec in specs or ()]
        if file is not None:
            regions += load_regions(file)
        check_names(regions)
    return regions


def region_placement_check(regions: list[Region]) -> Callable[[CountResult], None]:
    """A function to call on each result: it warns, once per region and image size, about
    a region lying partly or entirely outside the image (still counted)."""
    sizes: set[tuple[int, int]] = set()

    def check(result: CountResult) -> None:
        size = result.width, result.height
        if size in sizes:
            return
        sizes.add(size)
        for region in regions:
            problem = region.outside(*size)
            if problem is not None:
                warning(problem)

    return check


def finish(done: int, total: int) -> NoReturn:
    """Exit 0 when every input was processed, 1 when some failed (already reported)."""
    raise typer.Exit(EXIT_OK if done == total else EXIT_PARTIAL)
