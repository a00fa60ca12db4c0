#!/usr/bin/env bash
# Recurrent rungs (issue #3) on SST-2 / SST-5, sentence-level training, 3 seeds each, through the real CLI
# (`dl4nlp train configs/ladder/<rung>.yaml --set run.seed=N`). Run from the repo root; reads ../shared/data.
#   bash benchmarks/recurrent.sh                       # all rungs x 3 seeds on SST-2, then SST-5
#   DATASETS=sst2 RUNGS="gru lstm" bash benchmarks/recurrent.sh
#   PHRASES=true OUT=runs/bench-recurrent-phrases bash benchmarks/recurrent.sh   # train on every labelled
#                                                      # subtree (dev/test stay sentence-level)
#   bash benchmarks/recurrent.sh speed                 # tokens/s: fused vs scratch vs a plain PyTorch loop
#   bash benchmarks/recurrent.sh scratch               # GRU rung, seed 13, trained with impl=scratch
# One torch thread per process: on the shared 2-core machine two OpenMP threads competing with other
# jobs ran ~20x slower than one (measured: 1.2k vs 27k tokens/s for the same LSTM step).
# Each (dataset, seed) pass over the rungs takes the shared lock, so heavy runs go one at a time.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-recurrent}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
if [ "${1:-}" = "speed" ]; then
  flock "$LOCK" python benchmarks/recurrent_speed.py --out "$OUT/speed.json"
  exit 0
fi
if [ "${1:-}" = "scratch" ]; then  # the same GRU rung trained with our cells: same accuracy as fused?
  flock "$LOCK" dl4nlp train configs/ladder/gru.yaml --set model.impl=scratch --set run.seed=13 \
    --set run.dir="$OUT/scratch" --set run.name=gru-scratch-s13 --set trainer.progress_bar=false
  exit 0
fi
DATASETS=${DATASETS:-"sst2 sst5"}
RUNGS=${RUNGS:-"rnn gru lstm bilstm stacked"}
SEEDS=${SEEDS:-"13 14 15"}
PHRASES=${PHRASES:-false}
for ds in $DATASETS; do
  for s in $SEEDS; do  # one seed over every rung per lock hold, so an interrupted sweep has every rung
    flock "$LOCK" bash -c '
      for rung in '"$RUNGS"'; do
        if [ -f "'"$OUT/$ds"'/$rung-s'"$s"'/results.json" ]; then continue; fi
        dl4nlp train configs/ladder/$rung.yaml --set data.dataset='"$ds"' --set data.phrases='"$PHRASES"' --set run.seed='"$s"' \
          --set run.dir='"$OUT/$ds"' --set run.name=$rung-s'"$s"' --set trainer.progress_bar=false
      done'
  done
done
python benchmarks/recurrent_report.py "$OUT"
