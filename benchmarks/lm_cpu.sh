#!/usr/bin/env bash
# Language models on the 2 CPU cores (issues #35 and #31): WikiText-2 with the CPU recipe configs/lm/wt2_cpu.yaml
# (tied 2 x 200 LSTM, adaptive softmax), the transformer LM (configs/lm/wt2_transformer.yaml) beside it.
#   1. speed: training tokens/s, full vs adaptive softmax, alternating turns (benchmarks/lm_adaptive_speed.py speed);
#   2. the recipe through the real CLI (`dl4nlp train configs/lm/wt2_cpu.yaml --set run.seed=S`) at the 20-minute
#      budget (its 5 cosine epochs, seeds SEEDS) and the 60-minute budget (EPOCHS_60 cosine epochs, seeds SEEDS_60).
#      The config has no wall-clock key (Lightning's max_time is not exposed by ExperimentConfig): a budget is a
#      number of epochs sized for ~3.5-4 minutes an epoch on 2 idle cores, and the report checks both the test
#      perplexity and the measured train time against each target;
#   3. dev perplexity against wall-clock minutes at the same time limit for each model (Lightning's max_time inside
#      benchmarks/lm_adaptive_speed.py curve, with the test perplexity at the limit): CURVES entries
#      <minutes>:<label>, label adaptive (wt2_cpu.yaml), full (wt2_cpu.yaml with model.output=full) or
#      transformer (wt2_transformer.yaml);
#   4. the report (benchmarks/lm_cpu_report.py: benchmarks/results/lm_cpu.md and the curve PNGs).
# Run from the repo root; reads ../shared/data/wikitext2.
#   bash benchmarks/lm_cpu.sh
#   SEEDS=13 SEEDS_60="" CURVES="20:adaptive 20:transformer" bash benchmarks/lm_cpu.sh
#   EXTRA_SETS="--set trainer.limit_train_batches=5 --set train.epochs=1" OUT=/tmp/lm-smoke bash benchmarks/lm_cpu.sh
# Every job holds the shared lock, so heavy jobs run one at a time; finished runs (and curves with a CSV) are
# skipped and unfinished runs resumed (`dl4nlp train --resume`) when the script is run again; a curve cut off is
# measured again from the start. The 1-minute load average at the start and end of each job goes to $OUT/load.tsv.
# One torch thread per process (the shared 2-core machine).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-lm-cpu}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
SEEDS=${SEEDS:-"13 14 15"}         # 20-minute budget (the config's 5 epochs)
SEEDS_60=${SEEDS_60-"13"}          # 60-minute budget; empty: none
EPOCHS_60=${EPOCHS_60:-15}
CURVES=${CURVES-"20:adaptive 20:full 20:transformer 60:adaptive 60:transformer"}
# more lm_adaptive_speed.py curve arguments: max_time counts the dev passes too, so they are kept short (the
# first 100 dev batches every 1,000 updates); the test perplexity at the limit is on the whole test split
CURVE_ARGS=${CURVE_ARGS:-"--eval-every 1000 --dev-batches 100"}
EXTRA_SETS=${EXTRA_SETS:-""}       # appended to every new CLI run (smoke tests)
CURVE_SETS=${CURVE_SETS:-""}       # --set key=value ... for every curve (smoke tests)
SPEED=${SPEED-"--batches 20 --rounds 3"}  # lm_adaptive_speed.py speed arguments; empty: skip the speed step
mkdir -p "$OUT"

# shellcheck source=benchmarks/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"  # note, train_run

locked() {  # job command...: under the lock, with the load logged
  local job=$1
  shift
  (
    flock 9
    note "$job" start
    "$@"
    note "$job" end
  ) 9>>"$LOCK"
}

if [ -n "$SPEED" ] && [ ! -f "$OUT/speed.json" ]; then
  # shellcheck disable=SC2086
  locked speed python benchmarks/lm_adaptive_speed.py speed $SPEED --out "$OUT/speed.json"
fi

for s in $SEEDS; do train_run "lstm-adaptive-20min-s$s" configs/lm/wt2_cpu.yaml "$s"; done
for s in $SEEDS_60; do
  train_run "lstm-adaptive-60min-s$s" configs/lm/wt2_cpu.yaml "$s" --set train.epochs="$EPOCHS_60"
done

for c in $CURVES; do
  minutes=${c%%:*} label=${c#*:}
  case "$label" in
    adaptive) spec=configs/lm/wt2_cpu.yaml ;;
    full) spec=configs/lm/wt2_cpu.yaml:model.output=full ;;
    transformer) spec=configs/lm/wt2_transformer.yaml ;;
    *) echo "CURVES: unknown label '$label' (adaptive, full or transformer)" >&2; exit 2 ;;
  esac
  stem="$OUT/curve-${minutes//./p}min-$label"  # no dot in the stem (the script adds .csv / .png)
  [ -f "$stem.csv" ] && continue
  sets=()
  for kv in $CURVE_SETS; do [ "$kv" = --set ] || sets+=(--set "$kv"); done
  # shellcheck disable=SC2086
  locked "${stem##*/}" python benchmarks/lm_adaptive_speed.py curve "$spec" --labels "$label" \
    --minutes "$minutes" --test $CURVE_ARGS "${sets[@]}" --out "$stem"
done
python benchmarks/lm_cpu_report.py "$OUT" --out "${REPORT_OUT:-benchmarks/results/lm_cpu.md}"
