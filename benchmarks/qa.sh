#!/usr/bin/env bash
# Extractive QA (issue #32): the recurrent reader (drqa) and MiniLM (transformer_qa) on the article-split protocol
# of SQuAD v1.1 dev (32 train / 6 dev / 10 test articles, seed 32; docs/qa.md), through the real CLI.
# Learning curve: 500 / 2,000 / all train-article questions, seeds 13 14 15; report on the test articles.
# Run from the repo root; reads ../shared/data/squad.
#   bash benchmarks/qa.sh
#   MODELS=drqa SEEDS=13 SIZES=all bash benchmarks/qa.sh
#   MINILM_SETS="--set model.freeze_layers=2 --set train.epochs=2" bash benchmarks/qa.sh   # a CPU budget
# Finished runs are skipped and unfinished ones resumed when the script is run again; each run holds the shared
# lock, so heavy jobs run one at a time. One torch thread per process (the shared 2-core machine).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-qa}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
MODELS=${MODELS:-"drqa minilm"}
SEEDS=${SEEDS:-"13 14 15"}
SIZES=${SIZES:-"all 500 2000"}
MINILM_SETS=${MINILM_SETS:-""}

for s in $SEEDS; do for n in $SIZES; do for m in $MODELS; do
  name=$m-n$n-s$s
  [ -f "$OUT/$name/results.json" ] && continue
  if [ -f "$OUT/$name/last.ckpt" ]; then flock "$LOCK" dl4nlp train --resume "$OUT/$name"; continue; fi
  sets="--set run.seed=$s --set run.dir=$OUT --set run.name=$name --set trainer.progress_bar=false"
  if [ "$n" != all ]; then sets="$sets --set data.max_train_examples=$n"; fi
  if [ "$m" = minilm ]; then sets="$sets $MINILM_SETS"; fi
  # shellcheck disable=SC2086
  flock "$LOCK" dl4nlp train configs/qa/$m.yaml $sets
done; done; done
python benchmarks/qa_report.py "$OUT"
