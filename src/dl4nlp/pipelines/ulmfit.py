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
from typing import TYPE_CHECKING, Any

import torch

from dl4nlp.core.config import ExperimentConfig, _build_section, apply_overrides, from_dict, read_yaml
from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.core.io import write_json, write_text
from dl4nlp.core.runs import fresh_folder, run_state, unfinished_run
from dl4nlp.data.vocab import Vocab

if TYPE_CHECKING:
    from dl4nlp.data.batching import EncodedDataset
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.models.lm import LMOptions, RNNLanguageModel
    from dl4nlp.pipelines.language_model import LanguageModel


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
    dataset: str = "imdb"  # any sentence-classification dataset of dl4nlp.core.registry.DATASETS
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
    from dl4nlp.core.config import load_config
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
    left before the stage's first checkpoint is removed: :func:`dl4nlp.core.runs.run_state`)."""
    return stage / "last.ckpt" if run_state(stage) != "new" else None


def _open_transfer_run(cfg: TransferConfig, resume: str | Path | None) -> Path:
    """The run folder: a fresh ``<run.dir>/<name>`` (``-2``, ``-3``... if taken) with config.yaml, or the
    unfinished run to continue (refused when it has finished)."""
    from dl4nlp.core.io import remove_stale_temporaries

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

    seed = int(cfg.run["seed"])
    L.seed_everything(seed, workers=True, verbose=False)
    cls_cfg = _cls_cfg(cfg)
    splits = _labelled_splits(cfg, cls_cfg, seed)
    path = _open_transfer_run(cfg, resume)
    stages: dict[str, Any] = {}
    start = time.perf_counter()
    carried = 0.0  # training time of stages a killed process finished (reused here)
    lm: RNNLanguageModel | None = None
    if cfg.classifier.init == "transfer":
        general, stages["general_lm"], reused_s = _general_lm_stage(cfg, path)  # 1: general LM
        carried += reused_s
        vocab, lm, target_lm, reused_s = _target_lm_stage(cfg, cls_cfg, path, general)  # 2: target LM
        carried += reused_s
        if target_lm is not None:  # None: target.skip
            stages["target_lm"] = target_lm
        lm_opts = general.model.opts
    else:  # the scratch baseline: no stages 1-2
        lm_opts = _scratch_lm_opts(cfg)
        vocab = _scratch_vocab(cfg, splits)
    stages["classifier"] = _classifier_stage(cfg, cls_cfg, path, splits, vocab, lm_opts, lm)  # 3: classifier
    write_json(path / "results.json", _transfer_results(cfg, stages, carried + time.perf_counter() - start))
    return path


def _labelled_splits(cfg: TransferConfig, cls_cfg: ExperimentConfig, seed: int) -> Any:
    """The classifier's splits: train a seeded sample of ``max_train_examples`` (read_splits), dev and test
    seeded samples of ``max_dev_examples`` and ``max_test_examples``."""
    from dl4nlp.pipelines.classification import read_splits

    c = cfg.classifier
    splits = read_splits(cls_cfg)
    splits.dev = _subsample(splits.dev, c.max_dev_examples, seed)
    splits.test = _subsample(splits.test, c.max_test_examples, seed)
    return splits


def _general_lm_stage(cfg: TransferConfig, path: Path) -> tuple[LanguageModel, dict[str, Any], float]:
    """Stage 1 (trained, continued or reused: :func:`_stage_general`) loaded, with its scores for
    ``stages.general_lm`` and its training time when a killed process of this run had finished it (else 0)."""
    from dl4nlp.core.runs import read_results
    from dl4nlp.pipelines.language_model import LanguageModel

    finished_before = (path / "1-general-lm" / "results.json").is_file() and not cfg.general.run
    general_run = _stage_general(cfg, path)
    general = LanguageModel(general_run)
    reused_s = (read_results(general_run) or {}).get("train_time_s", 0.0) if finished_before else 0.0
    scores = {
        k: v
        for k, v in (read_results(general_run) or {}).items()
        if k in ("dataset", "dev_ppl", "test_ppl", "train_time_s", "params")
    }
    scores["run"] = str(general_run)
    return general, scores, reused_s


def _target_lm_stage(
    cfg: TransferConfig, cls_cfg: ExperimentConfig, path: Path, general: LanguageModel
) -> tuple[Vocab, RNNLanguageModel, dict[str, Any] | None, float]:
    """Stage 2: (vocabulary, LM) the classifier's encoder starts from, the scores for ``stages.target_lm``
    (None with ``target.skip``: the general LM as it is) and the training time of a stage reused from a killed
    process of this run (else 0). ``target.run`` or this run's finished stage is reused, else it is trained."""
    t = cfg.target
    finished_stage = path / "2-target-lm"
    if t.skip:
        return general.vocab, general.model, None, 0.0
    if t.run or (finished_stage / "results.json").is_file():
        return _reuse_target_lm(Path(t.run) if t.run else finished_stage, bool(t.run), general.model.opts)
    vocab, lm, scores = _train_target_lm(cfg, cls_cfg, finished_stage, general)
    return vocab, lm, scores, 0.0


def _reuse_target_lm(
    prev: Path, other_run: bool, lm_opts: LMOptions
) -> tuple[Vocab, RNNLanguageModel, dict[str, Any], float]:
    """A finished 2-target-lm folder loaded: that of an earlier transfer run (``other_run``: its scores are
    recorded as ``reused``) or this run's own, finished before the kill (its training time is carried)."""
    from dl4nlp.core.runs import load_state_dict
    from dl4nlp.models.lm import RNNLanguageModel

    if not (prev / "best.ckpt").is_file() or not (prev / "vocab.json").is_file():
        raise RunError(f"{prev}: not a 2-target-lm folder (needs best.ckpt and vocab.json)")
    vocab = Vocab.load(prev / "vocab.json")
    lm = RNNLanguageModel(len(vocab), lm_opts)
    lm.load_state_dict(load_state_dict(prev, "best"))
    earlier = json.loads((prev / "results.json").read_text("utf-8"))
    if other_run:
        return vocab, lm, {"reused": str(prev), **earlier}, 0.0
    return vocab, lm, {k: v for k, v in earlier.items() if k != "task"}, earlier.get("train_time_s", 0.0)


def _train_target_lm(
    cfg: TransferConfig, cls_cfg: ExperimentConfig, stage: Path, general: LanguageModel
) -> tuple[Vocab, RNNLanguageModel, dict[str, Any]]:
    """Stage 2 trained (or continued from its ``last.ckpt``): the general LM fine-tuned on the labelled split's
    TRAIN text (all of it: it is unlabelled text as far as the LM is concerned; dev/test text is never seen) with
    discriminative learning rates and STLR; returns its vocabulary, its best weights and its scores."""
    from dl4nlp.core.runs import load_state_dict
    from dl4nlp.data.lm import build_lm_vocab, make_lm_loader
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.engine.training import fit, make_trainer
    from dl4nlp.tasks.ulmfit import ULMFiTLanguageModelTask

    seed, t, c = int(cfg.run["seed"]), cfg.target, cfg.classifier
    resume_from = _stage_checkpoint(stage)
    stage.mkdir(exist_ok=True)
    train_toks, dev_toks = _target_text(cls_cfg, seed, t, Tokenizer(lowercase=c.lowercase))
    vocab = build_lm_vocab(train_toks, t.min_count, t.max_vocab)
    lm, found = _init_target_lm(general, vocab)
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
    scores = {
        "dev_ppl": float(best) if best is not None else None,
        "train_tokens": len(train_toks),
        "dev_tokens": len(dev_toks),
        "vocab_size": len(vocab),
        "words_from_general_lm": found,
        "train_time_s": round(wall, 2),
        "tokens_per_second": round(task.tokens_seen / max(task.step_seconds, 1e-9), 1),
    }
    write_json(stage / "results.json", {"task": "lm", **scores})
    lm.load_state_dict(load_state_dict(stage, "best"))
    return vocab, lm, scores


def _target_text(
    cls_cfg: ExperimentConfig, seed: int, t: TargetSection, tok: Tokenizer
) -> tuple[list[str], list[str]]:
    """(train, dev) tokens of the target LM: the target dataset's training text, one ``<eos>`` per document,
    cut at ``max_tokens``; the last ``dev_fraction`` of it is the dev text."""
    from dl4nlp.data.lm import line_tokens

    stream: list[str] = []
    for x in splits_train_text(cls_cfg, seed):  # one <eos> per document; stop at max_tokens
        stream.extend(line_tokens(" ".join(tok(x))))
        if t.max_tokens and len(stream) >= t.max_tokens:
            stream = stream[: t.max_tokens]
            break
    n_dev = max(2 * 10 * 2, int(len(stream) * t.dev_fraction))
    return stream[:-n_dev], stream[-n_dev:]


def _init_target_lm(general: LanguageModel, vocab: Vocab) -> tuple[RNNLanguageModel, int]:
    """The target LM on ``vocab`` started from the general LM: embedding rows by word
    (:func:`transfer_embeddings`), the RNN and projection as they are, a full softmax's output layer row by row.
    Returns (LM, number of words the general LM knew)."""
    from dl4nlp.models.lm import RNNLanguageModel

    lm_opts, old = general.model.opts, general.model
    lm = RNNLanguageModel(len(vocab), lm_opts)
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
    return lm, found


def _scratch_vocab(cfg: TransferConfig, splits: Any) -> Vocab:
    """The scratch baseline's vocabulary: every word of the labelled training text (up to ``target.max_vocab``)."""
    from dl4nlp.data.lm import build_lm_vocab, line_tokens
    from dl4nlp.data.tokenize import Tokenizer

    tok = Tokenizer(lowercase=cfg.classifier.lowercase)
    train_text = [" ".join(tok(x)) for x in splits.train["text"]]
    return build_lm_vocab([w for line in train_text for w in line_tokens(line)], 1, cfg.target.max_vocab)


def _classifier_stage(
    cfg: TransferConfig,
    cls_cfg: ExperimentConfig,
    path: Path,
    splits: Any,
    vocab: Vocab,
    lm_opts: LMOptions,
    lm: RNNLanguageModel | None,
) -> dict[str, Any]:
    """Stage 3 trained (or continued from its ``last.ckpt``): the encoder of ``lm`` (random weights when None)
    + a concat-pooling head, with gradual unfreezing, discriminative learning rates and STLR (a scratch
    classifier trains all layers with one learning rate); returns its scores at its best checkpoint."""
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.engine.training import count_parameters, fit, make_trainer
    from dl4nlp.models.ulmfit import HeadOptions, ULMFiTClassifier
    from dl4nlp.pipelines.classification import make_loader
    from dl4nlp.tasks.ulmfit import GradualUnfreezing, ULMFiTClassificationTask

    c, seed = cfg.classifier, int(cfg.run["seed"])
    stage = path / "3-classifier"
    resume_from = _stage_checkpoint(stage)
    stage.mkdir(exist_ok=True)
    train_ds, dev_ds, test_ds = _encode_labelled(splits, vocab, Tokenizer(lowercase=c.lowercase), c.max_length)
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
    dev, test = _best_checkpoint_scores(trainer, task, stage, dev_ds, test_ds, c.eval_batch_size, seed)
    scores = {
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
    write_json(stage / "results.json", {"task": "sentiment", **scores})
    return scores


def _encode_labelled(
    splits: Any, vocab: Vocab, tok: Tokenizer, max_length: int
) -> tuple[EncodedDataset, EncodedDataset, EncodedDataset]:
    """(train, dev, test) as word ids: the first ``max_length`` tokens of each text (``<unk>`` if none)."""
    from dl4nlp.data.batching import EncodedDataset

    def enc(ds: Any) -> EncodedDataset:
        return EncodedDataset(
            [vocab.encode(tok(x)[:max_length]) or [vocab.unk_id] for x in ds["text"]], list(ds["label"])
        )

    return enc(splits.train), enc(splits.dev), enc(splits.test)


def _best_checkpoint_scores(
    trainer: Any, task: Any, stage: Path, dev_ds: EncodedDataset, test_ds: EncodedDataset, batch_size: int, seed: int
) -> tuple[dict[str, float], dict[str, float]]:
    """The dev and test scores of the stage's best checkpoint."""
    from dl4nlp.engine.training import best_checkpoint
    from dl4nlp.pipelines.classification import make_loader

    best = best_checkpoint(trainer, stage)
    dev = trainer.validate(
        task, make_loader(dev_ds, batch_size, False, False, seed), ckpt_path=str(best), verbose=False
    )[0]
    test = trainer.test(
        task, make_loader(test_ds, batch_size, False, False, seed), ckpt_path=str(best), verbose=False
    )[0]
    return dev, test


def _transfer_results(cfg: TransferConfig, stages: dict[str, Any], train_time_s: float) -> dict[str, Any]:
    """The run's results.json: the classifier's scores, every stage's record, and the provenance."""
    from dl4nlp.engine.training import machine_info

    c, cls = cfg.classifier, stages["classifier"]
    return {
        "task": "transfer",
        "model": "ulmfit",
        "dataset": c.dataset,
        "init": c.init,
        "train_examples": cls["train_examples"],
        "dev_acc": cls["dev_acc"],
        "test_acc": cls["test_acc"],
        "test_f1": cls["test_f1"],
        "params": cls["params"],
        "train_time_s": round(train_time_s, 2),
        "stages": stages,
        "machine": machine_info(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["dl4nlp", *sys.argv[1:]]) if sys.argv and "dl4nlp" in sys.argv[0] else None,
    }


def splits_train_text(cls_cfg: ExperimentConfig, seed: int) -> list[str]:
    """All training text of the target dataset (labels unused): the LM fine-tuning corpus."""
    from dl4nlp.core import registry

    reader = registry.dataset_reader(cls_cfg.data.dataset)
    return list(reader(cls_cfg.data, seed).train["text"])


def _scratch_lm_opts(cfg: TransferConfig) -> Any:
    """The scratch baseline uses the general LM's architecture (read from its config or run)."""
    from dl4nlp.core.config import load_config
    from dl4nlp.core.runs import load_config as run_config
    from dl4nlp.models.lm import LMOptions

    if cfg.general.run:
        lm_cfg = run_config(cfg.general.run)
    elif cfg.general.config:
        lm_cfg = load_config(cfg.general.config, cfg.general.set or [])
    else:
        return LMOptions()
    params = {k: v for k, v in lm_cfg.model_params.items()}
    params.setdefault("cell", "gru" if lm_cfg.model_name == "gru_lm" else "lstm")
    return LMOptions(**params)
