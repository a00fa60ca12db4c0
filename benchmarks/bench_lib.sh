#!/usr/bin/env bash
# Shared by the family benchmark scripts (ner.sh, translation.sh, trees.sh, lm_cpu.sh): source it after setting
# OUT (runs folder), LOCK (the shared flock file) and EXTRA_SETS (--set overrides appended to every new run).
#   note JOB PHASE                      one line in $OUT/load.tsv: UTC time, job, phase, 1/5/15-min load averages
#   train_run NAME CONFIG SEED [--set ...]
#                                       a finished run is skipped, an unfinished one resumed from its last.ckpt,
#                                       a folder killed before its first checkpoint removed and trained again;
#                                       every run holds the shared lock, so heavy jobs run one at a time
note() {  # job phase: UTC time, job, phase and the load averages, one line in $OUT/load.tsv
  printf '%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$1" "$2" "$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/load.tsv"
}

train_run() {  # name config seed [--set ...]: skipped when finished, resumed from last.ckpt, else trained
  local name=$1 cfg=$2 seed=$3
  shift 3
  [ -f "$OUT/$name/results.json" ] && return 0
  (
    flock 9
    [ -f "$OUT/$name/results.json" ] && exit 0
    note "$name" start
    if [ -f "$OUT/$name/last.ckpt" ]; then
      dl4nlp train --resume "$OUT/$name"
    else
      rm -rf "${OUT:?}/$name"  # a folder killed before its first checkpoint holds nothing to keep
      # shellcheck disable=SC2086
      dl4nlp train "$cfg" --set run.seed="$seed" --set run.dir="$OUT" --set run.name="$name" \
        --set trainer.progress_bar=false "$@" $EXTRA_SETS
    fi
    note "$name" end
  ) 9>>"$LOCK"
}
