"""Benchmarks for rungs 1-2 of the ladder (bag-of-words logistic regression and MLP) on SST.

    python benchmarks/sentiment_bow.py [--data ../shared/data/sst] [--out runs/bench-bow] [--part all]

Parts:
  ladder   LR and MLP on SST-2 and SST-5, sentence-level and phrase-level training, through the real CLI
           (``dl4nlp train configs/ladder/<rung>.yaml --set ...``; phrase-level training with
           ``configs/ladder-phrases/<dataset>/<rung>.yaml``): dev/test accuracy, time, parameters.
  sklearn  the same binary BoW features (same vocabulary) into scikit-learn's LogisticRegression
           (C chosen on dev): test accuracy and fit time next to ours.
  overhead Lightning vs a plain PyTorch loop: steps/second of the same MLP on the same batches.

Writes ``benchmarks/results/sentiment_bow.md`` and ``<out>/bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# phrase-level training (every labelled subtree: 98,794 SST-2 / 318,582 SST-5 nodes) has its own configs,
# each model's settings chosen on dev for that training level (configs/ladder-phrases/<dataset>/<rung>.yaml;
# the sweeps are in benchmarks/results/sentiment_mlp_select.md)


SEEDS = (13, 14, 15)  # mean and std over these (sentence- and phrase-level training)


# our LR run to convergence on its objective (no early stopping; the checkpoint with the lowest training loss),
# to compare with scikit-learn on the same objective
CONVERGED = ["train.patience=0", "train.epochs=60", "train.monitor=train_loss", "train.mode=min"]


def run_cli(model: str, dataset: str, phrases: bool, data: Path, out: Path, seed: int = 13,
            extra: tuple[str, ...] | list[str] = (), suffix: str = "") -> dict:
    name = (f"{model}-{dataset}-{'phrases' if phrases else 'sentences'}" + (f"-s{seed}" if seed != 13 else "")
            + (f"-{suffix}" if suffix else ""))
    sets = [f"data.dataset={dataset}", f"data.phrases={str(phrases).lower()}", f"data.path={data}",
            f"run.dir={out}", f"run.name={name}", f"run.seed={seed}", "trainer.progress_bar=false", *extra]
    config = f"configs/ladder-phrases/{dataset}/{model}.yaml" if phrases else f"configs/ladder/{model}.yaml"
    cmd = ["dl4nlp", "train", config] + [a for s in sets for a in ("--set", s)]
    results = out / name / "results.json"
    if not results.is_file():
        print("$", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"))  # one thread per run
    res = json.loads(results.read_text())
    res["command"] = " ".join(cmd).replace(str(ROOT) + "/", "").replace(str(ROOT.parent), "..")
    res["name"] = name
    res["seed"] = seed
    return res


def group(ladder: list[dict]) -> list[list[dict]]:
    """Runs of the same (model, dataset, training data), in first-seen order."""
    groups: dict[tuple, list[dict]] = {}
    for r in ladder:
        groups.setdefault((r["model"], r["dataset"], r["phrases"]), []).append(r)
    return list(groups.values())


def mean_std(xs: list[float], scale: float = 100.0) -> str:
    import statistics

    m = statistics.mean(xs) * scale
    return f"{m:.2f}" if len(xs) == 1 else f"{m:.2f} ± {statistics.stdev(xs) * scale:.2f}"


def sklearn_comparison(dataset: str, data: Path) -> dict:
    """The LR rung's exact features (same vocabulary, same scheme and normalisation, computed by the model's
    own ``sparse_bow``) into scikit-learn's LogisticRegression (lbfgs, L2), C picked on dev."""
    import numpy as np
    import scipy.sparse as sp
    import torch
    from sklearn.linear_model import LogisticRegression as SkLR

    from dl4nlp.core.config import build_options, load_config
    from dl4nlp.models.bow import idf_from_vocab, sparse_bow
    from dl4nlp.models.linear import LogRegOptions
    from dl4nlp.pipelines.classification import prepare

    cfg = load_config(ROOT / "configs/ladder/logreg.yaml", [f"data.dataset={dataset}", f"data.path={data}"])
    prep = prepare(cfg)
    V = len(prep.vocab)
    idf = idf_from_vocab(prep.vocab)
    opts = build_options(LogRegOptions, cfg.model_params, "model (logreg)")

    def matrix(ds):
        T = max(len(ids) for ids in ds.ids)
        tokens = torch.zeros(len(ds.ids), T, dtype=torch.long)
        mask = torch.zeros(len(ds.ids), T, dtype=torch.bool)
        for i, ids in enumerate(ds.ids):
            tokens[i, :len(ids)] = torch.tensor(ids)
            mask[i, :len(ids)] = True
        ids, offsets, values = sparse_bow(tokens, mask, opts.features, idf, opts.normalize)
        indptr = np.append(offsets.numpy(), len(ids))
        m = sp.csr_matrix((values.numpy(), ids.numpy(), indptr), shape=(len(ds.ids), V))
        return m, np.array(ds.labels)

    (xtr, ytr), (xdv, ydv), (xte, yte) = matrix(prep.train), matrix(prep.dev), matrix(prep.test)
    best = None
    for C in (0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0):  # wide enough that the choice is inside it
        start = time.perf_counter()
        clf = SkLR(C=C, max_iter=5000).fit(xtr, ytr)
        secs = time.perf_counter() - start
        dev = float((clf.predict(xdv) == ydv).mean())
        if best is None or dev > best["dev_acc"]:
            best = {"C": C, "dev_acc": dev, "test_acc": float((clf.predict(xte) == yte).mean()), "fit_s": secs}
    best["features"] = f"{opts.features}{', unit length' if opts.normalize else ''}"
    # the objective our rung minimises (mean CE + l2 * sum W^2) is sklearn's at C = 1 / (2 l2 N), run to convergence
    C = 1.0 / (2 * cfg.train.l2 * xtr.shape[0])
    clf = SkLR(C=C, max_iter=5000).fit(xtr, ytr)
    best["same_objective"] = {"C": C, "dev_acc": float((clf.predict(xdv) == ydv).mean()),
                              "test_acc": float((clf.predict(xte) == yte).mean())}
    return best


def lightning_overhead(data: Path, epochs: int = 3, rounds: int = 5, threads: int = 1, template: bool = False) -> dict:
    """Steps/second of the MLP rung: Lightning (our task and Trainer settings, no validation) vs a plain loop.

    Like for like: both do the same work per step (forward, cross-entropy, backward, optimizer step, and the
    running training loss and accuracy our task logs), on the same batches, with the same optimizer, one
    torch thread (as the ladder benchmark trains). The two alternate ``rounds`` times (plain, Lightning,
    plain, ...) and every epoch is timed on its own (Lightning's from its epoch-start to its epoch-end hook,
    so the Trainer's one-off set-up is left out and reported separately). The ratio is taken between the
    fastest epochs of each (as ``timeit`` takes the best run: other load on the machine only ever slows an
    epoch down) and, as a check, between the medians of all epochs.

    ``template=True``: the Lightning side is the run's real engine (``training.make_trainer``: every callback a
    ``dl4nlp train`` run has — checkpoints, early stopping, RNG state, divergence and monitor checks — with dev
    evaluated each epoch); an epoch's clock then stops at its last training batch, before validation.
    """
    import statistics

    import lightning as L
    import torch

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.classification import build_model, make_loader, prepare
    from dl4nlp.tasks.classification import ClassificationTask
    from dl4nlp.tasks.optim import make_optimizer

    torch.set_num_threads(threads)
    cfg = load_config(ROOT / "configs/ladder/mlp.yaml", ["data.dataset=sst2", f"data.path={data}"])
    prep = prepare(cfg)

    def loader():
        return make_loader(prep.train, cfg.train.batch_size, True, False, cfg.run.seed)

    def plain_loop() -> list[float]:
        torch.manual_seed(0)
        model = build_model(cfg, prep.vocab, 2)
        opt = make_optimizer(model.parameters(), cfg.train)
        rates = []
        for epoch in range(epochs):
            start, steps = time.perf_counter(), 0
            dl = loader()
            dl.batch_sampler.set_epoch(epoch)
            model.train()
            loss_sum, correct, seen = torch.zeros(()), torch.zeros((), dtype=torch.long), 0
            for b in dl:
                opt.zero_grad()
                logits = model(b["tokens"], b["mask"])
                loss = torch.nn.functional.cross_entropy(logits, b["label"])
                loss.backward()
                opt.step()
                loss_sum += loss.detach() * len(b["label"])
                correct += (logits.detach().argmax(-1) == b["label"]).sum()
                seen += len(b["label"])
                steps += 1
            _ = (loss_sum / seen).item(), (correct.float() / seen).item()
            rates.append(steps / (time.perf_counter() - start))
        return rates

    class EpochClock(L.Callback):
        def __init__(self):
            self.rates: list[float] = []

        def on_train_epoch_start(self, trainer, module):
            self.start, self.step0 = time.perf_counter(), trainer.global_step

        def on_train_epoch_end(self, trainer, module):
            self.rates.append((trainer.global_step - self.step0) / (time.perf_counter() - self.start))

    setup: list[float] = []

    class TrainClock(L.Callback):
        """Steps/s of each epoch's training batches (validation and checkpoints after them are left out)."""

        def __init__(self):
            self.rates: list[float] = []

        def on_train_epoch_start(self, trainer, module):
            self.start, self.step0 = time.perf_counter(), trainer.global_step

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
            self.last, self.steps = time.perf_counter(), trainer.global_step - self.step0

        def on_train_epoch_end(self, trainer, module):
            self.rates.append(self.steps / (self.last - self.start))

    def template_loop() -> list[float]:
        import tempfile

        from dl4nlp.engine.training import make_trainer

        torch.manual_seed(0)
        task = ClassificationTask(build_model(cfg, prep.vocab, 2), 2, cfg.train)
        clock = TrainClock()
        run_cfg = load_config(ROOT / "configs/ladder/mlp.yaml", [
            "data.dataset=sst2", f"data.path={data}", f"train.epochs={epochs}", "train.patience=0",
            "trainer.progress_bar=false", "trainer.accelerator=cpu"])
        with tempfile.TemporaryDirectory() as tmp:
            trainer = make_trainer(run_cfg, Path(tmp), callbacks=[clock])
            trainer.fit(task, loader(), make_loader(prep.dev, 256, False, False, cfg.run.seed))
        return clock.rates

    def lightning_loop() -> list[float]:
        if template:
            return template_loop()
        torch.manual_seed(0)
        task = ClassificationTask(build_model(cfg, prep.vocab, 2), 2, cfg.train)
        clock = EpochClock()
        trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False,
                            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                            limit_val_batches=0, num_sanity_val_steps=0, callbacks=[clock])
        start = time.perf_counter()
        trainer.fit(task, loader())
        setup.append(time.perf_counter() - start - sum(trainer.num_training_batches / r for r in clock.rates))
        return clock.rates

    plain, lit = [], []
    for _ in range(rounds):
        plain += plain_loop()
        lit += lightning_loop()
    return {"plain_steps_per_s": max(plain), "lightning_steps_per_s": max(lit), "ratio": max(lit) / max(plain),
            "plain_median": statistics.median(plain), "lightning_median": statistics.median(lit),
            "ratio_median": statistics.median(lit) / statistics.median(plain),
            "epochs": epochs, "rounds": rounds, "plain_epochs": plain, "lightning_epochs": lit,
            "batch_size": cfg.train.batch_size, "torch_threads": threads, "optimizer": cfg.train.optimizer,
            "fused": cfg.train.fused, "lightning_setup_s": statistics.median(setup) if setup else None,
            "engine": "dl4nlp.engine.training.make_trainer (every callback of a run)" if template else "bare L.Trainer"}


def same_objective(sk: dict) -> str:
    so, ours = sk.get("same_objective"), sk.get("ours_converged")
    if not so or not ours:
        return "— | —"
    return (f"{so['C']:.2f}: {100 * so['dev_acc']:.2f} / {100 * so['test_acc']:.2f} | "
            f"{100 * ours['dev_acc']:.2f} / {100 * ours['test_acc']:.2f} "
            f"({100 * (ours['test_acc'] - so['test_acc']):+.2f})")


def write_markdown(res: dict, path: Path) -> None:
    refs = {("sst2",): "NB 81.8 · SVM 79.4 · BiNB 83.1", ("sst5",): "NB 41.0 · SVM 40.7 · BiNB 41.9"}
    lines = [
        "## Rungs 1-2: bag-of-words logistic regression and MLP (SST)",
        "",
        f"Table written {res['date']}; runs on {res['machine']}. Data: `../shared/data/sst` (official splits; dev/test "
        "sentence-level). Metric: accuracy (%) of the best-on-dev checkpoint. Published references: Socher et "
        "al. 2013, Table 1 (trained on phrases). One torch thread per run (the script sets "
        "`OMP_NUM_THREADS=1`); the other core was running another training job while these ran.",
        "",
        "| model | dataset | training data | seeds | dev acc | test acc | test macro-F1 | params | train time (s) "
        "| epochs | published (test) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for runs in group(res["ladder"]):
        r = runs[0]
        lines.append(
            f"| {r['model']} | {r['dataset'].upper()} | {'phrases' if r['phrases'] else 'sentences'} "
            f"({r['train_examples']:,}) | {len(runs)} | {mean_std([x['dev_acc'] for x in runs])} | "
            f"**{mean_std([x['test_acc'] for x in runs])}** | {mean_std([x['test_f1'] for x in runs])} | "
            f"{r['params']:,} | {mean_std([x['train_time_s'] for x in runs], 1.0)} | "
            f"{'/'.join(str(x['epochs_run']) for x in runs)} | {refs[(r['dataset'],)]} |")
    days = sorted({r["date"][:10] for r in res["ladder"] if r.get("date")})
    lines += ["", f"Mean ± standard deviation over seeds 13, 14, 15; runs dated {', '.join(days)} (UTC, each "
              "run's `results.json`). Train time includes the dev evaluation after every epoch and checkpointing; "
              "epochs = epochs run before early stopping, per seed.", "",
              "Commands (from the repository root; the other seeds add `--set run.seed=14|15`):", "", "```"]
    lines += [runs[0]["command"] for runs in group(res["ladder"])]
    lines += ["```", ""]
    if res.get("sklearn"):
        lines += ["### Our logistic regression vs scikit-learn on the same features", "",
                  "Same vocabulary and the LR rung's own features (computed by `dl4nlp.models.bow.sparse_bow`), "
                  "sentence-level training; sklearn `LogisticRegression` (lbfgs, L2, C chosen on dev from "
                  "0.03/0.1/0.3/1/3/10/30).", "",
                  "| dataset | ours test acc | ours train time (s) | sklearn C | sklearn test acc | sklearn fit (s) "
                  "| difference (points) | time ratio ours/sklearn | sklearn at our objective: C, dev / test acc "
                  "| ours converged on it: dev / test acc (vs sklearn) |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        for ds, sk in res["sklearn"].items():
            ours = [r for r in res["ladder"] if r["model"] == "logreg" and r["dataset"] == ds and not r["phrases"]]
            acc = sum(r["test_acc"] for r in ours) / len(ours)
            secs = sum(r["train_time_s"] for r in ours) / len(ours)
            lines.append(f"| {ds.upper()} | {mean_std([r['test_acc'] for r in ours])} | {secs:.1f} | {sk['C']} | "
                         f"{100 * sk['test_acc']:.2f} | {sk['fit_s']:.1f} | {100 * (acc - sk['test_acc']):+.2f} | "
                         f"{secs / sk['fit_s']:.1f}x | {same_objective(sk)} |")
        lines += ["", "Our time includes Lightning start-up, dev evaluation every epoch and checkpointing; our rung "
                  "stops early at its best dev epoch. The last two columns run both to convergence on the objective "
                  "our rung minimises (mean cross-entropy + l2 * sum W^2, i.e. sklearn's C = 1 / (2 l2 N)): sklearn, "
                  "and our rung for 60 epochs without early stopping, keeping the checkpoint with the lowest "
                  "training loss:", ""]
        lines += ["    " + sk["ours_converged"]["command"] for sk in res["sklearn"].values() if "ours_converged" in sk]
        lines += [""]
    if res.get("overhead"):
        o = res["overhead"]
        lines += ["### Lightning overhead", "",
                  f"MLP rung on SST-2 train, batch {o['batch_size']}, {o['optimizer']} (fused: {o['fused']}), "
                  f"{o['torch_threads']} torch thread; the same work per step in both (forward, loss, backward, "
                  "optimizer step, running train loss and accuracy); "
                  f"{o['rounds']} alternating rounds of {o['epochs']} epochs each, every epoch timed on its own.",
                  "",
                  "| | plain PyTorch loop | Lightning (our task) | ratio |",
                  "|---|---|---|---|",
                  f"| fastest epoch (steps/s) | {o['plain_steps_per_s']:.1f} | {o['lightning_steps_per_s']:.1f} "
                  f"| **{o['ratio']:.2f}** |",
                  f"| median epoch (steps/s) | {o['plain_median']:.1f} | {o['lightning_median']:.1f} "
                  f"| {o['ratio_median']:.2f} |",
                  "",
                  f"Lightning's one-off set-up inside `fit` (not in the steps/s): {o['lightning_setup_s']:.2f} s. "
                  f"Per step it adds {1000 * (1 / o['lightning_steps_per_s'] - 1 / o['plain_steps_per_s']):.2f} ms "
                  f"(fastest epochs) to a plain step of {1000 / o['plain_steps_per_s']:.2f} ms.",
                  ""]
    lines += ["Reproduce: `python benchmarks/sentiment_bow.py`", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "sst")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-bow")
    ap.add_argument("--part", choices=["all", "ladder", "sklearn", "overhead", "overhead-template"], default="all")
    args = ap.parse_args()
    from dl4nlp.engine.training import machine_info

    bench_json = args.out / "bench.json"
    res = json.loads(bench_json.read_text()) if bench_json.is_file() else {}
    m = machine_info()
    res.update({"date": str(date.today()), "machine": f"{m['cpu_count']} CPU cores, {m['device']}, torch {m['torch']}"})
    if args.part in ("all", "ladder"):
        res["ladder"] = [run_cli(model, ds, ph, args.data, args.out, seed)
                         for ds in ("sst2", "sst5") for model in ("logreg", "mlp") for ph in (False, True)
                         for seed in SEEDS]
    if args.part in ("all", "sklearn"):
        res["sklearn"] = {ds: sklearn_comparison(ds, args.data) for ds in ("sst2", "sst5")}
        for ds, sk in res["sklearn"].items():
            conv = run_cli("logreg", ds, False, args.data, args.out, extra=CONVERGED, suffix="converged")
            sk["ours_converged"] = {k: conv[k] for k in ("dev_acc", "test_acc", "epochs_run", "command")}
    if args.part in ("all", "overhead"):
        res["overhead"] = lightning_overhead(args.data)
    if args.part in ("all", "overhead-template"):
        res["overhead_template"] = lightning_overhead(args.data, template=True)
    args.out.mkdir(parents=True, exist_ok=True)
    bench_json.write_text(json.dumps(res, indent=2))
    if "ladder" in res:
        write_markdown(res, ROOT / "benchmarks" / "results" / "sentiment_bow.md")
    print(json.dumps({k: v for k, v in res.items() if k != "ladder"}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
