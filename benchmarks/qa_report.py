"""The QA benchmark's report: test EM / F1 (mean and spread over seeds) per reader and training size, the
protocol each run used, train time, and the learning curve (F1 vs train questions) as a plot.

    python benchmarks/qa_report.py runs/bench-qa      # writes benchmarks/results/qa.md and qa_curve.png
"""

from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

OUT = Path("benchmarks/results")


def collect(root: Path) -> dict[tuple[str, int], list[dict]]:
    """(model, train questions) -> the results.json of each seed."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for path in sorted(root.glob("*/results.json")):
        res = json.loads(path.read_text(encoding="utf-8"))
        if res.get("task") == "qa":
            groups[(res["model"], int(res["train_examples"]))].append(res)
    return groups


def spread(values: list[float]) -> str:
    """Mean ± sample standard deviation of fractions, in percent."""
    values = [100 * v for v in values]
    mean = statistics.mean(values)
    return f"{mean:.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def report(groups: dict[tuple[str, int], list[dict]]) -> str:
    protocols = sorted({r["protocol"] for runs in groups.values() for r in runs})
    lines = ["# Extractive QA: learning curve on the test articles", "",
             "Protocol(s): " + "; ".join(protocols), "",
             "| reader | train questions | seeds | test EM | test F1 | dev F1 | train time (min) | questions/s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for (model, n), runs in sorted(groups.items()):
        minutes = statistics.mean(r["train_time_s"] for r in runs) / 60
        qps = statistics.mean(r["train_questions_per_s"] for r in runs)
        lines.append(f"| {model} | {n:,} | {len(runs)} | {spread([r['test_em'] for r in runs])} | "
                     f"{spread([r['test_f1'] for r in runs])} | {spread([r['dev_f1'] for r in runs])} | "
                     f"{minutes:.1f} | {qps:.1f} |")
    machine = {r["machine"]["platform"] for runs in groups.values() for r in runs}
    lines += ["", f"Machine(s): {'; '.join(sorted(machine))}. EM / F1 in percent (results.json holds fractions); "
              "means ± sample standard deviation over seeds."]
    return "\n".join(lines) + "\n"


def plot(groups: dict[tuple[str, int], list[dict]], out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for model in sorted({m for m, _ in groups}):
        sizes = sorted(n for m, n in groups if m == model)
        means = [100 * statistics.mean(r["test_f1"] for r in groups[(model, n)]) for n in sizes]
        ax.plot(sizes, means, "o-", label=model)
    ax.set_xscale("log")
    ax.set_xlabel("training questions")
    ax.set_ylabel("test F1")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.savefig(out_png, dpi=120, bbox_inches="tight")


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-qa")
    groups = collect(root)
    if not groups:
        sys.exit(f"{root}: no finished QA runs")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "qa.md").write_text(report(groups), encoding="utf-8")
    plot(groups, OUT / "qa_curve.png")
    print(OUT / "qa.md")


if __name__ == "__main__":
    main()
