"""Tests of p2pcount.weights.download against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import random
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from p2pcount.errors import DownloadError
from p2pcount.weights.download import Expected, download, git_blob_sha1
from tests.http_server import serve

PAYLOAD = random.Random(0).randbytes(300_000)
OTHER = random.Random(1).randbytes(len(PAYLOAD))
EXPECTED = Expected(
    size=len(PAYLOAD),
    git_blob_sha1=hashlib.sha1(b"blob %d\0" % len(PAYLOAD) + PAYLOAD).hexdigest(),
    sha256=hashlib.sha256(PAYLOAD).hexdigest(),
)
TIMEOUT = 5.0


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """/payload, /other (same size, other bytes), /truncated (half, then closes)."""
    size = len(PAYLOAD)
    routes = {
        "/payload": (PAYLOAD, size),
        "/other": (OTHER, size),
        "/truncated": (PAYLOAD[: size // 2], size),
    }
    with serve(routes) as url:
        yield url


def _fails(url: str, dest: Path, expected: Expected = EXPECTED) -> str:
    """Download ``url`` expecting a DownloadError, and return its message."""
    with pytest.raises(DownloadError) as info:
        download(url, dest, expected, timeout=TIMEOUT)
    message = str(info.value)
    assert message.startswith(f"{url}: ")
    assert "\n" not in message
    return message


def test_download_success(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "cache" / "sub" / "model.pth"
    calls: list[tuple[int, int]] = []
    result = download(
        f"{server}/payload",
        dest,
        EXPECTED,
        progress=lambda done, total: calls.append((done, total)),
        timeout=TIMEOUT,
        chunk_size=64 * 1024,
    )
    assert result == dest
    assert dest.read_bytes() == PAYLOAD
    assert git_blob_sha1(dest) == EXPECTED.git_blob_sha1
    assert calls[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["model.pth"]


def test_git_blob_sha1_matches_git(tmp_path: Path) -> None:
    for name, data in {"small.bin": b"hello p2pcount\n" * 100, "empty.bin": b""}.items():
        path = tmp_path / name
        path.write_bytes(data)
        git = subprocess.run(
            ["git", "hash-object", str(path)],
            capture_output=True,
            text=True,
            check=True,
            timeout=TIMEOUT,
        )
        assert git_blob_sha1(path, chunk_size=7) == git.stdout.strip()


def test_hash_mismatch_leaves_nothing(server: str, tmp_path: Path) -> None:
    message = _fails(f"{server}/other", tmp_path / "model.pth")
    assert "hash" in message
    assert EXPECTED.git_blob_sha1 in message
    assert list(tmp_path.iterdir()) == []


def test_sha256_alone_is_checked(server: str, tmp_path: Path) -> None:
    expected = Expected(size=len(PAYLOAD), sha256=EXPECTED.sha256)
    assert "sha256" in _fails(f"{server}/other", tmp_path / "model.pth", expected)
    assert download(f"{server}/payload", tmp_path / "ok.pth", expected).read_bytes() == PAYLOAD


def test_truncated_transfer_leaves_nothing(server: str, tmp_path: Path) -> None:
    message = _fails(f"{server}/truncated", tmp_path / "model.pth")
    assert "interrupted" in message
    assert f"of {len(PAYLOAD)} bytes" in message
    assert list(tmp_path.iterdir()) == []


def test_size_mismatch(server: str, tmp_path: Path) -> None:
    expected = Expected(size=len(PAYLOAD) + 1, sha256=EXPECTED.sha256)
    assert "size mismatch" in _fails(f"{server}/payload", tmp_path / "model.pth", expected)
    assert list(tmp_path.iterdir()) == []


def test_http_404(server: str, tmp_path: Path) -> None:
    assert "404" in _fails(f"{server}/missing", tmp_path / "model.pth")
    assert list(tmp_path.iterdir()) == []


def test_server_down(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = _fails(f"http://127.0.0.1:{port}/payload", tmp_path / "model.pth")
    assert "could not connect" in message
    assert "offline" in message
    assert list(tmp_path.iterdir()) == []


def test_failure_keeps_existing_dest(server: str, tmp_path: Path) -> None:
    dest = tmp_path / "model.pth"
    dest.write_bytes(b"previous checkpoint")
    _fails(f"{server}/truncated", dest)
    _fails(f"{server}/other", dest)
    assert dest.read_bytes() == b"previous checkpoint"
    assert list(tmp_path.iterdir()) == [dest]


def test_keyboard_interrupt_cleans_up(server: str, tmp_path: Path) -> None:
    def interrupt(done: int, total: int) -> None:
        if done > 0:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        download(
            f"{server}/payload",
            tmp_path / "model.pth",
            EXPECTED,
            progress=interrupt,
            timeout=TIMEOUT,
            chunk_size=4096,
        )
    assert list(tmp_path.iterdir()) == []


def test_file_url(tmp_path: Path) -> None:
    source = tmp_path / "mirror" / "model.pth"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    dest = download(source.as_uri(), tmp_path / "cache" / "model.pth", EXPECTED)
    assert dest.read_bytes() == PAYLOAD
    assert "cannot read" in _fails((tmp_path / "absent.pth").as_uri(), tmp_path / "x.pth")


def test_expected_needs_a_hash() -> None:
    with pytest.raises(ValueError, match="at least one hash"):
        Expected(size=10)
    with pytest.raises(ValueError, match="hex"):
        Expected(size=10, sha256="not-a-hash")


def test_invalid_url(tmp_path: Path) -> None:
    assert "invalid URL" in _fails("not-a-url", tmp_path / "model.pth")
    assert list(tmp_path.iterdir()) == []
