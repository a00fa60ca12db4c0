"""Sentence classification end to end: data -> vocabulary -> model -> Lightning -> run folder.

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.classification import train_classifier, load_classifier

    run = train_classifier(load_config("configs/ladder/mlp.yaml", ["data.dataset=sst2"]))
    clf = load_classifier(run)
    clf.predict(["a gorgeous, witty film"])   # [("positive", {"negative": 0.03, "positive": 0.97})]
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core import registry
from dl4nlp.core.config import ExperimentConfig, coerce
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.core.runs import load_config, load_weights
from dl4nlp.data.batching import EncodedDataset, collate, encode_texts, pad_batch
from dl4nlp.data.batching import make_loader as bucketed_loader
from dl4nlp.data.nli import PAIR_DATA_OPTIONS
from dl4nlp.data.splits import DatasetSplits, sample_train_and_check
from dl4nlp.data.tokenize import Tokenizer
from dl4nlp.data.vocab import Vocab
from dl4nlp.pipelines.base import Pipeline, Prediction
from dl4nlp.pipelines.scoring import check_inputs, class_predictions, labelled_sentences, scores_on_file
from dl4nlp.pipelines.supervised import Parts, train_supervised

# --------------------------------------------------------------------------- data


@dataclass
class Prepared:
    splits: DatasetSplits
    tokenizer: Tokenizer
    vocab: Vocab
    train: EncodedDataset
    dev: EncodedDataset
    test: EncodedDataset

    @property
    def labels(self) -> list[str]:
        return self.splits.labels


def read_splits(cfg: ExperimentConfig) -> DatasetSplits:
    misplaced = list(cfg.data.changed(PAIR_DATA_OPTIONS))
    if misplaced:
        raise ConfigError(f"data.{misplaced[0]}: only for sentence pairs (data.dataset: snli), "
                          f"not '{cfg.data.dataset}'")
    reader = registry.dataset_reader(cfg.data.dataset)
    return sample_train_and_check(reader(cfg.data, cfg.run.seed), cfg.data.max_train_examples, cfg.run.seed,
                                  cfg.data.path)


def tokenizer_for(cfg: ExperimentConfig) -> Tokenizer:
    """The run's tokenizer: lower-casing from ``data``, word n-grams from a bag-of-words model's ``ngrams``
    (read with the model options' own coercion, so ``ngrams: "2"`` in YAML means 2 here too; its range is
    checked by the model)."""
    ngrams = coerce(cfg.model_params.get("ngrams", 1), int, f"model ({cfg.model_name})", "ngrams")
    return Tokenizer(lowercase=cfg.data.lowercase, ngrams=ngrams)


def prepare(cfg: ExperimentConfig, vocab: Vocab | None = None) -> Prepared:
    """Read the splits, build (or reuse) the vocabulary on train, encode every split."""
    splits = read_splits(cfg)
    tok = tokenizer_for(cfg)
    train_tokens = [tok(t) for t in splits.train["text"]]
    if vocab is None:
        vocab = Vocab.build(train_tokens, cfg.data.min_count, cfg.data.max_vocab)
    ml = cfg.data.max_length

    def enc(ds: Any, tokens: list[list[str]] | None = None) -> EncodedDataset:
        if tokens is not None:
            ids = [vocab.encode(t[:ml] if ml else t) or [vocab.unk_id] for t in tokens]
        else:
            ids = encode_texts(ds["text"], tok, vocab, ml)
        return EncodedDataset(ids, list(ds["label"]))

    return Prepared(splits, tok, vocab, enc(splits.train, train_tokens), enc(splits.dev), enc(splits.test))


def make_loader(ds: EncodedDataset, batch_size: int, shuffle: bool, bucket: bool, seed: int,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    return bucketed_loader(ds, ds.lengths(), collate, batch_size, shuffle, bucket, seed, num_workers)


#: sentence classifiers: ``model.name`` in a config -> class with ``build(params, vocab, num_classes)``
CLASSIFIERS: dict[str, str] = {
    "logreg": "dl4nlp.models.linear:LogisticRegression",
    "mlp": "dl4nlp.models.mlp:MLPClassifier",
    "rnn": "dl4nlp.models.recurrent:RNNClassifier",
    "gru": "dl4nlp.models.recurrent:GRUClassifier",
    "lstm": "dl4nlp.models.recurrent:LSTMClassifier",
    "bigru": "dl4nlp.models.recurrent:BiGRUClassifier",
    "bilstm": "dl4nlp.models.recurrent:BiLSTMClassifier",
    "stacked": "dl4nlp.models.recurrent:StackedClassifier",
}


def build_model(cfg: ExperimentConfig, vocab: Vocab, num_classes: int) -> torch.nn.Module:
    cls = registry.resolve(CLASSIFIERS, cfg.model_name, "model")
    try:
        return cls.build(cfg.model_params, vocab, num_classes)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


# --------------------------------------------------------------------------- training


def supervised_parts(cfg: ExperimentConfig, resume: str | Path | None) -> Parts:
    """The template's hook (:mod:`dl4nlp.pipelines.supervised`): data, vocabulary, model, task, loaders."""
    from dl4nlp.engine.training import count_parameters
    from dl4nlp.tasks.classification import ClassificationTask

    vocab = Vocab.load(Path(resume) / "vocab.json") if resume is not None else None
    prep = prepare(cfg, vocab)
    model = build_model(cfg, prep.vocab, len(prep.labels))
    task = ClassificationTask(model, len(prep.labels), cfg.train, cfg.to_dict())
    d, t = cfg.data, cfg.train

    def results(fitted: Any, path: Path) -> dict[str, Any]:
        return {"task": "sentiment", "model": cfg.model_name, "dataset": d.dataset, "phrases": d.phrases,
                **fitted.summary(), "params": count_parameters(model), "train_examples": len(prep.train),
                "vocab_size": len(prep.vocab), "hyper_parameters": cfg.key_hyper_parameters()}

    return Parts(task, model, make_loader(prep.train, t.batch_size, True, d.bucket, cfg.run.seed, d.num_workers),
                 make_loader(prep.dev, t.eval_batch_size, False, False, cfg.run.seed),
                 make_loader(prep.test, t.eval_batch_size, False, False, cfg.run.seed), prep.labels,
                 save=lambda path: prep.vocab.save(path / "vocab.json"), results=results)


def train_classifier(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
                     callbacks: list | None = None, run_dir: str | Path | None = None) -> Path:
    """Train one classifier and write its run folder; returns the folder.

    ``resume``: an unfinished run folder to continue from its ``last.ckpt`` (its config and vocabulary
    are reused). ``evaluate_test=False`` leaves the test split unread (model selection in sweeps).
    """
    return train_supervised(cfg, supervised_parts, resume, evaluate_test, callbacks, run_dir)


# --------------------------------------------------------------------------- loading and predicting


def check_classifier_run(run_dir: Path, model_name: str) -> None:
    """A :class:`RunError` when a run folder holds no sentence classifier, naming its family."""
    if model_name in CLASSIFIERS:
        return
    from dl4nlp.pipelines import pipeline_for_model

    try:
        family = pipeline_for_model(model_name).name
    except ConfigError:
        family = "unknown"
    raise RunError(f"{run_dir}: not a sentence-classifier run (model '{model_name}', family {family}); "
                   "dl4nlp predict / evaluate serve every family")


class Classifier:
    """A trained run loaded for inference (no Lightning needed)."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        check_classifier_run(self.run_dir, self.cfg.model_name)
        self.vocab = Vocab.load(self.run_dir / "vocab.json")
        import json

        labels = self.run_dir / "labels.json"
        if not labels.is_file():
            raise RunError(f"{labels}: labels file not found")
        self.labels = json.loads(labels.read_text(encoding="utf-8"))
        self.tokenizer = tokenizer_for(self.cfg)
        self.model = load_weights(build_model(self.cfg, self.vocab, len(self.labels)), self.run_dir, which=which)

    @property
    def name(self) -> str:
        return self.run_dir.name

    def tokens(self, text: str) -> list[str]:
        return self.tokenizer(text)

    @torch.no_grad()
    def encode(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, as the model reads them (``<unk>`` for an empty one)."""
        return encode_texts(texts, self.tokenizer, self.vocab, self.cfg.data.max_length)

    def probabilities(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        return self.probabilities_of_ids(self.encode(texts), batch_size)

    @torch.no_grad()
    def probabilities_of_ids(self, ids: list[list[int]], batch_size: int = 256) -> torch.Tensor:
        """Class probabilities [N, C] of encoded texts, in batches of similar length (less padding)."""
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = torch.empty(len(ids), len(self.labels))
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            b = pad_batch([ids[j] for j in idx])
            out[idx] = torch.softmax(self.model(b["tokens"], b["mask"]), dim=-1)
        return out

    def predict(self, texts: list[str]) -> list[tuple[str, dict[str, float]]]:
        for i, t in enumerate(texts):
            if not t or not t.strip():
                raise DataError(f"input {i + 1}: empty text")
        probs = self.probabilities(texts)
        return [(self.labels[int(p.argmax())], {lab: float(p[j]) for j, lab in enumerate(self.labels)})
                for p in probs]


def load_classifier(run_dir: str | Path) -> Classifier:
    return Classifier(run_dir)


def evaluate_run(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Accuracy and macro-F1 of a run's best model on a split of its configured dataset."""
    from dl4nlp.core.runs import check_split, split_scores

    check_split(split)
    clf = Classifier(run_dir)
    ds = getattr(read_splits(clf.cfg), split)
    start = time.perf_counter()
    preds = clf.probabilities(list(ds["text"])).argmax(-1)
    gold = torch.tensor(list(ds["label"]))
    return split_scores(run_dir, clf.name, split, preds, gold, len(clf.labels), time.perf_counter() - start)


# --------------------------------------------------------------------------- the pipeline


class SentencePredictor:
    """:class:`~dl4nlp.pipelines.base.Predictor` of a sentence classifier: batched, one answer per input, a
    note where an input has no word the model knows (its answer is then the class prior)."""

    def __init__(self, run_dir: str | Path):
        self.clf = Classifier(run_dir)
        self.run_dir = self.clf.run_dir

    def predict(self, inputs: list[str]) -> list[Prediction]:
        check_inputs(inputs)
        ids = self.clf.encode(inputs)
        known = self.clf.vocab.unk_id + 1  # ids below it are <pad> (0) and <unk> (1)
        notes = [None if max(row) >= known else "no known words; this is the prior" for row in ids]
        return class_predictions(inputs, self.clf.probabilities_of_ids(ids), self.clf.labels, notes)


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Scores on a split of the run's dataset, or on any CSV / TSV / JSONL file with the run's text and label
    columns (``data``)."""
    if data is None:
        return evaluate_run(run_dir, split)
    clf = Classifier(run_dir)
    texts, gold = labelled_sentences(data, clf.cfg.data.text_column, clf.cfg.data.label_column, clf.labels)
    return scores_on_file(run_dir, clf.name, data, lambda: clf.probabilities(texts), gold, len(clf.labels))


PIPELINE = Pipeline(
    name="classification", task="sentiment", models=CLASSIFIERS, train=train_classifier, load=SentencePredictor,
    evaluate=evaluate, monitor="dev_acc", input_help="a sentence",
)
