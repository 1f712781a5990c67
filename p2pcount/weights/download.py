"""Download files (model checkpoints) into a cache, verified against a known size and hash.

Standard library only, and ``urllib`` is imported on first use, so importing this module
is fast. A download streams into a hidden ``.NAME…part`` file next to the destination,
hashing as it goes; only a complete, verified file is moved into place (atomically), so
the destination is never left partial or corrupt, whatever goes wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from p2pcount.errors import DownloadError

if TYPE_CHECKING:
    from http.client import HTTPResponse

Progress = Callable[[int, int], None]

_HASH_LENGTHS = {"git_blob_sha1": 40, "sha256": 64}
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def git_blob_sha1(path: Path, chunk_size: int = 1 << 20) -> str:
    """Return the git blob id of ``path``, as ``git hash-object`` prints it.

    The file is read in chunks, so large checkpoints do not need to fit in memory.
    """
    path = Path(path)
    digest = _git_blob_hasher(path.stat().st_size)
    with path.open("rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def _git_blob_hasher(size: int) -> hashlib._Hash:
    """Return a sha1 hasher primed with the git blob header for a ``size``-byte file."""
    return hashlib.sha1(b"blob " + str(size).encode() + b"\0")


@dataclass(frozen=True)
class Expected:
    """What a downloaded file must be: its size and at least one hash (hex).

    ``size`` None means "as the server declares" (its Content-Length); the hash still
    pins the content, so nothing unverified is ever accepted.
    """

    size: int | None
    git_blob_sha1: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        """Reject a negative size, a missing hash, or a hash that is not hex of the right length."""
        if self.size is not None and self.size < 0:
            raise ValueError(f"expected size must be >= 0, got {self.size}")
        hashes = self.hashes()
        if not hashes:
            raise ValueError("Expected needs at least one hash: git_blob_sha1 or sha256")
        for name, value in hashes.items():
            if len(value) != _HASH_LENGTHS[name] or not _HEX_DIGITS.issuperset(value):
                raise ValueError(f"{name} must be {_HASH_LENGTHS[name]} hex digits, got {value!r}")

    def hashes(self) -> dict[str, str]:
        """Return the given hashes by name, in lower case."""
        given = {"git_blob_sha1": self.git_blob_sha1, "sha256": self.sha256}
        return {name: value.lower() for name, value in given.items() if value is not None}


def download(
    url: str,
    dest: Path,
    expected: Expected,
    *,
    progress: Progress | None = None,
    timeout: float = 30.0,
    chunk_size: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest``, verify it against ``expected``, and return ``dest``.

    ``progress(bytes_done, expected.size)`` is called as the body streams in. ``file://``
    URLs work too. On any failure the temporary file is removed, ``dest`` is left as it was,
    and :class:`DownloadError` is raised with a one-line ``"URL: reason"`` message; a
    ``KeyboardInterrupt`` is cleaned up after the same way and then re-raised as is.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{dest.name}", suffix=".part", dir=dest.parent)
    except OSError as err:
        raise DownloadError(f"{url}: cannot write to {dest.parent} ({_describe(err)})") from err
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            _fetch(url, out, expected, progress, timeout, chunk_size)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, dest)
    except BaseException as err:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(err, OSError):  # the network errors are already DownloadErrors
            raise DownloadError(f"{url}: cannot write {dest} ({_describe(err)})") from err
        raise
    return dest


def _fetch(
    url: str,
    out: BinaryIO,
    expected: Expected,
    progress: Progress | None,
    timeout: float,
    chunk_size: int,
) -> None:
    """Stream ``url`` into ``out``, checking its size and hashes against ``expected``."""
    with _open(url, timeout) as response:
        declared = response.headers.get("Content-Length")
        known = declared is not None and declared.strip().isdigit()
        if expected.size is None:
            if not known:
                raise DownloadError(f"{url}: the server did not declare the file's size")
            expected = replace(expected, size=int(declared))
        elif known and int(declared) != expected.size:
            raise DownloadError(
                f"{url}: size mismatch: the server declares {int(declared)} bytes, "
                f"expected {expected.size}"
            )
        hashers = _hashers(expected)
        done = 0
        if progress is not None:
            progress(done, expected.size)
        while chunk := _read(url, response, chunk_size, done, expected.size):
            done += len(chunk)
            if done > expected.size:
                raise DownloadError(
                    f"{url}: size mismatch: received more than the expected {expected.size} bytes"
                )
            out.write(chunk)
            for hasher in hashers.values():
                hasher.update(chunk)
            if progress is not None:
                progress(done, expected.size)
    if done != expected.size:
        raise DownloadError(_interrupted(url, done, expected.size, "connection closed"))
    _verify(url, hashers, expected)


def _user_agent() -> str:
    """Return ``p2pcount/<version>`` (the installed distribution's version)."""
    from importlib.metadata import version

    return f"p2pcount/{version('p2pcount')}"


def _open(url: str, timeout: float) -> HTTPResponse:
    """Open ``url``, turning every failure to get a 2xx response into a DownloadError."""
    import http.client
    import urllib.error
    import urllib.request

    try:
        request = urllib.request.Request(url, headers={"User-Agent": _user_agent()})
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        raise DownloadError(f"{url}: HTTP error {err.code} {err.reason}") from err
    except ValueError as err:
        raise DownloadError(f"{url}: invalid URL ({err})") from err
    except (OSError, http.client.HTTPException) as err:  # URLError is an OSError
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        if url.lower().startswith("file:"):
            raise DownloadError(f"{url}: cannot read ({_describe(reason)})") from err
        raise DownloadError(
            f"{url}: could not connect ({_describe(reason)}); "
            "the machine may be offline or the server down"
        ) from err


def _read(url: str, response: HTTPResponse, chunk_size: int, done: int, size: int) -> bytes:
    """Read the next chunk of the body; a broken connection is an interrupted transfer."""
    import http.client

    try:
        return response.read(chunk_size)
    except (OSError, http.client.HTTPException) as err:  # resets, timeouts, IncompleteRead
        raise DownloadError(_interrupted(url, done, size, _describe(err))) from err


def _interrupted(url: str, done: int, size: int, why: str) -> str:
    """Return the message for a transfer that stopped after ``done`` of ``size`` bytes."""
    return f"{url}: transfer interrupted after {done} of {size} bytes ({why})"


def _hashers(expected: Expected) -> dict[str, hashlib._Hash]:
    """Return a fresh hasher for each hash ``expected`` gives, by name."""
    makers = {"git_blob_sha1": lambda: _git_blob_hasher(expected.size), "sha256": hashlib.sha256}
    return {name: makers[name]() for name in expected.hashes()}


def _verify(url: str, hashers: dict[str, hashlib._Hash], expected: Expected) -> None:
    """Raise DownloadError if any computed hash differs from the expected one."""
    for name, want in expected.hashes().items():
        got = hashers[name].hexdigest()
        if got != want:
            raise DownloadError(f"{url}: hash mismatch: {name} is {got}, expected {want}")


def _describe(err: object) -> str:
    """Return a short human description of an error or URLError reason."""
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return str(err) or type(err).__name__
