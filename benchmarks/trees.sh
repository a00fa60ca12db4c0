#!/usr/bin/env bash
# Tree-structured networks (issue #33): the recursive NN (Socher et al. 2011), the RNTN (Socher et al. 2013) and the
# constituency Tree-LSTM (Tai et al. 2015) on the SST's binarised trees, every node supervised, SST-5 and SST-2
# (select on dev root accuracy, report test root and all-phrase accuracy), seeds 13 14 15, through the real CLI
# (`dl4nlp train configs/trees/<model>.yaml --set data.dataset=<sst5|sst2> --set run.seed=S`); then the training
# speed of the level-by-level batcher against per-tree recursion (benchmarks/trees_speed.py) and the report
# (benchmarks/trees_report.py).
# Run from the repo root; reads ../shared/data/sst.
#   bash benchmarks/trees.sh
#   MODELS=tree_lstm DATASETS=sst2 SEEDS=13 SPEED="" bash benchmarks/trees.sh
#   EXTRA_SETS="--set data.max_train_examples=200 --set train.epochs=1" OUT=/tmp/trees-smoke bash benchmarks/trees.sh
# Order: every model and dataset with seed 13 first, then seeds 14 and 15, so an interrupted benchmark has the most
# useful runs. Each run (and the speed script) holds the shared lock, so heavy jobs run one at a time; finished runs
# are skipped and unfinished ones resumed (`dl4nlp train --resume`) when the script is run again. The 1-minute load
# average at the start and end of each job goes to $OUT/load.tsv (the report quotes it).
# One torch thread per process (the shared 2-core machine).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-trees}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
MODELS=${MODELS:-"tree_rnn rntn tree_lstm"}
DATASETS=${DATASETS:-"sst5 sst2"}
SEEDS=${SEEDS:-"13 14 15"}
EXTRA_SETS=${EXTRA_SETS:-""}          # appended to every new run (smoke tests: a slice, one epoch)
SPEED=${SPEED-"--batches 20 --threads 1"}  # trees_speed.py arguments; empty: skip the speed step
mkdir -p "$OUT"

# shellcheck source=benchmarks/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"  # note, train_run

for s in $SEEDS; do for d in $DATASETS; do for m in $MODELS; do
  train_run "$m-$d-s$s" "configs/trees/$m.yaml" "$s" --set data.dataset="$d"
done; done; done

if [ -n "$SPEED" ] && [ ! -f "$OUT/trees_speed.json" ]; then
  (
    flock 9
    note speed start
    # shellcheck disable=SC2086
    python benchmarks/trees_speed.py $SPEED --out "$OUT/trees_speed.json" >&2
    note speed end
  ) 9>>"$LOCK"
fi
python benchmarks/trees_report.py "$OUT" --out "${REPORT_OUT:-benchmarks/results/trees.md}"
