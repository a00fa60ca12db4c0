"""Reference: the pytorch/examples ``word_language_model`` recipe as a plain PyTorch loop (written here, not
copied), with the same hyper-parameters as ``configs/lm/wt2_small_tied.yaml``: tied 2 x 200 LSTM, dropout 0.2,
SGD lr 20 with clip 0.25, batch 20, bptt 35, eval batch 10, lr / 4 when dev loss does not improve.

It shares nothing with dl4nlp (own reader, batchify, model and loop), so comparing its tokens/second and its
perplexity after the same number of updates with ``dl4nlp train`` measures the toolkit's overhead.

    python benchmarks/lm_plain_loop.py --data ../shared/data/wikitext2 --epochs 1 --max-batches 300
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn


def tokenize(path: Path, stoi: dict[str, int], grow: bool) -> torch.Tensor:
    ids = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            for w in line.split() + ["<eos>"]:
                if w not in stoi and grow:
                    stoi[w] = len(stoi)
                ids.append(stoi[w])
    return torch.tensor(ids, dtype=torch.long)


def pick_device(name: str) -> torch.device:
    """``--device``: cpu, cuda, cuda:1, ... or auto (cuda when there is one)."""
    return torch.device(name if name != "auto" else "cuda" if torch.cuda.is_available() else "cpu")


def batchify(data: torch.Tensor, bsz: int) -> torch.Tensor:
    n = data.size(0) // bsz
    return data[: n * bsz].view(bsz, -1).t().contiguous()  # [N, B] time-major, as in pytorch/examples


class RNNModel(nn.Module):
    def __init__(self, ntoken: int, ninp: int, nhid: int, nlayers: int, dropout: float, tied: bool):
        super().__init__()
        self.drop = nn.Dropout(dropout)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid, nlayers, dropout=dropout)
        self.decoder = nn.Linear(nhid, ntoken)
        nn.init.uniform_(self.encoder.weight, -0.1, 0.1)
        nn.init.zeros_(self.decoder.bias)
        nn.init.uniform_(self.decoder.weight, -0.1, 0.1)
        if tied:
            self.decoder.weight = self.encoder.weight
        self.nlayers, self.nhid = nlayers, nhid

    def forward(self, x, hidden):
        out, hidden = self.rnn(self.drop(self.encoder(x)), hidden)
        return self.decoder(self.drop(out)), hidden

    def init_hidden(self, bsz: int):
        z = torch.zeros(self.nlayers, bsz, self.nhid, device=self.encoder.weight.device)
        return (z, z.clone())


def evaluate(model: RNNModel, data: torch.Tensor, bptt: int, ntokens: int) -> float:
    model.eval()
    total, count = 0.0, 0
    hidden = model.init_hidden(data.size(1))
    with torch.no_grad():
        for i in range(0, data.size(0) - 1, bptt):
            n = min(bptt, data.size(0) - 1 - i)
            x, y = data[i : i + n], data[i + 1 : i + 1 + n]
            out, hidden = model(x, hidden)
            total += F.cross_entropy(out.view(-1, ntokens), y.reshape(-1), reduction="sum").item()
            count += y.numel()
    return total / count


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wikitext2")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-batches", type=int, default=0,
                    help="stop each epoch after this many batches (0: all)")
    ap.add_argument("--lr", type=float, default=20.0)
    ap.add_argument("--clip", type=float, default=0.25)
    ap.add_argument("--bptt", type=int, default=35)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--dropout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=1111)
    ap.add_argument("--test", action="store_true", help="also score the test split")
    ap.add_argument("--device", default="auto", help="cpu, cuda, cuda:1, ... (auto: cuda when there is one)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    device = pick_device(args.device)
    folder = Path(args.data)
    stoi: dict[str, int] = {}
    train = batchify(tokenize(folder / "wiki.train.tokens", stoi, True), args.batch_size).to(device)
    valid = batchify(tokenize(folder / "wiki.valid.tokens", stoi, False), 10).to(device)
    test = batchify(tokenize(folder / "wiki.test.tokens", stoi, False), 10).to(device)
    ntokens = len(stoi)
    model = RNNModel(ntokens, args.size, args.size, 2, args.dropout, tied=True).to(device)
    lr, best = args.lr, None
    step_time, tokens, history = 0.0, 0, []
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        model.train()
        hidden = model.init_hidden(args.batch_size)
        for b, i in enumerate(range(0, train.size(0) - 1, args.bptt)):
            if args.max_batches and b >= args.max_batches:
                break
            t0 = time.perf_counter()
            n = min(args.bptt, train.size(0) - 1 - i)
            x, y = train[i : i + n], train[i + 1 : i + 1 + n]
            hidden = tuple(h.detach() for h in hidden)
            model.zero_grad()
            out, hidden = model(x, hidden)
            loss = F.cross_entropy(out.view(-1, ntokens), y.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(p.grad, alpha=-lr)
            step_time += time.perf_counter() - t0
            tokens += y.numel()
        if device.type == "cuda":  # the steps were queued asynchronously: count the GPU's tail too
            t1 = time.perf_counter()
            torch.cuda.synchronize()
            step_time += time.perf_counter() - t1
        val = evaluate(model, valid, args.bptt, ntokens)
        history.append({"epoch": epoch, "dev_ppl": math.exp(val), "lr": lr})
        print(json.dumps(history[-1]), flush=True)
        if best is None or val < best:
            best = val
        else:
            lr /= 4.0
    res = {"dev_ppl": math.exp(best), "tokens_per_second": tokens / step_time, "train_tokens_seen": tokens,
           "wall_s": time.perf_counter() - start, "history": history,
           "vocab_size": ntokens, "device": str(device), "args": vars(args)}
    if args.test:
        res["test_ppl_last"] = math.exp(evaluate(model, test, args.bptt, ntokens))
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
