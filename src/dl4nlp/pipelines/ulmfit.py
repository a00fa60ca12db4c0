"""``dl4nlp transfer CONFIG``: ULMFiT (Howard & Ruder 2018) in three stages, each recorded in the run folder.

    1-general-lm/   a general-domain LM (trained here from ``general.config``, or an existing run ``general.run``)
    2-target-lm/    that LM fine-tuned on the target task's training text (discriminative LR + STLR);
                    the vocabulary becomes the target text's; rows of words the general LM knew are copied,
                    new words start at the mean embedding (as in the paper)
    3-classifier/   the encoder + a concat-pooling head, trained on the labelled examples with gradual
                    unfreezing, discriminative learning rates and STLR
    results.json    every stage's scores; ``task: transfer``

``classifier.init: scratch`` trains the same classifier from random weights (all layers, same schedule) and skips
stages 1-2: the baseline of the "how many labels do I need" experiment (``benchmarks/ulmfit_imdb.sh``).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from dl4nlp.config import ExperimentConfig, _build_section, apply_overrides, from_dict, read_yaml
from dl4nlp.data.vocab import Vocab
from dl4nlp.errors import ConfigError, RunError
from dl4nlp.io import write_json, write_text
from dl4nlp.runs import fresh_folder, run_state, unfinished_run


@dataclass
class GeneralSection:
    run: str | None = None  # an existing LM run folder to start from
    config: str | None = None  # or an LM config to train (configs/lm/*.yaml)
    set: list[str] | None = None  # overrides for that config


@dataclass
class TargetSection:
    """Stage 2: LM fine-tuning on the classifier's training text (never dev or test text)."""

    skip: bool = False  # go straight from the general LM to the classifier
    run: str | None = None  # reuse the 2-target-lm folder of an earlier transfer run (same target text)
    max_tokens: int | None = 200_000  # cap on the target text (CPU budget)
    dev_fraction: float = 0.05  # of the target text, for the dev perplexity
    min_count: int = 2
    max_vocab: int | None = 20_000
    epochs: int = 1
    lr: float = 4e-3
    batch_size: int = 32
    bptt: int = 35
    clip_norm: float | None = 0.25
    factor: float = 2.6  # discriminative learning rates: eta_{l-1} = eta_l / factor
    cut_frac: float = 0.1  # STLR
    ratio: float = 32.0


@dataclass
class ClassifierSection:
    dataset: str = "imdb"  # any sentence-classification dataset of dl4nlp.registry.DATASETS
    path: str = "../shared/data/imdb"
    train_file: str | None = None  # dataset "table": file names under path
    dev_file: str | None = None
    test_file: str | None = None
    lowercase: bool = True
    max_length: int = 200  # tokens kept per example (the start of each review)
    max_train_examples: int | None = None  # number of labelled examples (seeded sample of train)
    max_dev_examples: int | None = 1000
    max_test_examples: int | None = None  # None: the whole test split
    init: str = "transfer"  # transfer | scratch
    unfreeze_every: int = 1  # epochs per unfrozen group (0: train everything from the start)
    head_hidden: int = 50
    head_dropout: float = 0.1
    epochs: int = 6
    lr: float = 4e-3
    batch_size: int = 32
    eval_batch_size: int = 128
    clip_norm: float | None = 0.25
    factor: float = 2.6
    cut_frac: float = 0.1
    ratio: float = 32.0
    patience: int = 0


@dataclass
class TransferConfig:
    general: GeneralSection = field(default_factory=GeneralSection)
    target: TargetSection = field(default_factory=TargetSection)
    classifier: ClassifierSection = field(default_factory=ClassifierSection)
    run: dict[str, Any] = field(default_factory=lambda: {"dir": "runs", "name": None, "seed": 13})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def transfer_config_from_dict(raw: dict[str, Any], source: str) -> TransferConfig:
    sections = {"general": GeneralSection, "target": TargetSection, "classifier": ClassifierSection}
    for key in raw:
        if key not in (*sections, "run"):
            raise ConfigError(f"{source}: unknown section '{key}' (known: classifier, general, run, target)")
    kw: dict[str, Any] = {
        k: _build_section(cls, raw.get(k) or {}, f"{source}: {k}") for k, cls in sections.items()
    }
    run = {"dir": "runs", "name": None, "seed": 13, **(raw.get("run") or {})}
    for key in run:
        if key not in ("dir", "name", "seed"):
            raise ConfigError(f"{source}: run: unknown key '{key}' (known keys: dir, name, seed)")
    cfg = TransferConfig(**kw, run=run)
    if cfg.classifier.init not in ("transfer", "scratch"):
        raise ConfigError(f"{source}: classifier.init: use transfer or scratch, not '{cfg.classifier.init}'")
    if cfg.classifier.init == "transfer" and not (cfg.general.run or cfg.general.config):
        raise ConfigError(f"{source}: general: give run (an LM run folder) or config (an LM config to train)")
    return cfg


def load_transfer_config(path: str | Path, overrides: list[str] | None = None) -> TransferConfig:
    raw = apply_overrides(read_yaml(path), overrides)
    return transfer_config_from_dict(raw, str(path))


# --------------------------------------------------------------------------- vocabulary transfer


def transfer_embeddings(
    old_vocab: Vocab, old_weight: torch.Tensor, new_vocab: Vocab
) -> tuple[torch.Tensor, int]:
    """Rows of ``old_weight`` [V_old, E] re-indexed for ``new_vocab``: a word found in the old vocabulary (as is,
    else lower-cased or capitalised) keeps its vector; new words get the mean vector. Returns (weight, #found)."""
    mean = old_weight.mean(0)
    out = mean.expand(len(new_vocab), -1).clone()  # [V_new, E]
    found = 0
    for i, w in enumerate(new_vocab.itos):
        for cand in (w, w.lower(), w.capitalize()):
            j = old_vocab.stoi.get(cand)
            if j is not None:
                out[i] = old_weight[j]
                found += 1
                break
    return out, found


def _lm_cfg_for(general: ExperimentConfig, data_path: str, seed: int, t: TargetSection) -> ExperimentConfig:
    raw = general.to_dict()
    raw["data"].update({"dataset": "text", "path": data_path, "bptt": t.bptt})
    raw["train"].update(
        {
            "optimizer": "adam",
            "lr": t.lr,
            "batch_size": t.batch_size,
            "eval_batch_size": 10,
            "epochs": t.epochs,
            "clip_norm": t.clip_norm,
            "schedule": "none",
            "patience": 0,
            "monitor": "dev_ppl",
            "mode": "min",
        }
    )
    raw["trainer"]["progress_bar"] = False
    raw["run"]["seed"] = seed
    return from_dict(raw, "<target lm>")


def _cls_cfg(cfg: TransferConfig) -> ExperimentConfig:
    c = cfg.classifier
    raw = {
        "data": {
            "dataset": c.dataset,
            "path": c.path,
            "lowercase": c.lowercase,
            "max_length": c.max_length,
            "max_train_examples": c.max_train_examples,
            "bucket": True,
            "train_file": c.train_file,
            "dev_file": c.dev_file,
            "test_file": c.test_file,
        },
        "model": {"name": "ulmfit"},
        "train": {
            "optimizer": "adam",
            "lr": c.lr,
            "batch_size": c.batch_size,
            "eval_batch_size": c.eval_batch_size,
            "epochs": c.epochs,
            "clip_norm": c.clip_norm,
            "patience": c.patience,
            "monitor": "dev_acc",
            "mode": "max",
        },
        "trainer": {"progress_bar": False},
        "run": {"seed": int(cfg.run["seed"])},
    }
    return from_dict(raw, "<classifier>")


# --------------------------------------------------------------------------- the three stages


def _stage_general(cfg: TransferConfig, path: Path) -> Path:
    from dl4nlp.config import load_config
    from dl4nlp.pipelines.language_model import train_lm

    if cfg.general.run:
        run = Path(cfg.general.run)
        if not (run / "best.ckpt").is_file():
            raise RunError(f"{run}: not a finished language-model run (no best.ckpt)")
        write_text(path / "1-general-lm.txt", f"reused run: {run.resolve()}\n")
        return run
    lm_cfg = load_config(cfg.general.config, cfg.general.set or [])
    stage = path / "1-general-lm"
    state = run_state(stage)
    if state == "finished":  # before the run was killed
        return stage
    return train_lm(lm_cfg, resume=stage) if state == "resumable" else train_lm(lm_cfg, run_dir=stage)


def _stage_checkpoint(stage: Path) -> Path | None:
    """The ``last.ckpt`` a killed run's stage continues from, or None for a stage to train afresh (a folder
    left before the stage's first checkpoint is removed: :func:`dl4nlp.runs.run_state`)."""
    return stage / "last.ckpt" if run_state(stage) != "new" else None


def _open_transfer_run(cfg: TransferConfig, resume: str | Path | None) -> Path:
    """The run folder: a fresh ``<run.dir>/<name>`` (``-2``, ``-3``... if taken) with config.yaml, or the
    unfinished run to continue (refused when it has finished)."""
    from dl4nlp.io import remove_stale_temporaries

    if resume is not None:
        path = unfinished_run(resume)
        if not (path / "config.yaml").is_file():
            raise RunError(f"{resume}: not a transfer run folder (no config.yaml)")
        for folder in (path, *[p for p in path.iterdir() if p.is_dir()]):
            remove_stale_temporaries(folder)
        return path
    c = cfg.classifier
    name = cfg.run.get("name") or f"ulmfit-{c.dataset}-{c.init}-n{c.max_train_examples or 'all'}-s{cfg.run['seed']}"
    path = fresh_folder(cfg.run["dir"], name)
    write_text(path / "config.yaml", __import__("yaml").safe_dump(cfg.to_dict(), sort_keys=False))
    return path


def _subsample(ds: Any, n: int | None, seed: int) -> Any:
    if n is None or n >= len(ds):
        return ds
    return ds.shuffle(seed=seed).select(range(n))


def run_transfer(cfg: TransferConfig, resume: str | Path | None = None) -> Path:
    """Run the stages of ``cfg``; returns the run folder (``results.json`` is written last).

    ``resume``: an unfinished run folder of this config. Stages that finished (their results.json) are
    reused, the stage that was running continues from its ``last.ckpt``, the rest are trained. Each stage's
    ``train_time_s`` counts its time before the kill; the run's ``train_time_s`` is this process's wall time
    plus the training time of the stages it reused from the killed one."""
    import time

    import lightning as L

    from dl4nlp.data.batching import EncodedDataset
    from dl4nlp.data.lm import build_lm_vocab, line_tokens, make_lm_loader
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.models.lm import LMOptions, RNNLanguageModel
    from dl4nlp.models.ulmfit import HeadOptions, ULMFiTClassifier
    from dl4nlp.pipelines.classification import make_loader, read_splits
    from dl4nlp.pipelines.language_model import LanguageModel
    from dl4nlp.runs import load_state_dict
    from dl4nlp.tasks.ulmfit import GradualUnfreezing, ULMFiTClassificationTask, ULMFiTLanguageModelTask
    from dl4nlp.training import count_parameters, fit, machine_info, make_trainer

    seed = int(cfg.run["seed"])
    c, t = cfg.classifier, cfg.target
    L.seed_everything(seed, workers=True, verbose=False)
    cls_cfg = _cls_cfg(cfg)
    splits = read_splits(cls_cfg)  # the labelled subset is a seeded sample of train (max_train_examples)
    splits.dev = _subsample(splits.dev, c.max_dev_examples, seed)
    splits.test = _subsample(splits.test, c.max_test_examples, seed)
    tok = Tokenizer(lowercase=c.lowercase)

    path = _open_transfer_run(cfg, resume)
    stages: dict[str, Any] = {}
    start = time.perf_counter()
    carried = 0.0  # training time of stages a killed process finished (reused here)

    lm_opts: LMOptions
    lm: RNNLanguageModel | None = None
    if c.init == "transfer":
        # ---- stage 1: general LM
        finished_before = (path / "1-general-lm" / "results.json").is_file() and not cfg.general.run
        general_run = _stage_general(cfg, path)
        general = LanguageModel(general_run)
        from dl4nlp.runs import read_results

        if finished_before:
            carried += (read_results(general_run) or {}).get("train_time_s", 0.0)

        stages["general_lm"] = {
            k: v
            for k, v in (read_results(general_run) or {}).items()
            if k in ("dataset", "dev_ppl", "test_ppl", "train_time_s", "params")
        }
        stages["general_lm"]["run"] = str(general_run)
        lm_opts = general.model.opts
        finished_stage = path / "2-target-lm"
        if t.skip:
            vocab, lm = general.vocab, general.model
        elif t.run or (finished_stage / "results.json").is_file():
            prev = Path(t.run) if t.run else finished_stage
            if not (prev / "best.ckpt").is_file() or not (prev / "vocab.json").is_file():
                raise RunError(f"{prev}: not a 2-target-lm folder (needs best.ckpt and vocab.json)")
            vocab = Vocab.load(prev / "vocab.json")
            lm = RNNLanguageModel(len(vocab), lm_opts)
            lm.load_state_dict(load_state_dict(prev, "best"))
            earlier = json.loads((prev / "results.json").read_text("utf-8"))
            if t.run:
                stages["target_lm"] = {"reused": str(prev), **earlier}
            else:  # this run's own stage, finished before the kill
                stages["target_lm"] = {k: v for k, v in earlier.items() if k != "task"}
                carried += earlier.get("train_time_s", 0.0)
        else:
            # ---- stage 2: target-task LM fine-tuning on the labelled split's TRAIN text (all of it: it is
            # unlabelled text as far as the LM is concerned; dev/test text is never seen)
            stage = path / "2-target-lm"
            resume_from = _stage_checkpoint(stage)
            stage.mkdir(exist_ok=True)
            stream: list[str] = []
            for x in splits_train_text(cls_cfg, seed):  # one <eos> per document; stop at max_tokens
                stream.extend(line_tokens(" ".join(tok(x))))
                if t.max_tokens and len(stream) >= t.max_tokens:
                    stream = stream[: t.max_tokens]
                    break
            n_dev = max(2 * 10 * 2, int(len(stream) * t.dev_fraction))
            train_toks, dev_toks = stream[:-n_dev], stream[-n_dev:]
            vocab = build_lm_vocab(train_toks, t.min_count, t.max_vocab)
            lm = RNNLanguageModel(len(vocab), lm_opts)
            old = general.model
            with torch.no_grad():
                emb, found = transfer_embeddings(general.vocab, old.embedding.weight, vocab)
                lm.embedding.weight.copy_(emb)
                lm.rnn.load_state_dict(old.rnn.state_dict())
                if lm.proj is not None and old.proj is not None:
                    lm.proj.load_state_dict(old.proj.state_dict())
                if old.decoder is not None and lm.decoder is not None:  # a full softmax output layer
                    if not lm_opts.tie_weights:
                        w_out, _ = transfer_embeddings(general.vocab, old.decoder.weight, vocab)
                        lm.decoder.weight.copy_(w_out)
                    b_out, _ = transfer_embeddings(general.vocab, old.decoder.bias[:, None], vocab)
                    lm.decoder.bias.copy_(b_out[:, 0])
                # an adaptive softmax's tied head rows come with the embedding; its clusters and tails start anew
            lm_cfg = _lm_cfg_for(general.cfg, str(stage), seed, t)
            task = ULMFiTLanguageModelTask(lm, lm_cfg.train, t.factor, t.cut_frac, t.ratio)
            ids = torch.tensor(vocab.encode(train_toks)), torch.tensor(vocab.encode(dev_toks))
            vocab.save(stage / "vocab.json")
            trainer = make_trainer(lm_cfg, stage, monitor="dev_ppl", mode="min", resuming=resume_from is not None)
            wall = fit(
                trainer,
                task,
                make_lm_loader(ids[0], t.batch_size, t.bptt, f"the target LM's training text ({c.dataset} train)"),
                make_lm_loader(ids[1], 10, t.bptt, f"the target LM's dev text (the last {t.dev_fraction:.0%} of it)"),
                resume_from,
            )
            best = trainer.checkpoint_callback.best_model_score
            stages["target_lm"] = {
                "dev_ppl": float(best) if best is not None else None,
                "train_tokens": len(train_toks),
                "dev_tokens": len(dev_toks),
                "vocab_size": len(vocab),
                "words_from_general_lm": found,
                "train_time_s": round(wall, 2),
                "tokens_per_second": round(task.tokens_seen / max(task.step_seconds, 1e-9), 1),
            }
            write_json(stage / "results.json", {"task": "lm", **stages["target_lm"]})
            state = load_state_dict(stage, "best")
            lm.load_state_dict(state)
    else:
        lm_opts = _scratch_lm_opts(cfg)
        train_text = [" ".join(tok(x)) for x in splits.train["text"]]
        vocab = build_lm_vocab([w for line in train_text for w in line_tokens(line)], 1, t.max_vocab)

    # ---- stage 3: classifier
    stage = path / "3-classifier"
    resume_from = _stage_checkpoint(stage)
    stage.mkdir(exist_ok=True)
    ml = c.max_length

    def enc(ds: Any) -> EncodedDataset:
        return EncodedDataset(
            [vocab.encode(tok(x)[:ml]) or [vocab.unk_id] for x in ds["text"]], list(ds["label"])
        )

    train_ds, dev_ds, test_ds = enc(splits.train), enc(splits.dev), enc(splits.test)
    model = ULMFiTClassifier(
        len(vocab), lm_opts, len(splits.labels), HeadOptions(c.head_hidden, c.head_dropout)
    )
    if lm is not None:
        model.load_encoder(lm)
    factor = c.factor if c.init == "transfer" else 1.0
    task = ULMFiTClassificationTask(model, len(splits.labels), cls_cfg.train, factor, c.cut_frac, c.ratio)
    unfreeze = GradualUnfreezing(c.unfreeze_every if c.init == "transfer" else 0)
    vocab.save(stage / "vocab.json")
    write_json(stage / "labels.json", splits.labels)
    trainer = make_trainer(cls_cfg, stage, callbacks=[unfreeze], resuming=resume_from is not None)
    wall = fit(
        trainer,
        task,
        make_loader(train_ds, c.batch_size, True, True, seed),
        make_loader(dev_ds, c.eval_batch_size, False, False, seed),
        resume_from,
    )
    from dl4nlp.training import best_checkpoint

    best = best_checkpoint(trainer, stage)
    dev = trainer.validate(
        task, make_loader(dev_ds, c.eval_batch_size, False, False, seed), ckpt_path=str(best), verbose=False
    )[0]
    test = trainer.test(
        task, make_loader(test_ds, c.eval_batch_size, False, False, seed), ckpt_path=str(best), verbose=False
    )[0]
    stages["classifier"] = {
        "init": c.init,
        "train_examples": len(train_ds),
        "dev_examples": len(dev_ds),
        "test_examples": len(test_ds),
        "dev_acc": dev["dev_acc"],
        "test_acc": test["test_acc"],
        "test_f1": test["test_f1"],
        "params": count_parameters(model),
        "unfrozen_groups_per_epoch": unfreeze.history,
        "train_time_s": round(wall, 2),
    }
    write_json(stage / "results.json", {"task": "sentiment", **stages["classifier"]})
    results = {
        "task": "transfer",
        "model": "ulmfit",
        "dataset": c.dataset,
        "init": c.init,
        "train_examples": len(train_ds),
        "dev_acc": dev["dev_acc"],
        "test_acc": test["test_acc"],
        "test_f1": test["test_f1"],
        "params": count_parameters(model),
        "train_time_s": round(carried + time.perf_counter() - start, 2),
        "stages": stages,
        "machine": machine_info(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["dl4nlp", *sys.argv[1:]]) if sys.argv and "dl4nlp" in sys.argv[0] else None,
    }
    write_json(path / "results.json", results)
    return path


def splits_train_text(cls_cfg: ExperimentConfig, seed: int) -> list[str]:
    """All training text of the target dataset (labels unused): the LM fine-tuning corpus."""
    from dl4nlp import registry

    reader = registry.dataset_reader(cls_cfg.data.dataset)
    return list(reader(cls_cfg.data, seed).train["text"])


def _scratch_lm_opts(cfg: TransferConfig) -> Any:
    """The scratch baseline uses the general LM's architecture (read from its config or run)."""
    from dl4nlp.config import load_config
    from dl4nlp.models.lm import LMOptions
    from dl4nlp.runs import load_config as run_config

    if cfg.general.run:
        lm_cfg = run_config(cfg.general.run)
    elif cfg.general.config:
        lm_cfg = load_config(cfg.general.config, cfg.general.set or [])
    else:
        return LMOptions()
    params = {k: v for k, v in lm_cfg.model_params.items()}
    params.setdefault("cell", "gru" if lm_cfg.model_name == "gru_lm" else "lstm")
    return LMOptions(**params)
