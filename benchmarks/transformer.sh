#!/usr/bin/env bash
# Benchmarks of the transformer rungs (issue #7). Run from the repo root; reads ../shared/data.
# Heavy runs take the shared lock so they go one at a time on the 2-core machine.
#   bash benchmarks/transformer.sh sst2           # MiniLM-L6 full fine-tuning on SST-2
#   bash benchmarks/transformer.sh sst2-features  # frozen mean-pooled MiniLM + logistic regression
#   bash benchmarks/transformer.sh sst2-frozen    # frozen encoder, head trained with the engine
#   bash benchmarks/transformer.sh speed RUN      # inference sentences/s at batch 64 (eager vs compiled)
#   bash benchmarks/transformer.sh sst5           # MiniLM-L6 full fine-tuning on SST-5
#   bash benchmarks/transformer.sh snli           # reduced NLI protocol (25,145 pairs); snli-e3: 3 epochs
#   bash benchmarks/transformer.sh sst2-phrases   # SST-2 trained on every labelled subtree, 1 epoch
set -euo pipefail
OUT=${OUT:-runs/bench-transformer}
LOCK="flock /tmp/dl4nlp-bench.lock"
COMMON=(--set trainer.progress_bar=false --set run.dir="$OUT")
case "${1:-}" in
  sst2) $LOCK dl4nlp train configs/transformer/sst2.yaml "${COMMON[@]}" --set run.name=minilm-sst2 ;;
  sst2-features) $LOCK dl4nlp train configs/transformer/features.yaml "${COMMON[@]}" --set run.name=minilm-features-sst2 ;;
  sst2-frozen) $LOCK dl4nlp train configs/transformer/sst2.yaml "${COMMON[@]}" --set model.freeze_encoder=true \
      --set train.lr=1e-3 --set run.name=minilm-frozen-sst2 ;;
  speed) $LOCK python benchmarks/transformer_speed.py "${2:-$OUT/minilm-sst2}" --repeats 1 ;;
  sst5) $LOCK dl4nlp train configs/transformer/sst5.yaml "${COMMON[@]}" --set run.name=minilm-sst5 ;;
  snli) $LOCK dl4nlp train configs/transformer/snli.yaml "${COMMON[@]}" --set run.name=minilm-snli ;;
  snli-e3) $LOCK dl4nlp train configs/transformer/snli.yaml "${COMMON[@]}" --set run.name=minilm-snli-e3 \
    --set train.epochs=3 --set train.warmup_steps=240 --set train.patience=3 ;;
  sst2-phrases) $LOCK dl4nlp train configs/transformer/sst2.yaml "${COMMON[@]}" --set run.name=minilm-sst2-phrases \
    --set data.phrases=true --set train.epochs=1 --set train.warmup_steps=300 ;;
  *) echo "usage: $0 sst2|sst2-phrases|sst2-features|sst2-frozen|speed [RUN]|sst5|snli|snli-e3" >&2; exit 2 ;;
esac
