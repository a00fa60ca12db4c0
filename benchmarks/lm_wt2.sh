#!/usr/bin/env bash
# WikiText-2, tied 2 x 200 LSTM LM (configs/lm/wt2_small_tied.yaml): dl4nlp pipeline vs a plain PyTorch loop
# with the same hyper-parameters and the same number of updates. Run from the repo root.
#   BATCHES=250 bash benchmarks/lm_wt2.sh        # CPU-sized budget (each run well under 15 min of training)
#   BATCHES=0 EPOCHS=6 bash benchmarks/lm_wt2.sh # the full recipe (a GPU or a lot of CPU time)
set -euo pipefail
BATCHES=${BATCHES:-250}
EPOCHS=${EPOCHS:-1}
OUT=${OUT:-runs/bench-lm}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
LIMIT=()
if [ "$BATCHES" != "0" ]; then LIMIT=(--set "trainer.limit_train_batches=$BATCHES"); fi
mkdir -p "$OUT"
flock "$LOCK" dl4nlp train configs/lm/wt2_small_tied.yaml --set "train.epochs=$EPOCHS" "${LIMIT[@]}" \
  --set trainer.progress_bar=false --set "run.dir=$OUT" --set "run.name=wt2-small-tied-b$BATCHES-e$EPOCHS"
flock "$LOCK" python benchmarks/lm_plain_loop.py --data ../shared/data/wikitext2 --epochs "$EPOCHS" \
  --max-batches "$BATCHES" --out "$OUT/plain-loop-b$BATCHES-e$EPOCHS.json"
