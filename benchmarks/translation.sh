#!/usr/bin/env bash
# Translation (issues #30 and #31): no attention (Cho et al. 2014), Bahdanau attention, Luong general attention and
# the transformer written from scratch on Multi30k de->en (train 29,000 / select on val 1,014 by dev BLEU / report
# test2016 1,000), seeds 13 14 15, through the real CLI (`dl4nlp train configs/translation/<model>.yaml
# --set run.seed=S`); then en->de for the best de->en model (highest mean test sacreBLEU, beam; EN_DE_MODEL to
# choose), the transformer's speed (ours vs torch.nn layers, cached decoding: benchmarks/transformer_scratch_speed.py)
# and the report (benchmarks/translation_report.py). Each run scores test2016 with greedy and beam-5 decoding
# (sacreBLEU, lower-cased tokenised BLEU, chrF, sentences/s) and writes them to its results.json.
# Run from the repo root; reads ../shared/data/multi30k.
#   bash benchmarks/translation.sh
#   MODELS="bahdanau transformer" SEEDS=13 EN_DE="" SPEED="" bash benchmarks/translation.sh
#   SETS_transformer="--set train.epochs=5" bash benchmarks/translation.sh     # options for one model's runs
#   EXTRA_SETS="--set data.max_train_examples=300 --set train.epochs=1" OUT=/tmp/mt-smoke bash benchmarks/translation.sh
# Order: every model with seed 13 first, then seeds 14 and 15, then en->de, so an interrupted benchmark has the most
# useful runs. Each run (and the speed script) holds the shared lock, so heavy jobs run one at a time; finished runs
# are skipped and unfinished ones resumed (`dl4nlp train --resume`) when the script is run again. The 1-minute load
# average at the start and end of each job goes to $OUT/load.tsv (the report quotes it).
# One torch thread per process (the shared 2-core machine).
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-translation}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
MODELS=${MODELS:-"noattn bahdanau luong transformer"}
SEEDS=${SEEDS:-"13 14 15"}
EN_DE=${EN_DE-"13 14 15"}          # seeds of the en->de runs of the best model; empty: none
EN_DE_MODEL=${EN_DE_MODEL:-""}     # default: the best de->en model by mean test sacreBLEU (beam)
EXTRA_SETS=${EXTRA_SETS:-""}       # appended to every new run (smoke tests: a slice, one epoch)
SPEED=${SPEED-"--rounds 3"}        # transformer_scratch_speed.py arguments; empty: skip the speed step
mkdir -p "$OUT"

# shellcheck source=benchmarks/bench_lib.sh
. "$(dirname "$0")/bench_lib.sh"  # note, train_run

model_sets() {  # the SETS_<model> variable, if any
  local var="SETS_$1"
  echo "${!var:-}"
}

for s in $SEEDS; do for m in $MODELS; do
  # shellcheck disable=SC2046
  train_run "$m-de-en-s$s" "configs/translation/$m.yaml" "$s" $(model_sets "$m")
done; done

if [ -n "$EN_DE" ]; then
  best=${EN_DE_MODEL:-$(python benchmarks/translation_report.py "$OUT" --best)}
  for s in $EN_DE; do
    # shellcheck disable=SC2046
    train_run "$best-en-de-s$s" "configs/translation/$best.yaml" "$s" --set data.direction=en-de $(model_sets "$best")
  done
fi

if [ -n "$SPEED" ] && [ ! -f "$OUT/transformer_speed.json" ]; then
  (
    flock 9
    note speed start
    # shellcheck disable=SC2086
    python benchmarks/transformer_scratch_speed.py $SPEED --out "$OUT/transformer_speed.json"
    note speed end
  ) 9>>"$LOCK"
fi
python benchmarks/translation_report.py "$OUT" --out "${REPORT_OUT:-benchmarks/results/translation.md}"
