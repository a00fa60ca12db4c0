"""Training speed of the LSTM rung on SST-2 (one epoch each, same batches, same sizes):

1. a plain PyTorch loop: nn.Embedding -> nn.LSTM on a packed batch -> last state -> nn.Linear, Adam;
2. dl4nlp ``impl: fused`` through the real pipeline (``train_classifier``: Lightning, metrics, clipping);
3. dl4nlp ``impl: scratch`` (our cells unrolled in Python) through the same pipeline.

Tokens/second counts real (unpadded) training tokens over the time from the first to the last training
batch of the epoch (validation excluded). Usage: python benchmarks/recurrent_speed.py --out speed.json
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import lightning as L
import torch
from torch import nn

from dl4nlp.core.config import load_config
from dl4nlp.core.io import write_json
from dl4nlp.engine.training import machine_info
from dl4nlp.pipelines.classification import make_loader, prepare, train_classifier


class EpochTimer(L.Callback):
    """Seconds from the start of each training epoch to the start of its validation."""

    def __init__(self) -> None:
        self.start = 0.0
        self.seconds: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.start = time.perf_counter()
        self.open = True

    def on_validation_epoch_start(self, trainer, pl_module) -> None:
        if getattr(self, "open", False):
            self.seconds.append(time.perf_counter() - self.start)
            self.open = False


class PlainLSTM(nn.Module):
    def __init__(self, vocab: int, dim: int, hidden: int, classes: int):
        super().__init__()
        self.emb = nn.Embedding(vocab, dim, padding_idx=0)
        self.lstm = nn.LSTM(dim, hidden, batch_first=True)
        self.drop = nn.Dropout(0.5)
        self.out = nn.Linear(hidden, classes)

    def forward(self, tokens, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(
            self.emb(tokens), lengths, batch_first=True, enforce_sorted=False
        )
        _, (h, _) = self.lstm(packed)
        return self.out(self.drop(h[-1]))


def plain_epoch(cfg, prep) -> float:
    torch.manual_seed(cfg.run.seed)
    model = PlainLSTM(len(prep.vocab), 50, cfg.model["hidden"], len(prep.labels))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    loader = make_loader(prep.train, cfg.train.batch_size, True, True, cfg.run.seed)
    start = time.perf_counter()
    for b in loader:
        loss = nn.functional.cross_entropy(model(b["tokens"], b["lengths"]), b["label"])
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_norm)
        opt.step()
    return time.perf_counter() - start


def pipeline_epoch(impl: str, tmp: Path) -> float:
    cfg = load_config(
        "configs/ladder/lstm.yaml",
        [
            f"model.impl={impl}",
            "model.embeddings=random",
            "train.epochs=1",
            "trainer.progress_bar=false",
            f"run.dir={tmp}",
            f"run.name={impl}",
        ],
    )
    timer = EpochTimer()
    train_classifier(cfg, evaluate_test=False, callbacks=[timer])
    return timer.seconds[0]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("runs/bench-recurrent/speed.json"))
    args = ap.parse_args()
    cfg = load_config("configs/ladder/lstm.yaml", ["model.embeddings=random"])
    prep = prepare(cfg)
    tokens = sum(prep.train.lengths())
    out = {"train_tokens": tokens, "threads": torch.get_num_threads(), "machine": machine_info()}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fn in (
            ("plain_loop", lambda: plain_epoch(cfg, prep)),
            ("fused", lambda: pipeline_epoch("fused", Path(tmp))),
            ("scratch", lambda: pipeline_epoch("scratch", Path(tmp))),
        ):
            secs = fn()
            out[name] = {"seconds": round(secs, 2), "tokens_per_s": round(tokens / secs)}
            print(name, out[name], flush=True)
    out["fused_over_plain"] = round(out["fused"]["tokens_per_s"] / out["plain_loop"]["tokens_per_s"], 3)
    out["fused_over_scratch"] = round(out["fused"]["tokens_per_s"] / out["scratch"]["tokens_per_s"], 3)
    write_json(args.out, out)
    print(out)


if __name__ == "__main__":
    main()
