#!/usr/bin/env bash
# Create .venv and install p2pcount with its development tools (idempotent).
# Usage: scripts/setup.sh            (from the repository root or anywhere)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# torch 2.14.1 / torchvision 0.29.1 are the newest releases this project's machines can
# install; the ranges in pyproject.toml admit them and newer.
.venv/bin/python -m pip install --quiet -e '.[dev]'
.venv/bin/p2pcount --help >/dev/null
echo "p2pcount installed in .venv: activate with 'source .venv/bin/activate'"
