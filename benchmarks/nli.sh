#!/usr/bin/env bash
# NLI with attention (issue #6; Rocktäschel et al. 2016): conditional encoding, attention, word-by-word attention
# on the reduced protocol (train SNLI train_1pct + MultiNLI dev m/mm = 25,145 pairs, select on SNLI dev, report
# SNLI test), through the real CLI (`dl4nlp train configs/nli/<model>.yaml --set run.seed=N`).
# Run from the repo root; reads ../shared/data.
#   bash benchmarks/nli.sh                   # seed 13 at 25k, learning curve (5k, 12k; seed 13), seeds 14 and 15
#   MODELS="attention" MORE_SEEDS="" CURVE="" bash benchmarks/nli.sh
# Order: one full pass of the three models first, then the learning-curve points, then more seeds, so an
# interrupted benchmark has the most useful runs. Each pass (three models; the curve: both sizes) holds the shared
# lock, so heavy jobs run one at a time; finished runs are skipped (a finished pass does not wait for the lock)
# and unfinished ones resumed when the script is run again.
# One torch thread per process (the shared 2-core machine).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-nli}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
MODELS=${MODELS:-"conditional attention word_by_word"}
FIRST_SEED=${FIRST_SEED:-13}
MORE_SEEDS=${MORE_SEEDS-"14 15"}
CURVE=${CURVE-"5000 12000"}

pass() {  # seed "n_train ..." (or all): the three models per size, one after the other, under one hold of the lock
  local s=$1 sizes=$2 n m todo=0
  for n in $sizes; do for m in $MODELS; do
    if [ "$n" = all ]; then [ -f "$OUT/full/$m-s$s/results.json" ] || todo=1
    else [ -f "$OUT/curve/$m-n$n-s$s/results.json" ] || todo=1; fi
  done; done
  if [ "$todo" = 0 ]; then return 0; fi
  flock "$LOCK" bash -c '
    s='"$s"'
    for n in '"$sizes"'; do for m in '"$MODELS"'; do
      if [ "$n" = all ]; then name=$m-s$s dir='"$OUT"'/full sets=""
      else name=$m-n$n-s$s dir='"$OUT"'/curve sets="--set data.max_train_examples=$n"; fi
      if [ -f "$dir/$name/results.json" ]; then continue; fi
      if [ -f "$dir/$name/last.ckpt" ]; then dl4nlp train --resume "$dir/$name"; continue; fi
      dl4nlp train configs/nli/$m.yaml --set run.seed=$s --set run.dir=$dir --set run.name=$name \
        --set trainer.progress_bar=false $sets
    done; done'
}

pass "$FIRST_SEED" all
if [ -n "$CURVE" ]; then pass "$FIRST_SEED" "$CURVE"; fi  # both curve points: about 0.7 of a full pass
for s in $MORE_SEEDS; do pass "$s" all; done
python benchmarks/nli_report.py "$OUT"
