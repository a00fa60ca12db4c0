"""A learning curve from NLI run folders named ``<model>-<tag>-n<pairs>-s<seed>`` (one folder per point, any
settings): a markdown table of SNLI test / dev accuracy per size and the curve as a PNG.

    python benchmarks/nli_curve_report.py runs/nli-s11/curve --png benchmarks/results/nli_learning_curve_tuned.png
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from nli_report import MODELS, NAMES, load, pct, plot_curve

NAME = re.compile(r"^(?P<model>[a-z_]+?)-(?:.+-)?n(?P<n>\d+)-s(?P<seed>\d+)$")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("--png", type=Path, required=True)
    ap.add_argument("--title", default="NLI learning curve (seed 13)")
    args = ap.parse_args()
    table: dict[str, dict[int, dict]] = {}
    for name, res in load(args.root).items():
        m = NAME.match(name)
        if m and m["model"] in MODELS:
            table.setdefault(m["model"], {})[int(m["n"])] = res
    sizes = sorted({n for rows in table.values() for n in rows})
    lines = ["| model | " + " | ".join(f"{n:,} pairs" for n in sizes) + " |", "|---|" + "---|" * len(sizes)]
    points: dict[str, list[tuple[int, float]]] = {}
    for m in MODELS:
        if m not in table:
            continue
        row = []
        for n in sizes:
            res = table[m].get(n)
            if res is None:
                row.append("not run")
                continue
            points.setdefault(m, []).append((res["train_examples"], res["test_acc"]))
            row.append(f"{pct(res['test_acc'])} (dev {pct(res['dev_acc'])}, {res['train_time_s'] / 60:.1f} min)")
        lines.append(f"| {NAMES[m]} | " + " | ".join(row) + " |")
    if points:
        plot_curve(points, args.png, args.title)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
