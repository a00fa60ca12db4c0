"""Parallel text for translation: Multi30k task 1 (Elliott et al. 2016) or any pair of sentence-aligned files.

Files follow the Moses convention ``<prefix>.<lang>``: line *i* of ``train.de`` translates line *i* of
``train.en``. ``data.direction: de-en`` reads ``<prefix>.de`` as the source and ``<prefix>.en`` as the target;
``en-de`` swaps them, so one key turns a config around. Multi30k's prefixes are ``train``, ``val`` and
``test_2016_flickr`` (``data.train_file`` / ``dev_file`` / ``test_file`` name others).

Text is split with the Moses tokeniser (``sacremoses``, per language, no XML escaping) and lower-cased when
``data.lowercase``; :func:`detokenize` undoes it for sacreBLEU. Each side has its own vocabulary of the words
seen at least ``data.min_count`` times in train; targets are framed ``<sos> w1 .. wn <eos>``.

A batch (:func:`collate_pairs`)::

    src         LongTensor [B, S]   source ids, right-padded with 0 (<pad>)
    src_mask    BoolTensor [B, S]   True on real source tokens
    src_lengths LongTensor [B]      (on CPU, for packing)
    tgt         LongTensor [B, T]   <sos> y1 .. yn <eos>, right-padded with 0
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import require_file, text_lines
from dl4nlp.data.vocab import Vocab

SOS, EOS = "<sos>", "<eos>"
SPECIALS = (SOS, EOS)
#: Multi30k task 1 split -> file prefix (README of ../shared/data/multi30k)
MULTI30K = {"train": "train", "dev": "val", "test": "test_2016_flickr"}
DATASETS = ("multi30k", "parallel")


def parse_direction(direction: str) -> tuple[str, str]:
    """``"de-en"`` -> ``("de", "en")``; a ConfigError for anything else."""
    parts = str(direction).split("-")
    if len(parts) != 2 or not all(p.isalnum() for p in parts) or parts[0] == parts[1]:
        raise ConfigError(f"data.direction: expected <source>-<target> language codes such as de-en, got "
                          f"'{direction}'")
    return parts[0], parts[1]


@cache
def _moses(lang: str) -> Any:
    from sacremoses import MosesTokenizer

    return MosesTokenizer(lang=lang)


@cache
def _moses_detok(lang: str) -> Any:
    from sacremoses import MosesDetokenizer

    return MosesDetokenizer(lang=lang)


def tokenize(text: str, lang: str, lowercase: bool = True) -> list[str]:
    """Moses tokens of one sentence (``ein Mann fährt Fahrrad.`` -> ``ein mann fährt fahrrad .``)."""
    tokens = _moses(lang).tokenize(text.strip(), escape=False)
    return [t.lower() for t in tokens] if lowercase else tokens


def detokenize(tokens: Sequence[str], lang: str, capitalize: bool = False) -> str:
    """Moses detokenisation; ``capitalize`` upper-cases the first letter (a lower-cased model's output, put
    beside raw references that start with a capital, as Multi30k's all do)."""
    text = _moses_detok(lang).detokenize(list(tokens))
    return text[:1].upper() + text[1:] if capitalize and text else text


def read_lines(path: str | Path) -> list[str]:
    """The lines of a UTF-8 file (line endings dropped); an empty line is a DataError naming file:line."""
    path = require_file(path)
    lines = []
    for n, line in enumerate(text_lines(path), 1):
        text = line.rstrip("\r\n")
        if not text.strip():
            raise DataError(f"{path}:{n}: empty line (every line must hold one sentence)")
        lines.append(text)
    if not lines:
        raise DataError(f"{path}: no sentences")
    return lines


def read_pairs(src_file: str | Path, tgt_file: str | Path) -> tuple[list[str], list[str]]:
    """Raw (source, target) sentences of two aligned files; different line counts are a DataError."""
    src, tgt = read_lines(src_file), read_lines(tgt_file)
    if len(src) != len(tgt):
        shorter, n = (src_file, len(src)) if len(src) < len(tgt) else (tgt_file, len(tgt))
        raise DataError(f"{shorter}:{n + 1}: file ends here but {tgt_file if shorter == src_file else src_file} "
                        f"goes on ({len(src)} source lines, {len(tgt)} target lines)")
    return src, tgt


@dataclass
class ParallelSplit:
    """One split: raw sentences (for BLEU against the untouched references) and their tokens."""

    name: str
    files: tuple[Path, Path]
    src_text: list[str]
    tgt_text: list[str]
    src_tokens: list[list[str]]
    tgt_tokens: list[list[str]]

    def __len__(self) -> int:
        return len(self.src_text)


@dataclass
class ParallelCorpus:
    src_lang: str
    tgt_lang: str
    src_vocab: Vocab
    tgt_vocab: Vocab
    splits: dict[str, ParallelSplit]


def split_files(path: str | Path, prefix: str, direction: str) -> tuple[Path, Path]:
    src, tgt = parse_direction(direction)
    root = Path(path)
    return root / f"{prefix}.{src}", root / f"{prefix}.{tgt}"


def read_split(name: str, src_file: Path, tgt_file: Path, src_lang: str, tgt_lang: str, lowercase: bool,
               max_length: int | None = None, max_examples: int | None = None) -> ParallelSplit:
    """Read and tokenise one split; ``max_length`` drops train pairs with a longer side (never dev/test)."""
    src, tgt = read_pairs(src_file, tgt_file)
    if max_examples is not None:
        src, tgt = src[:max_examples], tgt[:max_examples]
    s_tok = [tokenize(t, src_lang, lowercase) for t in src]
    t_tok = [tokenize(t, tgt_lang, lowercase) for t in tgt]
    if max_length is not None and name == "train":
        keep = [i for i in range(len(src)) if len(s_tok[i]) <= max_length and len(t_tok[i]) <= max_length]
        src, tgt = [src[i] for i in keep], [tgt[i] for i in keep]
        s_tok, t_tok = [s_tok[i] for i in keep], [t_tok[i] for i in keep]
    return ParallelSplit(name, (src_file, tgt_file), src, tgt, s_tok, t_tok)


def read_parallel(d: Any, vocabs: tuple[Vocab, Vocab] | None = None,
                  splits: Sequence[str] = ("train", "dev", "test")) -> ParallelCorpus:
    """The splits of ``data`` (a :class:`~dl4nlp.core.config.DataConfig`) and the two vocabularies (built on train
    unless ``vocabs`` are given, e.g. a trained run's)."""
    if d.dataset not in DATASETS:
        raise ConfigError(f"data.dataset: '{d.dataset}' is not a translation data set (use {', '.join(DATASETS)})")
    src_lang, tgt_lang = parse_direction(d.direction)
    given = {"train": d.train_file, "dev": d.dev_file, "test": d.test_file}
    if d.dataset == "parallel" and not all(given.values()):
        raise ConfigError("data: dataset 'parallel' needs train_file, dev_file and test_file (file prefixes: "
                          f"<path>/<prefix>.{src_lang} and <path>/<prefix>.{tgt_lang})")
    out = {}
    for name in splits:
        files = split_files(d.path, given[name] or MULTI30K[name], d.direction)
        out[name] = read_split(name, *files, src_lang, tgt_lang, d.lowercase, d.max_length,
                               d.max_train_examples if name == "train" else None)
    if vocabs is None:
        if "train" not in out:
            raise ValueError("read_parallel: building vocabularies needs the train split")
        tr = out["train"]
        vocabs = (Vocab.build(tr.src_tokens, d.min_count, d.max_vocab, extra=SPECIALS),
                  Vocab.build(tr.tgt_tokens, d.min_count, d.max_vocab, extra=SPECIALS))
    return ParallelCorpus(src_lang, tgt_lang, vocabs[0], vocabs[1], out)


# --------------------------------------------------------------------------- ids and batches


def encode_source(tokens: Sequence[str], vocab: Vocab) -> list[int]:
    """Source ids (``<unk>`` for unknown words; an empty sentence becomes ``[<unk>]``)."""
    return vocab.encode(tokens) or [vocab.unk_id]


def encode_target(tokens: Sequence[str], vocab: Vocab) -> list[int]:
    """``<sos> w1 .. wn <eos>`` ids."""
    return [vocab.stoi[SOS], *vocab.encode(tokens), vocab.stoi[EOS]]


class ParallelDataset(torch.utils.data.Dataset):
    """(source ids, target ids) pairs held as Python lists."""

    def __init__(self, split: ParallelSplit, src_vocab: Vocab, tgt_vocab: Vocab):
        self.src = [encode_source(t, src_vocab) for t in split.src_tokens]
        self.tgt = [encode_target(t, tgt_vocab) for t in split.tgt_tokens]

    def __len__(self) -> int:
        return len(self.src)

    def __getitem__(self, i: int) -> tuple[list[int], list[int]]:
        return self.src[i], self.tgt[i]

    def lengths(self) -> list[int]:
        return [len(s) for s in self.src]


def pad(seqs: Sequence[Sequence[int]], pad_id: int = 0) -> torch.Tensor:
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad_id, dtype=torch.long)  # [B, T]
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(s, dtype=torch.long)
    return out


def source_batch(srcs: Sequence[Sequence[int]]) -> dict[str, torch.Tensor]:
    src = pad(srcs)  # [B, S]
    lengths = torch.tensor([len(s) for s in srcs], dtype=torch.long)  # [B]
    return {"src": src, "src_mask": src != 0, "src_lengths": lengths}


def collate_pairs(items: Sequence[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
    batch = source_batch([s for s, _ in items])
    batch["tgt"] = pad([t for _, t in items])  # [B, T]
    return batch


def make_pair_loader(data: ParallelDataset, batch_size: int, shuffle: bool, seed: int = 0,
                     bucket: bool = True) -> torch.utils.data.DataLoader:
    """Batches of similar source length (``BucketBatchSampler``); eval loaders keep the file order."""
    from dl4nlp.data.batching import make_loader

    if len(data) == 0:
        raise DataError("no sentence pairs to batch")
    return make_loader(data, data.lengths(), collate_pairs, batch_size, shuffle, bucket and shuffle, seed)
