"""Baselines of the rating benchmark on the same data as a rating config: always predicting the training mean, and
scikit-learn's ``Ridge`` on the same bag-of-words features as ``rating_bow`` (the config's tokenizer, vocabulary,
feature scheme and normalisation), its alpha chosen on dev. One JSON object on stdout (or ``--out``).

    python benchmarks/rating_baselines.py configs/rating/imdb_bow_ridge.yaml --set data.max_train_examples=250

Ridge minimises ||y - X w - b||^2 + alpha ||w||^2 (sums over examples) on the rating mapped to [0, 1]; the
prediction is clamped to the scale, as the regression head does. rating_bow's objective is the mean squared
error + l2 * sum W^2, i.e. alpha = l2 * N.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

ALPHAS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def features(texts: list[str], tok, vocab, max_length: int | None, scheme: str, normalize: bool, idf):
    """The CSR matrix [N, V] of the bag-of-words features rating_bow computes (:func:`dl4nlp.models.bow.sparse_bow`)."""
    from scipy.sparse import csr_matrix

    from dl4nlp.data.batching import encode_texts, pad_batch
    from dl4nlp.models.bow import sparse_bow

    rows, cols, vals = [], [], []
    for start in range(0, len(texts), 512):
        b = pad_batch(encode_texts(texts[start : start + 512], tok, vocab, max_length))
        ids, offsets, values = sparse_bow(b["tokens"], b["mask"], scheme, idf, normalize)
        lengths = torch.diff(offsets, append=torch.tensor([len(ids)]))
        rows.append(torch.repeat_interleave(torch.arange(len(offsets)) + start, lengths))
        cols.append(ids)
        vals.append(values)
    r, c, v = (torch.cat(x).numpy() for x in (rows, cols, vals))
    return csr_matrix((v, (r, c)), shape=(len(texts), len(vocab)))


def main(argv: list[str] | None = None) -> dict:
    from sklearn.linear_model import Ridge

    from dl4nlp.core.config import load_config
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.models.bow import idf_from_vocab
    from dl4nlp.pipelines.classification import tokenizer_for
    from dl4nlp.pipelines.rating import read_splits, scale_of
    from dl4nlp.tasks.rating_metrics import rating_scores

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("config")
    ap.add_argument("--set", action="append", default=[], dest="sets")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.sets)
    scale = scale_of(cfg)
    splits = read_splits(cfg)
    tok = tokenizer_for(cfg)
    vocab = Vocab.build([tok(t) for t in splits.train["text"]], cfg.data.min_count, cfg.data.max_vocab)
    scheme, normalize = cfg.model.get("features", "counts"), bool(cfg.model.get("normalize", False))
    idf = idf_from_vocab(vocab)
    X = {s: features(list(getattr(splits, s)["text"]), tok, vocab, cfg.data.max_length, scheme, normalize, idf)
         for s in ("train", "dev", "test")}
    y = {s: np.asarray(getattr(splits, s)["label"], dtype=np.float64) for s in ("train", "dev", "test")}

    def scores(pred: np.ndarray, split: str) -> dict:
        return {f"{split}_{k}": v for k, v in rating_scores(pred, y[split], scale.lo, scale.hi, scale.levels).items()}

    mean = float(y["train"].mean())
    out: dict = {"config": args.config, "sets": args.sets, "train_examples": len(y["train"]),
                 "dev_examples": len(y["dev"]), "test_examples": len(y["test"]), "vocab_size": len(vocab),
                 "mean": {"train_mean": mean, **scores(np.full(len(y["dev"]), mean), "dev"),
                          **scores(np.full(len(y["test"]), mean), "test")}}
    unit = (y["train"] - scale.lo) / (scale.hi - scale.lo)
    tried = []
    for alpha in ALPHAS:
        start = time.perf_counter()
        model = Ridge(alpha=alpha).fit(X["train"], unit)
        seconds = time.perf_counter() - start

        def predict(split: str, model=model) -> np.ndarray:
            return scale.lo + (scale.hi - scale.lo) * np.clip(model.predict(X[split]), 0, 1)

        tried.append({"alpha": alpha, "train_time_s": round(seconds, 3), **scores(predict("dev"), "dev"),
                      "_model": model, "_predict": predict})
    best = min(tried, key=lambda r: r["dev_mae"])
    kept = {k: v for k, v in best.items() if not k.startswith("_")}
    out["ridge"] = {**kept, **scores(best["_predict"]("test"), "test"),
                    "alphas": [{"alpha": r["alpha"], "dev_mae": r["dev_mae"]} for r in tried]}
    for key in [k for k in out["mean"] if k.endswith(("spearman", "pearson"))]:
        del out["mean"][key]  # a constant prediction has no correlation
    text = json.dumps(out, indent=2)
    if args.out:
        from dl4nlp.core.io import write_text

        write_text(args.out, text + "\n")
    print(text)
    return out


if __name__ == "__main__":
    main()
