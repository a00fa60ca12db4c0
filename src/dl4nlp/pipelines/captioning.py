"""Image captioning end to end: caption files + images -> cached CNN features -> decoder -> run folder.

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.captioning import train_captioner, CaptionModel, evaluate_captions

    run = train_captioner(load_config("configs/captioning/rsicd-attention.yaml"))
    cm = CaptionModel(run)
    result = cm.caption("my_image.jpg", beam_size=3)     # .words, .alphas [T, L], .score
    evaluate_captions(run, dataset="nwpu_captions", path="../shared/data/nwpu_captions", beam_sizes=(1, 3))
"""

from __future__ import annotations

import copy
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig
from dl4nlp.core.errors import ConfigError
from dl4nlp.core.io import write_text
from dl4nlp.data.captions import (
    END,
    START,
    CaptionImage,
    CaptionSplits,
    build_caption_vocab,
    caption_tokens,
    decode_caption,
    encode_caption,
    open_image,
    read_caption_splits,
)
from dl4nlp.data.image_features import AUGMENTATIONS, FeatureSet, cached_features
from dl4nlp.data.tokenize import Tokenizer
from dl4nlp.data.vocab import Vocab
from dl4nlp.models.captioner import Captioner, CaptionerOptions, make_options
from dl4nlp.models.image_encoder import ImageEncoder, build_encoder
from dl4nlp.pipelines.base import Pipeline

#: ``model.name`` -> the decoder class (the image encoder is chosen by ``model.encoder``)
MODEL_NAMES: dict[str, str] = {
    "show_attend_tell": "dl4nlp.models.captioner:Captioner",
    "show_and_tell": "dl4nlp.models.captioner:Captioner",
}

# --------------------------------------------------------------------------- data


class CaptionDataset(torch.utils.data.Dataset):
    """Training examples: one (image row, caption ids) pair per reference caption.

    ``features`` is [N, L, D], or [T, N, L, D] with augmentation: then each example of a batch takes the
    features of one of the T transformed images, drawn uniformly (torch's global generator, so a seeded and
    resumed run draws the same)."""

    def __init__(self, features: torch.Tensor, pairs: list[tuple[int, list[int]]]):
        self.features, self.pairs = features, pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, i: int) -> tuple[int, list[int]]:
        return self.pairs[i]

    def collate(self, items: list[tuple[int, list[int]]]) -> dict[str, torch.Tensor]:
        rows = torch.tensor([r for r, _ in items])
        T = max(len(ids) for _, ids in items)
        tokens = torch.zeros(len(items), T, dtype=torch.long)  # <pad> = 0
        for i, (_, ids) in enumerate(items):
            tokens[i, : len(ids)] = torch.tensor(ids)
        if self.features.dim() == 4:  # augmented: one random transform per example
            which = torch.randint(self.features.shape[0], (len(items),))
            return {"features": self.features[which, rows].float(), "tokens": tokens}
        return {"features": self.features[rows].float(), "tokens": tokens}


class ImageDataset(torch.utils.data.Dataset):
    """Evaluation examples: one per image, with all its reference captions (ids and text)."""

    def __init__(self, features: torch.Tensor, captions: list[list[list[int]]], references: list[list[str]]):
        self.features, self.captions, self.references = features, captions, references

    def __len__(self) -> int:
        return len(self.captions)

    def __getitem__(self, i: int) -> int:
        return i

    def collate(self, rows: list[int]) -> dict[str, Any]:
        caps = [(j, ids) for j, r in enumerate(rows) for ids in self.captions[r]]
        T = max(len(ids) for _, ids in caps)
        tokens = torch.zeros(len(caps), T, dtype=torch.long)
        for i, (_, ids) in enumerate(caps):
            tokens[i, : len(ids)] = torch.tensor(ids)
        return {
            "features": self.features[torch.tensor(rows)].float(),
            "tokens": tokens,
            "caption_image": torch.tensor([j for j, _ in caps]),
            "references": [self.references[r] for r in rows],
        }


@dataclass
class CaptionData:
    splits: CaptionSplits
    vocab: Vocab
    tokenizer: Tokenizer
    encoder: ImageEncoder
    features: dict[str, FeatureSet]
    train: CaptionDataset
    dev: ImageDataset
    test: ImageDataset


def check_model(cfg: ExperimentConfig) -> CaptionerOptions:
    if cfg.model_name not in MODEL_NAMES:
        raise ConfigError(f"model: '{cfg.model_name}' is not a captioning model (use {', '.join(MODEL_NAMES)})")
    try:
        return make_options(cfg.model_name, cfg.model_params, f"model ({cfg.model_name})")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"model ({cfg.model_name}): {exc}") from None


def reference_texts(images: list[CaptionImage], tok: Tokenizer) -> list[list[str]]:
    """Each image's references as evaluated: tokenised, lower-cased, no punctuation, untruncated."""
    return [[" ".join(caption_tokens(c, tok)) for c in im.captions] for im in images]


def encoder_for(opts: CaptionerOptions) -> ImageEncoder:
    return build_encoder(opts.encoder, opts.encoder_weights, opts.image_size)


def split_features(
    cfg: ExperimentConfig,
    encoder: ImageEncoder,
    images: list[CaptionImage],
    split: str,
    dataset: str | None = None,
    progress: bool = True,
    transform: str = "identity",
) -> FeatureSet:
    label = f"{dataset or cfg.data.dataset}-{split}"
    return cached_features(
        [im.image for im in images], encoder, cfg.data.cache_dir, label, batch_size=32, progress=progress,
        transform=transform,
    )


def augmentation(cfg: ExperimentConfig) -> list[str]:
    """The image transforms training draws from (``data.augment``); checked before anything is read."""
    if cfg.data.augment not in AUGMENTATIONS:
        raise ConfigError(f"data.augment: unknown value '{cfg.data.augment}' (use {', '.join(AUGMENTATIONS)})")
    return AUGMENTATIONS[cfg.data.augment]


def prepare_captions(cfg: ExperimentConfig, vocab: Vocab | None = None) -> CaptionData:
    """Read the splits, build (or reuse) the vocabulary on train, get every split's features."""
    opts = check_model(cfg)
    transforms = augmentation(cfg)
    splits = read_caption_splits(cfg.data, cfg.run.seed)
    if cfg.data.max_train_examples:
        g = torch.Generator().manual_seed(cfg.run.seed)
        order = torch.randperm(len(splits.train), generator=g).tolist()[: cfg.data.max_train_examples]
        splits.train = [splits.train[i] for i in sorted(order)]
    for split, n in splits.missing_images.items():
        print(f"note: {cfg.data.path}: {n} captioned {split} images have no image file; skipped", file=sys.stderr)
    tok = Tokenizer(lowercase=cfg.data.lowercase)
    ml = cfg.data.max_length
    train_tokens = [[caption_tokens(c, tok, ml) for c in im.captions] for im in splits.train]
    if vocab is None:
        vocab = build_caption_vocab([t for caps in train_tokens for t in caps], cfg.data.min_count, cfg.data.max_vocab)
    encoder = encoder_for(opts)
    progress = cfg.trainer.progress_bar
    feats = {s: split_features(cfg, encoder, splits.split(s), s, progress=progress) for s in ("train", "dev", "test")}
    train_features = feats["train"].features  # [N, L, D]
    if len(transforms) > 1:  # [T, N, L, D]: the train images under every transform (dev / test never)
        for t in transforms[1:]:
            feats[f"train-{t}"] = split_features(cfg, encoder, splits.train, "train", progress=progress, transform=t)
        sets = [feats["train"]] + [feats[f"train-{t}"] for t in transforms[1:]]
        train_features = torch.stack([f.features for f in sets])
        for i, f in enumerate(sets):  # views into the stack: the features are held once
            f.features = train_features[i]
    # identical sentences of one image are trained on once (RSICD repeats sentences to reach five)
    pairs = [
        (i, encode_caption(list(t), vocab))
        for i, caps in enumerate(train_tokens)
        for t in dict.fromkeys(tuple(c) for c in caps)
    ]

    def images(split: str) -> ImageDataset:
        ims = splits.split(split)
        ids = [[encode_caption(caption_tokens(c, tok, ml), vocab) for c in im.captions] for im in ims]
        return ImageDataset(feats[split].features, ids, reference_texts(ims, tok))

    return CaptionData(
        splits,
        vocab,
        tok,
        encoder,
        feats,
        CaptionDataset(train_features, pairs),
        images("dev"),
        images("test"),
    )


def make_loader(
    ds: CaptionDataset | ImageDataset, batch_size: int, shuffle: bool, seed: int
) -> torch.utils.data.DataLoader:
    """Batches in an order that depends only on ``seed`` and the epoch (Lightning sets it), so a resumed run
    trains on the batches the killed one would have (a torch generator's position is not in the checkpoint)."""
    from dl4nlp.data.batching import make_loader as bucketed_loader

    return bucketed_loader(ds, [1] * len(ds), ds.collate, batch_size, shuffle, False, seed, own_generator=False)


def special_ids(vocab: Vocab) -> dict[str, int]:
    return {"pad": vocab.pad_id, "start": vocab.stoi[START], "end": vocab.stoi[END]}


# --------------------------------------------------------------------------- decoding and scoring


@torch.no_grad()
def decode(
    model: Captioner,
    features: torch.Tensor,
    vocab: Vocab,
    beam_size: int,
    max_len: int,
    length_alpha: float = 0.0,
    batch_size: int = 64,
) -> list[list[str]]:
    """Captions (word lists) for features [N, L, D]: batched greedy for beam 1, else beam search."""
    from dl4nlp.engine.generation import beam_search
    from dl4nlp.tasks.captioning import greedy_ids

    model.eval()
    sp = special_ids(vocab)
    out: list[list[str]] = []
    for i in range(0, features.size(0), batch_size):
        chunk = features[i : i + batch_size].float()
        if beam_size == 1:
            for ids in greedy_ids(model, chunk, sp["start"], sp["end"], max_len):
                out.append(decode_caption(ids, vocab))
            continue
        for j in range(chunk.size(0)):
            state = model.init_state(chunk[j : j + 1])
            ids, _ = beam_search(
                model.log_prob_step,
                sp["start"],
                state,
                beam_size,
                max_len,
                eos_id=sp["end"],
                alpha=length_alpha,
            )
            out.append(decode_caption(ids, vocab))
    return out


def score_split(
    model: Captioner,
    ds: ImageDataset,
    vocab: Vocab,
    beam_size: int,
    max_len: int,
    length_alpha: float = 0.0,
    meteor: bool = False,
) -> tuple[dict[str, float], list[str], float]:
    """(scores, hypotheses, seconds of decoding) of one split; scores: BLEU-1..4, CIDEr-D (and METEOR)."""
    from dl4nlp.tasks.captioning import caption_scores

    start = time.perf_counter()
    hyps = [" ".join(w) for w in decode(model, ds.features, vocab, beam_size, max_len, length_alpha)]
    secs = time.perf_counter() - start
    return caption_scores(hyps, ds.references, meteor), hyps, secs


# --------------------------------------------------------------------------- training


def train_captioner(
    cfg: ExperimentConfig,
    resume: str | Path | None = None,
    run_dir: str | Path | None = None,
    callbacks: list | None = None,
    evaluate_test: bool = True,
) -> Path:
    """Train a captioner and write its run folder (``results.json`` with ``task: captioning``);
    ``evaluate_test=False`` leaves the test images unscored (model selection in sweeps)."""
    import lightning as L

    from dl4nlp.core.runs import load_state_dict, save_config, write_results
    from dl4nlp.engine.training import best_checkpoint, fit, make_trainer, open_run_dir, resume_checkpoint
    from dl4nlp.tasks.captioning import CaptioningTask

    opts = check_model(cfg)
    resume_ckpt = resume_checkpoint(resume)
    vocab = Vocab.load(Path(resume) / "vocab.json") if resume is not None else None

    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    data = prepare_captions(cfg, vocab)  # all input validation (and feature extraction) happens here
    model = Captioner(len(data.vocab), data.encoder.dim, opts)
    task = CaptioningTask(model, cfg.train, special_ids(data.vocab), data.vocab.itos, cfg.to_dict())
    t = cfg.train
    train_loader = make_loader(data.train, t.batch_size, True, cfg.run.seed)
    dev_loader = make_loader(data.dev, t.eval_batch_size, False, cfg.run.seed)

    path = open_run_dir(cfg, resume, run_dir)
    save_config(path, cfg)
    data.vocab.save(path / "vocab.json")

    monitor, mode = (t.monitor, t.mode) if t.monitor != "dev_acc" else ("dev_bleu4", "max")
    trainer = make_trainer(cfg, path, monitor=monitor, mode=mode, callbacks=callbacks, resuming=resume is not None)
    wall = fit(trainer, task, train_loader, dev_loader, resume_ckpt)
    if trainer.interrupted or not trainer.is_global_zero:
        return path
    best = best_checkpoint(trainer, path)
    model.load_state_dict(load_state_dict(path, best.stem))
    model.eval()
    results = _captioning_results(cfg, opts, data, model, trainer, best, wall)
    results.update(_caption_scores(path, data, model, opts, evaluate_test))
    _captioning_figures(cfg, opts, data, path, best)
    write_results(path, results)
    return path


def _captioning_results(
    cfg: ExperimentConfig,
    opts: CaptionerOptions,
    data: CaptionData,
    model: Captioner,
    trainer: Any,
    best: Path,
    wall: float,
) -> dict[str, Any]:
    """results.json of a trained captioner before its scores: model, data, timings, notes and provenance."""
    from dl4nlp.engine.training import count_parameters, provenance, time_to_best

    feats = data.features
    return {
        "task": "captioning",
        "model": cfg.model_name,
        "dataset": cfg.data.dataset,
        "attention": opts.attention,
        "cell": opts.cell,
        "encoder": data.encoder.name,
        "params": count_parameters(model),
        "train_time_s": round(wall, 2),
        "feature_time_s": {s: round(f.seconds, 2) for s, f in feats.items()},
        "features_reused": {s: f.reused for s, f in feats.items()},
        "grid": list(feats["train"].features.shape[1:]),
        "epochs_run": trainer.current_epoch,
        **time_to_best(trainer),
        "best_checkpoint": best.name,
        "train_images": len(data.splits.train),
        "train_captions": len(data.train),
        "dev_images": len(data.splits.dev),
        "test_images": len(data.splits.test),
        "missing_images": data.splits.missing_images,
        "vocab_size": len(data.vocab),
        "cider": "CIDEr-D x 100 (pycocoevalcap's Cider) on the same tokens; METEOR: dl4nlp caption-eval",
        "bleu": "sacrebleu corpus BLEU-n (max_ngram_order=n), tokenize=none on dl4nlp-tokenised lower-case "
        "captions without punctuation, smooth=none, all references",
        "hyper_parameters": cfg.key_hyper_parameters(data_keys=("augment",)),
        **provenance(),
    }


def _caption_scores(
    path: Path, data: CaptionData, model: Captioner, opts: CaptionerOptions, evaluate_test: bool
) -> dict[str, Any]:
    """Dev (and test) BLEU-1..4 and CIDEr-D and decoding seconds, greedy and with the model's beam size, plus
    ``dev_bleu4`` / ``test_bleu4`` at that beam size; the test captions go to ``test_captions_beam<k>.tsv``."""
    out: dict[str, Any] = {}
    beams = sorted({1, opts.beam_size})
    for split, ds in (("dev", data.dev), ("test", data.test))[: 2 if evaluate_test else 1]:
        for k in beams:
            scores, hyps, secs = score_split(model, ds, data.vocab, k, opts.max_len, opts.length_alpha)
            for name, value in scores.items():  # bleu1..bleu4, cider
                out[f"{split}_{name}_beam{k}"] = round(value, 2)
            out[f"{split}_decode_s_beam{k}"] = round(secs, 2)
            if split == "test":
                rows = [f"{im.name}\t{h}" for im, h in zip(data.splits.test, hyps, strict=True)]
                write_text(path / f"test_captions_beam{k}.tsv", "image\tcaption\n" + "\n".join(rows) + "\n")
    out["dev_bleu4"] = out[f"dev_bleu4_beam{beams[-1]}"]
    if evaluate_test:
        out["test_bleu4"] = out[f"test_bleu4_beam{beams[-1]}"]
    return out


def _captioning_figures(
    cfg: ExperimentConfig, opts: CaptionerOptions, data: CaptionData, path: Path, best: Path
) -> None:
    """learning_curves.png and, for an attention model, attention_example.png (the first test image at the
    best checkpoint); a figure that fails is a warning, never a lost run."""
    from dl4nlp.analysis import plots

    if (path / "metrics.csv").is_file():
        plots.learning_curves(
            path / "metrics.csv",
            path / "learning_curves.png",
            f"{cfg.model_name} on {cfg.data.dataset}",
            pairs=(("loss", "train_loss", "dev_loss"), ("BLEU-4 (greedy)", "", "dev_bleu4")),
        )
    if opts.attention and data.splits.test:
        try:
            cm = CaptionModel(path, which=best.stem, encoder=data.encoder)
            res = cm.caption(data.splits.test[0].image, opts.beam_size)
            from dl4nlp.analysis.caption_plots import attention_grid

            attention_grid(
                res.image,
                res.words,
                res.alphas,
                res.grid,
                path / "attention_example.png",
                title=data.splits.test[0].name,
            )
        except Exception as exc:  # a figure must never lose a finished run
            print(f"warning: attention example not drawn ({exc})", file=sys.stderr)


# --------------------------------------------------------------------------- loading and captioning


@dataclass
class CaptionResult:
    words: list[str]
    alphas: torch.Tensor | None  # [len(words) + 1, L]: attention at each word and at <end>
    grid: tuple[int, int]
    score: float  # log-probability of the caption (incl. <end>)
    image: Any  # the resized, cropped PIL image the encoder saw


class CaptionModel:
    """A trained captioning run loaded for inference (no Lightning needed)."""

    def __init__(self, run_dir: str | Path, which: str = "best", encoder: ImageEncoder | None = None):
        from dl4nlp.core.runs import load_config, load_weights

        self.run_dir = Path(run_dir)
        self.cfg = load_config(self.run_dir)
        self.opts = check_model(self.cfg)
        self.vocab = Vocab.load(self.run_dir / "vocab.json")
        self.tokenizer = Tokenizer(lowercase=self.cfg.data.lowercase)
        self.encoder = encoder or encoder_for(self.opts)
        self.model = load_weights(Captioner(len(self.vocab), self.encoder.dim, self.opts), self.run_dir, which=which)

    @torch.no_grad()
    def caption(self, image: str | Path, beam_size: int | None = None, max_len: int | None = None) -> CaptionResult:
        """Caption one image file (or ``zip::member``); a bad image raises DataError naming the file."""
        from dl4nlp.engine.generation import beam_search

        img = open_image(str(image))
        pre = self.encoder.preprocess
        x = pre(img).unsqueeze(0)  # [1, 3, S, S]
        fmap = self.encoder.feature_map(x)  # [1, D, h, w]
        grid = (fmap.size(2), fmap.size(3))
        feats = fmap.flatten(2).transpose(1, 2)  # [1, L, D]
        sp = special_ids(self.vocab)
        k = beam_size or self.opts.beam_size
        state = self.model.init_state(feats)
        ids, _ = beam_search(
            self.model.log_prob_step,
            sp["start"],
            state,
            k,
            max_len or self.opts.max_len,
            eos_id=sp["end"],
            alpha=self.opts.length_alpha,
        )
        words = decode_caption(ids, self.vocab)
        # attention of the chosen caption: re-run it teacher-forced (deterministic in eval mode)
        _, alphas = self.model(feats, torch.tensor([[sp["start"], *ids]]))
        score = self.model.sequence_log_prob(feats, ids, sp["start"], sp["end"])
        return CaptionResult(words, None if alphas is None else alphas[0], grid, score, pre.resized(img))


def evaluate_captions(
    run_dir: str | Path,
    dataset: str | None = None,
    path: str | None = None,
    split: str = "test",
    beam_sizes: tuple[int, ...] = (1, 3),
    progress: bool = True,
    out_dir: str | Path | None = None,
    meteor: bool = True,
    data_config: Any = None,
) -> dict[str, Any]:
    """BLEU-1..4, CIDEr-D and METEOR of a run on a split of its own dataset or of another (cross-dataset)
    caption set. METEOR needs ``java``; without it (or with ``meteor=False``) the result says why it is
    missing instead of a score."""
    from dl4nlp.tasks.captioning import meteor_available

    cm = CaptionModel(run_dir)
    cfg = copy.deepcopy(cm.cfg)
    if data_config is not None:
        cfg.data = data_config
    if dataset:
        cfg.data.dataset = dataset
    if path:
        cfg.data.path = path
    splits = read_caption_splits(cfg.data, cfg.run.seed)
    images = splits.split(split)
    if not images:
        raise ConfigError(f"{cfg.data.path}: the {split} split of {cfg.data.dataset} is empty")
    fs = split_features(cfg, cm.encoder, images, split, cfg.data.dataset, progress)
    ds = ImageDataset(fs.features, [[] for _ in images], reference_texts(images, cm.tokenizer))
    out: dict[str, Any] = {
        "run": cm.run_dir.name,
        "dataset": cfg.data.dataset,
        "path": cfg.data.path,
        "split": split,
        "images": len(images),
        "feature_time_s": round(fs.seconds, 2),
        "features_reused": fs.reused,
    }
    missing = meteor_available() if meteor else "not asked for (--no-meteor)"
    if missing:
        out["meteor"] = f"not computed: {missing}"
    for k in beam_sizes:
        scores, hyps, secs = score_split(
            cm.model, ds, cm.vocab, k, cm.opts.max_len, cm.opts.length_alpha, meteor=not missing
        )
        for name, value in scores.items():  # bleu1..bleu4, cider, meteor
            out[f"{name}_beam{k}"] = round(value, 2)
        out[f"decode_s_beam{k}"] = round(secs, 2)
        if out_dir is not None:
            rows = [f"{im.name}\t{h}" for im, h in zip(images, hyps, strict=True)]
            write_text(
                Path(out_dir) / f"{cfg.data.dataset}-{split}-beam{k}.tsv",
                "image\tcaption\n" + "\n".join(rows) + "\n",
            )
    return out


# --------------------------------------------------------------------------- the pipeline


class CaptionPredictor:
    """:class:`~dl4nlp.pipelines.base.Predictor` of a captioner: each input is an image file (or
    ``archive.zip::member``); the answer is its beam-search caption and log-probability."""

    def __init__(self, run_dir: str | Path):
        self.model = CaptionModel(run_dir)
        self.run_dir = self.model.run_dir

    def predict(self, inputs: list[str]) -> list[Any]:
        from dl4nlp.pipelines.base import Prediction
        from dl4nlp.pipelines.scoring import check_inputs

        check_inputs(inputs)
        out = []
        for ref in inputs:
            res = self.model.caption(ref)
            out.append(Prediction(ref, " ".join(res.words), {"log_prob": res.score}))
        return out


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None) -> dict[str, Any]:
    """BLEU / CIDEr-D / METEOR on a split of the run's caption set, or on a caption file of your own images
    (``data``: ``<image name>\t<caption>`` lines, the images beside it or in ``images/``)."""
    if data is None:
        return evaluate_captions(run_dir, split=split, progress=False)
    from dl4nlp.core.io import require_file

    path = require_file(data)
    from dl4nlp.core.runs import load_config

    cm_cfg = copy.deepcopy(load_config(run_dir))
    cm_cfg.data.dataset, cm_cfg.data.path = "captions", str(path.parent)
    cm_cfg.data.train_file = cm_cfg.data.dev_file = None
    cm_cfg.data.test_file = path.name
    return evaluate_captions(run_dir, split="test", progress=False, data_config=cm_cfg.data)


def train(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True, **kw: Any) -> Path:
    return train_captioner(cfg, resume=resume, evaluate_test=evaluate_test, **kw)


PIPELINE = Pipeline(
    name="captioning", task="captioning", models=MODEL_NAMES, train=train, load=CaptionPredictor,
    evaluate=evaluate, monitor="dev_bleu4", input_help="an image file",
)
