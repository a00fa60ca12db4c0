"""Rating prediction end to end ("guess the rating from the review text"): the sentence classifiers' data and
model code, a numeric target (:mod:`dl4nlp.data.ratings`), a rating head (:mod:`dl4nlp.models.rating_heads`:
``model.head: regress | ordinal | classify``), and rating metrics (MAE, RMSE, Spearman, ...).

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.rating import train_rating, RatingPredictor

    run = train_rating(load_config("configs/rating/imdb_gru_ordinal.yaml"))
    RatingPredictor(run).predict(["a gorgeous, witty film"])[0].label   # "8.7 stars"
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core import registry
from dl4nlp.core.config import ExperimentConfig, coerce
from dl4nlp.core.errors import ConfigError, RunError
from dl4nlp.core.runs import load_config, load_weights
from dl4nlp.data.batching import EncodedDataset, encode_texts, pad_batch
from dl4nlp.data.splits import DatasetSplits
from dl4nlp.data.vocab import Vocab
from dl4nlp.models.rating_heads import HEADS, LOSSES, RatingModel, RatingScale, RegressionHead, make_head
from dl4nlp.pipelines.base import Pipeline, Prediction
from dl4nlp.pipelines.scoring import check_inputs

#: rating models: ``model.name`` -> the sentence model under the head (built with num_classes = head outputs)
RATING_MODELS: dict[str, str] = {
    "rating_bow": "dl4nlp.models.linear:LogisticRegression",  # linear on bag-of-words: ridge with regress + l2
    "rating_mlp": "dl4nlp.models.mlp:MLPClassifier",
    "rating_rnn": "dl4nlp.models.recurrent:RNNClassifier",
    "rating_gru": "dl4nlp.models.recurrent:GRUClassifier",
    "rating_lstm": "dl4nlp.models.recurrent:LSTMClassifier",
    "rating_bigru": "dl4nlp.models.recurrent:BiGRUClassifier",
    "rating_bilstm": "dl4nlp.models.recurrent:BiLSTMClassifier",
    "rating_ulmfit": "dl4nlp.models.rating_ulmfit:ULMFiTRatingBackbone",  # encoder of a `dl4nlp transfer` run
    "rating_transformer": "dl4nlp.models.rating_transformer:TransformerRatingBackbone",  # fine-tuned MiniLM / BERT
}
HEAD_KEYS = ("head", "loss", "huber_delta")  # model options of the head; the rest go to the sentence model


@dataclass
class HeadOptions:
    head: str = "regress"  # regress | ordinal | classify
    loss: str = "mse"  # regress: mse | huber
    huber_delta: float = 0.1  # huber: on the scale mapped to [0, 1] (0.1 = 0.9 stars on 1-10)

    def __post_init__(self) -> None:
        if self.head not in HEADS:
            raise ConfigError(f"model.head: unknown head '{self.head}' (use {', '.join(HEADS)})")
        if self.loss not in LOSSES:
            raise ConfigError(f"model.loss: unknown loss '{self.loss}' (use {', '.join(LOSSES)})")
        if self.loss != "mse" and self.head != "regress":
            raise ConfigError(f"model.loss: '{self.loss}' applies only to head: regress")
        if not self.huber_delta > 0:
            raise ConfigError(f"model.huber_delta: must be greater than 0, got {self.huber_delta}")


def head_options(cfg: ExperimentConfig) -> HeadOptions:
    where = f"model ({cfg.model_name})"
    return HeadOptions(**{k: coerce(cfg.model[k], type(getattr(HeadOptions, k)), where, k)
                          for k in HEAD_KEYS if k in cfg.model})


def scale_of(cfg: ExperimentConfig) -> RatingScale:
    from dl4nlp.data.ratings import rating_levels, rating_scale

    lo, hi = rating_scale(cfg.data)
    return RatingScale(lo, hi, rating_levels(cfg.data))


def backbone_params(cfg: ExperimentConfig) -> dict[str, Any]:
    return {k: v for k, v in cfg.model_params.items() if k not in HEAD_KEYS}


class WordText:
    """Texts -> word ids of the run's vocabulary (the tokenizer of the sentence classifiers)."""

    def __init__(self, cfg: ExperimentConfig, vocab: Vocab):
        from dl4nlp.pipelines.classification import tokenizer_for

        self.tokenizer, self.vocab, self.max_length = tokenizer_for(cfg), vocab, cfg.data.max_length
        self.pad_id = 0

    def encode(self, texts: list[str]) -> list[list[int]]:
        return encode_texts(texts, self.tokenizer, self.vocab, self.max_length)

    def known(self, text: str) -> bool:
        unk = {self.vocab.unk_id, self.vocab.stoi.get("<pad>", 0)}
        return any(i not in unk for i in self.vocab.encode(self.tokenizer(text)))


def text_encoder(cfg: ExperimentConfig, vocab: Vocab | None) -> Any:
    """How the run turns text into ids: the backbone's own (word pieces), or the run's word vocabulary."""
    cls = registry.resolve(RATING_MODELS, cfg.model_name, "rating model")
    if hasattr(cls, "text_encoder"):
        return cls.text_encoder(backbone_params(cfg), cfg.data.max_length)
    return WordText(cfg, vocab)


def build_rating_model(cfg: ExperimentConfig, vocab: Vocab | None) -> RatingModel:
    opts, scale = head_options(cfg), scale_of(cfg)
    head = make_head(opts.head, scale, opts.loss, opts.huber_delta)
    cls = registry.resolve(RATING_MODELS, cfg.model_name, "rating model")
    params = backbone_params(cfg)
    try:
        backbone = cls.build(params, vocab, head.num_outputs)
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None
    if cfg.model_name == "rating_bow":  # a convex model: start from w = 0, as ridge's solvers do
        torch.nn.init.zeros_(backbone.linear.weight)
    return RatingModel(backbone, head)


# --------------------------------------------------------------------------- data


def read_splits(cfg: ExperimentConfig) -> DatasetSplits:
    """The rated splits; ``data.max_train_examples`` keeps a seeded sample of train (the 1 %-of-ratings runs)."""
    from dl4nlp.data.ratings import read_rating_splits
    from dl4nlp.data.splits import sample_train_and_check

    return sample_train_and_check(read_rating_splits(cfg.data, cfg.run.seed), cfg.data.max_train_examples,
                                  cfg.run.seed, cfg.data.path)


def collate_ratings(items: list[tuple[list[int], float]], pad_id: int = 0) -> dict[str, torch.Tensor]:
    batch = pad_batch([ids for ids, _ in items], pad_id=pad_id)
    batch["label"] = torch.tensor([y for _, y in items], dtype=torch.float32)  # [B] ratings
    return batch


def make_loader(ds: EncodedDataset, batch_size: int, shuffle: bool, bucket: bool, seed: int,
                num_workers: int = 0, pad_id: int = 0) -> torch.utils.data.DataLoader:
    import functools

    from dl4nlp.data.batching import make_loader as bucketed_loader

    collate = functools.partial(collate_ratings, pad_id=pad_id)
    return bucketed_loader(ds, ds.lengths(), collate, batch_size, shuffle, bucket, seed, num_workers)


def with_rating_monitor(cfg: ExperimentConfig) -> ExperimentConfig:
    """A rating run selects on ``dev_mae`` (lower is better) unless the config names another dev metric."""
    if cfg.train.monitor == "dev_acc" and cfg.train.mode == "max":
        cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, monitor="dev_mae", mode="min"))
    return cfg


# --------------------------------------------------------------------------- training


def make_task(cfg: ExperimentConfig, model: RatingModel, callbacks: list | None) -> tuple[Any, list]:
    """The Lightning task (the ULMFiT schedule for a backbone with layer groups) and the fit's callbacks."""
    from dl4nlp.tasks.rating import RatingTask, ULMFiTRatingTask
    from dl4nlp.tasks.ulmfit import GradualUnfreezing

    opts = getattr(model.backbone, "opts", None)
    if not hasattr(model.backbone, "layer_groups") or not hasattr(opts, "unfreeze_every"):
        return RatingTask(model, model.head.scale, cfg.train, cfg.to_dict()), list(callbacks or [])
    transfer = opts.init == "transfer"
    task = ULMFiTRatingTask(model, model.head.scale, cfg.train, opts.factor if transfer else 1.0, opts.cut_frac,
                            opts.ratio, cfg.to_dict())
    unfreeze = GradualUnfreezing(opts.unfreeze_every if transfer else 0)
    return task, [unfreeze, *(callbacks or [])]


def train_rating(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
                 callbacks: list | None = None, run_dir: str | Path | None = None) -> Path:
    """Train one rating model and write its run folder (results.json, rating_plot.png, ...); returns it."""
    import lightning as L

    from dl4nlp.core.runs import save_config
    from dl4nlp.engine.training import fit_and_validate, open_run_dir, resume_checkpoint
    from dl4nlp.pipelines.classification import tokenizer_for

    cfg = with_rating_monitor(cfg)
    resume_ckpt = resume_checkpoint(resume)
    words = Path(resume) / "vocab.json" if resume is not None else None
    vocab = Vocab.load(words) if words is not None and words.is_file() else None
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    splits = read_splits(cfg)  # every input check happens before a folder is made
    backbone_cls = registry.resolve(RATING_MODELS, cfg.model_name, "rating model")
    if vocab is None and hasattr(backbone_cls, "vocab_for"):  # a pretrained encoder brings its vocabulary
        vocab = backbone_cls.vocab_for(backbone_params(cfg))
    if vocab is None and not hasattr(backbone_cls, "text_encoder"):
        tok = tokenizer_for(cfg)
        vocab = Vocab.build([tok(t) for t in splits.train["text"]], cfg.data.min_count, cfg.data.max_vocab)
    text = text_encoder(cfg, vocab)
    enc = {s: EncodedDataset(text.encode(list(getattr(splits, s)["text"])),
                             [float(y) for y in getattr(splits, s)["label"]]) for s in ("train", "dev", "test")}
    model = build_rating_model(cfg, vocab)
    if cfg.model_name == "rating_bow" and isinstance(model.head, RegressionHead) and resume is None:
        with torch.no_grad():  # ridge's intercept: start at the mean training rating (w = 0)
            model.backbone.linear.bias.fill_(float(model.head.scale.to_unit(torch.tensor(enc["train"].labels)).mean()))
    task, callbacks = make_task(cfg, model, callbacks)
    d, t, pad = cfg.data, cfg.train, text.pad_id
    train_loader = make_loader(enc["train"], t.batch_size, True, d.bucket, cfg.run.seed, d.num_workers, pad)
    dev_loader = make_loader(enc["dev"], t.eval_batch_size, False, False, cfg.run.seed, pad_id=pad)
    test_loader = make_loader(enc["test"], t.eval_batch_size, False, False, cfg.run.seed, pad_id=pad)

    path = open_run_dir(cfg, resume, run_dir)
    save_config(path, cfg)
    if vocab is not None:
        vocab.save(path / "vocab.json")
    fitted = fit_and_validate(cfg, path, task, train_loader, dev_loader, resume_ckpt, callbacks)
    if fitted is None:
        return path
    return finish_rating_run(cfg, path, task, fitted, enc, test_loader, len(vocab) if vocab else None, evaluate_test)


def _mean_baseline(enc: dict[str, EncodedDataset], scale: RatingScale, splits: tuple[str, ...]) -> dict[str, float]:
    """MAE and RMSE of always predicting the training mean rating."""
    from dl4nlp.tasks.rating_metrics import rating_scores

    mean = sum(enc["train"].labels) / len(enc["train"])
    out: dict[str, float] = {"train_mean": round(mean, 4)}
    for s in splits:
        gold = enc[s].labels
        sc = rating_scores([mean] * len(gold), gold, scale.lo, scale.hi, scale.levels)
        out.update({f"{s}_mae": sc["mae"], f"{s}_rmse": sc["rmse"]})
    return out


def _unfreezing(trainer: Any) -> dict[str, Any]:
    """ULMFiT runs: how many layer groups trained in each epoch (gradual unfreezing)."""
    from dl4nlp.tasks.ulmfit import GradualUnfreezing

    for cb in trainer.callbacks:
        if isinstance(cb, GradualUnfreezing):
            return {"unfrozen_groups_per_epoch": list(cb.history)}
    return {}


def finish_rating_run(cfg: ExperimentConfig, path: Path, task: Any, fitted: Any, enc: dict[str, EncodedDataset],
                      test_loader: Any, vocab_size: int | None, evaluate_test: bool) -> Path:
    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import write_results
    from dl4nlp.engine.training import count_parameters, provenance, time_to_best
    from dl4nlp.tasks.rating_metrics import rating_plot

    scale, opts = task.scale, head_options(cfg)
    results: dict[str, Any] = {
        "task": "rating", "model": cfg.model_name, "dataset": cfg.data.dataset, "phrases": cfg.data.phrases,
        "head": opts.head, "scale": [scale.lo, scale.hi], "levels": scale.levels,
        **{k: float(v) for k, v in fitted.dev.items()},
        "train_time_s": round(fitted.wall, 2), "epochs_run": fitted.trainer.current_epoch,
        **time_to_best(fitted.trainer), "best_checkpoint": fitted.best.name,
        "params": count_parameters(task.model), "train_examples": len(enc["train"]), "vocab_size": vocab_size,
        **_unfreezing(fitted.trainer),
        "mean_baseline": _mean_baseline(enc, scale, ("dev", "test") if evaluate_test else ("dev",)),
        "hyper_parameters": cfg.key_hyper_parameters(), **provenance(),
    }
    title = f"{cfg.model_name} ({opts.head}) on {cfg.data.dataset}"
    if evaluate_test:
        test = fitted.evaluator.test(task, test_loader, ckpt_path=str(fitted.best), verbose=False)[0]
        results.update({k: float(v) for k, v in test.items()})
        if task.test_predictions is not None:
            pred, gold = task.test_predictions
            rating_plot(pred.numpy(), gold.numpy(), scale.lo, scale.hi, scale.levels, path / "rating_plot.png",
                        f"{title} (test)")
    if (path / "metrics.csv").is_file():
        plots.learning_curves(path / "metrics.csv", path / "learning_curves.png", title,
                              pairs=(("loss", "train_loss", "dev_loss"), ("MAE", "train_mae", "dev_mae")))
    write_results(path, results)
    return path


# --------------------------------------------------------------------------- loading and predicting


class RatingPredictor:
    """A rating run loaded for inference: ``predict`` answers "7.6 stars" with scores ``{"rating": 7.6}``."""

    def __init__(self, run_dir: str | Path, which: str = "best"):
        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        if self.cfg.model_name not in RATING_MODELS:
            raise RunError(f"{self.run_dir}: not a rating run (model '{self.cfg.model_name}')")
        words = self.run_dir / "vocab.json"
        self.vocab = Vocab.load(words) if words.is_file() else None
        self.text = text_encoder(self.cfg, self.vocab)
        self.model = load_weights(build_rating_model(self.cfg, self.vocab), self.run_dir, which=which)
        self.scale: RatingScale = self.model.head.scale

    @torch.no_grad()
    def ratings(self, texts: list[str], batch_size: int = 256) -> torch.Tensor:
        out = []
        for i in range(0, len(texts), batch_size):
            b = pad_batch(self.text.encode(texts[i : i + batch_size]), pad_id=self.text.pad_id)
            out.append(self.model.rating(b["tokens"], b["mask"]))
        return torch.cat(out) if out else torch.empty(0)

    def predict(self, inputs: list[str]) -> list[Prediction]:
        check_inputs(inputs)
        preds = []
        for text, r in zip(inputs, self.ratings(inputs).tolist(), strict=True):
            known = self.text.known(text)
            preds.append(Prediction(text, self.scale.describe(r), {"rating": round(r, 4)},
                                    note=None if known else "no known words; this is the prior"))
        return preds


def _scores(run_dir: str | Path, pred: RatingPredictor, texts: list[str], gold: list[float]) -> dict[str, Any]:
    from dl4nlp.tasks.rating_metrics import rating_scores

    start = time.perf_counter()
    ratings = pred.ratings(texts)
    s = pred.scale
    scores = rating_scores(ratings.numpy(), gold, s.lo, s.hi, s.levels)
    seconds = round(time.perf_counter() - start, 3)
    return {"run": Path(run_dir).name, "examples": len(gold), **scores, "seconds": seconds}


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """MAE, RMSE, Spearman, Pearson, accuracy and within-one of a run's best model on a split of its dataset, or on
    any CSV / TSV / JSONL file with the run's text column and a numeric ``data.label_column`` (``data``)."""
    from math import isnan

    from dl4nlp.core.runs import check_split, read_results
    from dl4nlp.data.ratings import read_rated_records

    pred = RatingPredictor(run_dir)
    if data is None:
        check_split(split)
        ds = getattr(read_splits(pred.cfg), split)
        out = {"split": split, **_scores(run_dir, pred, list(ds["text"]), [float(y) for y in ds["label"]])}
        out["recorded"] = {k: v for k, v in (read_results(run_dir) or {}).items() if k.startswith(split)}
    else:
        column = "rating" if pred.cfg.data.dataset == "imdb" else pred.cfg.data.label_column
        rows = read_rated_records(data, pred.cfg.data.text_column, column, (pred.scale.lo, pred.scale.hi))
        out = {"split": "data", "data": str(data),
               **_scores(run_dir, pred, [r["text"] for r in rows], [r["label"] for r in rows])}
    return {k: (None if isinstance(v, float) and isnan(v) else v) for k, v in out.items()}


PIPELINE = Pipeline(
    name="rating", task="rating", models=RATING_MODELS, train=train_rating, load=RatingPredictor, evaluate=evaluate,
    monitor="dev_mae", mode="min", input_help="a review",
)
