"""Natural language inference with recurrent encoders and attention, end to end:
pairs -> vocabulary -> :mod:`dl4nlp.models.nli` -> Lightning -> run folder -> attention maps.

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.nli import train_nli, load_nli_run

    run = train_nli(load_config("configs/nli/word_by_word.yaml"))
    nli = load_nli_run(run)
    pred = nli.predict("A man is playing a guitar on stage.", "A person performs music.")
    pred.label, pred.probabilities        # "entailment", {"entailment": 0.81, ...}
    nli.attention_map(pred, "map.png")    # premise x hypothesis heatmap (word by word) or a bar

Batches hold the premise and the hypothesis padded separately (``premise``/``premise_mask``,
``hypothesis``/``hypothesis_mask``, [B, L] and [B, N]). The vocabulary is built on the training pairs;
with frozen pretrained vectors it also takes the dev/test words that have a vector (their rows are
frozen, so nothing about dev or test is learned) — the usual practice for SNLI models with fixed
embeddings. A run folder is the usual one (config.yaml, vocab.json, labels.json, best/last.ckpt,
metrics.csv, results.json, plots); ``results.json`` has ``params`` counted without the embeddings, as
Rocktäschel et al. (2016) count them.
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
from dl4nlp.data.batching import pad_batch
from dl4nlp.data.nli import NLI_DATASETS, PAIR_DATA_OPTIONS, read_nli
from dl4nlp.data.splits import DatasetSplits
from dl4nlp.data.tokenize import Tokenizer
from dl4nlp.data.vocab import Vocab
from dl4nlp.pipelines.base import Pipeline

#: ``model.name`` -> class with ``build(params, vocab, num_classes)`` (the NLI ladder, bottom rung first)
NLI_MODELS: dict[str, str] = {
    "nli_conditional": "dl4nlp.models.nli:ConditionalEncoding",
    "nli_attention": "dl4nlp.models.nli:Attention",
    "nli_word_by_word": "dl4nlp.models.nli:WordByWordAttention",
}

# --------------------------------------------------------------------------- data


class PairDataset(torch.utils.data.Dataset):
    """Token ids of premises and hypotheses with integer labels, and optionally a teacher's logits per pair
    (training on a teacher file, :mod:`dl4nlp.pipelines.distill`)."""

    def __init__(self, premises: list[list[int]], hypotheses: list[list[int]], labels: list[int],
                 teacher_logits: list[list[float]] | None = None):
        if not len(premises) == len(hypotheses) == len(labels):
            raise ValueError("premises, hypotheses and labels differ in length")
        if teacher_logits is not None and len(teacher_logits) != len(labels):
            raise ValueError("teacher_logits and labels differ in length")
        self.premises, self.hypotheses, self.labels = premises, hypotheses, labels
        self.teacher_logits = teacher_logits

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple:
        if self.teacher_logits is None:
            return self.premises[i], self.hypotheses[i], self.labels[i]
        return self.premises[i], self.hypotheses[i], self.labels[i], self.teacher_logits[i]

    def lengths(self) -> list[int]:
        return [len(p) + len(h) for p, h in zip(self.premises, self.hypotheses, strict=True)]


def collate_pairs(items: list[tuple]) -> dict[str, torch.Tensor]:
    """Premise and hypothesis each padded to their own longest sequence, with their own masks; items
    with a fourth field (a teacher's logits) add ``teacher_logits`` [B, C]."""
    p = pad_batch([it[0] for it in items])
    h = pad_batch([it[1] for it in items])
    batch = {"premise": p["tokens"], "premise_mask": p["mask"], "hypothesis": h["tokens"],
             "hypothesis_mask": h["mask"], "label": torch.tensor([it[2] for it in items], dtype=torch.long)}
    if len(items[0]) > 3:
        batch["teacher_logits"] = torch.tensor([it[3] for it in items], dtype=torch.float)
    return batch


@dataclass
class Prepared:
    splits: DatasetSplits
    tokenizer: Tokenizer
    vocab: Vocab
    train: PairDataset
    dev: PairDataset
    test: PairDataset


def _ids(tokens: list[str], vocab: Vocab, max_length: int | None) -> list[int]:
    tokens = tokens[:max_length] if max_length else tokens
    return vocab.encode(tokens) or [vocab.unk_id]


EXTEND_VOCAB = ("frozen", "always", "never")


def extends_vocab(opts: Any) -> bool:
    """``model.extend_vocab`` of :class:`~dl4nlp.models.nli.NLIOptions`: do the dev/test words that have a
    pretrained vector join the vocabulary? ``frozen`` (default): when the pretrained rows are frozen;
    ``always``: also when they are fine-tuned (no gradient reaches the rows of words never seen in training,
    so they keep their pretrained vector unless weight decay shrinks them); ``never``: training words only.
    No label or anything else of dev/test is used."""
    mode = opts.extend_vocab
    if mode not in EXTEND_VOCAB:
        raise ConfigError(f"model.extend_vocab: unknown value '{mode}' (use {', '.join(EXTEND_VOCAB)})")
    return opts.embeddings != "random" and (mode == "always" or (mode == "frozen" and opts.freeze_embeddings))


def prepare(cfg: ExperimentConfig, vocab: Vocab | None = None) -> Prepared:
    """Read the pairs, build (or reuse) the vocabulary, encode every split."""
    if cfg.data.dataset not in NLI_DATASETS:
        raise ConfigError(f"data.dataset: NLI models read {' or '.join(NLI_DATASETS)}, not '{cfg.data.dataset}'")
    splits = read_nli(cfg.data, cfg.run.seed)
    tok = Tokenizer(lowercase=cfg.data.lowercase)
    toks = {name: ([tok(t) for t in ds["text"]], [tok(t) for t in ds["text_pair"]])
            for name, ds in (("train", splits.train), ("dev", splits.dev), ("test", splits.test))}
    if vocab is None:
        from dl4nlp.core.config import build_options
        from dl4nlp.models.nli import NLIOptions

        vocab = Vocab.build([*toks["train"][0], *toks["train"][1]], cfg.data.min_count, cfg.data.max_vocab)
        opts = build_options(NLIOptions, cfg.model_params, "model (nli)")  # the defaults the model will use
        if extends_vocab(opts):
            from dl4nlp import embeddings

            vectors = embeddings.load_vectors(opts.embeddings)
            extra = sorted({w for name in ("dev", "test") for side in toks[name] for s in side for w in s
                            if w not in vocab and vectors.lookup(w) is not None})
            vocab = Vocab([*vocab.itos, *extra], [*vocab.doc_freq, *[0] * len(extra)], vocab.num_docs)
    ml = cfg.data.max_length

    def enc(name: str) -> PairDataset:
        ps, hs = toks[name]
        ds = getattr(splits, name)
        teacher = list(ds["teacher_logits"]) if "teacher_logits" in ds.column_names else None
        return PairDataset([_ids(t, vocab, ml) for t in ps], [_ids(t, vocab, ml) for t in hs], list(ds["label"]),
                           teacher)

    return Prepared(splits, tok, vocab, enc("train"), enc("dev"), enc("test"))


def make_loader(ds: PairDataset, batch_size: int, shuffle: bool, bucket: bool, seed: int,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    from dl4nlp.data.batching import make_loader as bucketed_loader

    return bucketed_loader(ds, ds.lengths(), collate_pairs, batch_size, shuffle, bucket, seed, num_workers)


def model_class(name: str) -> Any:
    from dl4nlp.core.registry import resolve

    return resolve(NLI_MODELS, name, "NLI model")


def build_model(cfg: ExperimentConfig, vocab: Vocab, num_classes: int) -> torch.nn.Module:
    try:
        return model_class(cfg.model_name).build(cfg.model_params, vocab, num_classes)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


# --------------------------------------------------------------------------- training


def supervised_parts(cfg: ExperimentConfig, resume: str | Path | None) -> Any:
    """The template's hook (:mod:`dl4nlp.pipelines.supervised`): pairs, vocabulary, model, task, loaders."""
    from dl4nlp.engine.training import count_parameters
    from dl4nlp.pipelines.supervised import Parts
    from dl4nlp.tasks.pair_classification import PairClassificationTask

    model_class(cfg.model_name)  # unknown model names fail before any data is read
    vocab = Vocab.load(Path(resume) / "vocab.json") if resume is not None else None
    prep = prepare(cfg, vocab)
    labels = prep.splits.labels
    model = build_model(cfg, prep.vocab, len(labels))
    task = PairClassificationTask(model, len(labels), cfg.train, cfg.to_dict())
    d, t = cfg.data, cfg.train

    def results(fitted: Any, path: Path) -> dict[str, Any]:
        n_train = len(prep.train)
        return {"task": "nli", "model": cfg.model_name, "dataset": d.dataset, "cell": model.opts.cell,
                "hidden": model.opts.hidden, **fitted.summary(), "params": model.parameters_without_embeddings(),
                "params_with_embeddings": count_parameters(model),
                "trainable_params": count_parameters(model, trainable_only=True),
                "train_pairs_per_s": fitted.examples_per_s(n_train), "train_examples": n_train,
                "vocab_size": len(prep.vocab), "hyper_parameters": hyper_parameters(cfg)}

    return Parts(task, model, make_loader(prep.train, t.batch_size, True, d.bucket, cfg.run.seed, d.num_workers),
                 make_loader(prep.dev, t.eval_batch_size, False, False, cfg.run.seed),
                 make_loader(prep.test, t.eval_batch_size, False, False, cfg.run.seed), labels,
                 save=lambda path: prep.vocab.save(path / "vocab.json"), results=results)


def train_nli(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
              callbacks: list | None = None, run_dir: str | Path | None = None) -> Path:
    """Train one NLI model with the shared template (early stopping on dev accuracy, best/last checkpoints,
    exact resume) and write its run folder; returns the folder."""
    from dl4nlp.pipelines.supervised import train_supervised

    return train_supervised(cfg, supervised_parts, resume, evaluate_test, callbacks, run_dir)


# --------------------------------------------------------------------------- loading, predicting, maps


@dataclass
class Prediction:
    label: str
    probabilities: dict[str, float]
    premise: list[str]  # tokens the model saw
    hypothesis: list[str]
    attention: list[float] | list[list[float]] | None  # [L] (attention), [N][L] (word by word), None


class NLIRun:
    """A trained NLI run loaded for inference (no Lightning, no word-vector files needed)."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        from dl4nlp.core.runs import load_config, load_state_dict, load_weights

        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        if self.cfg.model_name not in NLI_MODELS:
            raise RunError(f"{self.run_dir}: not an NLI run (model '{self.cfg.model_name}')")
        labels = self.run_dir / "labels.json"
        if not labels.is_file():
            raise RunError(f"{labels}: not found (is the run finished?)")
        self.labels = json.loads(labels.read_text(encoding="utf-8"))
        self.vocab = Vocab.load(self.run_dir / "vocab.json")
        self.tokenizer = Tokenizer(lowercase=self.cfg.data.lowercase)
        state = load_state_dict(self.run_dir, which)
        cls = model_class(self.cfg.model_name)
        from dl4nlp.core.config import build_options
        from dl4nlp.models.nli import NLIOptions

        opts = build_options(NLIOptions, {**cls.DEFAULTS, **self.cfg.model_params}, "model (nli)")
        table = state.get("embed.table.weight")
        if table is None:
            raise RunError(f"{self.run_dir}: checkpoint has no embedding table")
        pretrained = state.get("embed.pretrained")
        found = state.get("embed.found")
        opts.embedding_dim = int(table.size(1))
        model = cls(len(self.vocab), len(self.labels), opts, pretrained, found)  # rows come from the state
        self.model = load_weights(model, self.run_dir, state)

    @property
    def name(self) -> str:
        return self.run_dir.name

    @property
    def kind(self) -> str:
        return self.model.opts.attention  # none | single | word_by_word

    def _encode(self, text: str, what: str) -> tuple[list[str], list[int]]:
        if not text or not text.strip():
            raise DataError(f"empty {what}")
        tokens = self.tokenizer(text)
        ml = self.cfg.data.max_length
        tokens = (tokens[:ml] if ml else tokens) or ["<unk>"]
        return tokens, self.vocab.encode(tokens)

    @torch.no_grad()
    def predict(self, premise: str, hypothesis: str) -> Prediction:
        p_tok, p_ids = self._encode(premise, "premise")
        h_tok, h_ids = self._encode(hypothesis, "hypothesis")
        p, h = pad_batch([p_ids]), pad_batch([h_ids])
        logits, att = self.model.attend(p["tokens"], p["mask"], h["tokens"], h["mask"])
        probs = torch.softmax(logits[0], -1)
        return Prediction(self.labels[int(probs.argmax())], {lab: float(probs[i]) for i, lab in enumerate(self.labels)},
                          p_tok, h_tok, None if att is None else att[0].tolist())

    @torch.no_grad()
    def probabilities(self, premises: list[str], hypotheses: list[str], batch_size: int = 256) -> torch.Tensor:
        ml = self.cfg.data.max_length
        ps = [_ids(self.tokenizer(t), self.vocab, ml) for t in premises]
        hs = [_ids(self.tokenizer(t), self.vocab, ml) for t in hypotheses]
        out = []
        for i in range(0, len(ps), batch_size):
            b = collate_pairs([(p, h, 0) for p, h in zip(ps[i:i + batch_size], hs[i:i + batch_size], strict=True)])
            out.append(torch.softmax(self.model(b["premise"], b["premise_mask"], b["hypothesis"],
                                                b["hypothesis_mask"]), -1))
        return torch.cat(out) if out else torch.empty(0, len(self.labels))

    def example(self, index: int, split: str = "test") -> tuple[str, str, str]:
        """(premise, hypothesis, gold label) of example ``index`` (0-based) of a split of the run's data."""
        from dl4nlp.core.runs import check_split

        check_split(split)
        ds = getattr(read_nli(self.cfg.data, self.cfg.run.seed), split)
        if not 0 <= index < len(ds):
            raise DataError(f"--index {index}: the {split} split has {len(ds)} pairs (0..{len(ds) - 1})")
        row = ds[index]
        return row["text"], row["text_pair"], self.labels[row["label"]]

    def attention_map(self, pred: Prediction, out_png: str | Path, title: str = "") -> Path | None:
        """Word by word: heatmap with the premise on the x axis and the hypothesis on the y axis;
        single attention: one bar per premise word; conditional encoding: nothing (returns None)."""
        if pred.attention is None:
            return None
        from dl4nlp.analysis import plots

        title = title or f"{self.name}: {pred.label} ({pred.probabilities[pred.label]:.2f})"
        if self.kind == "word_by_word":
            return plots.attention_heatmap(pred.attention, pred.hypothesis, pred.premise, out_png, title,
                                           xlabel="premise", ylabel="hypothesis")
        return premise_bar(pred.attention, pred.premise, out_png, title)  # type: ignore[arg-type]


def premise_bar(weights: list[float], words: list[str], out_png: str | Path, title: str = "") -> Path:
    """Single attention: the weight of each premise word as a bar."""
    from dl4nlp.analysis.plots import _plt
    from dl4nlp.core.io import save_figure

    plt = _plt()
    fig, ax = plt.subplots(figsize=(0.5 * len(words) + 2, 3.2))
    ax.bar(range(len(words)), weights, color="tab:blue")
    ax.set_xticks(range(len(words)), words, rotation=45, ha="right")
    ax.set_ylabel("attention weight")
    ax.set_xlabel("premise")
    ax.set_ylim(0, max(1e-6, max(weights)) * 1.15)
    if title:
        ax.set_title(title)
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


def hyper_parameters(cfg: ExperimentConfig) -> dict[str, Any]:
    """A leaderboard row's settings: the common summary plus the training-data options when they are on
    (two runs of one model that differ only in ``data.snli_repeat`` must not look alike), and the
    distillation weights when a teacher file is."""
    hp = cfg.key_hyper_parameters(data_keys=PAIR_DATA_OPTIONS)
    if cfg.data.teacher_file:
        hp.update(distill_alpha=cfg.train.distill_alpha, distill_T=cfg.train.distill_temperature)
    return hp


def load_nli_run(run_dir: str | Path) -> NLIRun:
    return NLIRun(run_dir)


def evaluate_nli_run(run_dir: str | Path, split: str = "test") -> dict[str, Any]:
    """Accuracy and macro-F1 of an NLI run's best model on a split of its data."""
    from dl4nlp.core.runs import check_split, split_scores

    check_split(split)
    run = NLIRun(run_dir)
    ds = getattr(read_nli(run.cfg.data, run.cfg.run.seed), split)
    start = time.perf_counter()
    preds = run.probabilities(list(ds["text"]), list(ds["text_pair"])).argmax(-1)
    seconds = time.perf_counter() - start
    gold = torch.tensor(list(ds["label"]))
    return split_scores(run_dir, run.name, split, preds, gold, len(run.labels), seconds)


# --------------------------------------------------------------------------- the pipeline


def split_pair(text: str, index: int = 0) -> tuple[str, str]:
    """``premise ||| hypothesis`` (or a tab between them) -> the two sentences."""
    sep = "\t" if "\t" in text else "|||"
    if sep not in text:
        raise DataError(f"input {index + 1}: '{text[:40]}': an NLI run needs 'premise ||| hypothesis' "
                        "(or a tab between them)")
    a, b = (x.strip() for x in text.split(sep, 1))
    return a, b


class PairPredictor:
    """:class:`~dl4nlp.pipelines.base.Predictor` of an NLI run: each input is ``premise ||| hypothesis``."""

    def __init__(self, run_dir: str | Path):
        self.nli = NLIRun(run_dir)
        self.run_dir = self.nli.run_dir

    def predict(self, inputs: list[str]) -> list[Any]:
        from dl4nlp.pipelines.scoring import check_inputs, class_predictions

        check_inputs(inputs)
        pairs = [split_pair(t, i) for i, t in enumerate(inputs)]
        probs = self.nli.probabilities([a for a, _ in pairs], [b for _, b in pairs])
        return class_predictions(inputs, probs, self.nli.labels)

    def attention_png(self, text: str, out_png: Path) -> Path | None:
        """The pair's attention map (heatmap or bar; None for conditional encoding)."""
        return self.nli.attention_map(self.nli.predict(*split_pair(text)), out_png)


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Scores on a split of the run's data, or on any SNLI / MultiNLI file, JSONL or TSV (``data``)."""
    from dl4nlp.pipelines.scoring import labelled_pairs, scores_on_file

    if data is None:
        return evaluate_nli_run(run_dir, split)
    run = NLIRun(run_dir)
    premises, hypotheses, gold = labelled_pairs(data, run.labels)
    return scores_on_file(run_dir, run.name, data, lambda: run.probabilities(premises, hypotheses), gold,
                          len(run.labels))


PIPELINE = Pipeline(
    name="nli", task="nli", models=NLI_MODELS, train=train_nli, load=PairPredictor, evaluate=evaluate,
    monitor="dev_acc", input_help="'premise ||| hypothesis'",
)
