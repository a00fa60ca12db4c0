#!/usr/bin/env bash
# The full recipes of the language-model issue, sized for one GPU (about 8 minutes on an H200; days on 2 CPU
# cores): (A) dl4nlp vs plain-loop tokens/second, alternating; (B) the tied 2 x 200 WikiText-2 LM for 6 epochs
# through dl4nlp and through the plain loop, with the scratch IMDB classifiers alongside; (C, D) ULMFiT with
# that LM as the general LM: 100 / 1,000 labels (3 seeds, each seed fine-tunes its own target LM) and all
# 22,500 labels (seed 13), first 400 tokens of each review, the whole 25,000-review test set.
# Run from the repo root:
#   bash benchmarks/lm_ulmfit_full.sh
#   python benchmarks/ulmfit_summary.py runs/gpu/ulmfit
set -euo pipefail
D=${D:-../shared/data}
R=${R:-runs/gpu}
PY=${PY:-python}
DL=($PY -m dl4nlp)
CFG=configs/transfer/imdb_ulmfit.yaml
CX=(--set "classifier.path=$D/imdb" --set classifier.max_length=400 --set classifier.max_test_examples=null
    --set target.max_tokens=null --set "run.dir=$R/ulmfit")
GEN=$R/lm/wt2-small-tied-e6
LOGS=$R/logs
mkdir -p "$LOGS"

# classifier NAME SEED LABELS [--set ...]: one ULMFiT or scratch classifier run in the background, logged
classifier() {
  local name=$1 seed=$2 labels=$3
  shift 3
  OMP_NUM_THREADS=1 "${DL[@]}" transfer $CFG --set classifier.max_train_examples=$labels --set run.seed=$seed \
    --set run.name=$name "${CX[@]}" "$@" > "$LOGS/$name.log" 2>&1 &
  started+=($!)
}

# wait_all: wait for every job started so far; fail (naming the logs) if any of them failed
started=()
wait_all() {
  local failed=0 pid
  for pid in "${started[@]}"; do
    wait "$pid" || failed=$((failed + 1))
  done
  started=()
  if ((failed)); then
    echo "$failed background job(s) failed; see $LOGS/*.log" >&2
    exit 1
  fi
}

# A: the speed ratio, alone on the machine
$PY benchmarks/lm_speed_ratio.py --data "$D/wikitext2" --batches 500 --rounds 2 --out "$R/lm/speed_ratio.json"

# B: the two 6-epoch LMs, the scratch classifiers (they need no LM) and nothing else
"${DL[@]}" train configs/lm/wt2_small_tied.yaml --set train.epochs=6 --set trainer.progress_bar=false \
  --set "data.path=$D/wikitext2" --set "run.dir=$R/lm" --set run.name=wt2-small-tied-e6 > "$LOGS/lm.log" 2>&1 &
lm=$!
$PY benchmarks/lm_plain_loop.py --data "$D/wikitext2" --epochs 6 --test --out "$R/lm/plain-loop-e6.json" \
  > "$LOGS/plain.log" 2>&1 &
started+=($!)
for s in 13 14 15; do
  for n in 100 1000; do
    classifier scratch-n$n-s$s $s $n --set classifier.init=scratch
  done
done
classifier scratch-nall-s13 13 null --set classifier.init=scratch
wait $lm
for t in 0.8 1.0; do
  "${DL[@]}" generate $GEN --prompt "The" --temperature $t -n 3 --max-len 40 --seed 1 > "$LOGS/generate-t$t.txt"
done

# C: transfer with 1,000 labels, 3 seeds, each fine-tuning its own target LM on its own train part
for s in 13 14 15; do
  classifier transfer-n1000-s$s $s 1000 --set general.run=$GEN
done
wait_all  # also the plain loop and the scratch classifiers of B

# D: 100 labels (3 seeds) and all labels (seed 13), reusing each seed's target LM
for s in 13 14 15; do
  classifier transfer-n100-s$s $s 100 --set general.run=$GEN --set target.run=$R/ulmfit/transfer-n1000-s$s/2-target-lm
done
classifier transfer-nall-s13 13 null --set general.run=$GEN --set target.run=$R/ulmfit/transfer-n1000-s13/2-target-lm
wait_all
