"""Assemble BENCHMARKS.md from the per-topic result files in benchmarks/results/.

    python benchmarks/build_benchmarks_md.py

Each benchmark script (or its author, for tables that quote a run) writes ``benchmarks/results/<topic>.md``
with the dataset, split, metric, time, machine, date and exact command next to each number;
``summary.md`` is the one-screen overview. This script only concatenates them in the ladder's order, so
re-running a benchmark and this script refreshes BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ORDER = ["summary", "ladder", "sentiment_bow", "sentiment_mlp_select", "sentiment_ngrams", "recurrent", "transformer",
         "trees", "embeddings", "lm", "lm_cpu", "nli", "nli_explore", "ner", "translation", "qa", "rating",
         "captioning", "demo", "pipelines"]

HEADER = """# Benchmarks

Every number below was measured by the command printed next to it, on the machine and date stated in its
section; nothing is copied from a paper except the columns labelled *published*. Unless a section says
otherwise the machine is the project's development machine: **2 CPU cores, no GPU, torch 2.13.0 (CPU)**,
often shared with other work while measuring (each section says how), so times are upper bounds.
Accuracy is on the blind test split of the model chosen on dev (early stopping / model selection on dev
only). Run folders (config, checkpoints, metrics.csv, results.json, plots) are written under `runs/` by
the same commands; `dl4nlp leaderboard runs/...` tabulates them.

This file is assembled from `benchmarks/results/*.md` by `python benchmarks/build_benchmarks_md.py`.
"""


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    parts = [HEADER]
    for topic in ORDER:
        path = RESULTS / f"{topic}.md"
        if path.is_file():
            text = path.read_text(encoding="utf-8").strip() + "\n"
            # images next to a result file are linked relative to it; BENCHMARKS.md sits at the root
            text = re.sub(r"\]\((?!https?:|/|\.\./|benchmarks/|docs/)([^)]+\.png)\)", r"](benchmarks/results/\1)", text)
            parts.append(text)
    out = ROOT / "BENCHMARKS.md"
    tmp = out.with_suffix(".md.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    tmp.replace(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
