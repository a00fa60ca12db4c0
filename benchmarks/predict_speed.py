"""``dl4nlp predict`` speed per run: sentences/s through the pipeline's Predictor (what ``predict --file``
runs: input checks, notes, one Prediction per sentence) against the model's own batched inference on the same
sentences, in alternating rounds, and their ratio (target >= 0.8).

    python benchmarks/predict_speed.py runs/ladder-sst2/*/ --data ../shared/data/sst/test.txt --rounds 3

``--data``: one sentence per line, or an SST tree file (the words of each tree are read).
Prints a markdown table on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path


def sentences(path: Path, limit: int) -> list[str]:
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if lines and lines[0].startswith("("):  # PTB trees: the leaves
        lines = [" ".join(re.findall(r"\(\d+ ([^()]+)\)", ln)) for ln in lines]
    return lines[:limit]


def own_inference(predictor: object):
    """The model's own batched inference behind a predictor (a classifier's or transformer's probabilities)."""
    for attr in ("clf", "run", "nli"):
        inner = getattr(predictor, attr, None)
        if inner is not None and hasattr(inner, "probabilities"):
            return inner.probabilities
    return None


def measure(run: Path, texts: list[str], rounds: int) -> dict[str, object] | None:
    from dl4nlp.pipelines import pipeline_for

    predictor = pipeline_for(run).load(run)
    own = own_inference(predictor)
    if own is None:
        print(f"[predict-speed] {run}: no batched probabilities to compare with, skipped", file=sys.stderr)
        return None
    own(texts[:8]), predictor.predict(texts[:8])  # warm-up
    times: dict[str, list[float]] = {"predict": [], "own": []}
    for _ in range(rounds):  # alternating, so load changes hit both alike
        for name, fn in (("predict", predictor.predict), ("own", own)):
            start = time.perf_counter()
            fn(texts)
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    return {"run": run.name, "n": len(texts), "predict_s": len(texts) / best["predict"],
            "own_s": len(texts) / best["own"], "ratio": best["own"] / best["predict"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    texts = sentences(args.data, args.limit)
    rows = [r for run in args.runs if (run / "config.yaml").is_file() for r in [measure(run, texts, args.rounds)] if r]
    print("| run | sentences | predict (sentences/s) | model's batched inference (sentences/s) | ratio |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['run']} | {r['n']} | {r['predict_s']:.0f} | {r['own_s']:.0f} | {r['ratio']:.2f} |")


if __name__ == "__main__":
    main()
