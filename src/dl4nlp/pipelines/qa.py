"""Extractive question answering (SQuAD v1.1): a recurrent reader with attention (``drqa``) and a fine-tuned
transformer over sliding windows (``transformer_qa``), trained by the shared engine, scored with the official
EM / F1.

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.qa import PIPELINE

    run = PIPELINE.train(load_config("configs/qa/drqa.yaml"))
    reader = PIPELINE.load(run)
    reader.predict(["Who won? ||| The Broncos beat the Panthers 24-10."])[0].label   # "The Broncos"
    PIPELINE.evaluate(run, "test")                 # {"exact_match": ..., "f1": ..., "protocol": ...}

The protocol (``data.dataset``: ``squad-articles``, the article split of dev-v1.1.json, or ``squad``, the official
train + dev files) is written into every results.json (``protocol``, and the test articles' titles). A run folder
holds config.yaml, best/last.ckpt, metrics.csv, results.json, and ``vocab.json`` (drqa) or ``hf/`` (transformer_qa:
a ``save_pretrained`` folder of the best weights and the tokenizer, loadable by plain ``transformers``).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig, build_options
from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.data.qa_batches import (
    DrQADecoder,
    DrQAEncoder,
    ItemDataset,
    WindowDecoder,
    collate_drqa,
    make_loader,
    transformer_dataset,
    window_collate,
)
from dl4nlp.data.squad import (
    QAExample,
    char_to_word_span,
    parse_qa_input,
    read_qa_splits,
    read_squad,
    take_train_examples,
)
from dl4nlp.data.vocab import Vocab
from dl4nlp.pipelines.base import Pipeline, Prediction

MODELS = {"drqa": "dl4nlp.models.qa_reader:DocumentReader",
          "transformer_qa": "dl4nlp.models.qa_transformer:TransformerReader"}
MONITORS = ("dev_f1", "dev_em", "dev_loss")


def options(cfg: ExperimentConfig) -> Any:
    from dl4nlp.models.qa_reader import DrQAOptions
    from dl4nlp.models.qa_transformer import TransformerQAOptions

    if cfg.model_name not in MODELS:
        raise ConfigError(f"model: '{cfg.model_name}' is not a question-answering model ({', '.join(MODELS)})")
    cls = DrQAOptions if cfg.model_name == "drqa" else TransformerQAOptions
    try:
        return build_options(cls, cfg.model_params, f"model ({cfg.model_name})")
    except TypeError as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


# --------------------------------------------------------------------------- the two readers' data sides


class DrQASide:
    """Vocabulary (training words, plus dev/test words that have a frozen pretrained vector), items, decoder."""

    collate = staticmethod(collate_drqa)

    def __init__(self, cfg: ExperimentConfig, opts: Any, vocab: Vocab):
        self.cfg, self.opts, self.vocab = cfg, opts, vocab
        self.encoder = DrQAEncoder(vocab, cfg.data.max_length)

    @classmethod
    def build(cls, cfg: ExperimentConfig, opts: Any, train: list[QAExample], others: list[QAExample],
              resume: Path | None) -> tuple[DrQASide, torch.nn.Module]:
        from dl4nlp.data.squad import word_spans
        from dl4nlp.models.qa_reader import DocumentReader

        def words(exs: list[QAExample]) -> list[list[str]]:
            return [[w.lower() for w, _, _ in word_spans(t)] for ex in exs for t in (ex.question, ex.context)]

        if resume is not None:
            vocab = Vocab.load(resume / "vocab.json")
        else:
            vocab = Vocab.build(words(train), cfg.data.min_count, cfg.data.max_vocab)
        pretrained = found = None
        if opts.embeddings != "random":
            from dl4nlp import embeddings

            vectors = embeddings.load_vectors(opts.embeddings)
            if resume is None and opts.freeze_embeddings:
                extra = sorted({w for doc in words(others) for w in doc if w not in vocab and w in vectors.index})
                vocab = Vocab([*vocab.itos, *extra], [*vocab.doc_freq, *[0] * len(extra)], vocab.num_docs)
            pretrained, found = embeddings.embedding_matrix(vectors, vocab.itos, seed=cfg.run.seed)
        return cls(cfg, opts, vocab), DocumentReader(len(vocab), opts, pretrained, found)

    def dataset(self, examples: list[QAExample], train: bool) -> ItemDataset:
        return self.encoder.dataset(examples, train)

    def decoder(self, examples: list[QAExample], ds: ItemDataset) -> DrQADecoder:
        return DrQADecoder(examples, ds, self.encoder, self.opts.max_answer_length)

    def start_run(self, run_dir: Path) -> None:
        self.vocab.save(run_dir / "vocab.json")  # before training: a resumed run reads it back

    def finish_run(self, run_dir: Path, model: torch.nn.Module) -> None:
        pass


class TransformerSide:
    """Word-piece windows of the checkpoint's fast tokenizer, window decoder, ``hf/`` folder."""

    def __init__(self, opts: Any, tokenizer: Any):
        self.opts, self.tokenizer = opts, tokenizer
        self.collate = window_collate(tokenizer.pad_token_id)

    @classmethod
    def build(cls, cfg: ExperimentConfig, opts: Any, train: list[QAExample], others: list[QAExample],
              resume: Path | None) -> tuple[TransformerSide, torch.nn.Module]:
        from dl4nlp.models.qa_transformer import TransformerReader
        from dl4nlp.models.transformer import load_tokenizer

        return cls(opts, load_tokenizer(opts.checkpoint)), TransformerReader.from_pretrained(opts)

    def dataset(self, examples: list[QAExample], train: bool) -> ItemDataset:
        o = self.opts
        ds, windows = transformer_dataset(examples, self.tokenizer, o.max_length, o.doc_stride, train,
                                          o.max_windows if train else None)
        ds.windows = windows  # type: ignore[attr-defined]
        return ds

    def decoder(self, examples: list[QAExample], ds: ItemDataset) -> WindowDecoder:
        return WindowDecoder(examples, ds.windows, self.opts.n_best, self.opts.max_answer_length)  # type: ignore

    def start_run(self, run_dir: Path) -> None:
        pass

    def finish_run(self, run_dir: Path, model: torch.nn.Module) -> None:
        from dl4nlp.pipelines.finetune import save_pretrained

        save_pretrained(model.hf, self.tokenizer, run_dir / "hf")  # the best weights: fit_and_validate loaded them


def side_class(name: str) -> type:
    return DrQASide if name == "drqa" else TransformerSide


# --------------------------------------------------------------------------- training


def train(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
          callbacks: list | None = None, run_dir: str | Path | None = None) -> Path:
    """Train one reader with the shared engine (early stopping and best checkpoint on dev F1) and write the run
    folder; returns the folder."""
    import lightning as L

    from dl4nlp.core.runs import save_config
    from dl4nlp.engine.training import fit_and_validate, open_run_dir, resume_checkpoint
    from dl4nlp.tasks.span_extraction import SpanExtractionTask

    opts = options(cfg)
    if cfg.train.monitor == "dev_acc":  # the engine's default: QA selects on dev F1
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, monitor="dev_f1", mode="max"))
    if cfg.train.monitor not in MONITORS:
        raise ConfigError(f"train.monitor: question answering logs {', '.join(MONITORS)}, not '{cfg.train.monitor}'")
    resume_ckpt = resume_checkpoint(resume)
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    d, t = cfg.data, cfg.train
    splits = read_qa_splits(d.dataset, d.path, d.train_file, d.dev_file, d.test_file)
    train_ex = take_train_examples(splits.train, d.max_train_examples, cfg.run.seed)
    side, model = side_class(cfg.model_name).build(cfg, opts, train_ex, splits.dev + splits.test,
                                                   Path(resume) if resume else None)
    data = {"train": side.dataset(train_ex, True), "dev": side.dataset(splits.dev, False),
            "test": side.dataset(splits.test, False)}
    decoders = {s: side.decoder(ex, data[s]) for s, ex in (("dev", splits.dev), ("test", splits.test))}
    task = SpanExtractionTask(model, t, decoders, cfg.to_dict())
    loaders = {s: make_loader(data[s], side.collate, t.batch_size if s == "train" else t.eval_batch_size,
                              s == "train", d.bucket, cfg.run.seed, d.num_workers if s == "train" else 0)
               for s in data}

    path = open_run_dir(cfg, resume, run_dir)
    save_config(path, cfg)
    side.start_run(path)
    fitted = fit_and_validate(cfg, path, task, loaders["train"], loaders["dev"], resume_ckpt, callbacks)
    if fitted is None:  # interrupted, or a DDP rank other than 0
        return path
    side.finish_run(path, task.model)
    return finish(cfg, path, task, fitted, loaders["test"], splits, len(train_ex), len(data["train"]), evaluate_test)


def finish(cfg: ExperimentConfig, path: Path, task: Any, fitted: Any, test_loader: Any, splits: Any, n_questions: int,
           n_items: int, evaluate_test: bool) -> Path:
    """results.json (written last) and the learning curves."""
    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import write_results
    from dl4nlp.engine.training import count_parameters, provenance, time_to_best

    t = cfg.train
    results: dict[str, Any] = {
        "task": "qa", "model": cfg.model_name, "dataset": cfg.data.dataset,
        "protocol": splits.describe(), "test_articles": splits.articles.get("test"),
        "dev_em": fitted.dev["dev_em"], "dev_f1": fitted.dev["dev_f1"], "dev_loss": fitted.dev["dev_loss"],
        "train_time_s": round(fitted.wall, 2), "epochs_run": fitted.trainer.current_epoch,
        **time_to_best(fitted.trainer), "best_checkpoint": fitted.best.name,
        "params": count_parameters(task.model), "trainable_params": count_parameters(task.model, trainable_only=True),
        "train_examples": n_questions, "train_items": n_items,  # questions; items = windows for transformer_qa
        "train_questions_per_s": round(n_questions * max(1, fitted.trainer.current_epoch) / fitted.wall, 2),
        "dev_questions": len(splits.dev), "test_questions": len(splits.test),
        "hyper_parameters": {**t.key_hyper_parameters(), "bs": t.batch_size * t.accumulate_grad_batches,
                             **cfg.model_params, **cfg.data.changed(("max_train_examples", "max_length"))},
        **provenance(),
    }
    if evaluate_test:
        test = fitted.evaluator.test(task, test_loader, ckpt_path=str(fitted.best), verbose=False)[0]
        results.update({"test_em": test["test_em"], "test_f1": test["test_f1"], "test_loss": test["test_loss"]})
    if (path / "metrics.csv").is_file():
        plots.learning_curves(path / "metrics.csv", path / "learning_curves.png", f"{cfg.model_name} on SQuAD",
                              pairs=(("loss", "train_loss", "dev_loss"), ("F1", "dev_f1", "dev_f1")))
    write_results(path, results)
    return path


# --------------------------------------------------------------------------- loading and predicting


class QAPredictor:
    """A trained reader loaded for inference (no Lightning; no word-vector files or network needed)."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        from dl4nlp.core.runs import load_config, load_state_dict, load_weights

        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        opts = options(self.cfg)
        self.opts = opts
        if self.cfg.model_name == "drqa":
            from dl4nlp.models.qa_reader import DocumentReader

            vocab = Vocab.load(self.run_dir / "vocab.json")
            state = load_state_dict(self.run_dir, which)
            frozen = "embed.pretrained" in state
            dim = int(state["embed.table.weight"].size(1))
            placeholder = torch.zeros(len(vocab), dim) if frozen else None
            model = DocumentReader(len(vocab), dataclasses.replace(opts, embedding_dim=dim), placeholder,
                                   torch.zeros(len(vocab), dtype=torch.bool) if frozen else None)
            self.model = load_weights(model, self.run_dir, state)
            self.side: Any = DrQASide(self.cfg, opts, vocab)
        else:
            from dl4nlp.models.qa_transformer import TransformerReader
            from dl4nlp.models.transformer import load_tokenizer

            folder = self.run_dir / "hf"
            if not (folder / "config.json").is_file():
                raise RunError(f"{folder}: not found (is the run finished?)")
            self.model = TransformerReader.from_folder(str(folder))
            self.side = TransformerSide(opts, load_tokenizer(str(folder)))

    @property
    def is_recurrent(self) -> bool:
        return self.cfg.model_name == "drqa"

    @torch.no_grad()
    def answer(self, examples: list[QAExample], attention: bool = False, batch_size: int | None = None
               ) -> list[dict[str, Any]]:
        """One dict per example: ``answer``, ``score``, ``start``, ``end`` (characters of the context), and with
        ``attention`` (recurrent reader) the question and passage words and the attention [Q][P]."""
        from dl4nlp.models.qa_transformer import best_answer

        ds = self.side.dataset(examples, False)
        decoder = self.side.decoder(examples, ds)
        loader = make_loader(ds, self.side.collate, batch_size or self.cfg.train.eval_batch_size, False, False, 0)
        cands: dict[int, list] = {i: [] for i in range(len(examples))}
        maps: dict[int, list] = {}
        for batch in loader:
            inputs = [batch[k] for k in decoder.input_keys]
            if attention and self.is_recurrent:
                start, end, a = self.model.attention(*inputs)  # a [B, P, Q]
                for r, k in enumerate(batch["index"].tolist()):
                    it = ds.items[k]
                    maps[it["example"]] = a[r, : len(it["p_words"]), : len(it["q_words"])].T.tolist()
            else:
                start, end = self.model(*inputs)
            for example, c in decoder.candidates(batch, start.float(), end.float()):
                cands[example].extend(c)
        out = []
        for i, ex in enumerate(examples):
            text, score, s, e = best_answer(ex.context, cands[i], getattr(self.opts, "n_best", 20))
            if self.is_recurrent:  # one candidate: its P_start x P_end
                score = max((c[0] for c in cands[i]), default=0.0)
            row = {"answer": text, "score": score, "start": s, "end": e}
            if i in maps:
                it = next(x for x in ds.items if x["example"] == i)
                row.update(question_words=it["q_words"], passage_words=it["p_words"], attention=maps[i],
                           answer_words=char_to_word_span(self.side.encoder.spans(ex.context), s, e))
            out.append(row)
        return out

    def predict(self, inputs: list[str]) -> list[Prediction]:
        """Inputs ``"question ||| context"`` or JSON lines with ``question`` / ``context``; label = the answer,
        ``scores["score"]`` its score, ``extra["start"/"end"]`` its characters in the context (stripped of outer
        white space), and for the recurrent reader the words and the attention [Q][P]."""
        pairs = [parse_qa_input(text) for text in inputs]
        examples = [QAExample(str(i), q, c) for i, (q, c) in enumerate(pairs)]
        preds = []
        for text, row in zip(inputs, self.answer(examples, attention=self.is_recurrent), strict=True):
            extra = {"start": row["start"], "end": row["end"]}
            if "attention" in row:
                extra.update(question_words=row["question_words"], passage_words=row["passage_words"],
                             attention=row["attention"])
            preds.append(Prediction(text, row["answer"], {"score": row["score"]}, extra))
        return preds


    def attention_png(self, text: str, out_png: str | Path, window: int = 15) -> Path | None:
        """``dl4nlp predict --attention``: the question-to-passage attention of one input (None for the
        transformer reader, which has no such map)."""
        if not self.is_recurrent:
            return None
        question, context = parse_qa_input(text)
        return attention_map(self.answer([QAExample("0", question, context)], attention=True)[0], out_png, window)


def attention_map(row: dict[str, Any], out_png: str | Path, window: int = 15) -> Path:
    """The aligned-question-embedding attention a_ij as a heatmap: question words (rows) x the passage words
    (columns) within ``window`` words of the answer."""
    from dl4nlp.analysis import plots

    words = row["passage_words"]
    first, last = row.get("answer_words") or (0, 0)
    lo, hi = max(0, first - window), min(len(words), last + window + 1)
    return plots.attention_heatmap([r[lo:hi] for r in row["attention"]], row["question_words"], words[lo:hi],
                                   out_png, title=f"answer: {row['answer']} ({row['score']:.2f})",
                                   xlabel="passage", ylabel="question")


def load(run: str | Path) -> QAPredictor:
    return QAPredictor(run)


def evaluate(run: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """Official EM / F1 of a run's best model on a split of its own protocol, or on any SQuAD v1.1 file, as
    fractions (the official script's percentages / 100, like every score in results.json)."""
    from dl4nlp.core.runs import check_split
    from dl4nlp.tasks.squad_metric import squad_scores

    reader = QAPredictor(run)
    d = reader.cfg.data
    if data is not None:
        examples, protocol = read_squad(data), f"file {data}"
    else:
        check_split(split)
        splits = read_qa_splits(d.dataset, d.path, d.train_file, d.dev_file, d.test_file)
        examples, protocol = getattr(splits, split), splits.describe()
    start = time.perf_counter()
    rows = reader.answer(examples)
    seconds = time.perf_counter() - start
    scores = squad_scores({ex.qid: r["answer"] for ex, r in zip(examples, rows, strict=True)},
                          {ex.qid: ex.answers for ex in examples})
    where = {"split": split} if data is None else {"data": str(data)}
    return {"run": reader.run_dir.name, **where, "protocol": protocol,
            "exact_match": scores["exact_match"] / 100, "f1": scores["f1"] / 100, "questions": len(examples),
            "seconds": round(seconds, 2)}


PIPELINE = Pipeline(name="qa", task="qa", models=MODELS, train=train, load=load, evaluate=evaluate,
                    monitor="dev_f1", mode="max", input_help="question ||| context (or a JSON line)")
