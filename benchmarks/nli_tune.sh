#!/usr/bin/env bash
# NLI, each model's own hyper-parameters chosen on SNLI dev (issue #6; Rocktäschel et al. 2016 tune learning rate,
# dropout and L2 per model): the gold-label setting of benchmarks/results/nli_explore.md (trainable GloVe, weight
# averaging 0.999, SNLI sample x4, dev/test words keep their GloVe vector, up to 15 epochs, patience 3) over a
# grid of learning rate x dropout, one seed; then more seeds of each model's dev-best cell.
# Run from the repo root; reads ../shared/data. Finished runs are skipped, unfinished ones resumed.
#   bash benchmarks/nli_tune.sh                                # the grid, seed 13 (18 runs)
#   PICK="conditional:1e-3:0.1 attention:5e-4:0.2" SEEDS="14 15 16 17 18" bash benchmarks/nli_tune.sh
# LANES runs at a time (default 2: the 2-core machine), one torch thread each.
set -euo pipefail
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
OUT=${OUT:-runs/bench-nli-tune}
MODELS=${MODELS:-"word_by_word attention conditional"}
LRS=${LRS:-"5e-4 1e-3 2e-3"}
DROPOUTS=${DROPOUTS:-"0.1 0.2"}
SEEDS=${SEEDS:-13}
LANES=${LANES:-2}
PICK=${PICK:-}  # model:lr:dropout ... (replaces the grid)

jobs() {  # one line per run: model lr dropout seed
  local s m lr d pick
  for s in $SEEDS; do
    if [ -n "$PICK" ]; then
      for pick in $PICK; do IFS=: read -r m lr d <<< "$pick"; echo "$m $lr $d $s"; done
    else
      for lr in $LRS; do for d in $DROPOUTS; do for m in $MODELS; do echo "$m $lr $d $s"; done; done; done
    fi
  done
}

run_one() {  # model lr dropout seed
  local m=$1 lr=$2 d=$3 s=$4 name="$1-lr$2-d$3-s$4"
  if [ -f "$OUT/$name/results.json" ]; then return 0; fi
  if [ -f "$OUT/$name/last.ckpt" ]; then dl4nlp train --resume "$OUT/$name" >> "$OUT/$name.log" 2>&1; return 0; fi
  dl4nlp train "configs/nli/$m.yaml" --set model.freeze_embeddings=false --set train.ema_decay=0.999 \
    --set train.epochs=15 --set train.patience=3 --set data.snli_repeat=4 --set model.extend_vocab=always \
    --set train.lr="$lr" --set model.dropout="$d" --set run.seed="$s" --set run.dir="$OUT" \
    --set run.name="$name" --set trainer.progress_bar=false > "$OUT/$name.log" 2>&1
}
export -f run_one
export OUT
mkdir -p "$OUT"

jobs | xargs -P "$LANES" -L 1 bash -c 'run_one "$@" || echo "failed: $*" >&2' _
python benchmarks/nli_tune_report.py "$OUT"
