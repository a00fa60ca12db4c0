"""Summarise the recurrent benchmark runs: mean and std over seeds of test accuracy, train time,
tokens/second and parameters per (dataset, rung).

Usage: python benchmarks/recurrent_report.py runs/bench-recurrent
"""

from __future__ import annotations

import csv
import json
import statistics
import sys
from pathlib import Path

from dl4nlp.core.config import load_config
from dl4nlp.core.io import write_json, write_text
from dl4nlp.pipelines.classification import prepare

RUNGS = ["rnn", "gru", "lstm", "bilstm", "stacked"]


def train_tokens(dataset: str) -> int:
    cfg = load_config("configs/ladder/gru.yaml", [f"data.dataset={dataset}"])
    prep = prepare(cfg)
    return sum(prep.train.lengths())


def best_epoch(run: Path) -> int | None:
    """0-based epoch of the best dev accuracy in metrics.csv."""
    best, at = -1.0, None
    path = run / "metrics.csv"
    if not path.is_file():
        return None
    with open(path, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("dev_acc") and float(row["dev_acc"]) > best:
                best, at = float(row["dev_acc"]), int(float(row["epoch"]))
    return at


def ms(xs: list[float], scale: float = 100.0) -> str:
    if not xs:
        return "-"
    m = statistics.mean(xs) * scale
    if len(xs) == 1:
        return f"{m:.2f} (one seed)"
    return f"{m:.2f} ± {statistics.stdev(xs) * scale:.2f}"


def main(root: Path) -> None:
    lines = [
        "| dataset | rung | seeds | test acc (mean ± std) | dev acc | params | train time (s) | "
        "time to best dev (s) | epochs | tokens/s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for ds in ("sst2", "sst5"):
        if not (root / ds).is_dir():
            continue
        n_tok = train_tokens(ds)
        for rung in RUNGS:
            runs = sorted(p.parent for p in (root / ds).glob(f"{rung}-s*/results.json"))
            if not runs:
                continue
            res = [json.loads((r / "results.json").read_text()) for r in runs]
            test = [r["test_acc"] for r in res]
            dev = [r["dev_acc"] for r in res]
            times = [r["train_time_s"] for r in res]
            epochs = [r["epochs_run"] for r in res]
            tps = [n_tok * e / t for e, t in zip(epochs, times, strict=True)]
            to_best = []
            for r, run in zip(res, runs, strict=True):
                b = best_epoch(run)
                if b is not None and r["epochs_run"]:
                    to_best.append(r["train_time_s"] * (b + 1) / r["epochs_run"])
            summary[f"{ds}/{rung}"] = {
                "runs": [r.name for r in runs],
                "test_acc": test,
                "dev_acc": dev,
                "train_time_s": times,
                "epochs": epochs,
                "tokens_per_s": tps,
                "params": res[0]["params"],
                "train_tokens_per_epoch": n_tok,
            }
            lines.append(
                f"| {ds.upper()} | {rung} | {len(runs)} | {ms(test)} | {ms(dev)} | {res[0]['params']:,} | "
                f"{statistics.mean(times):.0f} | {statistics.mean(to_best):.0f} | "
                f"{statistics.mean(epochs):.1f} | {statistics.mean(tps):,.0f} |"
            )
    text = "\n".join(lines) + "\n"
    write_text(root / "summary.md", text)
    write_json(root / "summary.json", summary)
    print(text)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/bench-recurrent"))
