"""Inference speed of a fine-tuned transformer run: sentences/second at batch 64 on SST-2 test sentences,
eager PyTorch vs ``torch.compile`` (inductor), same batches, same threads.

    python benchmarks/transformer_speed.py runs/bench-transformer/minilm-sst2 [--batch 64] [--no-compile]

Writes ``speed.json`` in the run folder and prints it. Batches keep the test order (no length sorting)
and are padded dynamically, as ``dl4nlp predict`` does for one batch of user input.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from dl4nlp.core.io import write_json
from dl4nlp.data.batching import pad_batch
from dl4nlp.pipelines.finetune import load_transformer_run, read_splits


def throughput(fn, batches: list[dict], repeats: int) -> float:
    n = sum(b["tokens"].size(0) for b in batches)
    best = 0.0
    with torch.inference_mode():
        for _ in range(repeats):
            start = time.perf_counter()
            for b in batches:
                fn(b["tokens"], b["mask"])
            best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run", type=Path)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--no-compile", action="store_true")
    args = ap.parse_args()

    clf = load_transformer_run(args.run)
    texts = list(read_splits(clf.cfg).test["text"])
    ids = clf.encode(texts)
    pad = clf.tokenizer.pad_token_id
    batches = [pad_batch(ids[i : i + args.batch], pad_id=pad) for i in range(0, len(ids), args.batch)]
    model = clf.model.eval()
    out = {
        "run": str(args.run),
        "sentences": len(ids),
        "batch": args.batch,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    throughput(model, batches[:2], 1)  # warm-up
    out["eager_sentences_per_s"] = round(throughput(model, batches, args.repeats), 1)
    print(json.dumps(out), flush=True)
    if not args.no_compile:
        try:
            compiled = torch.compile(model, dynamic=True)
            start = time.perf_counter()
            throughput(compiled, batches, 1)  # compiles (dynamic shapes: one graph for every length)
            out["compile_first_pass_s"] = round(time.perf_counter() - start, 1)
            out["compiled_sentences_per_s"] = round(throughput(compiled, batches, args.repeats), 1)
            out["compiled_over_eager"] = round(
                out["compiled_sentences_per_s"] / out["eager_sentences_per_s"], 3
            )
        except Exception as exc:  # noqa: BLE001 - report why compile is unavailable and keep the eager number
            out["compile_error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    write_json(args.run / "speed.json", out)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
