#!/usr/bin/env bash
# synthetic-demo v2: fine-tune weights/synthetic-demo.safetensors (v1, see
# train_synthetic_demo.sh) with `--augment robust` on scenes of the varied generator, with
# classic scenes and many person-free scenes, into runs/synthetic-demo-v2*/, in stages:
#   1. from v1: 2,000 varied scenes (seed 41, 10 % person-free), half of v1's classic seed 6,
#      800 varied person-free scenes of 256-512 px (seed 42: blank, textured, noisy, cluttered
#      in turn) and the textured half of v1's person-free seed 8; lr 2e-5 everywhere; epoch 1
#      kept (validation MAE on 60 varied scenes of seed 44 and v1's 40 person-free scenes of
#      seed 9; a second epoch was worse). Kept as weights/synthetic-demo-v2-wip.safetensors
#      (float16; in git until v2 shipped, e.g. commit 1286fab), from which stage 2 started.
#   2. from stage 1: 1,400 of those varied scenes, a quarter of seed 6, seed 42 and the 900
#      textured, noisy and cluttered scenes of 1,200 more (seed 45, 256-512 px); lr 1e-5
#      everywhere, 1 epoch (16 min on 2 cores).
#   3. from stage 2: all 2,000 varied scenes, that quarter of seed 6, seeds 42 and 45 as in
#      stage 2 and the 900 textured, noisy and cluttered scenes of 1,200 more of 256-1024 px
#      (seed 48); the release's learning rates (1e-4, backbone 1e-5), 1 epoch (17 min);
#      validation from here on: the 60 varied scenes of seed 44 and the 60 textured, noisy and
#      cluttered scenes of 80 person-free ones (seed 46, 256-1024 px), where false heads
#      count as errors.
#   4. from stage 3, the same scenes with the robust recipe's darkening and noise capped
#      (commit 397733a: stages 1-3 ran with the earlier ranges, which buried dark crowds in
#      noise that kept its head labels); 1e-4 (backbone 1e-5) for 1 epoch, then a tenth;
#      the better of 2 epochs by the validation MAE (epoch 2, 12.43).
#   5. from stage 4 at 1e-5 (backbone 1e-6), 1 epoch (13 min), on half of seed 41, that
#      quarter of seed 6, the textured, noisy and cluttered scenes of seeds 42 and 48, and the
#      1,000 noisy and cluttered scenes of 2,000 more person-free ones of 256-1024 px (seed 49):
#      validation MAE 12.08, so it was shipped as v2 of weights/synthetic-demo.safetensors
#      (float16; training log in weights/synthetic-demo.log.jsonl, stages "v2-1" to "v2-5").
#   6. from stage 5, on scenes drawn again with the generator's sensor noise capped at each
#      scene's contrast (commit 4d04ebf; v3-* folders): all 2,000 varied scenes of seed 41,
#      that quarter of seed 6, the textured, noisy and cluttered scenes of seed 42, and the
#      hard negatives that scripts/mine_hard_negatives.py cuts (256 px around each false head
#      of stage 5) from the 1,000 noisy and cluttered scenes of 2,000 person-free ones of
#      256-1024 px (seed 50); 1e-4 (backbone 1e-5) for 1 epoch, then a tenth; validation on
#      the same seeds 44 and 46 as stages 3-5, drawn again (v3-val, v3-sel-empty). Epoch 2
#      kept (validation MAE 13.12 against 14.10).
#   7. from stage 6 at 1e-5 (backbone 1e-6), 1 epoch (23 min), on half of seed 41 (drawn
#      again), its low-light crowd scenes (mean grey level under 40: 465 of 1,800) twice more,
#      that quarter of seed 6, seed 42's textured, noisy and cluttered scenes and the mined
#      hard negatives: validation MAE 12.82, but worse than stage 6 on 12 of the 16 targets
#      of the held-out seeds (two of them missed): not shipped (see the README).
#   8. from stage 6, stage 6's scenes again at 1e-5 (backbone 1e-6), 1 epoch (14 min),
#      --seed 1: validation MAE 11.59. Shipped as v3 (float16; stages "v2-6" and "v2-8" of
#      weights/synthetic-demo.log.jsonl) by a rule fixed before measuring it on the held-out
#      seeds: better than stage 6 on the validation's crowds and person-free scenes alike
#      (fp32: crowd MAE 23.45 against 25.92; 0.33 false heads per image against 0.35, max 4).
#   9. from v3 (the float16 file of commit 5f85ddc, taken from git), on scenes of the
#      generator with dyed hair of any colour (pastels, greys, value up to 1; v4-varied, seed
#      41 drawn again) under the robust recipe with hue shifts all the way round (±0.5 turn):
#      v3 missed half the heads of an unseen head style of random colours, a quarter of them
#      for their colours alone. A quarter of stage 6's mix (every 4th of the 2,000 varied
#      scenes, every 8th of seed 6, every 4th of seed 42's textured, noisy and cluttered
#      scenes, every 2nd of the hard negatives v3 itself draws on seed 50's noisy and
#      cluttered scenes, v4-mined): the machine of this stage had no AVX-512 (fp32, 13 s a
#      step of 8 scenes, 4 times stage 6's); 1e-4 (backbone 1e-5) for 1 epoch, then a tenth,
#      validated on seed 44 drawn again (v4-val) and stage 6's person-free scenes.
#  10. from stage 9 (runs/synthetic-demo-v4/best.safetensors; not shipped: it beat v3 on the
#      held-out head style but drew false heads on cluttered person-free scenes) at 1e-5
#      (backbone 1e-6), 2 epochs, on 600 varied scenes of a new seed (51, 10 % person-free)
#      whose shaded and blob heads wear hoods, caps and beanies of any colour (3 in 10), stage
#      9's quarters of seed 6 and seed 42, the hard negatives stage 9 itself draws on the first
#      500 of seed 50's noisy and cluttered scenes (v5-mined, every 2nd; 500 took 17 min on
#      2 AVX2 cores beside an evaluation) and a quarter of v3's (v4-mined);
#      validated as stage 9: epoch 2 beat v3 on the crowds but drew 0.65 false heads per
#      person-free image against 0.33, so it was not shipped (see the README).
#  11. from stage 10 (runs/synthetic-demo-v5/best.safetensors: the held-out head style's
#      recall up, false heads on person-free clutter up) at 1e-5 (backbone 1e-6), 2 epochs,
#      on stage 10's scenes with more than half of them negatives: all of v5-varied, stage
#      10's quarter of seed 6, a quarter of seed 42's textured, noisy and cluttered scenes,
#      all the hard negatives mined by stage 9 (v5-mined) and half of v3's (v4-mined): 1,542
#      images (13-15 s a step of 8 on 2 AVX2 cores, 42 and 47 min an epoch); validated as
#      stages 9 and 10: epoch 1 (validation MAE 13.43; epoch 2 14.43) drew 0.27 false heads
#      per person-free image against v3's 0.33 but missed the crowds (26.6 against 23.17), so
#      it was not shipped (see the README).
#  12. from v3 (the float16 file of commit 5f85ddc) at 1e-5 (backbone 1e-6), 2 epochs, with one
#      256 px crop of each image instead of four of 128 px (the same pixels a step): v3 and
#      stages 10-11 find about half of the large heads (half-height 16 px or more) in every
#      style, seen or not, and a 128 px crop can cut such a head or the body under it
#      at its edge (scripts/recall_by_attribute.py). All of v5-varied, stage 10's quarter of
#      seed 6, a quarter of seed 42's textured, noisy and cluttered scenes, half of v3's own
#      hard negatives (v4-mined) and a third of stage 9's (v5-mined): 1,311 images (12-21 s
#      a step of 8 on 2 AVX2 cores, 49 and 47 min an epoch; run with --seed 2, epoch 2 with
#      --seed 2 --resume);
#      validated as stages 9-11: validation MAE 12.34, then 12.30 (kept). Large heads found
#      more often, small ones less, more false heads on person-free clutter: not shipped
#      (see the README).
#  13. from v3 at 1e-5 (backbone 1e-6), 1 epoch, with both crop layouts in one run: half the
#      batches four 128 px crops per image, half one of 256 px (--also-crop 1x256), so that
#      dense small heads and whole large ones meet in the same epoch; stage 12's scenes with
#      more person-free clutter in them, whole scenes as well as mined crops: all of
#      v5-varied, stage 10's quarter of seed 6, the quarter of seed 42's textured, noisy and
#      cluttered scenes, half of v3's hard negatives (v4-mined), a third of stage 9's
#      (v5-mined) and a quarter of the 500 cluttered scenes that v3's were mined from
#      (v3-mine): 1,436 images, 746 (52 %) person-free (stage 11: 55 %, stage 12: 47 %);
#      run with --seed 3 (16-17 s a step of 8 on 2 AVX2 cores, 48 min an epoch), then for
#      a second epoch with --seed 3 --resume --epochs 2; validated as stages 9-12: validation
#      MAE 12.77, then 10.88. Epoch 2 beat v3 on the validation crowds but drew more false
#      heads on person-free clutter: not shipped (see the README).
#  14. from stage 13's epoch 2 (runs/synthetic-demo-v8/last.safetensors: the best on the
#      held-out families, with 0.63 false heads per person-free validation image) with the
#      whole backbone fixed (--freeze-blocks 5: a step 3.3 times faster on 2 AVX2 cores,
#      scripts/benchmark.py --sections train_step) at 1e-5, 3 epochs, both crop layouts,
#      --seed 4, on stage 13's scenes and the hard negatives stage 13's epoch 2 itself draws
#      on 250 noisy and cluttered scenes of seed 50 that stage 9 did not mine (lines 501-750
#      of them; v6-mined, all 259 crops): 1,695 images, 19-21 min an epoch on 2 AVX2 cores
#      (35 beside evaluations); validated as stages 9-13: validation MAE 11.02, 10.07, 11.14.
#      Epoch 3 beat v3 on the validation's crowds and person-free scenes alike (fp32: crowd
#      MAE 21.98 against 23.17; 0.30 false heads per image against 0.33, max 4), by the rule
#      fixed before the stage: shipped as v4 (float16; stages "v2-13" and "v2-14" of
#      weights/synthetic-demo.log.jsonl). Epochs 1 and 2 drew 0.38 and 0.53 false heads.
#  15. from stage 14's epoch 3 (v4 in float32: runs/synthetic-demo-v9/last.safetensors),
#      as stage 14 (backbone fixed, 1e-5, both crop layouts, 3 epochs) with --seed 5, on
#      stage 14's scenes and the hard negatives v4 itself draws on the last 250 noisy and
#      cluttered scenes of seed 50 that no stage mined (lines 751-1000; v7-mined), against
#      v4's clutter regression on held-out person-free scenes (1.20 false heads per
#      cluttered scene of seed 33, v3 0.35). Besides the validation of stages 9-14, its
#      candidates are measured on the 60 cluttered scenes of 240 person-free ones of seed 52
#      (v7-val-empty; every 4th), which no stage trains on. 178 crops around 211 false heads
#      (mining: 8 min); 1,873 images, 20-26 min an epoch on 2 AVX2 cores; validation MAE
#      11.16, 11.15. By the rule fixed before training (no worse than v4 + 5 % on the
#      validation crowds, no worse on its person-free scenes, fewer false heads on seed 52's
#      cluttered scenes; fp32, threshold 0.5): epoch 1 22.07 / 0.25 / 1.43 and epoch 2
#      22.07 / 0.23 / 1.32 both passed (v4: 21.98 / 0.30 / 1.50); epoch 2 shipped as v5
#      (float16; stage "v2-15" of weights/synthetic-demo.log.jsonl). Epoch 3 ended after
#      the rule's deadline and was not measured.
#  16. from v5 (the shipped float16 file, taken from git), as stage 15 (backbone fixed, 1e-5,
#      both crop layouts) for 2 epochs with --seed 6, against the false heads v5 still draws
#      on dim scenes (mean grey level below 30 of 255: on seed 52's cluttered scenes, 19 of
#      60 dim scenes held 59 of v5's 79 false heads) while keeping dim crowds counted (v4
#      and v5 undercount the held-out families, most of all in the dark): stage 15's scenes,
#      the false heads v5 draws on the dim noisy and cluttered scenes of 2,400 new
#      person-free ones (seed 53; v8-mined) and the dim scenes of 800 new crowd scenes
#      (seed 54; scripts/select_dim_scenes.py picks both): 174 crops around 228 false heads
#      on 282 dim scenes, 189 dim crowd scenes, 2,236 images, 24-30 min an epoch on 2 AVX2
#      cores; validation MAE 12.19, 12.26. Not shipped: by the rule fixed before mining
#      (crowds no worse than v5 + 5 %, person-free no worse, fewer false heads on seed 52's
#      cluttered scenes; v5: 22.08 / 0.23 / 1.35) epoch 1 24.18 / 0.20 / 1.38 and epoch 2
#      24.23 / 0.28 / 1.55 both failed, worse than v5 on its dim crowds and dim clutter alike.
#
# Held out of training and selection:
#   - the "helmet" head style and the "fractal" background family (HOLD_OUT below): every
#     varied training and validation scene is made without them;
#   - the evaluation seeds: 3 (classic crowds) and 99 (person-free), as for v1; 31 (varied,
#     every family) and 32 (varied, only the held-out families:
#     --hold-out classic,shaded,blob,textured,noise,gradient,clutter); 33 (varied person-free).
#
# Usage: scripts/train_synthetic_demo_v2.sh [1|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16] [extra p2pcount train options, e.g. --resume]
#        SMOKE=1 scripts/train_synthetic_demo_v2.sh 3   # tiny sets, 1 epoch, smoke-* folders
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
STAGE=${1:-1}
shift || true
case "$STAGE" in
    [1-9] | 1[0-6]) ;;
    *) echo "unknown stage $STAGE (expected 1-16)" >&2; exit 2 ;;
esac
HOLD_OUT=helmet,fractal
if [ "${SMOKE:-0}" = 1 ]; then
    DATA=data/v2-smoke RUNS=runs/smoke- EPOCHS=(1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1)
    N=(8 8 4 4 4 4 4 4 4 8 8 2 1 1 8 8 4)  # smoke: 4 noisy and cluttered scenes, mined 2, 1, 1
    DIM=256  # smoke: every scene counts as dim (a few scenes may hold no dim one)
else
    DATA=data RUNS=runs/ EPOCHS=(1 1 1 2 1 2 1 1 2 2 2 2 1 3 3 2)
    N=(2000 1500 800 600 60 40 1200 1200 80 2000 600 500 250 250 240 2400 800)
    DIM=30  # mean grey level (0-255) below which stage 16 calls a scene dim
fi
mkdir -p "$DATA"
gen() { [ -f "$DATA/$1/list.txt" ] || $PY scripts/make_synthetic.py "$DATA/$1" "${@:2}"; }
varied=(--style varied --hold-out "$HOLD_OUT")
empty=(--empty-fraction 1.0 "${varied[@]}")
lines() { sed "s#^#$1/#; s# # $1/#" "$DATA/$1/list.txt"; }  # paths relative to $DATA
mine_slice() {  # mine_slice WEIGHTS NAME SKIP COUNT: NAME-mined, once, from the COUNT noisy and
    # cluttered scenes of seed 50 after the first SKIP (each stage mines scenes no earlier one did)
    [ -f "$DATA/$2-mined/list.txt" ] && return
    tail -n +$(($3 + 1)) "$DATA/v3-mine-noisy-cluttered.txt" | head -n "$4" > "$DATA/$2-mine.txt"
    $PY scripts/mine_hard_negatives.py "$1" "$DATA/$2-mine.txt" "$DATA/$2-mined"
}
train() {  # train LIST VAL OUT INIT EPOCHS [options]
    .venv/bin/p2pcount train "$1" --val "$2" -o "$3" --init-weights "$4" --epochs "$5" \
        --augment robust --batch-size 8 --val-every 1 --workers 1 "${@:6}"
}
not_blank() { awk 'NR % 4 != 1'; }  # person-free kinds in turn: blank, textured, noisy, cluttered
quarter() { awk 'NR % 4 == 0'; }
odd() { awk 'NR % 2 == 1'; }
noisy_or_cluttered() { awk 'NR % 4 == 3 || NR % 4 == 0'; }
third() { awk 'NR % 3 == 1'; }
val_v4() { lines v4-val; lines v3-sel-empty | not_blank; }  # validation of stages 9-13
shipped() {  # shipped COMMIT VERSION: the path of the bundled model of COMMIT, taken from git once
    local file="${RUNS}synthetic-demo-$2.safetensors"
    [ -f "$file" ] || git show "$1":weights/synthetic-demo.safetensors > "$file" || return
    echo "$file"
}
v3_weights() { shipped 5f85ddc v3; }  # stages 9, 12 and 13 start from v3
gen syn-train2 --count "${N[1]}" --seed 6 --empty-fraction 0.1
if [ "$STAGE" -ge 6 ]; then  # the person-free sets of stages 6-11 (stages 1-5 need none)
    gen v3-empty --count "${N[2]}" --seed 42 --min-size 256 --max-size 512 "${empty[@]}"
    gen v3-sel-empty --count "${N[8]}" --seed 46 --min-size 256 --max-size 1024 "${empty[@]}"
    gen v3-mine --count "${N[9]}" --seed 50 --min-size 256 --max-size 1024 "${empty[@]}"
    lines v3-mine | noisy_or_cluttered > "$DATA/v3-mine-noisy-cluttered.txt"
fi
# Stages 9-13 need none of the scenes of stages 1-8.
if [ "$STAGE" -ge 12 ]; then
    [ -f "$DATA/v5-mined/list.txt" ] && [ -f "$DATA/v4-mined/list.txt" ] ||
        { echo "stage $STAGE takes the hard negatives of stages 9 and 10: run them first" >&2; exit 2; }
fi
cluttered() { awk 'NR % 4 == 0'; }
stage13_list() {  # stage 13's scenes
    { lines v5-varied; lines syn-train2 | quarter | odd; lines v3-empty | not_blank | quarter;
      lines v4-mined | odd; lines v5-mined | third; lines v3-mine | cluttered | quarter; }
}
stage14_list() { stage13_list; lines v6-mined; }  # stage 14's: and stage 13's false heads
stage15_list() { stage14_list; lines v7-mined; }  # stage 15's: and v4's false heads
dim() { $PY scripts/select_dim_scenes.py "$DATA/$1" --below "$DIM"; }  # dim LIST (in $DATA)
if [ "$STAGE" = 16 ]; then
    [ -f "$DATA/train-v10-stage15.txt" ] && [ -f "$DATA/v7-mined/list.txt" ] ||
        { echo "stage 16 trains on stage 15's scenes: run stage 15 first" >&2; exit 2; }
    v5=$(shipped 64fdb82 v5)
    gen v8-empty --count "${N[15]}" --seed 53 --min-size 256 --max-size 1024 "${empty[@]}"
    gen v6-varied --count "${N[16]}" --seed 54 --empty-fraction 0 "${varied[@]}"
    if [ ! -f "$DATA/v8-mined/list.txt" ]; then
        lines v8-empty | noisy_or_cluttered > "$DATA/v8-noisy-cluttered.txt"
        dim v8-noisy-cluttered.txt > "$DATA/v8-mine.txt"
        $PY scripts/mine_hard_negatives.py "$v5" "$DATA/v8-mine.txt" "$DATA/v8-mined"
    fi
    lines v6-varied > "$DATA/v6-varied.txt"
    { stage15_list; lines v8-mined; dim v6-varied.txt; } > "$DATA/train-v11-stage16.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v11-stage16.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v11" \
        "$v5" "${EPOCHS[15]}" --lr 1e-5 --freeze-blocks 5 --also-crop 1x256 --seed 6 "$@"
    exit
fi
if [ "$STAGE" = 15 ]; then
    v9="${RUNS}synthetic-demo-v9/last.safetensors"
    [ -f "$v9" ] && [ -f "$DATA/v6-mined/list.txt" ] ||
        { echo "stage 15 starts from stage 14's $v9 and scenes: run stage 14 first" >&2; exit 2; }
    gen v7-val-empty --count "${N[14]}" --seed 52 --min-size 256 --max-size 1024 "${empty[@]}"
    lines v7-val-empty | cluttered > "$DATA/val-v7-cluttered.txt"
    mine_slice "$v9" v7 $((N[11] + N[12])) "${N[13]}"  # after v5-mine.txt and v6-mine.txt
    stage15_list > "$DATA/train-v10-stage15.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v10-stage15.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v10" \
        "$v9" "${EPOCHS[14]}" --lr 1e-5 --freeze-blocks 5 --also-crop 1x256 --seed 5 "$@"
    exit
fi
if [ "$STAGE" = 14 ]; then
    v8="${RUNS}synthetic-demo-v8/last.safetensors"
    [ -f "$v8" ] || { echo "stage 14 starts from stage 13's $v8: run stage 13 first" >&2; exit 2; }
    mine_slice "$v8" v6 "${N[11]}" "${N[12]}"  # after those mined with stage 9 (v5-mine.txt)
    stage14_list > "$DATA/train-v9-stage14.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v9-stage14.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v9" "$v8" \
        "${EPOCHS[13]}" --lr 1e-5 --freeze-blocks 5 --also-crop 1x256 --seed 4 "$@"
    exit
fi
if [ "$STAGE" = 13 ]; then
    v3=$(v3_weights)
    stage13_list > "$DATA/train-v8-stage13.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v8-stage13.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v8" "$v3" \
        "${EPOCHS[12]}" --lr 1e-5 --lr-backbone 1e-6 --also-crop 1x256 "$@"
    exit
fi
if [ "$STAGE" = 12 ]; then
    v3=$(v3_weights)
    { lines v5-varied; lines syn-train2 | quarter | odd; lines v3-empty | not_blank | quarter;
      lines v4-mined | odd; lines v5-mined | third; } > "$DATA/train-v7-stage12.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v7-stage12.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v7" "$v3" \
        "${EPOCHS[11]}" --lr 1e-5 --lr-backbone 1e-6 --crop-size 256 --crops-per-image 1 "$@"
    exit
fi
if [ "$STAGE" = 11 ]; then
    v5="${RUNS}synthetic-demo-v5/best.safetensors"
    [ -f "$v5" ] && [ -f "$DATA/v5-mined/list.txt" ] ||
        { echo "stage 11 starts from stage 10's $v5 and scenes: run stage 10 first" >&2; exit 2; }
    { lines v5-varied; lines syn-train2 | quarter | odd; lines v3-empty | not_blank | quarter;
      lines v5-mined; lines v4-mined | odd; } > "$DATA/train-v6-stage11.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v6-stage11.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v6" "$v5" \
        "${EPOCHS[10]}" --lr 1e-5 --lr-backbone 1e-6 "$@"
    exit
fi
if [ "$STAGE" = 10 ]; then
    v4="${RUNS}synthetic-demo-v4/best.safetensors"
    [ -f "$v4" ] || { echo "stage 10 starts from stage 9's $v4: run stage 9 first" >&2; exit 2; }
    gen v4-val --count "${N[4]}" --seed 44 "${varied[@]}"
    gen v5-varied --count "${N[10]}" --seed 51 --empty-fraction 0.1 "${varied[@]}"
    mine_slice "$v4" v5 0 "${N[11]}"  # the first half, to save a quarter hour
    { lines v5-varied; lines syn-train2 | quarter | odd; lines v3-empty | not_blank | quarter;
      lines v5-mined | odd; lines v4-mined | quarter; } > "$DATA/train-v5-stage10.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v5-stage10.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v5" "$v4" \
        "${EPOCHS[9]}" --lr 1e-5 --lr-backbone 1e-6 "$@"
    exit
fi
if [ "$STAGE" = 9 ]; then
    v3=$(v3_weights)
    gen v4-varied --count "${N[0]}" --seed 41 --empty-fraction 0.1 "${varied[@]}"
    gen v4-val --count "${N[4]}" --seed 44 "${varied[@]}"
    if [ ! -f "$DATA/v4-mined/list.txt" ]; then
        $PY scripts/mine_hard_negatives.py "$v3" "$DATA/v3-mine-noisy-cluttered.txt" \
            "$DATA/v4-mined"
    fi
    # A quarter of stage 6's mix, for two epochs in an hour on 2 AVX2 cores (fp32, 13 s a step)
    { lines v4-varied | quarter; lines syn-train2 | quarter | odd; lines v3-empty | not_blank | quarter;
      lines v4-mined | odd; } > "$DATA/train-v4-stage9.txt"
    val_v4 > "$DATA/val-v4-stage9.txt"
    train "$DATA/train-v4-stage9.txt" "$DATA/val-v4-stage9.txt" "${RUNS}synthetic-demo-v4" "$v3" \
        "${EPOCHS[8]}" --lr 1e-4 --lr-backbone 1e-5 --lr-drop 1 "$@"
    exit
fi
gen v2-varied --count "${N[0]}" --seed 41 --empty-fraction 0.1 "${varied[@]}"
gen v2-empty --count "${N[2]}" --seed 42 --min-size 256 --max-size 512 "${empty[@]}"
gen syn-empty2 --count "${N[3]}" --seed 8 --empty-fraction 1.0
gen v2-val --count "${N[4]}" --seed 44 "${varied[@]}"
gen syn-valempty --count "${N[5]}" --seed 9 --empty-fraction 1.0
if [ "$STAGE" = 1 ]; then
    even() { awk 'NR % 2 == 0'; }  # half of seed 6; the textured half of seed 8
    { lines v2-varied; lines syn-train2 | even; lines v2-empty; lines syn-empty2 | even; } \
        > "$DATA/train-v2-robust.txt"
    { lines v2-val; lines syn-valempty; } > "$DATA/val-v2-robust.txt"
    train "$DATA/train-v2-robust.txt" "$DATA/val-v2-robust.txt" "${RUNS}synthetic-demo-v2" \
        weights/synthetic-demo.safetensors "${EPOCHS[0]}" --lr 2e-5 --lr-backbone 2e-5 "$@"
    exit
fi
gen v2-empty3 --count "${N[6]}" --seed 45 --min-size 256 --max-size 512 "${empty[@]}"
if [ "$STAGE" = 2 ]; then
    { lines v2-varied | awk -v n=$((N[0] * 7 / 10)) 'NR <= n'; lines syn-train2 | quarter; lines v2-empty;
      lines v2-empty3 | not_blank; } > "$DATA/train-v2-stage2.txt"
    train "$DATA/train-v2-stage2.txt" "$DATA/val-v2-robust.txt" "${RUNS}synthetic-demo-v2b" \
        "${RUNS}synthetic-demo-v2/best.safetensors" "${EPOCHS[1]}" --lr 1e-5 --lr-backbone 1e-5 \
        "$@"
    exit
fi
gen v2-empty4 --count "${N[7]}" --seed 48 --min-size 256 --max-size 1024 "${empty[@]}"
gen sel-empty --count "${N[8]}" --seed 46 --min-size 256 --max-size 1024 "${empty[@]}"
{ lines v2-varied; lines syn-train2 | quarter; lines v2-empty; lines v2-empty3 | not_blank;
  lines v2-empty4 | not_blank; } > "$DATA/train-v2-stage3.txt"
{ lines v2-val; lines sel-empty | not_blank; } > "$DATA/val-v2-stage3.txt"
if [ "$STAGE" = 3 ]; then
    train "$DATA/train-v2-stage3.txt" "$DATA/val-v2-stage3.txt" "${RUNS}synthetic-demo-v2c" \
        "${RUNS}synthetic-demo-v2b/best.safetensors" "${EPOCHS[2]}" --lr 1e-4 \
        --lr-backbone 1e-5 "$@"
    exit
fi
if [ "$STAGE" = 4 ]; then
    train "$DATA/train-v2-stage3.txt" "$DATA/val-v2-stage3.txt" "${RUNS}synthetic-demo-v2d" \
        "${RUNS}synthetic-demo-v2c/best.safetensors" "${EPOCHS[3]}" --lr 1e-4 \
        --lr-backbone 1e-5 --lr-drop 1 "$@"
    exit
fi
if [ "$STAGE" = 5 ]; then
    gen v2-empty5 --count "${N[9]}" --seed 49 --min-size 256 --max-size 1024 "${empty[@]}"
    { lines v2-varied | odd; lines syn-train2 | quarter; lines v2-empty | not_blank;
      lines v2-empty4 | not_blank; lines v2-empty5 | noisy_or_cluttered; } \
        > "$DATA/train-v2-stage5.txt"
    train "$DATA/train-v2-stage5.txt" "$DATA/val-v2-stage3.txt" "${RUNS}synthetic-demo-v2e" \
        "${RUNS}synthetic-demo-v2d/best.safetensors" "${EPOCHS[4]}" --lr 1e-5 --lr-backbone 1e-6 \
        "$@"
    exit
fi
# Stage 6 draws its scenes again with the generator's sensor noise capped at each scene's own
# contrast (commit 4d04ebf; stages 1-5 ran before it, on scenes of which one in 18 was
# noise carrying head labels), in v3-* folders, and mines hard negatives with stage 5.
# Stages 6-8 ran with the dyed-hair palette of commit 5f85ddc (saturation 0.3-1, value
# 0.1-0.9), widened for stage 9: their crowd scenes (v3-varied, v3-val) are drawn
# differently now; the person-free ones, which draw no hair, are the same.
gen v3-varied --count "${N[0]}" --seed 41 --empty-fraction 0.1 "${varied[@]}"
gen v3-val --count "${N[4]}" --seed 44 "${varied[@]}"
if [ ! -f "$DATA/v3-mined/list.txt" ]; then
    $PY scripts/mine_hard_negatives.py "${RUNS}synthetic-demo-v2e/best.safetensors" \
        "$DATA/v3-mine-noisy-cluttered.txt" "$DATA/v3-mined"
fi
{ lines v3-varied; lines syn-train2 | quarter; lines v3-empty | not_blank; lines v3-mined; } \
    > "$DATA/train-v3-stage6.txt"
{ lines v3-val; lines v3-sel-empty | not_blank; } > "$DATA/val-v3-stage6.txt"
if [ "$STAGE" = 6 ]; then
    train "$DATA/train-v3-stage6.txt" "$DATA/val-v3-stage6.txt" "${RUNS}synthetic-demo-v2g" \
        "${RUNS}synthetic-demo-v2e/best.safetensors" "${EPOCHS[5]}" --lr 1e-4 --lr-backbone 1e-5 \
        --lr-drop 1 "$@"
    exit
fi
if [ "$STAGE" = 8 ]; then
    train "$DATA/train-v3-stage6.txt" "$DATA/val-v3-stage6.txt" "${RUNS}synthetic-demo-v2i" \
        "${RUNS}synthetic-demo-v2g/best.safetensors" "${EPOCHS[7]}" --lr 1e-5 --lr-backbone 1e-6 \
        --seed 1 "$@"
    exit
fi
dark() {  # the list lines of $1's crowd scenes whose mean grey level is under 40 (low light)
    lines "$1" | $PY -c '
import sys
from pathlib import Path
import numpy as np
from PIL import Image
root = Path(sys.argv[1])
for line in sys.stdin:
    image, points = line.split()
    with Image.open(root / image) as picture:
        if (root / points).read_text().strip() and np.asarray(picture.convert("L")).mean() < 40:
            print(line, end="")
' "$DATA"
}
dark v3-varied > "$DATA/v3-varied-dark.txt"
{ lines v3-varied | odd; cat "$DATA/v3-varied-dark.txt" "$DATA/v3-varied-dark.txt";
  lines syn-train2 | quarter; lines v3-empty | not_blank; lines v3-mined; } \
    > "$DATA/train-v3-stage7.txt"
train "$DATA/train-v3-stage7.txt" "$DATA/val-v3-stage6.txt" "${RUNS}synthetic-demo-v2h" \
    "${RUNS}synthetic-demo-v2g/best.safetensors" "${EPOCHS[6]}" --lr 1e-5 --lr-backbone 1e-6 "$@"
# Then, after measuring it on the held-out seeds (scripts/evaluate_synthetic_demo.py
# --robustness), write it with its metadata as weights/synthetic-demo.safetensors in float16
# (p2pcount.weights.checkpoint.save_weights(..., dtype=torch.float16)).
