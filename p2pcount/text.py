"""Text for people and for line-based tools: file names on one line, counts in words.
Imports nothing; every layer may use it."""

from __future__ import annotations

_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)} | {9: "\\t", 10: "\\n", 13: "\\r"}
_ESCAPES = _CONTROL | {ord("\\"): "\\\\"}


def one_line(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\t``, ``\\x1b`` …) and each
    backslash doubled, so that a file name holding them cannot break line-based output and
    the escaping can be undone (Python's ``codecs.decode(s, "unicode_escape")`` on ASCII)."""
    return text.translate(_ESCAPES)


def plural(count: int, word: str, words: str | None = None) -> str:
    """``"1 image"``, ``"2 images"``; ``words`` is the plural when it is not ``word + "s"``
    (``plural(n, "process", "processes")``)."""
    return f"{count} {word if count == 1 else words or word + 's'}"
