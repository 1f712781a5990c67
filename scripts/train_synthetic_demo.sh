#!/usr/bin/env bash
# How weights/synthetic-demo.safetensors was made: synthetic crowds, vgg16_bn from scratch
# (no ImageNet weights are reachable on the machines this project is built on), on the CPU,
# in five stages (about 80, 90, 20, 20 and 20 minutes on 2 cores):
#   1. from scratch: 1,500 scenes (seed 1), lr 2e-4 everywhere; epoch 12 of 18 kept by the
#      validation MAE on 24 scenes (seed 2);
#   2. fine-tuning from stage 1 on 3,150 scenes (seeds 1, 6 and 150 person-free scenes of
#      seed 4), lr 1e-4 dropped tenfold every 4 epochs; best of 10 epochs by the validation
#      MAE on 60 scenes (seed 5);
#   3. fine-tuning from stage 2 with more textured person-free scenes (seed 8), lr 1e-5 then
#      1e-6; best of 3 epochs by the validation MAE on those 60 + 40 person-free scenes (seed 9);
#   4. hard negatives: from stage 3 on half of seed 6 and 1,000 textured person-free scenes of
#      256-512 px (seed 11), lr 5e-5 then 5e-6; the last of 4 epochs kept (fewer false heads on
#      cluttered person-free scenes of a separate seed than the best by validation MAE);
#   5. from stage 4 on the other half of seed 6 and 1,000 more such scenes (seed 12), lr 1e-5;
#      best of 4 epochs by the validation MAE of stage 3.
# Usage: scripts/train_synthetic_demo.sh [1|2|3|4|5] [extra p2pcount train options, e.g. --resume]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STAGE=${1:-1}
shift || true
gen() { [ -f "data/$1/list.txt" ] || $PY scripts/make_synthetic.py "data/$1" "${@:2}"; }
gen syn-train --count 1500 --seed 1
gen syn-val --count 24 --seed 2
if [ "$STAGE" = 1 ]; then
    .venv/bin/p2pcount train data/syn-train/list.txt --val data/syn-val/list.txt \
        -o runs/synthetic-demo --backbone vgg16_bn --backbone-weights none \
        --epochs 18 --batch-size 8 --lr 2e-4 --lr-backbone 2e-4 --val-every 2 --workers 1 "$@"
    exit
fi
gen syn-train2 --count 1500 --seed 6 --empty-fraction 0.1
gen syn-empty --count 150 --seed 4 --empty-fraction 1.0
gen syn-val2 --count 60 --seed 5
lines() { sed "s#^#$1/#; s# # $1/#" "data/$1/list.txt"; }  # paths relative to data/
if [ "$STAGE" = 2 ]; then
    { lines syn-train; lines syn-train2; lines syn-empty; } > data/train-v2.txt
    .venv/bin/p2pcount train data/train-v2.txt --val data/syn-val2/list.txt \
        -o runs/finetune-v2 --init-weights runs/synthetic-demo/best.safetensors \
        --epochs 10 --lr-drop 4 --batch-size 8 --lr 1e-4 --lr-backbone 1e-4 --val-every 1 \
        --workers 1 "$@"
    exit
fi
gen syn-empty2 --count 600 --seed 8 --empty-fraction 1.0  # alternately blank and textured
gen syn-valempty --count 40 --seed 9 --empty-fraction 1.0
{ lines syn-val2; lines syn-valempty; } > data/val-v3.txt
even() { awk 'NR % 2 == 0'; }  # the textured half of a person-free set; half of seed 6
if [ "$STAGE" = 3 ]; then
    { lines syn-train2; lines syn-empty; lines syn-empty2 | even; } > data/train-v3.txt
    .venv/bin/p2pcount train data/train-v3.txt --val data/val-v3.txt \
        -o runs/finetune-v3 --init-weights runs/finetune-v2/best.safetensors \
        --epochs 3 --lr-drop 2 --batch-size 8 --lr 1e-5 --lr-backbone 1e-5 --val-every 1 \
        --workers 1 "$@"
    exit
fi
small_empty=(--count 2000 --min-size 256 --max-size 512 --empty-fraction 1.0)
gen syn-empty4 "${small_empty[@]}" --seed 11
gen syn-empty5 "${small_empty[@]}" --seed 12
if [ "$STAGE" = 4 ]; then
    { lines syn-train2 | even; lines syn-empty4 | even; } > data/train-v5.txt
    .venv/bin/p2pcount train data/train-v5.txt --val data/val-v3.txt \
        -o runs/finetune-v5 --init-weights runs/finetune-v3/best.safetensors \
        --epochs 4 --lr-drop 2 --batch-size 8 --lr 5e-5 --lr-backbone 5e-5 --val-every 1 \
        --workers 1 "$@"
    exit
fi
{ lines syn-train2 | awk 'NR % 2 == 1'; lines syn-empty5 | even; } > data/train-v6.txt
.venv/bin/p2pcount train data/train-v6.txt --val data/val-v3.txt \
    -o runs/finetune-v6 --init-weights runs/finetune-v5/last.safetensors \
    --epochs 4 --batch-size 8 --lr 1e-5 --lr-backbone 1e-5 --val-every 1 --workers 1 "$@"
# Then: p2pcount weights import runs/finetune-v6/best.safetensors \
#           weights/synthetic-demo.safetensors --half
