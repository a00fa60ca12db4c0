"""Our PyTorch word2vec vs gensim's Word2Vec on WikiText-2 train, identical hyper-parameters.

Run from the repository root (wrap in flock on a shared machine):

    flock /tmp/dl4nlp-bench.lock python benchmarks/embeddings_word2vec.py --epochs 3 --threads 2

Prints and writes ``benchmarks/results/embeddings_word2vec[-<tag>].json``: for each backend the
Google analogy accuracy (30k most frequent words), WordSim-353 / SimLex-999 Spearman, SST single-word
semantic-orientation accuracy, training time and words/second, and the words/second ratio.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict
from pathlib import Path

from dl4nlp.core.io import write_json
from dl4nlp.embeddings import evaluate_all, evaluate_orientation, sst_word_polarity
from dl4nlp.engine.training import machine_info
from dl4nlp.pipelines.word2vec import TrainOptions, read_sentences, train_word2vec

DATA = Path("../shared/data")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(DATA / "wikitext2" / "wiki.train.tokens"))
    ap.add_argument("--arch", default="skipgram")
    ap.add_argument("--dim", type=int, default=100)
    ap.add_argument("--window", type=int, default=5)
    ap.add_argument("--negative", type=int, default=5)
    ap.add_argument("--min-count", type=int, default=5)
    ap.add_argument("--sample", type=float, default=1e-3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=4096)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-threads", type=int, default=None, help="threads for our backend (default --threads)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--cased", action="store_true", help="keep case (default: lowercase the corpus)")
    ap.add_argument("--backends", default="torch,gensim")
    ap.add_argument("--out-dir", default=None, help="also keep each backend's vectors here")
    ap.add_argument("--tag", default="")
    args = ap.parse_args()

    sentences = read_sentences(args.corpus, lowercase=not args.cased)
    polarity = sst_word_polarity(DATA / "sst" / "train.txt")
    report: dict = {"corpus": args.corpus, "date": time.strftime("%Y-%m-%d"), "machine": machine_info(),
                    "results": {}}
    for backend in args.backends.split(","):
        threads = args.torch_threads if backend == "torch" and args.torch_threads else args.threads
        opts = TrainOptions(arch=args.arch, dim=args.dim, window=args.window, negative=args.negative,
                            min_count=args.min_count, sample=args.sample, epochs=args.epochs,
                            batch_size=args.batch_size, threads=threads, backend=backend,
                            lowercase=not args.cased, device=args.device if backend == "torch" else "cpu")
        out = Path(args.out_dir) / backend if args.out_dir else None
        vecs, summary = train_word2vec(args.corpus, opts, out, progress=False, sentences=sentences)
        scores = evaluate_all(vecs, DATA / "wordsim", restrict=30000)
        orient = evaluate_orientation(vecs, polarity)
        res = {"options": asdict(opts), **{k: v for k, v in summary.items() if k != "log"},
               "log": summary["log"], **scores, "orientation_accuracy": orient["accuracy"],
               "orientation_words": orient["words"]}
        report["results"][backend] = res
        print(f"{backend:7s} time {summary['train_time_s']:.1f}s  words/s {summary['words_per_s']:,.0f}  "
              f"analogy sem/syn/total {scores['analogy_semantic']:.3f}/{scores['analogy_syntactic']:.3f}/"
              f"{scores['analogy_total']:.3f} (answered {scores['analogy_answered']})  "
              f"WS353 {scores['ws353_spearman']:.3f}  SimLex {scores['simlex_spearman']:.3f}  "
              f"orientation {orient['accuracy']:.3f} ({orient['words']} words)", flush=True)
    r = report["results"]
    if "torch" in r and "gensim" in r:
        report["words_per_s_ratio_torch_over_gensim"] = r["torch"]["words_per_s"] / r["gensim"]["words_per_s"]
        print(f"words/s ratio torch/gensim: {report['words_per_s_ratio_torch_over_gensim']:.3f}")
    tag = f"-{args.tag}" if args.tag else ""
    path = write_json(Path("benchmarks/results") / f"embeddings_word2vec{tag}.json", report)
    print(f"wrote {path}")
    print(json.dumps({b: {k: v for k, v in x.items() if k not in ("log", "options", "analogy_sections")}
                      for b, x in r.items()}, indent=1))


if __name__ == "__main__":
    main()
