#!/usr/bin/env bash
# Run the test suite (the linter and format check first) in .venv; sets it up first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || scripts/setup.sh
.venv/bin/ruff check p2pcount tests scripts
.venv/bin/ruff format --check p2pcount tests scripts
.venv/bin/python -m pytest -q "$@"
