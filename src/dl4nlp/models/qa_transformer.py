"""A pretrained transformer fine-tuned for span extraction (Devlin et al. 2019, section 4.2), over sliding windows.

The question and a window of the passage become one sequence ``[CLS] q [SEP] p_k..p_{k+n} [SEP]``; the encoder
gives H in R^{T x d} and two vectors S, E give the pointer scores

    P_start(i) = softmax_i(S . h_i),    P_end(j) = softmax_j(E . h_j)

(``AutoModelForQuestionAnswering``'s ``qa_outputs`` layer). A passage longer than ``max_length`` word pieces is
cut into overlapping windows ``doc_stride`` pieces apart (the fast tokenizer's ``return_overflowing_tokens``);
in training a window that does not hold the whole answer points both pointers at [CLS] (index 0). At prediction
the ``n_best`` highest start and end scores of every window are paired, spans that leave the passage, run
backwards or are longer than ``max_answer_length`` pieces are dropped, and the best ``S . h_i + E . h_j`` over
all windows wins; the offset mapping turns its pieces back into characters of the original passage. These are
the conventions of Hugging Face's ``run_qa.py`` (``prepare_train_features``, ``postprocess_qa_predictions``):
max length 384, stride 128, n-best 20, max answer length 30.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from dl4nlp.core.errors import ConfigError


@dataclass
class TransformerQAOptions:
    """``model:`` keys of ``transformer_qa``."""

    checkpoint: str = "minilm-l6"  # minilm-l6 | a folder with config.json | a hub id (online users)
    max_length: int = 384  # word pieces per window, question and special tokens included
    doc_stride: int = 128  # overlap between consecutive windows (pieces)
    n_best: int = 20  # start / end candidates per window
    max_answer_length: int = 30  # word pieces
    freeze_layers: int = 0  # embeddings + this many lower encoder layers kept fixed (CPU budgets)
    max_windows: int | None = None  # training: at most this many windows per question (answer windows first)

    def __post_init__(self) -> None:
        for key in ("max_length", "doc_stride", "n_best", "max_answer_length"):
            if getattr(self, key) < 1:
                raise ConfigError(f"model.{key}: must be at least 1, got {getattr(self, key)}")
        if self.doc_stride >= self.max_length:
            raise ConfigError(f"model.doc_stride: must be below model.max_length ({self.max_length})")
        if self.freeze_layers < 0:
            raise ConfigError(f"model.freeze_layers: must not be negative, got {self.freeze_layers}")
        if self.max_windows is not None and self.max_windows < 1:
            raise ConfigError(f"model.max_windows: must be at least 1 (null: all), got {self.max_windows}")


@dataclass
class Window:
    """One window of one question: word-piece ids, segment ids, and for each piece its character span in the
    passage (None for the question and special pieces); ``start`` / ``end``: the gold pieces (0 = [CLS])."""

    example: int
    ids: list[int]
    types: list[int]
    offsets: list[tuple[int, int] | None]
    start: int = 0
    end: int = 0


def make_windows(tokenizer: Any, questions: list[str], contexts: list[str], max_length: int, stride: int,
                 answers: list[tuple[int, int]] | None = None) -> list[Window]:
    """Sliding windows over every (question, passage) pair, as ``run_qa``'s ``prepare_*_features``; with
    ``answers`` (character start, end exclusive) each window is labelled with its gold pieces."""
    enc = tokenizer([q.lstrip() for q in questions], contexts, truncation="only_second", max_length=max_length,
                    stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True)
    windows = []
    for w, example in enumerate(enc["overflow_to_sample_mapping"]):
        seq = enc.sequence_ids(w)
        offsets = [tuple(o) if s == 1 else None for o, s in zip(enc["offset_mapping"][w], seq, strict=True)]
        types = enc["token_type_ids"][w] if "token_type_ids" in enc else [0] * len(offsets)
        win = Window(int(example), list(enc["input_ids"][w]), list(types), offsets)
        if answers is not None:
            win.start, win.end = answer_pieces(offsets, *answers[example])
        windows.append(win)
    return windows


def answer_pieces(offsets: list[tuple[int, int] | None], start_char: int, end_char: int) -> tuple[int, int]:
    """The first and last piece of the answer ``[start_char, end_char)`` in a window, or (0, 0) ([CLS]) when the
    window does not hold the whole answer."""
    inside = [i for i, o in enumerate(offsets) if o is not None]
    if end_char <= start_char or not inside or offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
        return 0, 0
    first = next(i for i in inside if offsets[i][1] > start_char)
    last = next(i for i in reversed(inside) if offsets[i][0] < end_char)
    return first, last


def cap_windows(windows: list[Window], limit: int | None) -> list[Window]:
    """At most ``limit`` training windows per question: those holding the answer first, then in order."""
    if limit is None:
        return windows
    by_example: dict[int, list[Window]] = {}
    for w in windows:
        by_example.setdefault(w.example, []).append(w)
    out = []
    for group in by_example.values():
        out.extend(sorted(group, key=lambda w: w.start == 0)[:limit])  # stable: answer windows, then order
    return out


def window_candidates(start_logits: list[float], end_logits: list[float], offsets: list[tuple[int, int] | None],
                      n_best: int, max_answer_length: int) -> list[tuple[float, int, int]]:
    """Valid spans among the ``n_best`` best starts x ends of one window: ``(score, start_char, end_char)``."""
    starts = sorted(range(len(start_logits)), key=lambda i: -start_logits[i])[:n_best]
    ends = sorted(range(len(end_logits)), key=lambda i: -end_logits[i])[:n_best]
    out = []
    for i in starts:
        for j in ends:
            if offsets[i] is None or offsets[j] is None or j < i or j - i + 1 > max_answer_length:
                continue
            out.append((start_logits[i] + end_logits[j], offsets[i][0], offsets[j][1]))
    return out


def best_answer(context: str, candidates: list[tuple[float, int, int]],
                n_best: int = 20) -> tuple[str, float, int, int]:
    """(text, probability, start_char, end_char) of the best candidate; the probability is the softmax of the
    scores over the ``n_best`` best candidates (``run_qa``'s). An empty answer when there is no valid span."""
    if not candidates:
        return "", 0.0, 0, 0
    top = sorted(candidates, key=lambda c: -c[0])[:n_best]
    z = max(c[0] for c in top)
    total = sum(math.exp(c[0] - z) for c in top)
    score, s, e = top[0]
    return context[s:e], 1.0 / total, s, e


class TransformerReader(nn.Module):
    """``AutoModelForQuestionAnswering`` with the pointer interface of the recurrent reader:
    ``forward(ids [B, T], mask [B, T], types [B, T]) -> (start logits [B, T], end logits [B, T])``."""

    def __init__(self, hf_model: nn.Module):
        super().__init__()
        self.hf = hf_model

    @classmethod
    def from_pretrained(cls, opts: TransformerQAOptions) -> TransformerReader:
        from transformers import AutoModelForQuestionAnswering

        from dl4nlp.models.transformer import resolve_checkpoint

        where, local = resolve_checkpoint(opts.checkpoint)
        try:
            hf = AutoModelForQuestionAnswering.from_pretrained(where, local_files_only=local)
        except OSError as exc:
            raise ConfigError(f"model.checkpoint '{opts.checkpoint}': cannot load the model ({exc})") from None
        model = cls(hf)
        model.train()
        model.freeze_lower(opts.freeze_layers)
        return model

    @classmethod
    def from_folder(cls, folder: str) -> TransformerReader:
        """A fine-tuned reader saved with ``save_pretrained`` (never the network)."""
        from transformers import AutoModelForQuestionAnswering

        return cls(AutoModelForQuestionAnswering.from_pretrained(folder, local_files_only=True)).eval()

    def freeze_lower(self, n: int) -> None:
        """Fix the embeddings and the ``n`` lowest encoder layers (n = 0: train everything)."""
        if n <= 0:
            return
        base = self.hf.base_model
        layers = base.encoder.layer
        if n > len(layers):
            raise ConfigError(f"model.freeze_layers: the encoder has {len(layers)} layers, got {n}")
        for module in [base.embeddings, *layers[:n]]:
            for p in module.parameters():
                p.requires_grad_(False)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, types: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.hf(input_ids=ids, attention_mask=mask.long(), token_type_ids=types)
        start = out.start_logits.masked_fill(~mask, float("-inf"))  # [B, T]
        end = out.end_logits.masked_fill(~mask, float("-inf"))  # [B, T]
        return start, end
