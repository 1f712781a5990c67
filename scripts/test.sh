#!/usr/bin/env bash
# Run the test suite (the linter, format check and import contracts first) in .venv; sets it
# up first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/pytest ] || scripts/setup.sh
.venv/bin/ruff check p2pcount tests scripts
.venv/bin/ruff format --check p2pcount tests scripts
.venv/bin/lint-imports --no-cache >/dev/null || .venv/bin/lint-imports --no-cache  # the architecture's contracts
.venv/bin/python -m pytest -q "$@"
