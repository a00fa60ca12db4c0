#!/usr/bin/env bash
# Bag-of-bigrams: the LR and MLP rungs with word bigrams added to their features (model.ngrams=2), everything
# else as in configs/ladder/{logreg,mlp}.yaml; SST-2 and SST-5, sentence-level training, seeds 13-15.
# Run from the repo root (two runs at a time, one torch thread each):
#   bash benchmarks/sentiment_ngrams.sh
#   python benchmarks/sentiment_ngrams_report.py runs/bench-ngrams
set -euo pipefail
D=${D:-../shared/data/sst}
OUT=${OUT:-runs/bench-ngrams}
mkdir -p "$OUT"
for dataset in sst2 sst5; do
  for seed in 13 14 15; do
    for rung in logreg mlp; do
      OMP_NUM_THREADS=1 dl4nlp train configs/ladder/$rung.yaml --set model.ngrams=2 --set data.dataset=$dataset \
        --set "data.path=$D" --set run.seed=$seed --set trainer.progress_bar=false --set "run.dir=$OUT" \
        --set run.name=$rung-bigrams-$dataset-s$seed > "$OUT/$rung-bigrams-$dataset-s$seed.log" 2>&1 &
    done
    wait
  done
done
