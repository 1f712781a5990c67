#!/usr/bin/env bash
# Offline demo: generate a synthetic crowd, count it and draw the overlay with the bundled
# synthetic-demo model. Usage: scripts/demo.sh [OUT_DIR]   (default: demo/)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-demo}
[ -x .venv/bin/p2pcount ] || scripts/setup.sh >&2
.venv/bin/python scripts/make_synthetic.py "$out" --count 1 --seed 2024 --max-people 200 >/dev/null
echo "ground truth: $(wc -l < "$out/annotations/00000.txt") people" >&2
.venv/bin/p2pcount count "$out/images" -w synthetic-demo
.venv/bin/p2pcount viz "$out/images" -w synthetic-demo -o "$out/overlays" >&2
echo "overlay: $out/overlays/00000_p2p.png" >&2
