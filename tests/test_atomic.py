"""p2pcount.io.atomic: a target is replaced whole or not at all, whatever its name's length."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from p2pcount.io.atomic import atomic_path


def test_a_name_near_the_limit_is_written(tmp_path: Path) -> None:
    target = tmp_path / ("n" * 250 + ".png")  # 254 bytes: fits, so its temporary must too
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and len(tmp.name) < 64
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == [target.name]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()


def test_a_failure_leaves_the_target_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.png"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
