"""Scoring a classifier-like run on any labelled file its readers accept (``dl4nlp evaluate RUN --data F``),
with the same metrics as on a split of its own dataset, and the predictions shared by those pipelines."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from dl4nlp.core.errors import DataError
from dl4nlp.pipelines.base import Prediction


def labelled_sentences(path: str | Path, text_column: str, label_column: str,
                       labels: list[str]) -> tuple[list[str], torch.Tensor]:
    """Texts and gold label ids [N] of a CSV / TSV / JSONL file; a label the run does not know is an error
    naming the file and line."""
    from dl4nlp.data.sentiment import read_records

    rows, _ = read_records(path, text_column, label_column, {lab: i for i, lab in enumerate(labels)})
    ids = {lab: i for i, lab in enumerate(labels)}
    return [r["text"] for r in rows], torch.tensor([ids[r["label"]] for r in rows])


def labelled_pairs(path: str | Path, labels: list[str]) -> tuple[list[str], list[str], torch.Tensor]:
    """Premises, hypotheses and gold label ids [N] of an SNLI / MultiNLI file (JSONL or TSV)."""
    from dl4nlp.data.nli import NLI_LABELS, read_nli_file

    rows = read_nli_file(path)
    remap = [labels.index(lab) if lab in labels else None for lab in NLI_LABELS]
    if None in remap:
        raise DataError(f"{path}: the run's labels ({', '.join(labels)}) are not the NLI labels")
    gold = torch.tensor([remap[r["label"]] for r in rows])
    return [r["text"] for r in rows], [r["text_pair"] for r in rows], gold


def scores_on_file(run_dir: str | Path, name: str, path: str | Path, probabilities: Callable[[], torch.Tensor],
                   gold: torch.Tensor, num_classes: int) -> dict[str, Any]:
    """Accuracy and macro-F1 of ``probabilities()`` [N, C] against ``gold`` on a file (not a split)."""
    from dl4nlp.core.runs import split_scores

    start = time.perf_counter()
    preds = probabilities().argmax(-1)
    out = split_scores(run_dir, name, "data", preds, gold, num_classes, time.perf_counter() - start)
    out.pop("recorded", None)
    out["data"] = str(path)
    return out


def class_predictions(texts: list[str], probs: torch.Tensor, labels: list[str],
                      notes: list[str | None] | None = None) -> list[Prediction]:
    """One :class:`Prediction` per text: the most probable label and every label's probability."""
    out = []
    best = probs.argmax(-1).tolist()
    for i, (text, row) in enumerate(zip(texts, probs.tolist(), strict=True)):
        out.append(Prediction(text, labels[best[i]], dict(zip(labels, row, strict=True)),
                              note=notes[i] if notes else None))
    return out


def check_inputs(texts: list[str]) -> None:
    for i, t in enumerate(texts):
        if not isinstance(t, str) or not t.strip():
            raise DataError(f"input {i + 1}: empty text")
