"""Table (markdown) and plot (accuracy vs number of labels) of the runs written by benchmarks/ulmfit_imdb.sh
(or benchmarks/lm_ulmfit_full.sh): one row per run, then the mean ± std over seeds per (init, labels).

    python benchmarks/ulmfit_summary.py runs/bench-ulmfit
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from dl4nlp.core.io import save_figure, write_text


def _mean_std(xs: list[float]) -> tuple[float, float]:
    return statistics.mean(xs), statistics.stdev(xs) if len(xs) > 1 else 0.0


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
    groups: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for init, n, acc, dev, *_ in rows:
        groups.setdefault((init, n), []).append((100 * acc, 100 * dev))
    lines += ["", "| init | labelled reviews | seeds | test acc (mean ± std) | dev acc (mean ± std) |",
              "|---|---|---|---|---|"]
    for (init, n), vals in sorted(groups.items()):
        (ta, ts), (da, ds) = _mean_std([v[0] for v in vals]), _mean_std([v[1] for v in vals])
        lines.append(f"| {init} | {n} | {len(vals)} | {ta:.2f} ± {ts:.2f} | {da:.2f} ± {ds:.2f} |")
    md = "\n".join(lines) + "\n"
    print(md)
    write_text(Path(root) / "summary.md", md)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    for init, style in (("transfer", "o-"), ("scratch", "s--")):
        pts = sorted((n, _mean_std([v[0] for v in vals])) for (i, n), vals in groups.items() if i == init)
        if pts:
            ax.errorbar([p[0] for p in pts], [p[1][0] for p in pts], yerr=[p[1][1] for p in pts], fmt=style,
                        capsize=3, label=init)
    ax.set_xscale("log")
    ax.set_xlabel("labelled IMDB reviews")
    ax.set_ylabel("test accuracy (%, mean ± std over seeds)")
    ax.set_title("ULMFiT transfer vs scratch")
    ax.legend()
    save_figure(fig, Path(root) / "accuracy_vs_labels.png")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-ulmfit")
