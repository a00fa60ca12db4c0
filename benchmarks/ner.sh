#!/usr/bin/env bash
# Named-entity recognition (issue #29): the five rungs of configs/ner (softmax, CRF, CRF + char CNN, CRF + char
# LSTM, MiniLM) on CoNLL-2003 (train on train.txt, select on valid.txt entity F1, report test.txt entity F1,
# seqeval strict), seeds 13 14 15, through the real CLI (`dl4nlp train configs/ner/<model>.yaml --set run.seed=S`);
# then training tokens/s (engine vs a plain PyTorch loop) and Viterbi tokens/s (ours vs pytorch-crf) in
# alternating rounds (benchmarks/ner_speed.py), and the report (benchmarks/ner_report.py).
# Run from the repo root; reads ../shared/data/conll2003.
#   bash benchmarks/ner.sh
#   MODELS="bilstm_crf_charcnn" SEEDS=13 SPEED="" bash benchmarks/ner.sh
#   EXTRA_SETS="--set data.max_train_examples=200 --set train.epochs=1" OUT=/tmp/ner-smoke bash benchmarks/ner.sh
# Order: every model with seed 13 first, then seeds 14 and 15, so an interrupted benchmark has the most useful
# runs. Each run (and the speed script) holds the shared lock, so heavy jobs run one at a time; finished runs are
# skipped and unfinished ones resumed (`dl4nlp train --resume`) when the script is run again. The 1-minute load
# average at the start and end of each job goes to $OUT/load.tsv (the report quotes it).
# One torch thread per process (the shared 2-core machine).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-ner}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
MODELS=${MODELS:-"bilstm_softmax bilstm_crf bilstm_crf_charcnn bilstm_crf_charlstm minilm_tagger"}
SEEDS=${SEEDS:-"13 14 15"}
EXTRA_SETS=${EXTRA_SETS:-""}       # appended to every new run (smoke tests: a slice, one epoch)
MINILM_SETS=${MINILM_SETS:-""}     # appended to the MiniLM runs only (a CPU budget, e.g. --set train.epochs=2)
SPEED=${SPEED-"--sentences 2000 --batches 30 --rounds 3"}  # ner_speed.py arguments; empty: skip the speed step
mkdir -p "$OUT"

# shellcheck source=benchmarks/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"  # note, train_run

for s in $SEEDS; do for m in $MODELS; do
  sets=""
  if [ "$m" = minilm_tagger ]; then sets=$MINILM_SETS; fi
  # shellcheck disable=SC2086
  train_run "$m-s$s" "configs/ner/$m.yaml" "$s" $sets
done; done

if [ -n "$SPEED" ] && [ ! -f "$OUT/speed.json" ]; then
  (
    flock 9
    note speed start
    # shellcheck disable=SC2086
    python benchmarks/ner_speed.py $SPEED --out "$OUT/speed.json"
    note speed end
  ) 9>>"$LOCK"
fi
python benchmarks/ner_report.py "$OUT" --out "${REPORT_OUT:-benchmarks/results/ner.md}"
