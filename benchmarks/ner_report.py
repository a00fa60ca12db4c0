"""Summarise benchmarks/ner.sh: benchmarks/results/ner.md from the run folders (and speed.json).

    python benchmarks/ner_report.py runs/bench-ner [--out benchmarks/results/ner.md]

CoNLL-2003 test entity F1 (seqeval strict) of the best dev-F1 checkpoint, mean ± std over seeds and per seed,
beside the published numbers quoted in issue #29; the issue's targets judged from the measured numbers; the
speed of training (engine vs plain loop) and of Viterbi decoding (ours vs pytorch-crf). Only what the run
folders hold is reported: models or seeds that did not run are listed as missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import report_common as rc

MODELS = ["bilstm_softmax", "bilstm_crf", "bilstm_crf_charcnn", "bilstm_crf_charlstm", "minilm_tagger"]
NAMES = {"bilstm_softmax": "BiLSTM + softmax", "bilstm_crf": "BiLSTM-CRF",
         "bilstm_crf_charcnn": "BiLSTM-CRF + char CNN", "bilstm_crf_charlstm": "BiLSTM-CRF + char LSTM",
         "minilm_tagger": "MiniLM-L6 token classification"}
# as quoted in issue #29 (English CoNLL-2003 test F1, no extra data)
PUBLISHED = {
    "bilstm_softmax": "Huang et al. 2015 BiLSTM 85.17 (Senna); Lample et al. 2016 no CRF 89.15 and Ma & Hovy 2016 "
                      "no CRF 89.36 (both with chars)",
    "bilstm_crf": "Huang et al. 2015 BiLSTM-CRF 88.83 (Senna, no gazetteer); Ma & Hovy 2016 no char 87.00",
    "bilstm_crf_charcnn": "Ma & Hovy 2016 BiLSTM-CNN-CRF 91.21; GloVe-100d reproductions 90.8-91.4",
    "bilstm_crf_charlstm": "Lample et al. 2016 BiLSTM-CRF + char 90.94; GloVe-100d reproductions 90.8-91.4",
    "minilm_tagger": "BERT-base ~92.4 (cased, 12 layers); Flair 93.1",
}
RECURRENT = MODELS[:4]
CHARS = ["bilstm_crf_charcnn", "bilstm_crf_charlstm"]
SEEDS = (13, 14, 15)


def results_table(by: dict[str, list[dict]]) -> list[str]:
    lines = ["| model | seeds | test F1 (mean ± std) | per seed | test P / R (mean) | dev F1 (mean) | params "
             "| train time per run, min (max) | epochs run | train tokens/s (mean) | published |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in MODELS:
        rs = by.get(m, [])
        if not rs:
            lines.append(f"| {NAMES[m]} | 0 | not run | | | | | | | | {PUBLISHED[m]} |")
            continue
        p, r = (statistics.mean(rc.values(rs, k)) * 100 for k in ("test_precision", "test_recall"))
        tps = statistics.mean(rc.values(rs, "train_tokens_per_s"))
        lines.append(f"| {NAMES[m]} | {len(rs)} | {rc.spread(rc.values(rs, 'test_f1'))} | "
                     f"{rc.per_seed(rs, 'test_f1')} | {p:.2f} / {r:.2f} | {rc.spread(rc.values(rs, 'dev_f1'))} | "
                     f"{rs[0]['params']:,} | {rc.minutes(rs)} | {', '.join(str(x['epochs_run']) for x in rs)} | "
                     f"{tps:,.0f} | {PUBLISHED[m]} |")
    return lines


def per_type_table(by: dict[str, list[dict]]) -> list[str]:
    types = sorted({t for rs in by.values() for r in rs for t in (r.get("test_per_type") or {})})
    if not types:
        return []
    lines = ["### Test F1 per entity type (mean over seeds)", "", "| model | " + " | ".join(types) + " |",
             "|---|" + "---|" * len(types)]
    for m in MODELS:
        rs = by.get(m, [])
        if rs:
            cells = []
            for t in types:
                fs = [r["test_per_type"][t]["f1"] for r in rs if t in (r.get("test_per_type") or {})]
                cells.append(f"{100 * statistics.mean(fs):.2f}" if fs else "—")
            lines.append(f"| {NAMES[m]} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def targets(by: dict[str, list[dict]]) -> list[str]:
    f1 = {m: rc.values(by.get(m, []), "test_f1") for m in MODELS}
    lines = ["### Targets (issue #29)", ""]
    for m in CHARS:
        lines.append(f"- {NAMES[m]} >= 90.0 test F1 with GloVe 50d: {rc.at_least(f1[m], 90.0)}")
    lines.append("- the CRF ahead of softmax by more than the seed std: "
                 f"{rc.beats(f1['bilstm_softmax'], f1['bilstm_crf'])}")
    for m in CHARS:
        lines.append(f"- chars ahead of no chars ({NAMES[m]} vs BiLSTM-CRF) by more than the seed std: "
                     f"{rc.beats(f1['bilstm_crf'], f1[m])}")
    rec = [r for m in RECURRENT for r in by.get(m, [])]
    lines.append(f"- every recurrent run under 60 minutes: {rc.time_target(rec, 60)} ({len(rec)} runs)")
    mini = by.get("minilm_tagger", [])
    if mini:
        best = max((m for m in RECURRENT if f1[m]), key=lambda m: statistics.mean(f1[m]), default=None)
        cost = ""
        if best is not None:
            d = 100 * (statistics.mean(f1["minilm_tagger"]) - statistics.mean(f1[best]))
            cost = (f"; {d:+.2f} F1 against the best cased recurrent rung ({NAMES[best]}): the uncased word pieces "
                    "lose the capitalisation that the BiLSTM rungs see through their casing feature and characters")
        lines.append(f"- the MiniLM rung measured and reported: **met** ({len(mini)} seeds, test F1 "
                     f"{rc.spread(f1['minilm_tagger'])}{cost})")
    else:
        lines.append("- the MiniLM rung measured and reported: **not met** (no finished run)")
    return [*lines, ""]


def speed_lines(path: Path) -> list[str]:
    if not path.is_file():
        return ["### Speed", "", "Not measured (no speed.json: `benchmarks/ner_speed.py` did not run).", ""]
    sp = json.loads(path.read_text(encoding="utf-8"))
    st = sp["settings"]
    ref = sp.get("reference_crf") or "not installed"
    lines = ["### Speed (benchmarks/ner_speed.py; medians of alternating rounds)", "",
             f"Training: {st['batches']} batches of the first {st['sentences']:,} training sentences per variant and "
             f"round, {st['rounds']} rounds, the same initial weights; only the steps are timed. Viterbi: on "
             f"{st['dev_sentences']:,} dev sentences' emissions. {sp['threads']} torch thread(s); 1-minute load "
             f"average at the end: {sp['load_avg_1min']}. Reference CRF: {ref}.", "",
             "| model | train tokens/s, engine | train tokens/s, plain loop | engine / plain | Viterbi tokens/s, ours "
             "| Viterbi tokens/s, pytorch-crf | ours / pytorch-crf | whole-model decoding tokens/s |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(med: dict, key: str, fmt: str = ",.0f") -> str:
        return format(med[key], fmt) if key in med else "—"

    for row in sp["rows"]:
        med = row["median"]
        lines.append(f"| {NAMES.get(row['model'], row['model'])} | {cell(med, 'train_tok_s_engine')} | "
                     f"{cell(med, 'train_tok_s_plain')} | {cell(med, 'engine_over_plain', '.2f')} | "
                     f"{cell(med, 'viterbi_tok_s')} | {cell(med, 'viterbi_pytorch_crf_tok_s')} | "
                     f"{cell(med, 'viterbi_ours_over_pytorch_crf', '.2f')} | {cell(med, 'model_decode_tok_s')} |")
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path, nargs="?", default=Path("runs/bench-ner"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/ner.md"))
    args = ap.parse_args()
    runs = rc.load_runs(args.root)
    runs = {n: r for n, r in runs.items() if r.get("task") == "ner" or r.get("model") in MODELS}
    by = rc.group(runs, lambda n: n.rsplit("-s", 1)[0] if n.rsplit("-s", 1)[0] in MODELS else None)
    all_runs = [r for rs in by.values() for r in rs]
    sizes = sorted({r.get("train_sentences") for r in all_runs})
    lines = ["## Named-entity recognition on CoNLL-2003 (issue #29)", "",
             "Generated by `benchmarks/ner_report.py` from the run folders of `benchmarks/ner.sh` (every number "
             "below was measured by those runs).", "",
             "Dataset: CoNLL-2003 English (`../shared/data/conll2003`, IOB2 files, trained in BIOES). Split: train "
             "on `train.txt`, **select on `valid.txt`** (early stopping and the best checkpoint on dev entity F1), "
             "**report `test.txt`**. Metric: entity-level F1 with `seqeval` in strict mode (conlleval-compatible on "
             "valid sequences), in percent. Word inputs: GloVe 6B 50d (lowercased lookup) + a casing feature; the "
             "papers used 100d vectors (Lample, Ma & Hovy) or Senna (Huang), so the published column is a "
             f"reference, not a like-for-like comparison. Training sentences per run: {sizes or 'none'}.", ""]
    lines += rc.machine_lines(all_runs, args.root)
    lines += ["### CoNLL-2003 test entity F1", "", *results_table(by), "",
              "Train time is the wall clock of `trainer.fit` (all epochs, with the dev scoring after each), one "
              "torch thread; train tokens/s is the run's `train_tokens_per_s` (training tokens x epochs / train "
              "time, dev scoring included).", ""]
    lines += per_type_table(by)
    lines += targets(by)
    lines += speed_lines(args.root / "speed.json")
    planned = [f"{m}-s{s}" for s in SEEDS for m in MODELS]
    lines += rc.status(planned, runs, "benchmarks/ner.sh (5 models x seeds 13, 14, 15)")
    lines += rc.commands(all_runs, ["bash benchmarks/ner.sh            # writes runs/bench-ner and this file",
                                    "python benchmarks/ner_report.py runs/bench-ner"])
    rc.write(args.out, lines)


if __name__ == "__main__":
    main()
