"""Named-entity recognition end to end: CoNLL files -> tag scheme -> vocabularies -> BiLSTM(-CRF) tagger ->
Lightning -> run folder -> entity-level scores and tagged sentences.

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.tagging import PIPELINE

    run = PIPELINE.train(load_config("configs/ner/bilstm_crf_charcnn.yaml"))
    tagger = PIPELINE.load(run)
    [p] = tagger.predict(["Angela Merkel visited Paris"])
    p.label                  # "Angela/B-PER Merkel/E-PER visited/O Paris/S-LOC"
    p.extra["entities"]      # [{"text": "Angela Merkel", "type": "PER", "start": 0, "end": 1}, ...]
    PIPELINE.evaluate(run, split="test")           # entity P / R / F1 (seqeval strict), per type
    PIPELINE.evaluate(run, data="eng.testb")       # any CoNLL file, IOB1 / IOB2 / BIOES

``data.dataset: conll2003`` reads ``<data.path>/{train,valid,test}.txt`` (``data.train_file`` / ``dev_file`` /
``test_file`` name other files, e.g. the original ``eng.train`` / ``eng.testa`` / ``eng.testb``). Tags are
converted to ``model.scheme`` (BIOES by default) for training and scoring. Words are looked up lowercased
(GloVe 6B is uncased); the characters and the casing feature keep the case. The word vocabulary is the
training words plus, with ``model.extend_vocab``, the dev/test words that have a pretrained vector (no
label is read for that). A run folder holds ``vocab.json``, ``chars.json`` and ``labels.json`` besides the
usual files; ``results.json`` has ``dev_f1`` / ``test_f1`` (entity level) and ``test_per_type``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.core.io import write_json
from dl4nlp.data.conll import CASINGS, TaggedSentence, casing, convert, entity_spans, read_conll
from dl4nlp.data.vocab import Vocab
from dl4nlp.pipelines.base import Pipeline, Prediction

#: ``model.name`` -> tagger class (the NER ladder, bottom rung first; one class, presets per name)
NER_MODELS: dict[str, str] = {
    "bilstm_softmax": "dl4nlp.models.tagging:BiLSTMSoftmax",
    "bilstm_crf": "dl4nlp.models.tagging:BiLSTMCRF",
    "bilstm_crf_charcnn": "dl4nlp.models.tagging:BiLSTMCRFCharCNN",
    "bilstm_crf_charlstm": "dl4nlp.models.tagging:BiLSTMCRFCharLSTM",
    "minilm_tagger": "dl4nlp.models.tagging:MiniLMTagger",
}
DATASETS = ("conll2003",)
SPLIT_FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}

# --------------------------------------------------------------------------- data


def model_class(name: str) -> Any:
    from dl4nlp.core.registry import resolve

    return resolve(NER_MODELS, name, "NER model")


def options(cfg: ExperimentConfig) -> Any:
    return model_class(cfg.model_name).options(cfg.model_params, "model")


def split_path(cfg: ExperimentConfig, split: str) -> Path:
    d = cfg.data
    if d.dataset not in DATASETS:
        raise ConfigError(f"data.dataset: NER models read {', '.join(DATASETS)} (CoNLL files), not '{d.dataset}'")
    name = {"train": d.train_file, "dev": d.dev_file, "test": d.test_file}[split] or SPLIT_FILES[split]
    return Path(d.path) / name


def read_tagged(path: str | Path, opts: Any) -> list[TaggedSentence]:
    """A CoNLL file's sentences with their tags in ``opts.scheme`` (see :func:`dl4nlp.data.conll.convert`)."""
    sents = read_conll(path, opts.tag_column)
    return convert(sents, opts.input_scheme, opts.scheme, opts.on_invalid, where=str(path))


def label_set(sentences: list[TaggedSentence], scheme: str) -> list[str]:
    """``O`` then every prefix of the scheme for each entity type seen, types sorted (so the CRF's
    constraints see every tag the scheme allows)."""
    kinds = sorted({t.split("-", 1)[1] for s in sentences for t in s.tags if t != "O"})
    prefixes = "BIES" if scheme == "bioes" else "BI"
    return ["O"] + [f"{p}-{k}" for k in kinds for p in prefixes]


@dataclass
class Encoder:
    """Words (lowercased) -> ids, characters -> ids, tags -> ids; what a run folder needs to tag text."""

    words: Vocab
    chars: Vocab
    labels: list[str]
    max_chars: int = 30
    tokenizer: Any = None  # a transformer tagger's word-piece tokenizer
    max_pieces: int = 256

    def encode(self, tokens: list[str], tags: list[str] | None = None) -> dict[str, Any]:
        item = {"words": self.words.encode([t.lower() for t in tokens]),
                "chars": [self.chars.encode(list(t[: self.max_chars])) or [1] for t in tokens],
                "casing": [casing(t) for t in tokens]}
        if self.tokenizer is not None:
            item.update(self.pieces(tokens))
        if tags is not None:
            index = {lab: i for i, lab in enumerate(self.labels)}
            item["tags"] = [index[t] for t in tags]
        return item

    def pieces(self, tokens: list[str]) -> dict[str, list[int]]:
        """Word pieces ``[CLS] ... [SEP]`` and the position of each word's first piece (a word left without a
        piece, cut by ``max_pieces`` or made of characters the tokenizer drops, points at ``[SEP]``)."""
        enc = self.tokenizer(tokens, is_split_into_words=True, truncation=True, max_length=self.max_pieces)
        ids = enc["input_ids"]
        first = [-1] * len(tokens)
        for j, w in enumerate(enc.word_ids()):
            if w is not None and first[w] < 0:
                first[w] = j
        return {"pieces": ids, "first": [f if f >= 0 else len(ids) - 1 for f in first]}

    def save(self, run_dir: Path) -> None:
        self.words.save(run_dir / "vocab.json")
        self.chars.save(run_dir / "chars.json")
        write_json(run_dir / "labels.json", self.labels)

    @classmethod
    def load(cls, run_dir: Path, opts: Any) -> Encoder:
        labels = run_dir / "labels.json"
        if not labels.is_file():
            raise RunError(f"{labels}: not found (is the run finished?)")
        return with_tokenizer(cls(Vocab.load(run_dir / "vocab.json"), Vocab.load(run_dir / "chars.json"),
                                  json.loads(labels.read_text(encoding="utf-8"))), opts)


def with_tokenizer(encoder: Encoder, opts: Any) -> Encoder:
    """``encoder`` with the options' character limit, and the word-piece tokenizer of a transformer tagger."""
    encoder.max_chars = getattr(opts, "max_word_chars", encoder.max_chars)
    if hasattr(opts, "checkpoint"):
        from dl4nlp.models.transformer import load_tokenizer

        encoder.tokenizer, encoder.max_pieces = load_tokenizer(opts.checkpoint), opts.max_pieces
    return encoder


def collate_tagged(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Pad a list of encoded sentences: ``words``, ``casing``, ``tags`` [B, T], ``chars`` [B, T, C], ``mask``."""
    B, T = len(items), max(len(it["words"]) for it in items)
    C = max(len(c) for it in items for c in it["chars"])
    batch = {"words": torch.zeros(B, T, dtype=torch.long), "casing": torch.zeros(B, T, dtype=torch.long),
             "chars": torch.zeros(B, T, C, dtype=torch.long), "mask": torch.zeros(B, T, dtype=torch.bool),
             "tags": torch.zeros(B, T, dtype=torch.long)}
    if "pieces" in items[0]:
        batch.update(pad_pieces(items))
    for b, it in enumerate(items):
        n = len(it["words"])
        batch["words"][b, :n] = torch.tensor(it["words"])
        batch["casing"][b, :n] = torch.tensor(it["casing"])
        batch["mask"][b, :n] = True
        if "tags" in it:
            batch["tags"][b, :n] = torch.tensor(it["tags"])
        for t, c in enumerate(it["chars"]):
            batch["chars"][b, t, : len(c)] = torch.tensor(c)
    return batch


def pad_pieces(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """``pieces`` / ``piece_mask`` [B, P] (pad id 0, BERT's) and ``first`` [B, T] of a transformer tagger."""
    B, P, T = len(items), max(len(it["pieces"]) for it in items), max(len(it["words"]) for it in items)
    out = {"pieces": torch.zeros(B, P, dtype=torch.long), "piece_mask": torch.zeros(B, P, dtype=torch.bool),
           "first": torch.zeros(B, T, dtype=torch.long)}
    for b, it in enumerate(items):
        out["pieces"][b, : len(it["pieces"])] = torch.tensor(it["pieces"])
        out["piece_mask"][b, : len(it["pieces"])] = True
        out["first"][b, : len(it["first"])] = torch.tensor(it["first"])
    return out


def check_labels(sentences: list[TaggedSentence], labels: list[str], path: Path) -> None:
    known = set(labels)
    for s in sentences:
        for tag, line in zip(s.tags, s.lines, strict=True):
            if tag not in known:
                raise DataError(f"{path}:{line}: tag '{tag}' never occurs in the training data")


def make_loader(items: list[dict[str, Any]], batch_size: int, shuffle: bool, seed: int) -> Any:
    from dl4nlp.data.batching import make_loader as bucketed_loader

    return bucketed_loader(items, [len(it["words"]) for it in items], collate_tagged, batch_size, shuffle, shuffle,
                           seed)


@dataclass
class Prepared:
    encoder: Encoder
    train: list[dict[str, Any]]
    dev: list[dict[str, Any]]
    test: list[dict[str, Any]]
    train_tokens: int


def prepare(cfg: ExperimentConfig, encoder: Encoder | None = None) -> Prepared:
    """Read the three splits, build (or reuse) the vocabularies and labels, encode every sentence."""
    opts = options(cfg)
    paths = {split: split_path(cfg, split) for split in SPLIT_FILES}
    sents = {split: read_tagged(path, opts) for split, path in paths.items()}
    if cfg.data.max_train_examples:
        sents["train"] = sents["train"][: cfg.data.max_train_examples]
    if encoder is None:
        words = Vocab.build([[t.lower() for t in s.tokens] for s in sents["train"]], cfg.data.min_count,
                            cfg.data.max_vocab)
        if getattr(opts, "extend_vocab", False) and opts.embeddings != "random":
            from dl4nlp import embeddings

            vectors = embeddings.load_vectors(opts.embeddings)
            extra = sorted({t.lower() for split in ("dev", "test") for s in sents[split] for t in s.tokens}
                           - set(words.itos))
            words = Vocab([*words.itos, *(w for w in extra if w in vectors)])
        chars = Vocab.build([list(t) for s in sents["train"] for t in s.tokens])
        encoder = with_tokenizer(Encoder(words, chars, label_set(sents["train"], opts.scheme)), opts)
    for split in ("dev", "test"):
        check_labels(sents[split], encoder.labels, paths[split])
    enc = {split: [encoder.encode(s.tokens, s.tags) for s in ss] for split, ss in sents.items()}
    return Prepared(encoder, enc["train"], enc["dev"], enc["test"], sum(len(s.tokens) for s in sents["train"]))


def build_model(cfg: ExperimentConfig, encoder: Encoder, state: dict[str, Any] | None = None) -> torch.nn.Module:
    """The tagger of ``cfg``; its word table starts from the vectors of ``model.embeddings``, except for a
    loaded run (``state``: its checkpoint has the trained table, whose shape is taken from there)."""
    opts = options(cfg)
    if hasattr(opts, "checkpoint"):  # a transformer tagger: the encoder comes from its checkpoint
        return model_class(cfg.model_name)(encoder.labels, opts)
    matrix = None
    if state is not None and opts.embeddings != "random":
        matrix = torch.zeros_like(state["words.weight"])
    elif opts.embeddings != "random":
        from dl4nlp.models.recurrent import pretrained_vectors

        matrix, _ = pretrained_vectors(opts.embeddings, encoder.words)
    return model_class(cfg.model_name)(len(encoder.words), len(encoder.chars), encoder.labels, opts, matrix)


# --------------------------------------------------------------------------- training


def train_tagger(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
                 callbacks: list | None = None, run_dir: str | Path | None = None) -> Path:
    """Train one tagger with the shared engine (early stopping on dev entity F1, best/last checkpoints, exact
    resume) and write its run folder; returns the folder."""
    import lightning as L

    from dl4nlp.core.runs import save_config
    from dl4nlp.engine.training import finish_distributed, fit, make_trainer, open_run_dir, resume_checkpoint
    from dl4nlp.tasks.tagging import TaggingTask

    opts = options(cfg)  # unknown names and keys fail before any data is read
    if cfg.train.monitor == "dev_acc":  # the engine's default; a tagger selects on entity F1
        cfg.train.monitor = PIPELINE.monitor
    resume_ckpt = resume_checkpoint(resume)
    encoder = Encoder.load(Path(resume), opts) if resume is not None else None
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    prep = prepare(cfg, encoder)
    model = build_model(cfg, prep.encoder)
    task = TaggingTask(model, opts.scheme, cfg.train, cfg.to_dict())
    t = cfg.train
    train_loader = make_loader(prep.train, t.batch_size, True, cfg.run.seed)
    dev_loader = make_loader(prep.dev, t.eval_batch_size, False, cfg.run.seed)

    path = open_run_dir(cfg, resume, run_dir)
    save_config(path, cfg)
    prep.encoder.save(path)
    trainer = make_trainer(cfg, path, callbacks=callbacks, resuming=resume_ckpt is not None)
    wall = fit(trainer, task, train_loader, dev_loader, resume_ckpt)
    if trainer.interrupted or not finish_distributed(trainer):  # interrupted, or a DDP rank other than 0
        return path
    return finish_run(cfg, path, task, trainer, wall, prep, evaluate_test)


def finish_run(cfg: ExperimentConfig, path: Path, task: Any, trainer: Any, wall: float, prep: Prepared,
               evaluate_test: bool) -> Path:
    """Score the best checkpoint on dev (and test), then write results.json and the learning curves."""
    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import write_results
    from dl4nlp.engine.training import best_checkpoint, count_parameters, make_eval_trainer, provenance, time_to_best

    best = best_checkpoint(trainer, path)
    evaluator = make_eval_trainer(cfg)
    t = cfg.train
    dev = evaluator.validate(task, make_loader(prep.dev, t.eval_batch_size, False, 0), ckpt_path=str(best),
                             verbose=False)[0]
    epochs = max(1, trainer.current_epoch)
    results: dict[str, Any] = {
        "task": PIPELINE.task, "model": cfg.model_name, "dataset": cfg.data.dataset,
        **{k: float(dev[k]) for k in ("dev_f1", "dev_precision", "dev_recall", "dev_loss")},
        "train_time_s": round(wall, 2), "epochs_run": trainer.current_epoch, **time_to_best(trainer),
        "best_checkpoint": best.name, "params": count_parameters(task.model),
        "train_sentences": len(prep.train), "train_tokens_per_s": round(prep.train_tokens * epochs / wall, 1),
        "vocab_size": len(prep.encoder.words), "labels": prep.encoder.labels,
        "hyper_parameters": cfg.key_hyper_parameters(), **provenance(),
    }
    if evaluate_test:
        test = evaluator.test(task, make_loader(prep.test, t.eval_batch_size, False, 0), ckpt_path=str(best),
                              verbose=False)[0]
        results.update({k: float(test[k]) for k in ("test_f1", "test_precision", "test_recall", "test_loss")})
        results["test_per_type"] = task.report.get("per_type", {})
        results["test_type_confusion"] = task.report.get("type_confusion", {})
    if (path / "metrics.csv").is_file():
        plots.learning_curves(path / "metrics.csv", path / "learning_curves.png", f"{cfg.model_name} on CoNLL",
                              pairs=(("loss", "train_loss", "dev_loss"), ("entity F1", "dev_precision", "dev_f1")))
    write_results(path, results)
    return path


# --------------------------------------------------------------------------- loading, tagging, scoring


class TaggerPredictor:
    """A trained tagger loaded for inference (no Lightning, no word-vector file needed).

    ``predict(sentences)``: one :class:`Prediction` per sentence; ``label`` is the tagged sentence
    (``word/TAG`` ...), ``extra`` holds ``tokens``, ``tags`` and ``entities`` (text, type, start, end)."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        from dl4nlp.core.runs import load_config, load_state_dict, load_weights

        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        if self.cfg.model_name not in NER_MODELS:
            raise RunError(f"{self.run_dir}: not an NER run (model '{self.cfg.model_name}')")
        self.opts = options(self.cfg)
        self.encoder = Encoder.load(self.run_dir, self.opts)
        state = load_state_dict(self.run_dir, which)
        self.model = load_weights(build_model(self.cfg, self.encoder, state), self.run_dir, state)

    @torch.no_grad()
    def tag(self, sentences: list[list[str]], batch_size: int = 256) -> list[list[str]]:
        """The predicted tags (``model.scheme``) of already tokenised sentences."""
        out: list[list[str]] = []
        for i in range(0, len(sentences), batch_size):
            chunk = sentences[i: i + batch_size]
            batch = collate_tagged([self.encoder.encode(s) for s in chunk])
            ids = self.model.decode(batch)  # [B, T]
            out += [[self.encoder.labels[j] for j in row[: len(s)]] for row, s in zip(ids.tolist(), chunk,
                                                                                       strict=True)]
        return out

    def predict(self, inputs: list[str]) -> list[Prediction]:
        from dl4nlp.data.tokenize import Tokenizer

        for i, text in enumerate(inputs):
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"input {i + 1}: empty text")
        tokenize = Tokenizer(lowercase=False)
        tokens = [tokenize(text) or text.split() for text in inputs]
        preds = []
        for text, toks, tags in zip(inputs, tokens, self.tag(tokens), strict=True):
            ents = [{"text": " ".join(toks[a: b + 1]), "type": k, "start": a, "end": b}
                    for k, a, b in entity_spans(tags)]
            label = " ".join(f"{w}/{t}" for w, t in zip(toks, tags, strict=True))
            preds.append(Prediction(text, label, extra={"tokens": toks, "tags": tags, "entities": ents}))
        return preds


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Entity-level P / R / F1 (seqeval strict, overall and per type) of the run's best model on a split of
    its data, or on any CoNLL file (``data``; its scheme is detected, its tags converted to the run's)."""
    from dl4nlp.core.runs import check_split, read_results
    from dl4nlp.tasks.tagging import entity_scores, type_confusion

    tagger = TaggerPredictor(run_dir)
    path = Path(data) if data is not None else split_path(tagger.cfg, check_split(split))
    sents = read_tagged(path, tagger.opts)
    check_labels(sents, tagger.encoder.labels, path)
    start = time.perf_counter()
    pred = tagger.tag([s.tokens for s in sents])
    seconds = time.perf_counter() - start
    tokens = sum(len(s.tokens) for s in sents)
    scores = entity_scores([s.tags for s in sents], pred, tagger.opts.scheme)
    scores["type_confusion"] = type_confusion([s.tags for s in sents], pred)
    out: dict[str, Any] = {"run": tagger.run_dir.name, "split": split if data is None else "data",
                           "sentences": len(sents), "tokens": tokens, **scores, "seconds": round(seconds, 3),
                           "tokens_per_s": round(tokens / max(seconds, 1e-9), 1)}
    if data is None:
        out["recorded"] = {k: v for k, v in (read_results(run_dir) or {}).items() if k.startswith(split)}
    else:
        out["data"] = str(path)
    return out


PIPELINE = Pipeline(
    name="tagging", task="ner", models=NER_MODELS, train=train_tagger, load=TaggerPredictor, evaluate=evaluate,
    monitor="dev_f1", input_help="a sentence (tokenised like the CoNLL text)",
)

__all__ = ["CASINGS", "NER_MODELS", "PIPELINE", "Encoder", "TaggerPredictor", "collate_tagged", "evaluate",
           "prepare", "train_tagger"]
