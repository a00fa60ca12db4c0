"""Summarise benchmarks/trees.sh: benchmarks/results/trees.md from the run folders (and trees_speed.json).

    python benchmarks/trees_report.py runs/bench-trees [--out benchmarks/results/trees.md]

SST-5 and SST-2 test accuracy of the best dev-root-accuracy checkpoint, at the root (the sentence) and over all
labelled phrases, mean ± std over seeds and per seed, beside the published numbers quoted in issue #33; the
issue's targets judged from the measured numbers; training nodes/s of the level-by-level batcher against
per-tree recursion. Only what the run folders hold is reported: runs that did not finish are listed as missing.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import report_common as rc

MODELS = ["tree_rnn", "rntn", "tree_lstm"]
NAMES = {"tree_rnn": "recursive NN (Socher et al. 2011)", "rntn": "RNTN (Socher et al. 2013)",
         "tree_lstm": "constituency Tree-LSTM (Tai et al. 2015)"}
DATASETS = ["sst5", "sst2"]
SHOWN = {"sst5": "SST-5", "sst2": "SST-2"}
# root test accuracy, fine-grained / binary, as quoted in issue #33
PUBLISHED = {("tree_rnn", "sst5"): "43.2 (Socher 2013)", ("tree_rnn", "sst2"): "82.4 (Socher 2013)",
             ("rntn", "sst5"): "45.7 (Socher 2013)", ("rntn", "sst2"): "85.4 (Socher 2013)",
             ("tree_lstm", "sst5"): "51.0 (Tai 2015, 300d GloVe tuned); 52.3 with recurrent dropout",
             ("tree_lstm", "sst2"): "88.0 (Tai 2015, 300d GloVe tuned); 89.4 with recurrent dropout"}
BILSTM = {"sst5": 49.46, "sst2": 86.02}  # our sequential BiLSTM trained on phrases (issue #33)
TARGETS = {("tree_lstm", "sst5"): 49.5, ("tree_lstm", "sst2"): 87.0, ("rntn", "sst5"): 44.0, ("rntn", "sst2"): 84.0}
SEEDS = (13, 14, 15)


def key_of(name: str) -> str | None:
    head = name.rsplit("-s", 1)[0]
    model, _, data = head.rpartition("-")
    return f"{model} {data}" if model in MODELS and data in DATASETS else None


def results_table(by: dict[str, list[dict]]) -> list[str]:
    lines = ["| model | dataset | seeds | test root acc % (mean ± std) | per seed | test all-phrase acc % | "
             "dev root acc % | params | train time per run, min (max) | epochs | train nodes/s (mean) | "
             "published (root) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in DATASETS:
        for m in MODELS:
            rs = by.get(f"{m} {d}", [])
            pub = PUBLISHED[(m, d)]
            if not rs:
                lines.append(f"| {NAMES[m]} | {SHOWN[d]} | 0 | not run | | | | | | | | {pub} |")
                continue
            nps = rc.values(rs, "nodes_per_s")
            lines.append(f"| {NAMES[m]} | {SHOWN[d]} | {len(rs)} | {rc.spread(rc.values(rs, 'test_acc'))} | "
                         f"{rc.per_seed(rs, 'test_acc')} | {rc.spread(rc.values(rs, 'test_phrase_acc'))} | "
                         f"{rc.spread(rc.values(rs, 'dev_acc'))} | {rs[0]['params']:,} | {rc.minutes(rs)} | "
                         f"{', '.join(str(r['epochs_run']) for r in rs)} | "
                         f"{f'{statistics.mean(nps):,.0f}' if nps else '—'} | {pub} |")
    return lines


def targets(by: dict[str, list[dict]], speed: dict | None) -> list[str]:
    lines = ["### Targets (issue #33, GloVe 50d)", ""]
    for (m, d), target in TARGETS.items():
        extra = f" (our sequential BiLSTM on phrases: {BILSTM[d]})" if m == "tree_lstm" else ""
        lines.append(f"- {NAMES[m]} >= {target} {SHOWN[d]} root test accuracy{extra}: "
                     f"{rc.at_least(rc.values(by.get(f'{m} {d}', []), 'test_acc'), target)}")
    all_runs = [r for rs in by.values() for r in rs]
    lines.append(f"- each run under 60 minutes: {rc.time_target(all_runs, 60)} ({len(all_runs)} runs)")
    if speed is None:
        lines.append("- training nodes/s, level by level vs per-tree recursion, >= 10x: cannot be judged "
                     "(no trees_speed.json)")
    else:
        for row in speed["rows"]:
            lines.append(f"- training nodes/s, level by level vs per-tree recursion, >= 10x, {NAMES[row['model']]}: "
                         f"{rc.verdict(row['speedup'] >= 10)} ({row['speedup']:.1f}x)")
    return [*lines, ""]


def speed_lines(speed: dict | None) -> list[str]:
    if speed is None:
        return ["### Speed", "", "Not measured (no trees_speed.json: `benchmarks/trees_speed.py` did not run).", ""]
    m = speed["machine"]
    lines = ["### Training speed: level-by-level batcher vs per-tree recursion (benchmarks/trees_speed.py)", "",
             f"{speed['batches']} batches of {speed['batch_size']} SST-5 training trees ({speed['nodes']:,} nodes) per "
             f"implementation, the same initial weights, forward + backward + Adam; torch {m['torch']} with "
             f"{m['torch_threads']} thread(s).", "",
             "| model | level by level (nodes/s) | per-tree recursion (nodes/s) | speed-up |", "|---|---|---|---|"]
    for row in speed["rows"]:
        lines.append(f"| {NAMES[row['model']]} | {row['batched_nodes_per_s']:,.0f} | "
                     f"{row['recursive_nodes_per_s']:,.0f} | {row['speedup']:.1f}x |")
    return [*lines, ""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path, nargs="?", default=Path("runs/bench-trees"))
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/trees.md"))
    args = ap.parse_args()
    runs = rc.load_runs(args.root)
    by = rc.group(runs, key_of)
    all_runs = [r for rs in by.values() for r in rs]
    sizes = sorted({f"{r['dataset']}: {r['train_examples']:,} trees, {r['train_nodes']:,} labelled nodes"
                    for r in all_runs if "train_examples" in r})
    speed_path = args.root / "trees_speed.json"
    speed = json.loads(speed_path.read_text(encoding="utf-8")) if speed_path.is_file() else None
    lines = ["## Tree-structured networks on the Stanford Sentiment Treebank (issue #33)", "",
             "Generated by `benchmarks/trees_report.py` from the run folders of `benchmarks/trees.sh` (every number "
             "below was measured by those runs).", "",
             "Dataset: the SST's binarised parse trees (`../shared/data/sst`), SST-5 (five classes) and SST-2 "
             "(neutral sentences dropped, neutral phrases unsupervised). Every labelled node is trained on (a "
             "softmax at every node). Split: train, **select on dev root accuracy** (early stopping, best "
             "checkpoint), **report test**: root accuracy (the sentence, the published measure) and all-phrase "
             "accuracy (every labelled node). Leaves: GloVe 6B 50d, fine-tuned (the papers: 25-35d learnt from "
             "scratch, or 300d GloVe for the Tree-LSTM); Adam in place of AdaGrad (docs/trees.md). Training data "
             f"in the runs: {'; '.join(sizes) or '—'}.", ""]
    lines += rc.machine_lines(all_runs, args.root)
    lines += ["### Test accuracy", "", *results_table(by), "",
              "Mean ± sample std over seeds. Train time is the wall clock of `trainer.fit` (all epochs, with the "
              "dev evaluation after each), one torch thread; train nodes/s counts labelled training nodes x epochs "
              f"/ train time. Our sequential BiLSTM trained on phrases: {BILSTM['sst5']} (SST-5), "
              f"{BILSTM['sst2']} (SST-2).", ""]
    lines += targets(by, speed)
    lines += speed_lines(speed)
    planned = [f"{m}-{d}-s{s}" for s in SEEDS for d in DATASETS for m in MODELS]
    lines += rc.status(planned, runs, "benchmarks/trees.sh (3 models x SST-5, SST-2 x seeds 13, 14, 15)")
    lines += rc.commands(all_runs, ["bash benchmarks/trees.sh          # writes runs/bench-trees and this file",
                                    "python benchmarks/trees_report.py runs/bench-trees"])
    rc.write(args.out, lines)


if __name__ == "__main__":
    main()
