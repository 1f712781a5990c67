"""The architecture's import contracts (pyproject.toml, `lint-imports`): they hold for the
package, and a wrong arrow breaks them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess:
    """Run the contracts of ``tree``'s pyproject.toml on ``tree``'s copy of the package."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(tree / "pyproject.toml")],
        capture_output=True,
        text=True,
        cwd=tree,
        env=env,
        timeout=120,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "p2pcount", tmp_path / "p2pcount", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_package_keeps_its_contracts(tree: Path) -> None:
    result = lint(tree)
    assert result.returncode == 0, result.stdout
    assert "Contracts: 5 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "broken"),
    [
        ("io/images.py", "import torch", "io, data and output never import torch"),
        ("model/decoding.py", "import torch", "The NumPy decode, counts, tiling, video"),
        ("infer/backends/ncnn.py", "import torch", "The ncnn backend imports no torch"),
        ("model/network.py", "import p2pcount.infer.counter", "depend downwards only"),
        ("infer/counter.py", "import p2pcount.cli.common", "depend downwards only"),
        ("cli/console.py", "import p2pcount.cli.common", "No import cycles"),
    ],
)
def test_a_wrong_arrow_breaks_the_build(tree: Path, module: str, line: str, broken: str) -> None:
    path = tree / "p2pcount" / module
    path.write_text(path.read_text() + f"\n{line}  # the wrong arrow\n")
    result = lint(tree)
    assert result.returncode != 0
    assert broken in result.stdout.split("Broken contracts")[1]
