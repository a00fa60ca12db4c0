"""Report of benchmarks/nli_tune.sh: the learning-rate x dropout grid per NLI model (one seed, chosen on dev)
and the seed statistics of each cell run with more seeds, with the ordering targets of issue #6.

    python benchmarks/nli_tune_report.py runs/bench-nli-tune [--grid-seed 13]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from pathlib import Path

NAMES = {"conditional": "conditional encoding", "attention": "attention", "word_by_word": "word-by-word attention"}
RUN = re.compile(r"^(?P<model>conditional|attention|word_by_word)"
                 r"-lr(?P<lr>[^-]+(?:-\d+)?)-d(?P<d>[\d.]+)-s(?P<seed>\d+)$")  # lr like 5e-4


def load(folder: Path) -> dict[tuple[str, str, str], dict[int, dict]]:
    """(model, lr, dropout) -> seed -> results.json of every finished run named by nli_tune.sh."""
    cells: dict[tuple[str, str, str], dict[int, dict]] = {}
    for path in sorted(folder.glob("*/results.json")):
        m = RUN.match(path.parent.name)
        if m:
            cells.setdefault((m["model"], m["lr"], m["d"]), {})[int(m["seed"])] = json.loads(path.read_text())
    return cells


def pct(x: float) -> str:
    return f"{100 * x:.2f}"


def grid_table(cells: dict, seed: int) -> tuple[list[str], dict[str, tuple[str, str]]]:
    """Markdown rows of the one-seed grid and each model's dev-best cell (ties: the earlier in the grid)."""
    lines = [f"| model | lr | dropout | dev acc % (seed {seed}) | test acc % | best / run epochs | train time |",
             "|---|---|---|---|---|---|---|"]
    best: dict[str, tuple[str, str]] = {}
    for model in NAMES:
        rows = [(key, runs[seed]) for key, runs in cells.items() if key[0] == model and seed in runs]
        rows.sort(key=lambda kr: (float(kr[0][1]), float(kr[0][2])))
        if not rows:
            continue
        top = max(rows, key=lambda kr: kr[1]["dev_acc"])
        best[model] = top[0][1:]
        for key, r in rows:
            mark = "**" if key == top[0] else ""
            lines.append(f"| {NAMES[model]} | {key[1]} | {key[2]} | {mark}{pct(r['dev_acc'])}{mark} | "
                         f"{pct(r['test_acc'])} | {r['best_epoch']} / {r['epochs_run']} | "
                         f"{r['train_time_s'] / 60:.1f} min |")
    return lines, best


def seed_table(cells: dict, best: dict[str, tuple[str, str]]) -> tuple[list[str], dict[str, tuple]]:
    """Mean ± std over the seeds of each model's dev-best cell (only cells with two or more seeds)."""
    lines = ["| model (lr, dropout) | seeds | SNLI test acc % (mean ± std) | per seed | dev acc % (mean ± std) "
             "| best epochs | train time |", "|---|---|---|---|---|---|---|"]
    stats: dict[str, tuple] = {}
    for model, (lr, d) in best.items():
        runs = cells[(model, lr, d)]
        if len(runs) < 2:
            continue
        seeds = sorted(runs)
        test = [runs[s]["test_acc"] for s in seeds]
        dev = [runs[s]["dev_acc"] for s in seeds]
        times = [runs[s]["train_time_s"] / 60 for s in seeds]
        per_seed = " / ".join(f"s{s}: {pct(runs[s]['test_acc'])}" for s in seeds)
        stats[model] = (statistics.mean(test), statistics.stdev(test), len(seeds))
        lines.append(f"| {NAMES[model]} ({lr}, {d}) | {len(seeds)} | {pct(stats[model][0])} ± "
                     f"{pct(stats[model][1])} | {per_seed} | "
                     f"{pct(statistics.mean(dev))} ± {pct(statistics.stdev(dev))} | "
                     f"{', '.join(str(runs[s]['best_epoch']) for s in seeds)} | "
                     f"{min(times):.1f}-{max(times):.1f} min |")
    return lines, stats


def targets(stats: dict[str, tuple]) -> list[str]:
    """The issue's targets: >= 60 % each; attention > conditional and word-by-word > attention by more than
    the larger of the two seed stds."""
    lines = [f"- {NAMES[m]} >= 60 % on SNLI test: {'met' if s[0] >= 0.60 else 'not met'} ({pct(s[0])})"
             for m, s in stats.items()]
    for lo, hi in (("conditional", "attention"), ("attention", "word_by_word")):
        if lo in stats and hi in stats:
            diff, bar = stats[hi][0] - stats[lo][0], max(stats[hi][1], stats[lo][1])
            verdict = "met" if diff > bar else "not met"
            lines.append(f"- {NAMES[hi]} beats {NAMES[lo]} by more than the seed std: {verdict} "
                         f"(difference {100 * diff:+.2f} points, larger std {100 * bar:.2f})")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--grid-seed", type=int, default=13)
    args = ap.parse_args()
    cells = load(args.folder)
    if not cells:
        raise SystemExit(f"{args.folder}: no finished run named <model>-lr<lr>-d<dropout>-s<seed>")
    grid, best = grid_table(cells, args.grid_seed)
    seeds, stats = seed_table(cells, best)
    print("\n".join(["Grid (one seed; bold: each model's dev-best cell):", "", *grid, ""]))
    if stats:
        print("\n".join(["Seeds of each model's dev-best cell:", "", *seeds, "", *targets(stats)]))


if __name__ == "__main__":
    main()
