#!/usr/bin/env bash
# ULMFiT vs training from scratch on IMDB with 100 and 1,000 labelled reviews (configs/transfer/imdb_ulmfit.yaml).
# Run from the repo root after benchmarks/lm_wt2.sh (its WikiText-2 LM is the general LM):
#   GENERAL=runs/bench-lm/wt2-small-tied-b250-e1 bash benchmarks/ulmfit_imdb.sh
#   LABELS=100 EXTRA="--set target.max_tokens=50000" bash benchmarks/ulmfit_imdb.sh   # what fitted here
# Then: python benchmarks/ulmfit_summary.py runs/bench-ulmfit
set -euo pipefail
GENERAL=${GENERAL:-runs/bench-lm/wt2-small-tied-b250-e1}
OUT=${OUT:-runs/bench-ulmfit}
LABELS=${LABELS:-"100 1000"}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
CFG=configs/transfer/imdb_ulmfit.yaml
read -r -a EXTRA <<< "${EXTRA:-}"   # more overrides, e.g. EXTRA="--set target.max_tokens=50000"
first=""
for n in $LABELS; do
  if [ -z "$first" ]; then
    flock "$LOCK" dl4nlp transfer $CFG --set "general.run=$GENERAL" --set "classifier.max_train_examples=$n" \
      --set "run.dir=$OUT" --set "run.name=transfer-n$n" "${EXTRA[@]}"
    first="$OUT/transfer-n$n/2-target-lm"   # stage 2 is the same for every label count: reuse it
  else
    flock "$LOCK" dl4nlp transfer $CFG --set "general.run=$GENERAL" --set "target.run=$first" \
      --set "classifier.max_train_examples=$n" --set "run.dir=$OUT" --set "run.name=transfer-n$n" "${EXTRA[@]}"
  fi
  flock "$LOCK" dl4nlp transfer $CFG --set "general.run=$GENERAL" --set classifier.init=scratch \
    --set "classifier.max_train_examples=$n" --set "run.dir=$OUT" --set "run.name=scratch-n$n" "${EXTRA[@]}"
done
