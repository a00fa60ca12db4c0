"""Training speed of the tree models: the level-by-level batcher against plain per-tree recursion, side by side.

Both train the same model (same weights at the start, same batches of SST-5 training trees, Adam, the loss over
every node) for the same number of steps:

1. level by level: one :class:`~dl4nlp.data.tree_batching.TreeBatch` per step, every node of one height across
   the batch computed at once (``model(batch)``);
2. per-tree recursion: each tree of the batch walked recursively node by node (``model.reference(tree)``), the
   batch's node losses averaged, one backward and one step per batch.

Nodes/second counts every tree node trained on (forward, backward, optimiser step), the batch building of (1)
included. Word vectors are random (their values do not change the speed). Usage::

    python benchmarks/trees_speed.py --models tree_lstm rntn tree_rnn --batches 20 --out speed.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from dl4nlp.core.io import write_json
from dl4nlp.core.registry import resolve
from dl4nlp.data.tree_batching import collate_trees, encode_tree, read_binary_trees
from dl4nlp.data.vocab import Vocab
from dl4nlp.engine.training import machine_info
from dl4nlp.models.tree import node_loss
from dl4nlp.pipelines.trees import MODELS


def build(name: str, vocab: Vocab, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    params = {"embeddings": "random", "embedding_dim": 50, "dropout": 0.0}
    if name == "tree_lstm":
        params["hidden"] = 150
    return resolve(MODELS, name, "tree model").build(params, vocab, 5)


def time_batched(model: torch.nn.Module, batches: list, word_id) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for trees in batches:
        batch = collate_trees([encode_tree(t, word_id) for t in trees])
        opt.zero_grad()
        node_loss(model(batch), batch).backward()
        opt.step()
    return time.perf_counter() - start


def time_recursive(model: torch.nn.Module, batches: list, word_id) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    start = time.perf_counter()
    for trees in batches:
        opt.zero_grad()
        logits = torch.cat([model.reference(t, word_id) for t in trees])  # [N, C], post-order per tree
        labels = torch.tensor([n for t in trees for n in post_order_labels(t)])
        torch.nn.functional.cross_entropy(logits, labels).backward()
        opt.step()
    return time.perf_counter() - start


def post_order_labels(tree) -> list[int]:
    from dl4nlp.data.tree_batching import post_order

    return [n.label for n in post_order(tree)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="../shared/data/sst/train.txt", help="PTB trees to train on")
    ap.add_argument("--models", nargs="+", default=["tree_lstm", "rntn", "tree_rnn"], choices=sorted(MODELS))
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--batches", type=int, default=20, help="training steps timed for each implementation")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--out", type=Path, default=None, help="also write the results as JSON")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    trees = read_binary_trees(args.data)
    g = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(trees), generator=g).tolist()[: args.batch_size * args.batches]
    batches = [[trees[i] for i in order[k : k + args.batch_size]] for k in range(0, len(order), args.batch_size)]
    vocab = Vocab.build([[w.lower() for w in t.leaves()] for t in trees])

    def word_id(w: str) -> int:
        return vocab.stoi.get(w.lower(), 1)

    nodes = sum(2 * len(t.leaves()) - 1 for b in batches for t in b)
    rows = []
    print(f"{len(batches)} batches of {args.batch_size} trees, {nodes:,} nodes, {torch.get_num_threads()} threads",
          file=sys.stderr)
    print("| model | level by level (nodes/s) | per-tree recursion (nodes/s) | speed-up |")
    print("|---|---:|---:|---:|")
    for name in args.models:
        warm = batches[:1]
        time_batched(build(name, vocab, args.seed), warm, word_id)  # first-call costs out of the timing
        batched = nodes / time_batched(build(name, vocab, args.seed), batches, word_id)
        recursive = nodes / time_recursive(build(name, vocab, args.seed), batches, word_id)
        rows.append({"model": name, "batched_nodes_per_s": round(batched, 1),
                     "recursive_nodes_per_s": round(recursive, 1), "speedup": round(batched / recursive, 2)})
        print(f"| {name} | {batched:,.0f} | {recursive:,.0f} | {batched / recursive:.1f}x |", flush=True)
    if args.out:
        write_json(args.out, {"batches": len(batches), "batch_size": args.batch_size, "nodes": nodes,
                              "rows": rows, "machine": machine_info()})


if __name__ == "__main__":
    main()
