#!/usr/bin/env bash
# Image captioning on RSICD (../shared/data/rsicd: 1,764 train / 211 val / 210 test images of the official
# split; the full set has 8,734 train images) and NWPU-Captions test (700 images) as a cross-dataset check.
# Run from the repo root:   bash benchmarks/captioning.sh      (writes $OUT/report.md)
# Steps (one hold of the shared benchmark lock, ~25 min on 2 busy CPU cores):
#   1. EfficientNet-Lite0 7x7x1280 feature grids of RSICD train/val/test into the feature cache (timed)
#   2. Show-Attend-Tell GRU decoder (configs/captioning/rsicd-attention.yaml), test BLEU-1..4 beam 1 and 3
#   3. the same decoder without attention (configs/captioning/rsicd-no-attention.yaml: the pooled vector at every
#      step) and Show and Tell as published (configs/captioning/rsicd-show-and-tell.yaml: the image at the start)
#   4. the runs on RSICD test again for CIDEr-D and METEOR (dl4nlp caption-eval; METEOR needs java) and on
#      NWPU-Captions test, beam 1 and 3 (its features are extracted and timed here)
#   5. the markdown tables (benchmarks/captioning_report.py -> $OUT/report.md)
# Seeds 14 and 15 of the decoders beside the seed-13 runs (the report adds mean ± std and paired tables):
#   OUT=runs/bench-captioning-e15 bash benchmarks/captioning.sh seeds
# EXTRA adds --set overrides to every training run of both decoders (the same for both), e.g. the cosine
# learning-rate variant with five seeds:
#   OUT=runs/bench-captioning-cos EXTRA="--set train.schedule=cosine" bash benchmarks/captioning.sh
#   OUT=runs/bench-captioning-cos EXTRA="--set train.schedule=cosine" SEEDS="14 15 16 17" bash benchmarks/captioning.sh seeds
# and weight averaging (EMA 0.995, ~1.5 epochs of steps), ten seeds:
#   OUT=runs/bench-captioning-ema EXTRA="--set train.ema_decay=0.995" bash benchmarks/captioning.sh
#   OUT=runs/bench-captioning-ema EXTRA="--set train.ema_decay=0.995" SEEDS="14 15 16 17 18 19 20 21 22" bash benchmarks/captioning.sh seeds
# MODELS names the decoders of the seeds runs (configs/captioning/rsicd-<name>.yaml; default "attention
# no-attention show-and-tell"); Show and Tell as published (the image only at the start) against attention, ten paired seeds:
#   OUT=runs/bench-captioning-sat EXTRA="--set train.ema_decay=0.995" MODELS="attention show-and-tell" \
#     SEEDS="13 14 15 16 17 18 19 20 21 22" bash benchmarks/captioning.sh seeds
# IMAGE_SIZE=448 encodes 448-pixel inputs: a 14 x 14 grid (L = 196, the grid size of Xu et al.) instead of 7 x 7:
#   OUT=runs/bench-captioning-448 IMAGE_SIZE=448 EXTRA="--set train.ema_decay=0.995" bash benchmarks/captioning.sh
set -euo pipefail
if [ -z "${VIRTUAL_ENV:-}" ] && [ -f .venv/bin/activate ]; then . .venv/bin/activate; fi
OUT=${OUT:-runs/bench-captioning}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
THREADS=${THREADS:-1}   # one thread: much faster than two on a machine shared with other jobs
EXTRA=${EXTRA:-}
IMAGE_SIZE=${IMAGE_SIZE:-224}   # the encoder's input size; 448 gives a 14 x 14 grid (Xu et al.'s L = 196)
if [ "$IMAGE_SIZE" != 224 ]; then EXTRA="$EXTRA --set model.image_size=$IMAGE_SIZE"; fi
mkdir -p "$OUT"
score_run() {  # RUN: RSICD test again for CIDEr-D and METEOR, and NWPU-Captions test (beam 1 and 3), once
  [ -f "$1/rsicd-eval/rsicd-test.json" ] || dl4nlp caption-eval "$1" --beam 1 --beam 3 --out "$1/rsicd-eval"
  [ -f "$1/nwpu/nwpu_captions-test.json" ] || dl4nlp caption-eval "$1" --dataset nwpu_captions \
    --path ../shared/data/nwpu_captions --beam 1 --beam 3 --out "$1/nwpu"
}
export -f score_run
if [ "${1:-}" = "seeds" ]; then
  for s in ${SEEDS:-14 15}; do
    for name in ${MODELS:-attention no-attention show-and-tell}; do
      if [ ! -f "$OUT/rsicd-$name-s$s/results.json" ]; then
        rm -rf "$OUT/rsicd-$name-s$s"
        flock "$LOCK" env OMP_NUM_THREADS="$THREADS" dl4nlp train configs/captioning/rsicd-$name.yaml \
          --set run.seed="$s" --set run.dir="$OUT" --set run.name=rsicd-$name-s$s $EXTRA
      fi
      score_run "$OUT/rsicd-$name-s$s"
    done
  done
  python benchmarks/captioning_report.py "$OUT" > "$OUT/report.md"
  cat "$OUT/report.md"
  exit 0
fi
flock "$LOCK" env OMP_NUM_THREADS="$THREADS" OUT="$OUT" EXTRA="$EXTRA" IMAGE_SIZE="$IMAGE_SIZE" bash -c '
  set -euo pipefail
  python benchmarks/captioning_features.py --nwpu "" --image-size "$IMAGE_SIZE" --out "$OUT/features.json"
  for name in attention no-attention show-and-tell; do
    if [ ! -f "$OUT/rsicd-$name/results.json" ]; then
      rm -rf "$OUT/rsicd-$name"
      dl4nlp train configs/captioning/rsicd-$name.yaml --set run.dir="$OUT" --set run.name=rsicd-$name $EXTRA
      python benchmarks/captioning_report.py "$OUT" > "$OUT/report.md" || true
    fi
  done
  for name in attention no-attention show-and-tell; do
    score_run "$OUT/rsicd-$name"
    python benchmarks/captioning_report.py "$OUT" > "$OUT/report.md"
  done
'
cat "$OUT/report.md"
