"""Speed of the NER taggers: training tokens/s through the shared Lightning engine against a plain PyTorch loop,
and Viterbi decoding tokens/s of our CRF against ``pytorch-crf`` (when it is installed), side by side.

For each model, both training variants start from the same weights and train on the same batches of CoNLL-2003
training sentences (the config's batch size, bucketed by length as ``dl4nlp train`` does); the engine is a
``lightning.Trainer`` on ``TaggingTask`` (the config's optimiser and clipping), the plain loop is
``loss.backward(); clip_grad_norm_; Adam.step()``. Only the steps are timed (forward, backward, optimiser step),
not the trainer's set-up. Viterbi is timed on the emissions of the dev sentences (the config's eval batch size):
our ``CRF.decode`` and ``torchcrf.CRF.decode`` with the same start / transition / end scores (the constraints'
penalties included), and the whole model (features, BiLSTM and Viterbi: ``model.decode``). The variants
alternate within each round, so a change in machine load hits them alike; medians over rounds are reported.
Weights are the untrained initial ones (the speed does not depend on them). Usage::

    python benchmarks/ner_speed.py --sentences 2000 --batches 30 --rounds 3 --out speed.json

The JSON result goes to stdout (and ``--out``); progress to stderr. Say how loaded the machine was.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback

CRF_MODELS = ("bilstm_crf", "bilstm_crf_charcnn", "bilstm_crf_charlstm")


class StepTimer(Callback):
    """Seconds spent inside training steps (batch start to batch end), summed."""

    def __init__(self) -> None:
        self.seconds, self._t = 0.0, 0.0

    def on_train_batch_start(self, *args: Any) -> None:
        self._t = time.perf_counter()

    def on_train_batch_end(self, *args: Any) -> None:
        self.seconds += time.perf_counter() - self._t


def engine_seconds(cfg: Any, model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> float:
    import lightning as L
    from torch.utils.data import DataLoader

    from dl4nlp.tasks.tagging import TaggingTask

    task = TaggingTask(model, cfg.model_params.get("scheme", "bioes"), cfg.train)
    timer = StepTimer()
    trainer = L.Trainer(accelerator="cpu", devices=1, max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                        limit_val_batches=0, gradient_clip_val=cfg.train.clip_norm, callbacks=[timer])
    trainer.fit(task, DataLoader(batches, batch_size=None, shuffle=False))
    return timer.seconds


def plain_seconds(cfg: Any, model: torch.nn.Module, batches: list[dict[str, torch.Tensor]]) -> float:
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    model.train()
    start = time.perf_counter()
    for batch in batches:
        opt.zero_grad()
        loss = model.loss(batch)
        loss.backward()
        if cfg.train.clip_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.clip_norm)
        opt.step()
    return time.perf_counter() - start


def viterbi_rates(model: torch.nn.Module, dev: list[dict[str, torch.Tensor]], ref: Any) -> dict[str, float]:
    """Tokens/s of our Viterbi, pytorch-crf's (``ref`` or None) and the whole model's decoding on ``dev``."""
    model.eval()
    with torch.no_grad():
        ems = [(model(b), b["mask"]) for b in dev]  # [B, T, K], [B, T]
        tokens = sum(int(m.sum()) for _, m in ems)
        out = {}
        t = time.perf_counter()
        for em, m in ems:
            model.crf.decode(em, m)
        out["viterbi_tok_s"] = tokens / (time.perf_counter() - t)
        if ref is not None:
            t = time.perf_counter()
            for em, m in ems:
                ref.decode(em, m)
            out["viterbi_pytorch_crf_tok_s"] = tokens / (time.perf_counter() - t)
        t = time.perf_counter()
        for b in dev:
            model.decode(b)
        out["model_decode_tok_s"] = tokens / (time.perf_counter() - t)
    return out


def reference_crf(model: torch.nn.Module) -> Any:
    """pytorch-crf's CRF with our scores (penalties included, clamped to stay finite), or None."""
    try:
        import torchcrf
    except ImportError:
        return None
    start, trans, end = (s.detach().clamp(min=-1e4) for s in model.crf.scores())
    ref = torchcrf.CRF(model.crf.num_tags, batch_first=True)
    with torch.no_grad():
        ref.start_transitions.copy_(start)
        ref.transitions.copy_(trans)
        ref.end_transitions.copy_(end)
    return ref


def measure(name: str, args: argparse.Namespace) -> dict[str, Any]:
    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.tagging import build_model, make_loader, prepare

    cfg = load_config(f"{args.configs}/{name}.yaml", [f"data.max_train_examples={args.sentences}", *args.set])
    torch.manual_seed(args.seed)
    prep = prepare(cfg)
    batches = list(make_loader(prep.train, cfg.train.batch_size, True, args.seed))[: args.batches]
    dev = list(make_loader(prep.dev[: args.dev_sentences], cfg.train.eval_batch_size, False, 0))
    tokens = sum(int(b["mask"].sum()) for b in batches)
    base = build_model(cfg, prep.encoder)
    init = copy.deepcopy(base.state_dict())
    engine_seconds(cfg, copy.deepcopy(base), batches[:1])  # warm-up (allocator, first-call costs), not timed
    rates: dict[str, list[float]] = {}
    for r in range(args.rounds):
        for variant, timed in (("engine", engine_seconds), ("plain", plain_seconds)):
            base.load_state_dict(init)
            rates.setdefault(f"train_tok_s_{variant}", []).append(tokens / timed(cfg, copy.deepcopy(base), batches))
        if name in CRF_MODELS:
            base.load_state_dict(init)
            for key, value in viterbi_rates(base, dev, reference_crf(base)).items():
                rates.setdefault(key, []).append(value)
        print(f"{name} round {r + 1}/{args.rounds}: " + ", ".join(f"{k} {v[-1]:,.0f}" for k, v in rates.items())
              + f" (load {os.getloadavg()[0]:.2f})", file=sys.stderr, flush=True)
    med: dict[str, Any] = {k: round(statistics.median(v), 1) for k, v in rates.items()}
    med["engine_over_plain"] = round(med["train_tok_s_engine"] / med["train_tok_s_plain"], 3)
    if "viterbi_pytorch_crf_tok_s" in med:
        med["viterbi_ours_over_pytorch_crf"] = round(med["viterbi_tok_s"] / med["viterbi_pytorch_crf_tok_s"], 3)
    return {"model": name, "train_batches": len(batches), "train_tokens": tokens,
            "dev_sentences": len(prep.dev[: args.dev_sentences]), "median": med, "rounds": rates}


def main() -> None:
    from dl4nlp.engine.training import machine_info

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["bilstm_softmax", *CRF_MODELS])
    ap.add_argument("--configs", default="configs/ner", help="folder of the <model>.yaml configs")
    ap.add_argument("--sentences", type=int, default=2000, help="training sentences read (a prefix of train)")
    ap.add_argument("--batches", type=int, default=30, help="training steps timed per variant and round")
    ap.add_argument("--dev-sentences", type=int, default=1000, help="dev sentences decoded per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--set", action="append", default=[], help="a config override for every model: key=value")
    ap.add_argument("--out", default=None, help="also write the JSON result here")
    args = ap.parse_args()
    rows = [measure(m, args) for m in args.models]
    try:
        import torchcrf  # noqa: F401

        ref = "pytorch-crf"
    except ImportError:
        ref = None
    res = {"rows": rows, "reference_crf": ref, "threads": torch.get_num_threads(),
           "load_avg_1min": round(os.getloadavg()[0], 2), "machine": machine_info(), "settings": vars(args)}
    text = json.dumps(res, indent=2)
    if args.out:
        from dl4nlp.core.io import write_text

        write_text(args.out, text + "\n")
    print(text)


if __name__ == "__main__":
    main()
