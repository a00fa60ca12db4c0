#!/usr/bin/env bash
# "IMDB: what if only 1 % of reviews included a rating?" Guess the 1-10 star rating from the review text with 250
# rated training reviews (a seeded sample: data.max_train_examples) and the other reviews unrated, against the
# same models with all 22,500 training ratings (25,000 minus the 10 % dev split). Per seed and label count:
#   baselines   the training mean; scikit-learn Ridge on rating_bow's features (benchmarks/rating_baselines.py)
#   bow         rating_bow: ridge regression by SGD on tf-idf (configs/rating/imdb_bow_ridge.yaml)
#   gru         a GRU from scratch (GloVe 50d input) under the CORAL ordinal head (imdb_gru_ordinal.yaml)
#   ulmfit      ULMFiT: the encoder of a target LM fine-tuned on the unrated review text, ordinal head
#               (imdb_ulmfit_ordinal.yaml); ulmfit-scratch: the same network and vocabulary from random weights
# and, with all ratings, the GRU under the regress and classify heads (ordinal vs regression vs classification).
#
# The target LM (stages 1-2 of `dl4nlp transfer`) is trained once: the WikiText-2 LM of benchmarks/lm_wt2.sh
# fine-tuned on the first TARGET_TOKENS tokens of the (shuffled) IMDB training text, ratings unused. Its
# classifier stage (a binary head on 250 labels, 1 epoch) is a by-product and not part of the table.
# Dev: the 2,500-review dev split is rated in every setting (model selection; a real 1 % setting would have
# fewer dev ratings too: docs/rating.md).
#
#   GENERAL=runs/bench-lm/wt2-small-tied-b250-e1 bash benchmarks/rating_one_percent.sh
#   python benchmarks/rating_report.py runs/bench-rating            # the table (mean +- std over seeds)
# A tiny slice to see that it runs (minutes):
#   IMDB=/tmp/imdb_slice SEEDS=13 TARGET_TOKENS=20000 EXTRA="--set train.epochs=1" bash benchmarks/rating_one_percent.sh
set -euo pipefail
IMDB=${IMDB:-../shared/data/imdb}
OUT=${OUT:-runs/bench-rating}
SEEDS=${SEEDS:-"13 14 15"}
RATED=${RATED:-"250 all"}
GENERAL=${GENERAL:-runs/bench-lm/wt2-small-tied-b250-e1}
TARGET_TOKENS=${TARGET_TOKENS:-2000000}
LOCK=${LOCK:-/tmp/dl4nlp-bench.lock}
read -r -a EXTRA <<< "${EXTRA:-}"          # overrides for every rating run, e.g. EXTRA="--set train.epochs=1"
read -r -a TRANSFER_EXTRA <<< "${TRANSFER_EXTRA:-}"
COMMON=(--set "data.path=$IMDB" --set "run.dir=$OUT" --set trainer.progress_bar=false)

train() {  # train NAME CONFIG [overrides...]: skipped when NAME already has results
  local name=$1 config=$2
  shift 2
  if [ -f "$OUT/$name/results.json" ]; then echo "have $name" >&2; return; fi
  if [ -d "$OUT/$name" ]; then
    flock "$LOCK" dl4nlp train --resume "$OUT/$name"
  else
    flock "$LOCK" dl4nlp train "$config" "${COMMON[@]}" --set "run.name=$name" "$@" "${EXTRA[@]}"
  fi
}

TRANSFER=$OUT/target-lm
if [ ! -f "$TRANSFER/results.json" ]; then
  if [ -d "$TRANSFER" ]; then
    flock "$LOCK" dl4nlp transfer --resume "$TRANSFER"
  else
    flock "$LOCK" dl4nlp transfer configs/transfer/imdb_ulmfit.yaml --set "general.run=$GENERAL" \
      --set "target.max_tokens=$TARGET_TOKENS" --set "classifier.path=$IMDB" \
      --set classifier.max_train_examples=250 --set classifier.epochs=1 --set classifier.max_test_examples=1000 \
      --set "run.dir=$OUT" --set run.name=target-lm "${TRANSFER_EXTRA[@]}"
  fi
fi

for seed in $SEEDS; do
  for n in $RATED; do
    if [ "$n" = all ]; then max=null; else max=$n; fi
    sets=(--set "data.max_train_examples=$max" --set "run.seed=$seed")
    if [ ! -f "$OUT/baselines-n$n-s$seed.json" ]; then
      python benchmarks/rating_baselines.py configs/rating/imdb_bow_ridge.yaml --set "data.path=$IMDB" "${sets[@]}" \
        --out "$OUT/baselines-n$n-s$seed.json" > /dev/null
    fi
    train "bow-n$n-s$seed" configs/rating/imdb_bow_ridge.yaml "${sets[@]}"
    train "gru-n$n-s$seed" configs/rating/imdb_gru_ordinal.yaml "${sets[@]}"
    train "ulmfit-n$n-s$seed" configs/rating/imdb_ulmfit_ordinal.yaml "${sets[@]}" --set "model.encoder=$TRANSFER"
    train "ulmfit-scratch-n$n-s$seed" configs/rating/imdb_ulmfit_ordinal.yaml "${sets[@]}" \
      --set "model.encoder=$TRANSFER" --set model.init=scratch
    if [ "$n" = all ]; then
      train "gru-regress-n$n-s$seed" configs/rating/imdb_gru_regress.yaml "${sets[@]}"
      train "gru-classify-n$n-s$seed" configs/rating/imdb_gru_classify.yaml "${sets[@]}"
    fi
  done
done
python benchmarks/rating_report.py "$OUT"
