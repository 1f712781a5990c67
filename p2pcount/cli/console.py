"""Human messages on stderr, one line each: plain, ``p2pcount: warning:`` and
``p2pcount: error:``."""

from __future__ import annotations

import sys

from p2pcount.text import one_line


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
