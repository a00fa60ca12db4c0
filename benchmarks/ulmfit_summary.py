"""Table (markdown) and plot (accuracy vs number of labels) of the runs written by benchmarks/ulmfit_imdb.sh.

    python benchmarks/ulmfit_summary.py runs/bench-ulmfit
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dl4nlp.io import save_figure, write_text


def main(root: str) -> None:
    rows = []
    for res_path in sorted(Path(root).glob("*/results.json")):
        r = json.loads(res_path.read_text(encoding="utf-8"))
        rows.append((r["init"], r["train_examples"], r["test_acc"], r["dev_acc"], r["train_time_s"],
                     r["stages"]["classifier"]["test_examples"], res_path.parent.name))
    rows.sort()
    lines = ["| init | labelled reviews | test acc | dev acc | test reviews | time (s) | run |",
             "|---|---|---|---|---|---|---|"]
    for init, n, acc, dev, secs, nt, name in rows:
        lines.append(f"| {init} | {n} | {100 * acc:.2f} | {100 * dev:.2f} | {nt} | {secs:.0f} | {name} |")
    md = "\n".join(lines) + "\n"
    print(md)
    write_text(Path(root) / "summary.md", md)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for init, style in (("transfer", "o-"), ("scratch", "s--")):
        pts = sorted((n, acc) for i, n, acc, *_ in rows if i == init)
        if pts:
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], style, label=init)
    ax.set_xscale("log")
    ax.set_xlabel("labelled IMDB reviews")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("ULMFiT transfer vs scratch")
    ax.legend()
    save_figure(fig, Path(root) / "accuracy_vs_labels.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-ulmfit")
