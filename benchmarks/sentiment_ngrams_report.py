"""Table of the bag-of-bigrams runs written by benchmarks/sentiment_ngrams.sh: mean ± std over seeds of dev and
test accuracy per (rung, dataset), with parameters and train time; printed as markdown.

    python benchmarks/sentiment_ngrams_report.py runs/bench-ngrams
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from sentiment_bow import mean_std  # noqa: E402


def main(root: str) -> None:
    groups: dict[tuple[str, str], list[dict]] = {}
    for path in sorted(Path(root).glob("*/results.json")):
        r = json.loads(path.read_text(encoding="utf-8"))
        groups.setdefault((r["model"], r["dataset"]), []).append({**r, "name": path.parent.name})
    print("| rung + bigrams | dataset | seeds | dev acc | test acc | test acc per seed | params | train time |")
    print("|---|---|---|---|---|---|---|---|")
    for (model, dataset), runs in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        runs.sort(key=lambda r: r["name"])
        per_seed = " / ".join(f"{100 * r['test_acc']:.2f}" for r in runs)
        params = sorted({r["params"] for r in runs})
        times = [r["train_time_s"] for r in runs]
        print(f"| {model} | {dataset} | {len(runs)} | {mean_std([r['dev_acc'] for r in runs])} | "
              f"**{mean_std([r['test_acc'] for r in runs])}** | {per_seed} | "
              f"{params[0]:,}{'' if len(params) == 1 else f'-{params[-1]:,}'} | {min(times):.0f}-{max(times):.0f} s |")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-ngrams")
