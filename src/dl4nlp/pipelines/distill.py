"""Distilling a fine-tuned transformer into the recurrent NLI models: a teacher file of soft targets.

Tang et al. (2019), "Distilling Task-Specific Knowledge from BERT into Simple Neural Networks": a BiLSTM
student trained on a fine-tuned BERT's logits, over the training set *and* augmented copies of it that only
the teacher labels, comes far closer to the teacher than the same student trained on the gold labels. The
teacher here is a ``dl4nlp`` transformer run fine-tuned on the same training pairs (``configs/transformer/
snli.yaml``), so no labelled pair is added: the extra signal is the teacher's graded judgement on the
originals and on perturbed copies.

``dl4nlp nli-teacher TEACHER_RUN --config STUDENT.yaml --out teacher.jsonl --copies K`` writes
(:func:`write_teacher_file`) every training pair of the student's config with its gold label and the
teacher's logits, then K augmented copies of each with the logits alone (``label: null``); the student
trains on it with ``data.teacher_file`` and the loss of
:func:`dl4nlp.tasks.classification.distillation_loss` (``train.distill_alpha``,
``train.distill_temperature``).

Augmentation (:func:`augment`, Tang et al. 2019 section 3.3), on the student's word tokens of each sentence
of the pair separately: every word, with probability ``p_mask``, becomes :data:`MASK_WORD` (the
teacher reads its tokenizer's ``[MASK]``, the student learns a vector for it), else with probability
``p_swap`` becomes one of its ``neighbours`` nearest words in GloVe among the training words (Tang et al.
swap a word for one with the same part-of-speech tag; no tagger ships offline, and nearest word vectors
are the swap of TinyBERT, Jiao et al. 2020); then, with probability ``p_ngram``, the sentence is cut to a
random n-gram, n uniform in 1..``max_n``.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.core.errors import ConfigError, RunError

MASK_WORD = "__mask__"  # a masked word in a teacher file (one token for dl4nlp's tokenizer)


@dataclass
class AugmentOptions:
    """Tang et al. (2019) used p_mask = p_pos = 0.1, p_ng = 0.25, n <= 5."""

    p_mask: float = 0.1
    p_swap: float = 0.1
    p_ngram: float = 0.25
    max_n: int = 5
    neighbours: int = 10

    def __post_init__(self) -> None:
        for key in ("p_mask", "p_swap", "p_ngram"):
            if not 0.0 <= getattr(self, key) <= 1.0:
                raise ConfigError(f"--{key.replace('_', '-')}: must lie between 0 and 1, got {getattr(self, key)}")
        if self.p_mask + self.p_swap > 1.0:
            raise ConfigError(f"--p-mask + --p-swap: must not exceed 1, got {self.p_mask + self.p_swap}")
        if self.max_n < 1 or self.neighbours < 1:
            raise ConfigError("--max-n and --neighbours: must be at least 1")


def augment(tokens: Sequence[str], rng: random.Random, opts: AugmentOptions,
            neighbours: dict[str, list[str]] | None = None) -> list[str]:
    """One perturbed copy of a token list (never empty): mask / swap each word, then maybe an n-gram."""
    out = []
    for word in tokens:
        x = rng.random()
        if x < opts.p_mask:
            out.append(MASK_WORD)
        elif x < opts.p_mask + opts.p_swap and neighbours and neighbours.get(word):
            out.append(rng.choice(neighbours[word]))
        else:
            out.append(word)
    if len(out) > 1 and rng.random() < opts.p_ngram:
        n = rng.randint(1, min(opts.max_n, len(out)))
        start = rng.randint(0, len(out) - n)
        out = out[start:start + n]
    return out or [MASK_WORD]


def nearest_words(words: Sequence[str], vectors: Any, k: int) -> dict[str, list[str]]:
    """For every word of ``words`` with a vector: its ``k`` nearest other words of ``words`` by cosine."""
    import numpy as np

    have = [w for w in dict.fromkeys(words) if vectors.lookup(w) is not None]
    if len(have) < 2:
        return {}
    mat = np.stack([vectors.unit(vectors.lookup(w)) for w in have]).astype(np.float32)  # [V, d], unit rows
    k = min(k, len(have) - 1)
    table: dict[str, list[str]] = {}
    for start in range(0, len(have), 2048):
        sims = mat[start:start + 2048] @ mat.T  # [b, V]
        rows = np.arange(len(sims))
        sims[rows, start + rows] = -np.inf  # not the word itself
        top = np.argpartition(-sims, k, axis=1)[:, :k]
        for row, idx in enumerate(top):
            table[have[start + row]] = [have[j] for j in idx[np.argsort(-sims[row, idx])]]
    return table


@dataclass
class TeacherFile:
    path: Path
    originals: int
    augmented: int
    teacher_seconds: float
    teacher_accuracy: float  # the teacher's accuracy on the originals' gold labels


def write_teacher_file(teacher_run: str | Path, cfg: Any, out: str | Path, copies: int = 0,
                       opts: AugmentOptions | None = None, seed: int = 13, batch_size: int = 128,
                       progress: Callable[[int, int], None] | None = None) -> TeacherFile:
    """Label the training pairs of the student config ``cfg`` (and ``copies`` augmented copies of each)
    with the logits of the transformer run ``teacher_run``; write them as JSONL (atomically)."""
    from dl4nlp.data.nli import NLI_DATASETS, NLI_LABELS, read_nli
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.pipelines.finetune import load_transformer_run

    if cfg.data.dataset not in NLI_DATASETS:
        raise ConfigError(f"data.dataset: a teacher file is for NLI pairs, not '{cfg.data.dataset}'")
    if cfg.data.teacher_file:
        raise ConfigError("data.teacher_file: the student config must name the gold training data, not a "
                          "teacher file")
    if copies < 0:
        raise ConfigError(f"--copies: must not be negative, got {copies}")
    opts = opts or AugmentOptions()
    teacher = load_transformer_run(teacher_run)
    if not teacher.pair:
        raise RunError(f"{teacher.run_dir}: the teacher must be a sentence-pair (NLI) run")
    if sorted(teacher.labels) != sorted(NLI_LABELS):
        raise RunError(f"{teacher.run_dir}: teacher labels {teacher.labels} are not {NLI_LABELS}")
    order = [teacher.labels.index(lab) for lab in NLI_LABELS]  # teacher column of each NLI label

    train = read_nli(cfg.data, cfg.run.seed).train
    rows = [(p, h, NLI_LABELS[y]) for p, h, y in zip(train["text"], train["text_pair"], train["label"], strict=True)]
    if copies:
        tok = Tokenizer(lowercase=cfg.data.lowercase)
        toks = [(tok(p), tok(h)) for p, h, _ in rows]
        neighbours = None
        if opts.p_swap > 0:
            from dl4nlp import embeddings

            model_vectors = cfg.model.get("embeddings", "glove-6b-50d")
            source = model_vectors if model_vectors and model_vectors != "random" else "glove-6b-50d"
            neighbours = nearest_words([w for p, h in toks for w in (*p, *h)],
                                       embeddings.load_vectors(source), opts.neighbours)
        rng = random.Random(seed)
        rows += [(" ".join(augment(p, rng, opts, neighbours)), " ".join(augment(h, rng, opts, neighbours)), None)
                 for _ in range(copies) for p, h in toks]

    mask = getattr(teacher.tokenizer, "mask_token", None) or MASK_WORD
    unique = list(dict.fromkeys((p, h) for p, h, _ in rows))  # repeated pairs (snli_repeat) asked once
    texts = [f"{p}\t{h}".replace(MASK_WORD, mask) for p, h in unique]
    start = time.perf_counter()
    logits: dict[tuple[str, str], list[float]] = {}
    chunk = 16 * batch_size
    for i in range(0, len(texts), chunk):
        z = teacher.logits(texts[i:i + chunk], batch_size)[:, order]
        logits.update(zip(unique[i:i + chunk], z.tolist(), strict=True))
        if progress is not None:
            progress(min(i + chunk, len(texts)), len(texts))
    seconds = time.perf_counter() - start

    gold = [(logits[(p, h)], y) for p, h, y in rows if y is not None]
    correct = sum(max(range(len(z)), key=z.__getitem__) == NLI_LABELS.index(y) for z, y in gold)

    def write(fh: Any) -> None:
        for p, h, y in rows:
            rec = {"premise": p, "hypothesis": h, "label": y, "teacher_logits": [round(x, 4) for x in logits[(p, h)]]}
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")

    from dl4nlp.core.io import atomic_write

    path = atomic_write(out, write)
    return TeacherFile(path, len(gold), len(rows) - len(gold), seconds, correct / max(len(gold), 1))
