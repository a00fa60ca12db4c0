"""Translation end to end: parallel text -> Moses tokens -> per-side vocabularies -> encoder-decoder ->
Lightning -> run folder, and translating with a trained run.

Model selection: ``dev_bleu`` (max), sacreBLEU of greedy translations of the dev split after every epoch.
It is the number the family is judged by, and decoding dev greedily costs seconds next to an epoch of training;
dev perplexity is logged beside it (``dev_ppl``) but rewards hedged distributions more than good output.

**The model interface.** The pipeline talks to a model only through these, so another family (e.g. a
transformer encoder-decoder) is one more entry in :data:`MODELS`::

    Class.build(params: dict, src_vocab: int, tgt_vocab: int) -> nn.Module   # params: the config's model.*
    model.encode(src [B, S], src_mask [B, S] bool) -> state                  # nested dict/tuple of tensors,
                                                                              # batch on dim 0 (beam reorders it)
    model.step(last [N] long, state) -> (log_probs [N, V], state, attention [N, S] | None)
    model(src, src_mask, tgt_in [B, T]) -> (logits [B, T, V], attention [B, T, S] | None)   # teacher forced
    model.opts.max_len / .beam_size / .length_alpha                          # decoding defaults (optional)

Token ids: 0 ``<pad>``, 1 ``<unk>``, then ``<sos>``, ``<eos>`` in each vocabulary. A model that needs the
tokens decoded so far (a transformer) keeps them in its state. ``step`` is the one decoding step greedy and
beam search share (:func:`dl4nlp.tasks.translation.decode_ids`); the attention matrix of a translation is read
from a teacher-forced ``forward`` over the decoded tokens (the same states as decoding).

Python API::

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.translation import PIPELINE
    run = PIPELINE.train(load_config("configs/translation/bahdanau.yaml"))
    PIPELINE.load(run).predict(["Ein Mann fährt Fahrrad."])[0].label
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.config import ExperimentConfig
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.data.parallel import (
    EOS,
    SOS,
    ParallelCorpus,
    ParallelDataset,
    ParallelSplit,
    detokenize,
    make_pair_loader,
    read_parallel,
    read_split,
    source_batch,
    tokenize,
)
from dl4nlp.data.vocab import Vocab
from dl4nlp.pipelines.base import Pipeline, Prediction

#: model name -> "module:Class" (Class.build(params, src_vocab, tgt_vocab))
MODELS: dict[str, str] = {
    "seq2seq_noattn": "dl4nlp.models.seq2seq:Seq2Seq",
    "seq2seq_bahdanau": "dl4nlp.models.seq2seq:BahdanauSeq2Seq",
    "seq2seq_luong": "dl4nlp.models.seq2seq:LuongSeq2Seq",
    "seq2seq_transformer": "dl4nlp.models.transformer_scratch:TransformerSeq2Seq",
}
MONITOR, MODE = "dev_bleu", "max"


def build_model(cfg: ExperimentConfig, src_vocab: Vocab, tgt_vocab: Vocab) -> torch.nn.Module:
    from dl4nlp.core.registry import resolve

    if cfg.model_name not in MODELS:
        raise ConfigError(f"model: '{cfg.model_name}' is not a translation model (use {', '.join(MODELS)})")
    cls = resolve(MODELS, cfg.model_name, "translation model")
    return cls.build(cfg.model_params, len(src_vocab), len(tgt_vocab))


def special_ids(vocab: Vocab) -> dict[str, int]:
    if SOS not in vocab or EOS not in vocab:
        raise RunError(f"target vocabulary has no {SOS} / {EOS}: not a translation vocabulary")
    return {"pad": vocab.pad_id, "sos": vocab.stoi[SOS], "eos": vocab.stoi[EOS]}


def decoding(model: Any) -> tuple[int, int, float]:
    """(max_len, beam_size, length_alpha) of a model's options, with defaults for models without them."""
    o = getattr(model, "opts", None)
    return int(getattr(o, "max_len", 100)), int(getattr(o, "beam_size", 1)), float(getattr(o, "length_alpha", 0.0))


@dataclass
class Translator:
    """A model with its vocabularies and languages: ids <-> tokens <-> text."""

    model: torch.nn.Module
    src_vocab: Vocab
    tgt_vocab: Vocab
    src_lang: str
    tgt_lang: str
    lowercase: bool

    def __post_init__(self) -> None:
        self.special = special_ids(self.tgt_vocab)

    def words(self, ids: list[int]) -> tuple[list[str], str]:
        """(target tokens, detokenised text) of decoded ids."""
        toks = [self.tgt_vocab.itos[i] for i in ids if i not in (self.special["pad"], self.special["sos"])]
        return toks, detokenize(toks, self.tgt_lang, capitalize=self.lowercase)

    @torch.no_grad()
    def translate_tokens(self, sources: list[list[str]], beam: int | None = None, batch_size: int = 128
                         ) -> list[list[int]]:
        """Decoded target ids of tokenised sources (greedy when ``beam`` is 1; default: the model's beam)."""
        from dl4nlp.data.parallel import encode_source
        from dl4nlp.tasks.translation import decode_ids

        max_len, default_beam, alpha = decoding(self.model)
        beam = beam or default_beam
        self.model.eval()
        out: list[list[int]] = []
        for i in range(0, len(sources), batch_size):
            b = source_batch([encode_source(s, self.src_vocab) for s in sources[i:i + batch_size]])
            out.extend(decode_ids(self.model, b["src"], b["src_mask"], self.special["sos"], self.special["eos"],
                                  max_len, beam, alpha))
        return out

    @torch.no_grad()
    def attention(self, source: list[str], ids: list[int]) -> list[list[float]] | None:
        """The [target tokens + <eos>, source tokens] attention of one translation (None without attention)."""
        from dl4nlp.data.parallel import encode_source

        b = source_batch([encode_source(source, self.src_vocab)])
        tgt_in = torch.tensor([[self.special["sos"], *ids]])  # [1, T]
        _, attn = self.model(b["src"], b["src_mask"], tgt_in)  # [1, T, S]
        return None if attn is None else attn[0].tolist()


def split_references(split: ParallelSplit, lowercase: bool) -> list[list[str]]:
    return split.tgt_tokens if lowercase else [[t.lower() for t in s] for s in split.tgt_tokens]


def score_split(tr: Translator, split: ParallelSplit, beam: int, batch_size: int = 128) -> dict[str, Any]:
    """BLEU (sacreBLEU, detokenised; and lower-cased tokenised), chrF and decoding speed on one split."""
    from dl4nlp.tasks.translation import translation_scores

    start = time.perf_counter()
    ids = tr.translate_tokens(split.src_tokens, beam, batch_size)
    seconds = time.perf_counter() - start
    words = [tr.words(i) for i in ids]
    hyp_tok = [[t.lower() for t in w] for w, _ in words]
    out = translation_scores(hyp_tok, split_references(split, tr.lowercase), [t for _, t in words], split.tgt_text)
    out.update({"beam": beam, "sentences": len(split), "sentences_per_s": round(len(split) / seconds, 1)})
    out["translations"] = [t for _, t in words]
    return out


@torch.no_grad()
def perplexity(model: torch.nn.Module, data: ParallelDataset, pad_id: int, batch_size: int = 128) -> float:
    """exp(mean cross-entropy per target token, ``<eos>`` included), teacher forced."""
    import math

    model.eval()
    nll, count = 0.0, 0
    for batch in make_pair_loader(data, batch_size, shuffle=False):
        logits, _ = model(batch["src"], batch["src_mask"], batch["tgt"][:, :-1])  # [B, T, V]
        gold = batch["tgt"][:, 1:]
        nll += float(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)), gold.reshape(-1),
                                                       ignore_index=pad_id, reduction="sum"))
        count += int((gold != pad_id).sum())
    return math.exp(nll / max(1, count))


def evaluate_translator(tr: Translator, split: ParallelSplit, name: str, beams: tuple[int, ...]) -> dict[str, Any]:
    """``<name>_ppl``, and per beam ``<name>_bleu`` etc. (beam 1 unsuffixed, others ``..._beam<k>``)."""
    out: dict[str, Any] = {f"{name}_ppl": perplexity(tr.model, ParallelDataset(split, tr.src_vocab, tr.tgt_vocab),
                                                     tr.special["pad"])}
    for beam in beams:
        s = score_split(tr, split, beam)
        suffix = "" if beam == 1 else f"_beam{beam}"
        for key in ("bleu", "bleu_tok_lc", "chrf", "sentences_per_s"):
            out[f"{name}_{key}{suffix}"] = s[key]
        out["bleu_signature"] = s["bleu_signature"]
    return out


# --------------------------------------------------------------------------- training


def read_corpus(cfg: ExperimentConfig, vocabs: tuple[Vocab, Vocab] | None = None,
                splits: tuple[str, ...] = ("train", "dev", "test")) -> ParallelCorpus:
    """The splits of the config's parallel data (vocabularies built on train unless given)."""
    return read_parallel(cfg.data, vocabs, splits)


def hyper_parameters(cfg: ExperimentConfig) -> dict[str, Any]:
    return {**cfg.train.key_hyper_parameters(), "clip": cfg.train.clip_norm, "direction": cfg.data.direction,
            "min_count": cfg.data.min_count, **cfg.model_params}


def train(cfg: ExperimentConfig, resume: str | Path | None = None, evaluate_test: bool = True,
          run_dir: str | Path | None = None, callbacks: list | None = None) -> Path:
    """Train one translation model; the run folder keeps the best checkpoint by dev BLEU (greedy)."""
    import lightning as L

    from dl4nlp.analysis import plots
    from dl4nlp.core.runs import save_config, write_results
    from dl4nlp.engine.training import (
        best_checkpoint,
        count_parameters,
        fit,
        make_trainer,
        open_run_dir,
        provenance,
        resume_checkpoint,
        time_to_best,
    )
    from dl4nlp.tasks.translation import TranslationTask

    resume_ckpt = resume_checkpoint(resume)
    vocabs = load_vocabs(Path(resume)) if resume is not None else None
    L.seed_everything(cfg.run.seed, workers=True, verbose=False)
    corpus = read_corpus(cfg, vocabs)  # every input check happens before a folder is made
    model = build_model(cfg, corpus.src_vocab, corpus.tgt_vocab)
    tr = Translator(model, corpus.src_vocab, corpus.tgt_vocab, corpus.src_lang, corpus.tgt_lang, cfg.data.lowercase)
    cfg.train.monitor, cfg.train.mode = MONITOR, MODE
    dev = corpus.splits["dev"]
    task = TranslationTask(model, cfg.train, tr.special, tr.words, dev.tgt_text, cfg.to_dict())
    t = cfg.train
    data = {k: ParallelDataset(s, corpus.src_vocab, corpus.tgt_vocab) for k, s in corpus.splits.items()}
    train_loader = make_pair_loader(data["train"], t.batch_size, shuffle=True, seed=cfg.run.seed,
                                    bucket=cfg.data.bucket)
    dev_loader = make_pair_loader(data["dev"], t.eval_batch_size, shuffle=False)

    path = open_run_dir(cfg, resume, run_dir)
    save_config(path, cfg)
    corpus.src_vocab.save(path / "src_vocab.json")
    corpus.tgt_vocab.save(path / "tgt_vocab.json")
    trainer = make_trainer(cfg, path, monitor=MONITOR, mode=MODE, callbacks=callbacks, resuming=resume is not None)
    wall = fit(trainer, task, train_loader, dev_loader, resume_ckpt)
    if trainer.interrupted or not trainer.is_global_zero:
        return path
    best = best_checkpoint(trainer, path)
    from dl4nlp.core.runs import load_weights

    load_weights(model, path, which=best.stem)
    _, beam, _ = decoding(model)
    beams = (1,) if beam == 1 else (1, beam)
    results: dict[str, Any] = {
        "task": "translation", "model": cfg.model_name, "dataset": cfg.data.dataset, "direction": cfg.data.direction,
        **evaluate_translator(tr, dev, "dev", beams),
        "params": count_parameters(model), "train_time_s": round(wall, 2), "epochs_run": trainer.current_epoch,
        **time_to_best(trainer), "best_checkpoint": best.name,
        "vocab_size": {"src": len(corpus.src_vocab), "tgt": len(corpus.tgt_vocab)},
        "sentences": {k: len(s) for k, s in corpus.splits.items()},
        "hyper_parameters": hyper_parameters(cfg), **provenance(),
    }
    if evaluate_test:
        results.update({k: v for k, v in evaluate_translator(tr, corpus.splits["test"], "test", beams).items()
                        if k != "bleu_signature"})
    if (path / "metrics.csv").is_file():
        plots.learning_curves(path / "metrics.csv", path / "learning_curves.png",
                              f"{cfg.model_name} on {cfg.data.dataset} {cfg.data.direction}",
                              pairs=(("loss (nats/token)", "train_loss", "dev_loss"),
                                     ("perplexity", "train_ppl", "dev_ppl")))
    write_results(path, results)
    return path


# --------------------------------------------------------------------------- a trained run


def load_vocabs(run_dir: Path) -> tuple[Vocab, Vocab]:
    return Vocab.load(run_dir / "src_vocab.json"), Vocab.load(run_dir / "tgt_vocab.json")


def load_translator(run_dir: str | Path, which: str = "best") -> tuple[Translator, ExperimentConfig]:
    from dl4nlp.core.runs import load_config, load_weights
    from dl4nlp.data.parallel import parse_direction

    run = Path(run_dir)
    cfg = load_config(run)
    if cfg.model_name not in MODELS:
        raise RunError(f"{run}: not a translation run (model '{cfg.model_name}')")
    src_vocab, tgt_vocab = load_vocabs(run)
    model = load_weights(build_model(cfg, src_vocab, tgt_vocab), run, which=which)
    src_lang, tgt_lang = parse_direction(cfg.data.direction)
    return Translator(model, src_vocab, tgt_vocab, src_lang, tgt_lang, cfg.data.lowercase), cfg


class TranslationPredictor:
    """:class:`~dl4nlp.pipelines.base.Predictor` of a translation run: ``label`` is the translation; ``extra``
    holds ``source_tokens``, ``target_tokens`` and ``attention`` ([target tokens + <eos>] x [source tokens])."""

    def __init__(self, run_dir: str | Path, beam: int | None = None):
        self.run_dir = Path(run_dir)
        self.translator, self.cfg = load_translator(self.run_dir)
        self.beam = beam

    def predict(self, inputs: list[str]) -> list[Prediction]:
        from dl4nlp.pipelines.scoring import check_inputs

        check_inputs(inputs)
        tr = self.translator
        sources = [tokenize(s, tr.src_lang, tr.lowercase) for s in inputs]
        if not all(sources):
            raise DataError("a sentence to translate has no tokens")
        out = []
        for text, src, ids in zip(inputs, sources, tr.translate_tokens(sources, self.beam), strict=True):
            toks, translation = tr.words(ids)
            extra = {"source_tokens": src, "target_tokens": toks, "attention": tr.attention(src, ids)}
            out.append(Prediction(text, translation, extra=extra))
        return out


def evaluate(run_dir: str | Path, split: str = "test", data: str | Path | None = None,
             beam: int | None = None) -> dict[str, Any]:
    """Perplexity, BLEU (sacreBLEU and lower-cased tokenised), chrF and sentences/s of a run's best model on
    a split of its data, or on any aligned file pair (``data``: ``SRC_FILE,TGT_FILE`` or a prefix P read as
    ``P.<src>`` and ``P.<tgt>``), greedy and with the model's beam (or ``beam``)."""
    from dl4nlp.core.runs import check_split

    tr, cfg = load_translator(run_dir)
    if data is None:
        check_split(split)
        part = read_corpus(cfg, (tr.src_vocab, tr.tgt_vocab), (split,)).splits[split]
    else:
        files = str(data).split(",")
        if len(files) == 1:
            files = [f"{data}.{tr.src_lang}", f"{data}.{tr.tgt_lang}"]
        if len(files) != 2:
            raise DataError(f"--data '{data}': give SRC_FILE,TGT_FILE or a prefix P (P.{tr.src_lang}, "
                            f"P.{tr.tgt_lang})")
        part = read_split("data", Path(files[0]), Path(files[1]), tr.src_lang, tr.tgt_lang, cfg.data.lowercase)
    _, default_beam, _ = decoding(tr.model)
    beam = beam or default_beam
    res = evaluate_translator(tr, part, "eval", (1,) if beam == 1 else (1, beam))
    res = {k.removeprefix("eval_"): v for k, v in res.items()}
    return {"run": Path(run_dir).name, "split": split if data is None else None, "data": str(data) if data else None,
            "direction": cfg.data.direction, **res}


PIPELINE = Pipeline(
    name="translation", task="translation", models=MODELS, train=train, load=TranslationPredictor,
    evaluate=evaluate, monitor=MONITOR, mode=MODE, input_help="a sentence in the source language",
)
