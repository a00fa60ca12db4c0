"""SQuAD questions -> model batches, and model scores -> answers, for the two readers.

Recurrent reader (``drqa``): one item per question, the whole passage as words (:func:`~dl4nlp.data.squad.word_spans`)
with DrQA's exact-match features; the gold start / end are the first and last word of the first reference answer.
A batch::

    passage [B, P] long, passage_mask [B, P] bool, features [B, P, 3], question [B, Q] long, question_mask [B, Q],
    start [B], end [B] (gold words), index [B] (item number, for decoding)

Transformer reader (``transformer_qa``): one item per sliding window
(:func:`~dl4nlp.models.qa_transformer.make_windows`)::

    ids [B, T] long, mask [B, T] bool, types [B, T] long, start [B], end [B] (gold pieces, 0 = [CLS]), index [B]

A decoder turns a batch's start / end logits into candidate spans ``(score, start_char, end_char)`` per question
and, once every window is seen, into each question's best answer and the official EM / F1.
"""

from __future__ import annotations

import functools
from typing import Any

import torch

from dl4nlp.data.batching import pad_batch
from dl4nlp.data.squad import QAExample, char_to_word_span, word_spans
from dl4nlp.data.vocab import Vocab

Candidate = tuple[float, int, int]  # (score, start char, end char exclusive)


class ItemDataset(torch.utils.data.Dataset):
    """A list of dict items with a length each (for bucketing)."""

    def __init__(self, items: list[dict[str, Any]], lengths: list[int]):
        self.items, self._lengths = items, lengths

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.items[i]

    def lengths(self) -> list[int]:
        return self._lengths


def make_loader(ds: ItemDataset, collate: Any, batch_size: int, shuffle: bool, bucket: bool, seed: int,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    from dl4nlp.data.batching import make_loader as bucketed_loader

    return bucketed_loader(ds, ds.lengths(), collate, batch_size, shuffle, bucket, seed, num_workers)


class Decoder:
    """The examples of one split and how each item maps back to characters; subclasses give ``candidates``."""

    input_keys: tuple[str, ...] = ()

    def __init__(self, examples: list[QAExample]):
        self.examples = examples

    def best(self, candidates: dict[int, list[Candidate]]) -> dict[int, tuple[str, float, int, int]]:
        """Each example's best candidate: (text, score, start_char, end_char)."""
        out = {}
        for example, cands in candidates.items():
            if cands:
                score, s, e = max(cands, key=lambda c: c[0])
                out[example] = (self.examples[example].context[s:e], score, s, e)
        return out

    def scores(self, candidates: dict[int, list[Candidate]]) -> dict[str, float]:
        from dl4nlp.tasks.squad_metric import squad_scores

        preds = {self.examples[i].qid: text for i, (text, *_) in self.best(candidates).items()}
        return squad_scores(preds, {ex.qid: ex.answers for ex in self.examples})


# --------------------------------------------------------------------------- recurrent reader


class DrQAEncoder:
    """Words -> ids (lower-cased, as GloVe 6B is) and DrQA's features; passages are tokenised once each."""

    def __init__(self, vocab: Vocab, max_passage: int | None = None):
        self.vocab, self.max_passage = vocab, max_passage
        self._spans: dict[str, list[tuple[str, int, int]]] = {}

    def spans(self, context: str) -> list[tuple[str, int, int]]:
        if context not in self._spans:
            spans = word_spans(context)
            self._spans[context] = spans[: self.max_passage] if self.max_passage else spans
        return self._spans[context]

    def item(self, ex: QAExample, index: int, train: bool) -> dict[str, Any] | None:
        """The item of a question (None in training when its first answer is cut off or touches no word)."""
        from dl4nlp.models.qa_reader import exact_match_features

        spans = self.spans(ex.context) or [("<unk>", 0, 0)]
        p_words = [w for w, _, _ in spans]
        q_words = [w for w, _, _ in word_spans(ex.question)] or ["<unk>"]
        gold = None
        if ex.answers:
            gold = char_to_word_span(spans, ex.starts[0], ex.starts[0] + len(ex.answers[0]))
        if train and gold is None:
            return None
        return {"passage": self.vocab.encode([w.lower() for w in p_words]),
                "features": exact_match_features(p_words, q_words),
                "question": self.vocab.encode([w.lower() for w in q_words]),
                "start": gold[0] if gold else 0, "end": gold[1] if gold else 0, "index": index,
                "example": index, "q_words": q_words, "p_words": p_words}

    def dataset(self, examples: list[QAExample], train: bool) -> ItemDataset:
        items = [it for i, ex in enumerate(examples) if (it := self.item(ex, i, train)) is not None]
        for k, it in enumerate(items):
            it["index"] = k
        return ItemDataset(items, [len(it["passage"]) for it in items])


def collate_drqa(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    p = pad_batch([it["passage"] for it in items])
    q = pad_batch([it["question"] for it in items])
    feats = torch.zeros(len(items), p["tokens"].size(1), len(items[0]["features"][0]))  # [B, P, F]
    for i, it in enumerate(items):
        feats[i, : len(it["features"])] = torch.tensor(it["features"])
    return {"passage": p["tokens"], "passage_mask": p["mask"], "features": feats, "question": q["tokens"],
            "question_mask": q["mask"], "start": torch.tensor([it["start"] for it in items]),
            "end": torch.tensor([it["end"] for it in items]), "index": torch.tensor([it["index"] for it in items])}


class DrQADecoder(Decoder):
    """Best span of P_start(i) P_end(j) with i <= j <= i + max_answer_length; its score is that probability."""

    input_keys = ("passage", "passage_mask", "features", "question", "question_mask")

    def __init__(self, examples: list[QAExample], ds: ItemDataset, encoder: DrQAEncoder, max_answer_length: int):
        super().__init__(examples)
        self.ds, self.encoder, self.max_answer_length = ds, encoder, max_answer_length

    def candidates(self, batch: dict[str, Any], start: torch.Tensor, end: torch.Tensor
                   ) -> list[tuple[int, list[Candidate]]]:
        from dl4nlp.models.qa_reader import best_span

        i, j, score = best_span(start.log_softmax(-1), end.log_softmax(-1), batch["passage_mask"],
                                self.max_answer_length)
        out = []
        for r, k in enumerate(batch["index"].tolist()):
            item = self.ds.items[k]
            spans = self.encoder.spans(self.examples[item["example"]].context)
            s, e = spans[int(i[r])][1], spans[int(j[r])][2]
            out.append((item["example"], [(float(score[r].exp()), s, e)]))
        return out


# --------------------------------------------------------------------------- transformer reader


def transformer_dataset(examples: list[QAExample], tokenizer: Any, max_length: int, stride: int, train: bool,
                        max_windows: int | None = None) -> tuple[ItemDataset, list]:
    """(dataset of windows, the windows) of every question; training windows are labelled and capped."""
    from dl4nlp.models.qa_transformer import cap_windows, make_windows

    answers = [(ex.starts[0], ex.starts[0] + len(ex.answers[0])) if ex.answers else (0, 0) for ex in examples]
    windows = make_windows(tokenizer, [ex.question for ex in examples], [ex.context for ex in examples],
                           max_length, stride, answers)
    if train:
        windows = cap_windows(windows, max_windows)
    items = [{"ids": w.ids, "types": w.types, "start": w.start, "end": w.end, "index": k}
             for k, w in enumerate(windows)]
    return ItemDataset(items, [len(w.ids) for w in windows]), windows


def collate_windows(items: list[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    b = pad_batch([it["ids"] for it in items], pad_id=pad_id)
    types = pad_batch([it["types"] for it in items])["tokens"]
    return {"ids": b["tokens"], "mask": b["mask"], "types": types, "start": torch.tensor([it["start"] for it in items]),
            "end": torch.tensor([it["end"] for it in items]), "index": torch.tensor([it["index"] for it in items])}


def window_collate(pad_id: int) -> Any:
    return functools.partial(collate_windows, pad_id=pad_id)


class WindowDecoder(Decoder):
    """``run_qa``'s post-processing: n-best starts x ends per window, valid spans only, best over windows."""

    input_keys = ("ids", "mask", "types")

    def __init__(self, examples: list[QAExample], windows: list, n_best: int, max_answer_length: int):
        super().__init__(examples)
        self.windows, self.n_best, self.max_answer_length = windows, n_best, max_answer_length

    def candidates(self, batch: dict[str, Any], start: torch.Tensor, end: torch.Tensor
                   ) -> list[tuple[int, list[Candidate]]]:
        from dl4nlp.models.qa_transformer import window_candidates

        out = []
        for r, k in enumerate(batch["index"].tolist()):
            w = self.windows[k]
            n = len(w.ids)
            out.append((w.example, window_candidates(start[r, :n].tolist(), end[r, :n].tolist(), w.offsets,
                                                     self.n_best, self.max_answer_length)))
        return out
