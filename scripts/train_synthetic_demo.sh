#!/usr/bin/env bash
# How weights/synthetic-demo.safetensors was made: synthetic crowds, vgg16_bn from scratch
# (no ImageNet weights are reachable on the machines this project is built on), on the CPU.
# Usage: scripts/train_synthetic_demo.sh [extra p2pcount train options, e.g. --resume]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
[ -f data/syn-train/list.txt ] || $PY scripts/make_synthetic.py data/syn-train --count 1500 --seed 1
[ -f data/syn-val/list.txt ] || $PY scripts/make_synthetic.py data/syn-val --count 24 --seed 2
.venv/bin/p2pcount train data/syn-train/list.txt --val data/syn-val/list.txt \
    -o runs/synthetic-demo --backbone vgg16_bn --backbone-weights none \
    --epochs 40 --batch-size 8 --lr 2e-4 --lr-backbone 2e-4 --val-every 2 --workers 1 "$@"
# Then: p2pcount weights import runs/synthetic-demo/best.safetensors \
#           weights/synthetic-demo.safetensors --half
