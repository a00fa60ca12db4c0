"""Tokens/second of ``dl4nlp``'s LM training step (Lightning engine, LanguageModelTask, BPTT loader) relative to
the plain PyTorch loop of ``benchmarks/lm_plain_loop.py``, same model size and hyper-parameters
(tied 2 x 200 LSTM, WikiText-2 vocabulary, batch 20, bptt 35, SGD lr 20, clip 0.25), measured in alternation
(A B A B ...) so both see the same machine load. A short measurement: ``--batches`` updates per turn.

    python benchmarks/lm_speed_ratio.py --batches 5 --rounds 2 --out runs/bench-lm/speed_ratio.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from lm_plain_loop import RNNModel, pick_device  # noqa: E402

DEVICE = torch.device("cpu")  # set from --device in main()


def _sync() -> None:
    if DEVICE.type == "cuda":  # GPU steps are queued asynchronously: wait for them before reading the clock
        torch.cuda.synchronize()


def run_dl4nlp(corpus, batches: int) -> tuple[float, float]:
    import lightning as L

    from dl4nlp.core.config import TrainConfig
    from dl4nlp.data.lm import make_lm_loader
    from dl4nlp.models.lm import LMOptions, RNNLanguageModel
    from dl4nlp.tasks.language_model import LanguageModelTask

    model = RNNLanguageModel(len(corpus.vocab), LMOptions(emb_dim=200, hidden=200, layers=2, dropout=0.2,
                                                          tie_weights=True))
    task = LanguageModelTask(model, TrainConfig(optimizer="sgd", lr=20.0, batch_size=20, clip_norm=0.25))
    trainer = L.Trainer(accelerator=DEVICE.type, devices=1, max_epochs=1, limit_train_batches=batches,
                        limit_val_batches=0, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        gradient_clip_val=0.25, num_sanity_val_steps=0)
    loader = make_lm_loader(corpus.train, 20, 35)
    t0 = time.perf_counter()
    trainer.fit(task, loader)
    _sync()
    wall = time.perf_counter() - t0
    return task.tokens_seen / task.step_seconds, task.tokens_seen / wall


def run_plain(corpus, batches: int) -> tuple[float, float]:
    data = corpus.train[: (corpus.train.numel() // 20) * 20].view(20, -1).t().contiguous().to(DEVICE)  # [N, B]
    ntokens = len(corpus.vocab)
    model = RNNModel(ntokens, 200, 200, 2, 0.2, tied=True).to(DEVICE)
    model.train()
    hidden = model.init_hidden(20)
    step, tokens = 0.0, 0
    t0 = time.perf_counter()
    for b in range(min(batches, (data.size(0) - 1) // 35)):  # full windows only, as many as the loader gives
        ts = time.perf_counter()
        i = b * 35
        x, y = data[i : i + 35], data[i + 1 : i + 36]
        hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        out, hidden = model(x, hidden)
        loss = F.cross_entropy(out.view(-1, ntokens), y.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        with torch.no_grad():
            for p in model.parameters():
                p.add_(p.grad, alpha=-20.0)
        step += time.perf_counter() - ts
        tokens += y.numel()
    _sync()
    wall = time.perf_counter() - t0
    return tokens / step, tokens / wall


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data/wikitext2")
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", default=None)
    ap.add_argument("--device", default="auto", help="cpu or cuda (auto: cuda when there is one)")
    args = ap.parse_args()
    global DEVICE
    DEVICE = pick_device(args.device)
    from dl4nlp.data.lm import read_corpus

    torch.manual_seed(0)
    corpus = read_corpus("wikitext2", args.data)
    turns = []
    for r in range(args.rounds):
        for name, fn in (("dl4nlp", run_dl4nlp), ("plain", run_plain)):
            step_tps, wall_tps = fn(corpus, args.batches)
            turns.append({"round": r, "loop": name, "step_tok_s": step_tps, "wall_tok_s": wall_tps})
            print(json.dumps(turns[-1]), flush=True)

    def mean(loop: str, key: str) -> float:
        xs = [t[key] for t in turns if t["loop"] == loop]
        return sum(xs) / len(xs)

    res = {"turns": turns, "batches_per_turn": args.batches,
           "ratio_step": mean("dl4nlp", "step_tok_s") / mean("plain", "step_tok_s"),
           "ratio_wall": mean("dl4nlp", "wall_tok_s") / mean("plain", "wall_tok_s"),
           "dl4nlp_step_tok_s": mean("dl4nlp", "step_tok_s"), "plain_step_tok_s": mean("plain", "step_tok_s"),
           "device": str(DEVICE)}
    print(json.dumps(res, indent=2))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
