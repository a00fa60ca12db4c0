"""Report of benchmarks/nli_tune.sh: the learning-rate x dropout grid per NLI model (one seed, chosen on dev)
and the seed statistics of each cell run with more seeds, with the ordering targets of issue #6.

    python benchmarks/nli_tune_report.py runs/bench-nli-tune [--grid-seed 13]
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

from nli_report import NAMES, load, ordering_targets, pct

RUN = re.compile(r"^(?P<model>conditional|attention|word_by_word)"
                 r"-lr(?P<lr>[^-]+(?:-\d+)?)-d(?P<d>[\d.]+)-s(?P<seed>\d+)$")  # lr like 5e-4


def cells_of(folder: Path) -> dict[tuple[str, str, str], dict[int, dict]]:
    """(model, lr, dropout) -> seed -> results.json of every finished run named by nli_tune.sh."""
    cells: dict[tuple[str, str, str], dict[int, dict]] = {}
    for name, res in load(folder).items():
        m = RUN.match(name)
        if m:
            cells.setdefault((m["model"], m["lr"], m["d"]), {})[int(m["seed"])] = res
    return cells


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
    """The issue's targets: >= 60 % each, and the ordering (nli_report.ordering_targets)."""
    lines = [f"- {NAMES[m]} >= 60 % on SNLI test: {'met' if s[0] >= 0.60 else 'not met'} ({pct(s[0])})"
             for m, s in stats.items()]
    return lines + ordering_targets(stats)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--grid-seed", type=int, default=13)
    args = ap.parse_args()
    cells = cells_of(args.folder)
    if not cells:
        raise SystemExit(f"{args.folder}: no finished run named <model>-lr<lr>-d<dropout>-s<seed>")
    grid, best = grid_table(cells, args.grid_seed)
    seeds, stats = seed_table(cells, best)
    print("\n".join(["Grid (one seed; bold: each model's dev-best cell):", "", *grid, ""]))
    if stats:
        print("\n".join(["Seeds of each model's dev-best cell:", "", *seeds, "", *targets(stats)]))


if __name__ == "__main__":
    main()
