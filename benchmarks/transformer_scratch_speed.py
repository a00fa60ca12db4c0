"""Speed of the from-scratch transformer: training tokens/s of our layers vs the ``torch.nn`` layers
(``model.impl: scratch | torch``) at the same size, and greedy / beam decoding sentences/s with and without the
key/value cache. Rounds alternate between the variants, so a change in machine load hits them all alike.

    python benchmarks/transformer_scratch_speed.py [--d-model 256 --heads 8 --d-ff 512 --layers 3]
        [--batch 64 --src-len 24 --tgt-len 24 --vocab 8000] [--rounds 3 --steps 5]
        [--sentences 32 --beam 5 --max-len 30] [--threads N] [--out speed.json]

Batches are synthetic (random ids, lengths drawn between half and all of ``--src-len`` / ``--tgt-len``,
right-padded), the same for every variant. Training tokens are real (non-padding) target tokens per second of
forward + backward + Adam step. Decoding uses random weights, so no sentence stops early: every sentence is
decoded to ``--max-len`` tokens, the same work for each variant. The JSON result goes to stdout (and ``--out``);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from dl4nlp.models.transformer_scratch import ScratchTransformerOptions, TransformerSeq2Seq

SOS, EOS = 2, 3


def batch(n: int, length: int, vocab: int, gen: torch.Generator) -> torch.Tensor:
    """[n, length] ids in 4..vocab-1, right-padded with 0 after a random length in [length/2, length]."""
    ids = torch.randint(4, vocab, (n, length), generator=gen)
    lengths = torch.randint(max(1, length // 2), length + 1, (n,), generator=gen)
    return ids.masked_fill(torch.arange(length)[None, :] >= lengths[:, None], 0)


def train_rate(model: TransformerSeq2Seq, data: list[tuple[torch.Tensor, torch.Tensor]]) -> float:
    """Target tokens per second of training steps over ``data`` (src, tgt) pairs."""
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()
    tokens, start = 0, time.perf_counter()
    for src, tgt in data:
        logits, _ = model(src, src != 0, tgt[:, :-1])  # [B, T, V]
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tokens += int((tgt[:, 1:] != 0).sum())
    return tokens / (time.perf_counter() - start)


def decode_rate(model: TransformerSeq2Seq, src: torch.Tensor, beam: int, max_len: int, cache: bool) -> float:
    """Sentences per second of greedy (``beam`` 1) or batched beam decoding of ``src``."""
    from dl4nlp.tasks.translation import decode_ids

    model.eval()
    model.use_cache = cache and model.opts.impl == "scratch"
    start = time.perf_counter()
    decode_ids(model, src, src != 0, SOS, EOS, max_len, beam)
    return src.size(0) / (time.perf_counter() - start)


def models(args: argparse.Namespace) -> dict[str, TransformerSeq2Seq]:
    out = {}
    for impl in ("scratch", "torch"):
        torch.manual_seed(args.seed)
        opts = ScratchTransformerOptions(d_model=args.d_model, heads=args.heads, d_ff=args.d_ff, layers=args.layers,
                                         dropout=0.1, norm=args.norm, impl=impl)
        out[impl] = TransformerSeq2Seq(args.vocab, args.vocab, opts)
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(args.seed)
    data = [(batch(args.batch, args.src_len, args.vocab, gen),
             torch.cat([torch.full((args.batch, 1), SOS), batch(args.batch, args.tgt_len, args.vocab, gen)], 1))
            for _ in range(args.steps)]
    src = batch(args.sentences, args.src_len, args.vocab, gen)
    nets = models(args)
    train_rate(nets["scratch"], data[:1])  # warm-up (allocator, kernels), not timed
    train_rate(nets["torch"], data[:1])
    rates: dict[str, list[float]] = {}
    decoders = {"greedy_cached": (1, True), "greedy_uncached": (1, False),
                f"beam{args.beam}_cached": (args.beam, True), f"beam{args.beam}_uncached": (args.beam, False)}
    for r in range(args.rounds):
        for impl, model in nets.items():
            rates.setdefault(f"train_tok_s_{impl}", []).append(train_rate(model, data))
        for name, (beam, cache) in decoders.items():
            rates.setdefault(f"{name}_sent_s", []).append(decode_rate(nets["scratch"], src, beam, args.max_len, cache))
        rates.setdefault("greedy_torch_impl_sent_s", []).append(decode_rate(nets["torch"], src, 1, args.max_len,
                                                                            False))
        print(f"round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rates.items()),
              file=sys.stderr)
    med = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    med["train_ratio_scratch_over_torch"] = round(med["train_tok_s_scratch"] / med["train_tok_s_torch"], 3)
    med["greedy_cache_speedup"] = round(med["greedy_cached_sent_s"] / med["greedy_uncached_sent_s"], 2)
    med[f"beam{args.beam}_cache_speedup"] = round(med[f"beam{args.beam}_cached_sent_s"]
                                                  / med[f"beam{args.beam}_uncached_sent_s"], 2)
    return {"median": med, "rounds": rates, "settings": {**vars(args), "threads": torch.get_num_threads(),
                                                          "torch": torch.__version__}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in (("d-model", 256), ("heads", 8), ("d-ff", 512), ("layers", 3), ("batch", 64),
                          ("src-len", 24), ("tgt-len", 24), ("vocab", 8000), ("rounds", 3), ("steps", 5),
                          ("sentences", 32), ("beam", 5), ("max-len", 30), ("seed", 0)):
        p.add_argument(f"--{name}", type=int, default=default)
    p.add_argument("--norm", default="post", choices=("pre", "post"))
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    p.add_argument("--out", default=None, help="also write the JSON result to this file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run(args)
    text = json.dumps(result, indent=2)
    if args.out:
        from dl4nlp.core.io import write_text

        write_text(args.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
