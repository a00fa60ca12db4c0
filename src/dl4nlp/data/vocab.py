"""Word vocabulary: index <-> word, with ``<pad>`` = 0 and ``<unk>`` = 1, saved beside the model."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from dl4nlp.core.errors import RunError
from dl4nlp.core.io import write_json

PAD, UNK = "<pad>", "<unk>"


class Vocab:
    """Maps words to ids. Also keeps each word's document frequency in the training data (for tf-idf)."""

    def __init__(self, itos: Sequence[str], doc_freq: Sequence[int] | None = None, num_docs: int = 0):
        self.itos = list(itos)
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("vocabulary has duplicate words")
        if self.itos[:2] != [PAD, UNK]:
            raise ValueError(f"vocabulary must start with {PAD}, {UNK}")
        self.doc_freq = list(doc_freq) if doc_freq is not None else [0] * len(self.itos)
        self.num_docs = num_docs

    pad_id = 0
    unk_id = 1

    @classmethod
    def build(cls, docs: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None,
              extra: Sequence[str] = ()) -> Vocab:
        """Words seen at least ``min_count`` times, the ``max_size`` most frequent (ties alphabetical)."""
        counts: Counter[str] = Counter()
        df: Counter[str] = Counter()
        n = 0
        for doc in docs:
            counts.update(doc)
            df.update(set(doc))
            n += 1
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        specials = [PAD, UNK, *[e for e in extra if e not in (PAD, UNK)]]
        words = [w for w in words if w not in specials]
        if max_size is not None:
            words = words[: max(0, max_size - len(specials))]
        itos = specials + words
        return cls(itos, [df.get(w, 0) for w in itos], n)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: str) -> bool:
        return word in self.stoi

    def encode(self, tokens: Sequence[str]) -> list[int]:
        get = self.stoi.get
        return [get(t, 1) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.itos[i] for i in ids]

    def to_dict(self) -> dict:
        return {"itos": self.itos, "doc_freq": self.doc_freq, "num_docs": self.num_docs}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> Vocab:
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(data["itos"], data.get("doc_freq"), data.get("num_docs", 0))
        except FileNotFoundError:
            raise RunError(f"{path}: vocabulary file not found") from None
        except (json.JSONDecodeError, KeyError, ValueError) as exc:
            raise RunError(f"{path}: not a valid vocabulary file ({exc})") from None
