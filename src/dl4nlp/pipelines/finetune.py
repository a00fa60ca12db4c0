"""Fine-tuning pretrained transformers end to end: word pieces -> Lightning engine -> run folder.

Two models of the ``finetune`` pipeline (:data:`FAMILY`, registered in :data:`dl4nlp.pipelines.PIPELINES`):

``transformer``           full fine-tuning (or head only with ``model.freeze_encoder: true``) of an
                          encoder checkpoint on single sentences (SST-2/5, IMDB, tables) or pairs (SNLI)
``transformer-features``  frozen mean-pooled sentence embeddings + logistic regression (C chosen on dev)

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.finetune import train_transformer, load_transformer_run

    run = train_transformer(load_config("configs/transformer/sst2.yaml"))
    clf = load_transformer_run(run)
    clf.predict(["a gorgeous, witty film"])      # [("positive", {"negative": 0.02, "positive": 0.98})]
    clf.explain("a gorgeous, witty film")         # word pieces + last-layer [CLS] attention per head

A fine-tuned run folder holds ``hf/`` (``save_pretrained`` model + tokenizer: loads in plain
``transformers`` with ``AutoModelForSequenceClassification.from_pretrained(run / "hf")``) beside the
usual ``config.yaml``, ``labels.json``, ``best.ckpt``/``last.ckpt`` and ``results.json``.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig, build_options
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.core.io import torch_load, torch_save, write_json
from dl4nlp.data.batching import EncodedDataset, pad_batch
from dl4nlp.data.nli import NLI_DATASETS, NLI_LABELS  # noqa: F401  (re-exported)
from dl4nlp.data.splits import DatasetSplits
from dl4nlp.models.transformer import (
    FeatureOptions,
    SentenceEncoder,
    TransformerClassifier,
    TransformerOptions,
    encode,
    load_tokenizer,
)
from dl4nlp.pipelines.base import Pipeline

#: ``model.name`` -> its model class (fine-tuned encoder, or the frozen encoder under a logistic regression)
FAMILY: dict[str, str] = {
    "transformer": "dl4nlp.models.transformer:TransformerClassifier",
    "transformer-features": "dl4nlp.models.transformer:SentenceEncoder",
}

# --------------------------------------------------------------------------- data


def read_splits(cfg: ExperimentConfig) -> DatasetSplits:
    """Sentence datasets through the shared readers; ``snli``/``nli`` through the pair reader."""
    if cfg.data.dataset in NLI_DATASETS:
        from dl4nlp.data.nli import read_nli

        if cfg.data.teacher_file:
            raise ConfigError("data.teacher_file: only the recurrent NLI models (nli_*) learn from a teacher's "
                              "logits, not a transformer")
        return read_nli(cfg.data, cfg.run.seed)
    from dl4nlp.pipelines.classification import read_splits as read_sentences

    return read_sentences(cfg)


def encode_split(
    ds: Any, tokenizer: Any, max_length: int | None, opts: TransformerOptions | None
) -> EncodedDataset:
    pairs = list(ds["text_pair"]) if "text_pair" in ds.column_names else None
    ids = encode(
        tokenizer,
        list(ds["text"]),
        pairs,
        max_length,
        opts.truncation if opts else "head",
        opts.head_tokens if opts else 128,
    )
    return EncodedDataset(ids, list(ds["label"]))


def collate_pieces(items: list[tuple[list[int], int]], pad_id: int) -> dict[str, torch.Tensor]:
    """Dynamic padding: each batch is padded to its own longest example with the tokenizer's pad id."""
    batch = pad_batch([ids for ids, _ in items], pad_id=pad_id)
    batch["label"] = torch.tensor([y for _, y in items], dtype=torch.long)
    return batch


def make_loader(
    ds: EncodedDataset,
    pad_id: int,
    batch_size: int,
    shuffle: bool,
    bucket: bool,
    seed: int,
    num_workers: int = 0,
) -> torch.utils.data.DataLoader:
    from dl4nlp.data.batching import make_loader as bucketed_loader

    collate = functools.partial(collate_pieces, pad_id=pad_id)
    return bucketed_loader(ds, ds.lengths(), collate, batch_size, shuffle, bucket, seed, num_workers)


def options(cfg: ExperimentConfig) -> TransformerOptions | FeatureOptions:
    cls = FeatureOptions if cfg.model_name == "transformer-features" else TransformerOptions
    try:
        return build_options(cls, cfg.model_params, f"model ({cfg.model_name})")
    except TypeError as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


def _task_name(cfg: ExperimentConfig) -> str:
    return "nli" if cfg.data.dataset in NLI_DATASETS else "sentiment"


def save_pretrained(hf_model: Any, tokenizer: Any, folder: Path) -> Path:
    """``save_pretrained`` of a Hugging Face model and its tokenizer into a temporary folder renamed into place
    (a killed run leaves no half folder); the QA and tagging pipelines save their transformers with it too."""
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        hf_model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder


def save_hf(model: TransformerClassifier, tokenizer: Any, folder: Path) -> Path:
    return save_pretrained(model.hf, tokenizer, folder)


# --------------------------------------------------------------------------- fine-tuning


def train_transformer(
    cfg: ExperimentConfig,
    resume: str | Path | None = None,
    evaluate_test: bool = True,
    callbacks: list | None = None,
    run_dir: str | Path | None = None,
) -> Path:
    """Fine-tune ``model.checkpoint`` with the shared engine and write the run folder; returns the folder."""
    if cfg.model_name == "transformer-features":
        return train_features(cfg, resume=resume, run_dir=run_dir)
    from dl4nlp.pipelines.supervised import train_supervised

    return train_supervised(cfg, supervised_parts, resume, evaluate_test, callbacks, run_dir)


def supervised_parts(cfg: ExperimentConfig, resume: str | Path | None) -> Any:
    """The template's hook (:mod:`dl4nlp.pipelines.supervised`): word pieces, model, task, loaders; after the
    fit the best weights are also saved as a plain Hugging Face folder (``hf/``)."""
    from dl4nlp.engine.training import count_parameters
    from dl4nlp.pipelines.supervised import Parts
    from dl4nlp.tasks.finetune import FineTuneTask

    opts = options(cfg)
    tokenizer = load_tokenizer(opts.checkpoint)
    splits = read_splits(cfg)
    d, t = cfg.data, cfg.train
    enc = {name: encode_split(getattr(splits, name), tokenizer, d.max_length, opts)
           for name in ("train", "dev", "test")}
    model = TransformerClassifier.from_pretrained(opts.checkpoint, splits.labels, opts, tokenizer)
    task = FineTuneTask(model, len(splits.labels), t, cfg.to_dict())
    pad = tokenizer.pad_token_id

    def results(fitted: Any, path: Path) -> dict[str, Any]:
        save_hf(task.model, tokenizer, path / "hf")  # the best weights: fit_and_validate loaded them
        n_train = len(enc["train"])
        return {
            "task": _task_name(cfg), "model": cfg.model_name, "dataset": d.dataset, "phrases": d.phrases,
            "checkpoint": opts.checkpoint, "freeze_encoder": opts.freeze_encoder, **fitted.summary(),
            "params": count_parameters(model), "trainable_params": count_parameters(model, trainable_only=True),
            "train_sentences_per_s": fitted.examples_per_s(n_train), "train_examples": n_train,
            "max_length": d.max_length,
            "hyper_parameters": {**t.key_hyper_parameters(), "bs": t.batch_size * t.accumulate_grad_batches,
                                 "sched": t.schedule, "warmup": t.warmup_steps, **cfg.model_params},
        }

    return Parts(task, model, make_loader(enc["train"], pad, t.batch_size, True, d.bucket, cfg.run.seed,
                                          d.num_workers),
                 make_loader(enc["dev"], pad, t.eval_batch_size, False, False, cfg.run.seed),
                 make_loader(enc["test"], pad, t.eval_batch_size, False, False, cfg.run.seed), splits.labels,
                 results=results)


# --------------------------------------------------------------------------- frozen features + LR


@torch.no_grad()
def sentence_features(
    encoder: SentenceEncoder, ds: EncodedDataset, pad_id: int, batch_size: int
) -> torch.Tensor:
    """One pooled vector per example, in dataset order: [N, d]."""
    order = sorted(range(len(ds)), key=lambda i: len(ds.ids[i]))  # length-sorted: little padding
    out = torch.empty(len(ds), encoder.encoder.config.hidden_size)
    for i in range(0, len(order), batch_size):
        idx = order[i : i + batch_size]
        b = pad_batch([ds.ids[j] for j in idx], pad_id=pad_id)
        out[idx] = encoder(b["tokens"], b["mask"]).float()
    return out


class FeatureHead(torch.nn.Module):
    """Multinomial logistic regression on standardised features: softmax(W (e - mu) / sigma + b)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)  # [d]
        self.register_buffer("std", std)  # [d]
        self.linear = torch.nn.Linear(weight.size(1), weight.size(0))
        with torch.no_grad():
            self.linear.weight.copy_(weight)  # [C, d]
            self.linear.bias.copy_(bias)  # [C]

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return self.linear((feats - self.mean) / self.std)  # [N, C]


def fit_feature_head(
    x_train: torch.Tensor,
    y_train: list[int],
    x_dev: torch.Tensor,
    y_dev: list[int],
    num_classes: int,
    c_grid: list[float],
    max_iter: int,
    seed: int,
) -> tuple[FeatureHead, list]:
    """L2-regularised logistic regression (scikit-learn, lbfgs) for each C; the best on dev is kept."""
    from sklearn.linear_model import LogisticRegression

    mean, std = x_train.mean(0), x_train.std(0).clamp(min=1e-6)
    xt = ((x_train - mean) / std).numpy()
    xd = ((x_dev - mean) / std).numpy()
    tried, best = [], None
    for c in c_grid:
        lr = LogisticRegression(C=float(c), max_iter=max_iter, random_state=seed)
        lr.fit(xt, y_train)
        acc = float((lr.predict(xd) == torch.tensor(y_dev).numpy()).mean())
        tried.append({"C": float(c), "dev_acc": acc})
        if best is None or acc > best[0]:
            best = (acc, lr)
    lr = best[1]
    w = torch.tensor(lr.coef_, dtype=torch.float32)
    b = torch.tensor(lr.intercept_, dtype=torch.float32)
    if num_classes == 2 and w.size(0) == 1:  # binary sklearn keeps one row: logits (0, z) == softmax form
        w, b = torch.cat([torch.zeros_like(w), w]), torch.cat([torch.zeros_like(b), b])
    return FeatureHead(mean, std, w, b), tried


def train_features(
    cfg: ExperimentConfig, resume: str | Path | None = None, run_dir: str | Path | None = None
) -> Path:
    """The frozen-features rung: embed every split once, fit logistic regression, select C on dev."""
    from dl4nlp.core.runs import new_run_dir, save_config, write_results

    opts = options(cfg)
    torch.manual_seed(cfg.run.seed)
    tokenizer = load_tokenizer(opts.checkpoint)
    splits = read_splits(cfg)
    d = cfg.data
    enc = {
        n: encode_split(getattr(splits, n), tokenizer, d.max_length, None) for n in ("train", "dev", "test")
    }
    encoder = SentenceEncoder.from_pretrained(opts.checkpoint, opts.pooling)
    start = time.perf_counter()
    feats = {
        n: sentence_features(encoder, enc[n], tokenizer.pad_token_id, cfg.train.eval_batch_size) for n in enc
    }
    embed_s = time.perf_counter() - start
    head, tried = fit_feature_head(
        feats["train"],
        enc["train"].labels,
        feats["dev"],
        enc["dev"].labels,
        len(splits.labels),
        list(opts.c_grid),
        opts.max_iter,
        cfg.run.seed,
    )
    wall = time.perf_counter() - start
    path = Path(resume or run_dir) if (resume or run_dir) else new_run_dir(cfg)
    path.mkdir(parents=True, exist_ok=True)
    save_config(path, cfg)
    write_json(path / "labels.json", splits.labels)
    torch_save(head.state_dict(), path / "head.pt")
    results: dict[str, Any] = {
        "task": _task_name(cfg),
        "model": cfg.model_name,
        "dataset": d.dataset,
        "phrases": d.phrases,
        "checkpoint": opts.checkpoint,
        "pooling": opts.pooling,
    }
    title = f"{cfg.model_name} on {d.dataset} (test)"
    results.update(_feature_head_scores(head, feats, enc, splits.labels, path, title))
    results.update(_feature_run_record(cfg, opts, encoder, head, tried, enc, len(splits.labels), embed_s, wall))
    write_results(path, results)
    return path


def _feature_head_scores(
    head: FeatureHead,
    feats: dict[str, torch.Tensor],
    enc: dict[str, EncodedDataset],
    labels: list[str],
    path: Path,
    title: str,
) -> dict[str, Any]:
    """Dev and test accuracy and macro-F1 of the fitted head; the test confusion matrix (also drawn to
    ``confusion_matrix.png`` under ``path``)."""
    from torchmetrics.functional import accuracy, confusion_matrix, f1_score

    from dl4nlp.analysis import plots

    n = len(labels)
    out: dict[str, Any] = {}
    with torch.no_grad():
        for name in ("dev", "test"):
            preds = head(feats[name]).argmax(-1)
            gold = torch.tensor(enc[name].labels)
            out[f"{name}_acc"] = float(accuracy(preds, gold, task="multiclass", num_classes=n))
            out[f"{name}_f1"] = float(f1_score(preds, gold, task="multiclass", num_classes=n, average="macro"))
            if name == "test":
                cm = confusion_matrix(preds, gold, task="multiclass", num_classes=n)
                out["confusion"] = cm.tolist()
                plots.confusion_matrix(cm, labels, path / "confusion_matrix.png", title)
    return out


def _feature_run_record(
    cfg: ExperimentConfig,
    opts: FeatureOptions,
    encoder: SentenceEncoder,
    head: FeatureHead,
    tried: list,
    enc: dict[str, EncodedDataset],
    n_labels: int,
    embed_s: float,
    wall: float,
) -> dict[str, Any]:
    """The rest of a features run's results.json: sizes, timings, the C values tried (the best on dev is the
    ``C`` of ``hyper_parameters``) and the provenance."""
    from dl4nlp.engine.training import provenance

    best_c = max(tried, key=lambda r: r["dev_acc"])["C"]
    return {
        "params": sum(p.numel() for p in encoder.parameters()) + head.linear.weight.numel() + n_labels,
        "trainable_params": head.linear.weight.numel() + n_labels,
        "train_time_s": round(wall, 2),
        "embed_time_s": round(embed_s, 2),
        "embed_sentences_per_s": round(sum(len(e) for e in enc.values()) / embed_s, 1),
        "train_examples": len(enc["train"]),
        "c_tried": tried,
        "max_length": cfg.data.max_length,
        "hyper_parameters": {"C": best_c, "pooling": opts.pooling, "checkpoint": opts.checkpoint},
        **provenance(),
    }


# --------------------------------------------------------------------------- loading and predicting


@dataclass
class Explanation:
    label: str
    probabilities: dict[str, float]
    pieces: list[str]  # word pieces, special tokens included
    cls_attention: list[list[float]]  # last layer, one row per head: attention from [CLS] to each piece


class TransformerRun:
    """A finished ``transformer`` or ``transformer-features`` run loaded for inference (offline)."""

    def __init__(self, run_dir: str | Path):
        from dl4nlp.core.runs import load_config

        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        if self.cfg.model_name not in FAMILY:
            raise RunError(f"{self.run_dir}: not a transformer run (model '{self.cfg.model_name}')")
        labels = self.run_dir / "labels.json"
        if not labels.is_file():
            raise RunError(f"{self.run_dir}: no labels.json (is the run finished?)")
        self.labels = json.loads(labels.read_text(encoding="utf-8"))
        self.pair = self.cfg.data.dataset in NLI_DATASETS
        self.opts = options(self.cfg)
        self.features = self.cfg.model_name == "transformer-features"
        if self.features:
            head_path = self.run_dir / "head.pt"
            if not head_path.is_file():
                raise RunError(f"{head_path}: not found (is the run finished?)")
            state = torch_load(head_path)
            self.head = FeatureHead(
                state["mean"], state["std"], state["linear.weight"], state["linear.bias"]
            ).eval()
            self.tokenizer = load_tokenizer(self.opts.checkpoint)
            self.encoder = SentenceEncoder.from_pretrained(self.opts.checkpoint, self.opts.pooling)
        else:
            hf = self.run_dir / "hf"
            if not (hf / "config.json").is_file():
                raise RunError(f"{hf}: no saved model (is the run finished?)")
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(str(hf), local_files_only=True)
            self.model = TransformerClassifier.from_run(hf)

    @property
    def name(self) -> str:
        return self.run_dir.name

    def _split(self, text: str) -> tuple[str, str | None]:
        if not self.pair:
            return text, None
        for sep in ("\t", "|||"):
            if sep in text:
                a, b = text.split(sep, 1)
                return a.strip(), b.strip()
        raise DataError(f"'{text[:40]}': an NLI run needs 'premise ||| hypothesis' (or a tab between them)")

    def encode(self, texts: list[str]) -> list[list[int]]:
        parts = [self._split(t) for t in texts]
        pairs = [b for _, b in parts] if self.pair else None
        trunc = getattr(self.opts, "truncation", "head")
        return encode(
            self.tokenizer,
            [a for a, _ in parts],
            pairs,
            self.cfg.data.max_length,
            trunc,
            getattr(self.opts, "head_tokens", 128),
        )

    def probabilities(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        return torch.softmax(self.logits(texts, batch_size), dim=-1)

    @torch.no_grad()
    def logits(self, texts: list[str], batch_size: int = 64) -> torch.Tensor:
        """Logits [N, C] (labels in the order of ``self.labels``), batches of similar length."""
        ids = self.encode(texts)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        out = torch.empty(len(ids), len(self.labels))
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            b = pad_batch([ids[j] for j in idx], pad_id=self.tokenizer.pad_token_id)
            if self.features:
                logits = self.head(self.encoder(b["tokens"], b["mask"]))
            else:
                logits = self.model(b["tokens"], b["mask"])
            out[idx] = logits.float()
        return out

    def predict(self, texts: list[str]) -> list[tuple[str, dict[str, float]]]:
        for i, t in enumerate(texts):
            if not t or not t.strip():
                raise DataError(f"input {i + 1}: empty text")
        probs = self.probabilities(texts)
        return [
            (self.labels[int(p.argmax())], {lab: float(p[j]) for j, lab in enumerate(self.labels)})
            for p in probs
        ]

    def explain(self, text: str, out_png: str | Path | None = None) -> Explanation:
        """Word pieces and the last layer's [CLS] attention (per head); optionally a heatmap PNG."""
        if self.features:
            raise RunError(f"{self.run_dir}: attention maps need a fine-tuned run, not frozen features")
        if not text or not text.strip():
            raise DataError("input 1: empty text")
        ids = self.encode([text])[0]
        b = pad_batch([ids], pad_id=self.tokenizer.pad_token_id)
        logits, att = self.model.cls_attention(b["tokens"], b["mask"])  # [1, C], [1, heads, T]
        probs = torch.softmax(logits[0].float(), -1)
        pieces = self.tokenizer.convert_ids_to_tokens(ids)
        exp = Explanation(
            self.labels[int(probs.argmax())],
            {lab: float(probs[j]) for j, lab in enumerate(self.labels)},
            pieces,
            att[0].tolist(),
        )
        if out_png is not None:
            from dl4nlp.analysis import plots

            heads = [f"head {h + 1}" for h in range(att.size(1))]
            plots.attention_heatmap(
                att[0].numpy(),
                heads,
                pieces,
                out_png,
                f"[CLS] attention, last layer -> {exp.label}",
                xlabel="word pieces",
            )
        return exp


def load_transformer_run(run_dir: str | Path) -> TransformerRun:
    return TransformerRun(run_dir)


def evaluate_transformer_run(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Accuracy and macro-F1 of a transformer run on a split of its configured dataset."""
    from dl4nlp.core.runs import check_split, split_scores

    check_split(split)
    clf = TransformerRun(run_dir)
    ds = getattr(read_splits(clf.cfg), split)
    texts = (
        list(ds["text"])
        if not clf.pair
        else [f"{a}\t{b}" for a, b in zip(ds["text"], ds["text_pair"], strict=True)]
    )
    start = time.perf_counter()
    preds = clf.probabilities(texts).argmax(-1)
    seconds = time.perf_counter() - start
    gold = torch.tensor(list(ds["label"]))
    scores = split_scores(run_dir, clf.name, split, preds, gold, len(clf.labels), seconds)
    scores["sentences_per_s"] = round(len(gold) / seconds, 1) if seconds else None
    return scores


# --------------------------------------------------------------------------- the pipeline


class TransformerPredictor:
    """:class:`~dl4nlp.pipelines.base.Predictor` of a fine-tuned (or frozen-feature) transformer run: batched
    and length-bucketed; no file is written (``dl4nlp explain`` draws attention on request)."""

    def __init__(self, run_dir: str | Path):
        self.run = TransformerRun(run_dir)
        self.run_dir = self.run.run_dir

    def predict(self, inputs: list[str]) -> list[Any]:
        from dl4nlp.pipelines.scoring import check_inputs, class_predictions

        check_inputs(inputs)
        return class_predictions(inputs, self.run.probabilities(inputs), self.run.labels)

    def attention_png(self, text: str, out_png: Path) -> Path | None:
        """The last layer's [CLS] attention of every head over ``text``'s word pieces (fine-tuned runs)."""
        if self.run.features:
            return None
        self.run.explain(text, out_png)
        return out_png


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Scores on a split of the run's dataset, or on a labelled file (``data``): sentences (CSV / TSV / JSONL
    with the run's text and label columns) for a sentence run, SNLI / MultiNLI pairs for a pair run."""
    from dl4nlp.pipelines.scoring import labelled_pairs, labelled_sentences, scores_on_file

    if data is None:
        return evaluate_transformer_run(run_dir, split)
    run = TransformerRun(run_dir)
    if run.pair:
        premises, hypotheses, gold = labelled_pairs(data, run.labels)
        texts = [f"{a}\t{b}" for a, b in zip(premises, hypotheses, strict=True)]
    else:
        texts, gold = labelled_sentences(data, run.cfg.data.text_column, run.cfg.data.label_column, run.labels)
    return scores_on_file(run_dir, run.name, data, lambda: run.probabilities(texts), gold, len(run.labels))


def train(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True, **kw: Any) -> Path:
    return train_transformer(cfg, resume=resume, evaluate_test=evaluate_test, **kw)


PIPELINE = Pipeline(
    name="finetune", task="sentiment", models=FAMILY, train=train, load=TransformerPredictor, evaluate=evaluate,
    monitor="dev_acc", input_help="a sentence (pair runs: 'premise ||| hypothesis')",
)
