"""Full vs adaptive softmax for the word-level LSTM LM, through the real data pipeline (corpus reader, vocabulary
by frequency, BPTT loader, ``LanguageModelTask`` on the Lightning engine, the config's optimiser and clipping).

``speed``: training tokens/second of the same config with ``model.output`` full and adaptive, in alternating
turns (A B A B ...) so both see the same machine load; prints each turn and the ratio adaptive / full of step
time (wall clock) and of the process's CPU time (less sensitive to other processes, not to cache contention)::

    python benchmarks/lm_adaptive_speed.py speed --config configs/lm/wt2_cpu.yaml --batches 20 --rounds 2

``curve``: dev perplexity against wall-clock minutes of training for each config (``path`` or
``path:key=value,key=value`` for overrides), dev measured every ``--eval-every`` updates; writes a CSV and a PNG::

    python benchmarks/lm_adaptive_speed.py curve --minutes 20 --out runs/bench-lm-cpu/curve \\
        --labels adaptive,full configs/lm/wt2_cpu.yaml configs/lm/wt2_cpu.yaml:model.output=full

The training minutes exclude the dev passes (``train_minutes``); ``wall_minutes`` includes them.
Every number depends on the machine's load: say how loaded it was when reporting one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.callbacks import Callback


def load(spec: str, extra: list[str]) -> Any:
    """``path[:key=value,...]`` -> ExperimentConfig (with ``extra`` overrides after the spec's own)."""
    from dl4nlp.core.config import load_config

    path, _, sets = spec.partition(":")
    return load_config(path, [s for s in sets.split(",") if s] + extra)


def build(cfg: Any, corpus: Any) -> tuple[Any, Any]:
    """The model and task ``dl4nlp train`` builds for this config (LSTM/GRU or transformer LMs)."""
    from dl4nlp.pipelines.language_model import build_lm
    from dl4nlp.tasks.language_model import LanguageModelTask

    model = build_lm(cfg, corpus.vocab)
    cfg.train.monitor, cfg.train.mode = "dev_ppl", "min"
    return model, LanguageModelTask(model, cfg.train, cfg.to_dict())


def trainer(cfg: Any, **kw: Any) -> Any:
    import lightning as L

    return L.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                     gradient_clip_val=cfg.train.clip_norm, **kw)


def read(cfg: Any) -> Any:
    from dl4nlp.data.lm import read_corpus

    d = cfg.data
    return read_corpus(d.dataset, d.path, d.level, d.lowercase, d.min_count, d.max_vocab, None,
                       d.train_file, d.dev_file, d.test_file)


def speed(args: argparse.Namespace) -> None:
    from dl4nlp.data.lm import make_lm_loader

    cfgs = {out: load(args.config, [f"model.output={out}", *args.set]) for out in ("full", "adaptive")}
    corpus = read(cfgs["full"])
    turns = []
    for r in range(args.rounds):
        for out, cfg in cfgs.items():
            torch.manual_seed(r)
            _, task = build(cfg, corpus)
            loader = make_lm_loader(corpus.train, cfg.train.batch_size, cfg.data.bptt)
            t0, c0 = time.perf_counter(), time.process_time()
            trainer(cfg, max_epochs=1, limit_train_batches=args.batches, limit_val_batches=0).fit(task, loader)
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            n = task.tokens_seen
            turns.append({"round": r, "output": out, "step_tok_s": round(n / task.step_seconds, 1),
                          "wall_tok_s": round(n / wall, 1), "cpu_tok_s": round(n / cpu, 1), "tokens": n,
                          "load_avg_1min": round(os.getloadavg()[0], 2)})
            print(json.dumps(turns[-1]), file=sys.stderr, flush=True)

    def mean(out: str, key: str = "step_tok_s") -> float:
        xs = [t[key] for t in turns if t["output"] == out]
        return sum(xs) / len(xs)

    cfg = cfgs["full"]
    res = {"config": args.config, "batch_size": cfg.train.batch_size, "bptt": cfg.data.bptt,
           "tie_weights": cfg.model_params.get("tie_weights", False), "batches_per_turn": args.batches,
           "threads": torch.get_num_threads(), "load_avg_1min": round(os.getloadavg()[0], 2),
           "full_tok_s": round(mean("full"), 1), "adaptive_tok_s": round(mean("adaptive"), 1),
           "ratio": round(mean("adaptive") / mean("full"), 2),
           "ratio_cpu_time": round(mean("adaptive", "cpu_tok_s") / mean("full", "cpu_tok_s"), 2), "turns": turns}
    print(json.dumps(res, indent=2))
    if args.out:
        from dl4nlp.core.io import write_json

        write_json(args.out, res)


class DevCurve(Callback):
    """(training minutes, wall minutes, tokens, dev perplexity) at each dev pass (one row per token count)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []
        self.start = time.perf_counter()

    def on_validation_end(self, trainer: Any, task: Any) -> None:
        if trainer.sanity_checking or (self.rows and self.rows[-1]["tokens"] == task.tokens_seen):
            return
        ppl = float(trainer.callback_metrics["dev_ppl"])
        self.rows.append({"train_minutes": round(task.step_seconds / 60, 3),
                          "wall_minutes": round((time.perf_counter() - self.start) / 60, 3),
                          "tokens": task.tokens_seen, "dev_ppl": round(ppl, 2)})
        print(json.dumps(self.rows[-1]), file=sys.stderr, flush=True)


def curve_one(spec: str, label: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from dl4nlp.data.lm import make_lm_loader

    cfg = load(spec, args.set)
    torch.manual_seed(cfg.run.seed)
    corpus = read(cfg)
    _, task = build(cfg, corpus)
    rec = DevCurve()
    t = cfg.train
    train = make_lm_loader(corpus.train, t.batch_size, cfg.data.bptt)
    dev = make_lm_loader(corpus.valid, t.eval_batch_size, cfg.data.bptt)
    every = min(args.eval_every, len(train))
    tr = trainer(cfg, max_epochs=t.epochs, val_check_interval=every, max_time=timedelta(minutes=args.minutes),
                 callbacks=[rec], limit_val_batches=args.dev_batches or None)
    tr.fit(task, train, dev)
    tr.validate(task, dev, verbose=False)  # the end point (skipped when the last update had its dev pass)
    if args.test:  # the test perplexity of the weights at the time limit, on the last row
        test = make_lm_loader(corpus.test, t.eval_batch_size, cfg.data.bptt)
        rec.rows[-1]["test_ppl"] = round(float(tr.test(task, test, verbose=False)[0]["test_ppl"]), 2)
    return [{"label": label, "config": spec, **row} for row in rec.rows]


def curve(args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = args.labels.split(",") if args.labels else list(args.configs)
    if len(labels) != len(args.configs):
        raise SystemExit(f"--labels: {len(labels)} labels for {len(args.configs)} configs")
    rows = [row for spec, label in zip(args.configs, labels, strict=True) for row in curve_one(spec, label, args)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_suffix(".csv"), "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for row in rows for k in row)))
        w.writeheader()
        w.writerows(rows)
    fig, ax = plt.subplots(figsize=(6, 4))
    for label in labels:
        pts = [r for r in rows if r["label"] == label]
        ax.plot([r["train_minutes"] for r in pts], [r["dev_ppl"] for r in pts], marker="o", label=label)
    ax.set_xlabel("training minutes (wall clock, dev passes excluded)")
    ax.set_ylabel("dev perplexity")
    ax.set_yscale("log")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=120)
    print(json.dumps({"csv": str(out.with_suffix(".csv")), "png": str(out.with_suffix(".png")),
                      "final": {la: [r for r in rows if r["label"] == la][-1] for la in labels}}, indent=2))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    sp = sub.add_parser("speed", help="tokens/s, full vs adaptive softmax, alternating turns")
    sp.add_argument("--config", default="configs/lm/wt2_cpu.yaml")
    sp.add_argument("--batches", type=int, default=20, help="updates per turn")
    sp.add_argument("--rounds", type=int, default=2)
    sp.add_argument("--out", default=None, help="also write the result as JSON here")
    cp = sub.add_parser("curve", help="dev perplexity vs wall-clock minutes; CSV + PNG")
    cp.add_argument("configs", nargs="+", help="config paths, each optionally followed by :key=value,...")
    cp.add_argument("--minutes", type=float, default=20.0, help="training time limit per config")
    cp.add_argument("--eval-every", type=int, default=500, help="updates between dev passes")
    cp.add_argument("--dev-batches", type=int, default=0, help="dev windows per pass (0: the whole dev split)")
    cp.add_argument("--out", default="runs/bench-lm-cpu/curve", help="output stem: <out>.csv and <out>.png")
    cp.add_argument("--labels", default="", help="comma-separated names for the configs (default: the specs)")
    cp.add_argument("--test", action="store_true", help="also score the test split at the time limit")
    for p in (sp, cp):
        p.add_argument("--set", action="append", default=[], help="an override for every config: key=value")
    args = ap.parse_args()
    speed(args) if args.mode == "speed" else curve(args)


if __name__ == "__main__":
    main()
