#!/usr/bin/env bash
# synthetic-demo v2: fine-tune weights/synthetic-demo.safetensors (v1, see
# train_synthetic_demo.sh) with `--augment robust` on scenes of the varied generator, with
# classic scenes and person-free scenes of every kind, into runs/synthetic-demo-v2/.
#
# Held out of training and selection:
#   - the "helmet" head style and the "fractal" background family (HOLD_OUT below): every
#     varied training and validation scene is made without them;
#   - the evaluation seeds: 3 (classic crowds) and 99 (person-free), as for v1; 31 (varied,
#     every family) and 32 (varied, only the held-out families:
#     --hold-out classic,shaded,blob,textured,noise,gradient,clutter); 33 (varied person-free).
# Training: 2,000 varied scenes (seed 41, 10 % person-free), half of v1's classic seed 6,
# 800 varied person-free scenes of 256-512 px (seed 42: blank, textured, noisy, cluttered in
# turn) and the textured half of v1's person-free seed 8; validation: 60 varied scenes
# (seed 44) and v1's 40 person-free scenes (seed 9).
#
# Progress: epochs 1-2 ran on 2026-11-29 (58 and 40 min on 2 shared cores; val MAE 15.3 then
# 20.3); epoch 1, the best, is weights/synthetic-demo-v2-wip.safetensors (float16, log
# beside it), not bundled: it passes every corruption target but fires on cluttered and noisy
# person-free scenes (README, "Robustness"). runs/ does not outlive a session: continue from
# it with `--init-weights weights/synthetic-demo-v2-wip.safetensors` (the last option wins).
# Usage: scripts/train_synthetic_demo_v2.sh [extra p2pcount train options, e.g. --resume]
#        SMOKE=1 scripts/train_synthetic_demo_v2.sh   # tiny sets, 1 epoch, *-smoke folders
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOLD_OUT=helmet,fractal
if [ "${SMOKE:-0}" = 1 ]; then
    DATA=data/v2-smoke OUT=runs/synthetic-demo-v2-smoke EPOCHS=1 N=(8 8 4 4 4 4)
else
    DATA=data OUT=runs/synthetic-demo-v2 EPOCHS=8 N=(2000 1500 800 600 60 40)
fi
mkdir -p "$DATA"
gen() { [ -f "$DATA/$1/list.txt" ] || $PY scripts/make_synthetic.py "$DATA/$1" "${@:2}"; }
varied=(--style varied --hold-out "$HOLD_OUT")
gen v2-varied --count "${N[0]}" --seed 41 --empty-fraction 0.1 "${varied[@]}"
gen syn-train2 --count "${N[1]}" --seed 6 --empty-fraction 0.1
gen v2-empty --count "${N[2]}" --seed 42 --min-size 256 --max-size 512 --empty-fraction 1.0 \
    "${varied[@]}"
gen syn-empty2 --count "${N[3]}" --seed 8 --empty-fraction 1.0
gen v2-val --count "${N[4]}" --seed 44 "${varied[@]}"
gen syn-valempty --count "${N[5]}" --seed 9 --empty-fraction 1.0
lines() { sed "s#^#$1/#; s# # $1/#" "$DATA/$1/list.txt"; }  # paths relative to $DATA
even() { awk 'NR % 2 == 0'; }  # half of seed 6; the textured half of seed 8
{ lines v2-varied; lines syn-train2 | even; lines v2-empty; lines syn-empty2 | even; } \
    > "$DATA/train-v2-robust.txt"
{ lines v2-val; lines syn-valempty; } > "$DATA/val-v2-robust.txt"
.venv/bin/p2pcount train "$DATA/train-v2-robust.txt" --val "$DATA/val-v2-robust.txt" \
    -o "$OUT" --init-weights weights/synthetic-demo.safetensors --augment robust \
    --epochs "$EPOCHS" --lr-drop 5 --batch-size 8 --lr 2e-5 --lr-backbone 2e-5 --val-every 1 \
    --workers 1 "$@"
# Then, after evaluating on the held-out seeds (scripts/evaluate_synthetic_demo.py):
#   p2pcount weights import runs/synthetic-demo-v2/best.safetensors \
#       weights/synthetic-demo.safetensors --half
