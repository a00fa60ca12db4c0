"""Language-model corpora: WikiText-2, Penn Treebank (Mikolov) and any text file, word- or character-level,
turned into one long token stream per split and cut into truncated-BPTT windows.

Stream layout (the usual recipe of Zaremba et al. 2014 and pytorch/examples ``word_language_model``,
but batch-first)::

    corpus      w_1 w_2 ... w_n <eos> w_1 ... <eos> ...        one stream, one <eos> per line
    batchify    [B, N]   row b = tokens b*N ... (b+1)*N - 1     (the tail that does not fill a row is dropped)
    window i    x = data[:, i*L : i*L + L]      [B, L]
                y = data[:, i*L + 1 : i*L + L + 1]              (next token; the last window may be shorter)

Row ``b`` of window ``i + 1`` continues row ``b`` of window ``i``, so the hidden state at the end of a
window is the right initial state for the next one (truncated back-propagation through time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import Dataset

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import require_file, text_lines
from dl4nlp.data.vocab import Vocab

EOS = "<eos>"

#: known corpora: name -> (train, valid, test) file names inside ``data.path``
CORPORA: dict[str, tuple[str, str, str]] = {
    "wikitext2": ("wiki.train.tokens", "wiki.valid.tokens", "wiki.test.tokens"),
    "ptb": ("ptb.train.txt", "ptb.valid.txt", "ptb.test.txt"),
}
LEVELS = ("word", "char")


def line_tokens(line: str, level: str = "word", lowercase: bool = False) -> list[str]:
    """Tokens of one line plus ``<eos>``; a blank line is just ``<eos>`` (as in the WikiText-2 counts).

    word level: the corpora are pre-tokenised, so tokens are whitespace-separated.
    char level: every character of the stripped line, with ``" "`` between words.
    """
    text = line.strip()
    if lowercase:
        text = text.lower()
    if level == "word":
        return [*text.split(), EOS]
    if level == "char":
        return [*" ".join(text.split()), EOS]
    raise ConfigError(f"data.level: unknown level '{level}' (use {', '.join(LEVELS)})")


def read_tokens(path: str | Path, level: str = "word", lowercase: bool = False) -> list[str]:
    """The token stream of a UTF-8 text file (one ``<eos>`` per line), with a clear error for bad files."""
    path = require_file(path)
    out: list[str] = []
    for line in text_lines(path):
        out.extend(line_tokens(line, level, lowercase))
    if not out or all(t == EOS for t in out):
        raise DataError(f"{path}: no text found (the file is empty or blank)")
    return out


def build_lm_vocab(tokens: list[str], min_count: int = 1, max_size: int | None = None) -> Vocab:
    """``<pad>``, ``<unk>``, ``<eos>`` then the training tokens by frequency. Corpora that already contain
    ``<unk>`` (WikiText-2, PTB) keep it as the same id: the vocabulary is the published one plus <pad>.

    The ids are ranks by decreasing training frequency (ties alphabetical) after the three specials, which is
    what the adaptive softmax's cutoffs assume (``models/adaptive_softmax.py``): ids below ``cutoffs[0]`` are
    the most frequent words. The specials sit in the head too: ``<eos>`` and ``<unk>`` are among the most
    frequent tokens of WikiText-2 / PTB and ``<pad>`` never occurs in a stream. The order is the run's
    ``vocab.json``, so a saved run is read back with the same ids."""
    return Vocab.build([tokens], min_count=min_count, max_size=max_size, extra=[EOS])


@dataclass
class LMCorpus:
    """Token-id streams of the three splits and the vocabulary built on train."""

    vocab: Vocab
    train: torch.Tensor  # [n_train] long
    valid: torch.Tensor
    test: torch.Tensor
    level: str = "word"
    files: tuple[Path, ...] = ()  # the train, valid, test files read (named in error messages)

    def sizes(self) -> dict[str, int]:
        return {"train": self.train.numel(), "valid": self.valid.numel(), "test": self.test.numel()}


def corpus_files(dataset: str, path: str | Path, train_file: str | None = None, dev_file: str | None = None,
                 test_file: str | None = None) -> tuple[Path, Path, Path]:
    """The three split files: a known corpus's official names, or ``data.*_file`` for ``dataset: text``."""
    folder = Path(path)
    if dataset in CORPORA:
        tr, dv, te = CORPORA[dataset]
        names = (train_file or tr, dev_file or dv, test_file or te)
    elif dataset == "text":
        if not (train_file and dev_file and test_file):
            raise ConfigError("data: dataset 'text' needs train_file, dev_file, test_file (under data.path)")
        names = (train_file, dev_file, test_file)
    else:
        known = ", ".join([*CORPORA, "text"])
        raise ConfigError(f"data.dataset: unknown language-model corpus '{dataset}' (known: {known})")
    if not folder.is_dir():
        raise DataError(f"{folder}: corpus folder not found (set data.path)")
    return folder / names[0], folder / names[1], folder / names[2]


def read_corpus(dataset: str, path: str | Path, level: str = "word", lowercase: bool = False,
                min_count: int = 1, max_vocab: int | None = None, vocab: Vocab | None = None,
                train_file: str | None = None, dev_file: str | None = None,
                test_file: str | None = None) -> LMCorpus:
    """Read train/valid/test, build the vocabulary on train (unless ``vocab`` is given), encode all three."""
    if level not in LEVELS:
        raise ConfigError(f"data.level: unknown level '{level}' (use {', '.join(LEVELS)})")
    files = corpus_files(dataset, path, train_file, dev_file, test_file)
    streams = [read_tokens(f, level, lowercase) for f in files]
    if vocab is None:
        vocab = build_lm_vocab(streams[0], min_count, max_vocab)
    elif EOS not in vocab:
        raise DataError(f"vocabulary has no {EOS} token: not a language-model vocabulary")
    ids = [torch.tensor(vocab.encode(s), dtype=torch.long) for s in streams]
    return LMCorpus(vocab, ids[0], ids[1], ids[2], level, files)


def frequency_ranked(vocab: Vocab, stream: torch.Tensor, specials: int = 3) -> bool:
    """True when the non-special ids of ``vocab`` are in order of non-increasing count in ``stream`` [n]."""
    counts = torch.bincount(stream, minlength=len(vocab))[specials:]  # [V - specials]
    return bool((counts[1:] <= counts[:-1]).all())


def batchify(stream: torch.Tensor, batch_size: int, what: str = "the text") -> torch.Tensor:
    """[n] -> [B, n // B]: B contiguous rows; the last ``n % B`` tokens are dropped. ``what`` names the
    stream (its file) in the error for a stream too short to fill B rows of two tokens."""
    if batch_size < 1:
        raise ConfigError("train.batch_size: must be >= 1")
    n = stream.numel() // batch_size
    if n < 2:
        raise DataError(f"{what}: {stream.numel()} tokens, too few for {batch_size} rows (the batch size) "
                        f"of at least 2 tokens")
    return stream[: n * batch_size].view(batch_size, n).contiguous()  # [B, N]


class BPTTWindows(Dataset):
    """Truncated-BPTT windows over a batchified stream ``data`` [B, N].

    Item ``i`` is ``(x [B, L_i], y [B, L_i])`` with ``y`` the next tokens of ``x``; windows are consecutive
    and never overlap, so every target position 1..N-1 of every row occurs exactly once. Use with
    ``DataLoader(windows, batch_size=None, shuffle=False)``: the order is what carries the hidden state.
    """

    def __init__(self, data: torch.Tensor, bptt: int):
        if bptt < 1:
            raise ConfigError("data.bptt: must be >= 1")
        if data.dim() != 2 or data.size(1) < 2:
            raise DataError("BPTT windows need a [B, N] stream with N >= 2")
        self.data = data
        self.bptt = bptt
        self.starts = list(range(0, data.size(1) - 1, bptt))

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        s = self.starts[i]
        n = min(self.bptt, self.data.size(1) - 1 - s)
        return self.data[:, s : s + n], self.data[:, s + 1 : s + 1 + n]  # [B, n], [B, n]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for i in range(len(self)):
            yield self[i]

    def num_targets(self) -> int:
        return self.data.size(0) * (self.data.size(1) - 1)


def make_lm_loader(stream: torch.Tensor, batch_size: int, bptt: int,
                   what: str = "the text") -> torch.utils.data.DataLoader:
    """A DataLoader of consecutive BPTT windows (no shuffling, no collation: each item is a whole batch);
    ``what`` names the stream in errors (see :func:`batchify`)."""
    return torch.utils.data.DataLoader(BPTTWindows(batchify(stream, batch_size, what), bptt), batch_size=None,
                                       shuffle=False)
