"""SQuAD v1.1 (Rajpurkar et al. 2016): the official JSON, character offsets mapped to words, and the two protocols.

The file is ``{"version": "1.1", "data": [{"title", "paragraphs": [{"context", "qas": [{"id", "question",
"answers": [{"answer_start", "text"}]}]}]}]}``. Every answer is a span of its paragraph: ``context[answer_start:
answer_start + len(text)] == text`` is checked for every answer, and a failure names the file and the question id.
SQuAD 2.0's unanswerable questions (``is_impossible`` or no answer) are refused: an extractive reader here always
returns a span.

Protocols (``data.dataset``):

``squad-articles``  only ``dev-v1.1.json`` is at hand (``../shared/data/squad``): its 48 articles are shuffled with
                    the fixed seed :data:`SPLIT_SEED` and cut into 32 train / 6 dev / 10 test articles
                    (:data:`ARTICLE_SPLIT`), so no passage (nor article) is in two splits. The split does not
                    depend on ``run.seed``: every run, every seed, sees the same articles.
``squad``           the official protocol for users who have both files: ``data.train_file`` (default
                    ``train-v1.1.json``) to train and ``data.dev_file`` (default ``dev-v1.1.json``) both to
                    select and to report (dev = test, as in the literature).

Words: :func:`word_spans` splits a text into words and punctuation with their character spans, and
:func:`char_to_word_span` maps an answer's characters to the first and last word it touches. (Word pieces for the
transformer reader come from the fast tokenizer's offset mapping, :mod:`dl4nlp.models.qa_transformer`.)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.core.io import read_text, require_file

#: the seed that shuffles the 48 dev articles before the split (fixed: not ``run.seed``)
SPLIT_SEED = 32
#: train / dev / test article counts of the ``squad-articles`` protocol (48 articles in dev-v1.1.json)
ARTICLE_SPLIT = (32, 6, 10)
DEV_FILE = "dev-v1.1.json"
TRAIN_FILE = "train-v1.1.json"
PROTOCOLS = {
    "squad-articles": f"SQuAD v1.1 dev articles split {ARTICLE_SPLIT[0]}/{ARTICLE_SPLIT[1]}/{ARTICLE_SPLIT[2]} "
                      f"(train/dev/test, article order shuffled with seed {SPLIT_SEED})",
    "squad": "official SQuAD v1.1: train-v1.1.json to train, dev-v1.1.json to select and report (dev = test)",
}

_WORD = re.compile(r"\w+(?:[-'.]\w+)*|[^\w\s]")


@dataclass
class QAExample:
    """One question over one passage, with every reference answer (text and character start)."""

    qid: str
    question: str
    context: str
    answers: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.qid, "question": self.question, "context": self.context, "answers": self.answers,
                "starts": self.starts, "title": self.title}


@dataclass
class QASplits:
    train: list[QAExample]
    dev: list[QAExample]
    test: list[QAExample]
    protocol: str  # a key of PROTOCOLS
    articles: dict[str, list[str]] = field(default_factory=dict)  # split -> article titles

    def describe(self) -> str:
        """The protocol in words, with the article counts actually used (a smaller file is cut in proportion)."""
        if self.protocol == "squad-articles" and self.articles:
            n = "/".join(str(len(self.articles[s])) for s in ("train", "dev", "test"))
            return f"SQuAD v1.1 dev articles split {n} (train/dev/test, article order shuffled with seed {SPLIT_SEED})"
        return PROTOCOLS[self.protocol]


# --------------------------------------------------------------------------- reading


def read_squad_articles(path: str | Path) -> list[tuple[str, list[QAExample]]]:
    """The articles of a SQuAD v1.1 file, in file order: ``[(title, [QAExample...])]``.

    :class:`DataError` naming the file (and the question id) for invalid JSON, a wrong layout, a SQuAD 2.0
    unanswerable question, or an answer that is not the span its ``answer_start`` points to."""
    p = require_file(path, DataError, "SQuAD file")
    try:
        raw = json.loads(read_text(p, DataError))
    except json.JSONDecodeError as exc:
        raise DataError(f"{p}: line {exc.lineno}: invalid JSON ({exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), list):
        raise DataError(f"{p}: not a SQuAD file (expected an object with a 'data' list of articles)")
    out = []
    for a, article in enumerate(raw["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            raise DataError(f"{p}: article {a}: expected an object with a 'paragraphs' list")
        title = str(article.get("title", f"article-{a}"))
        examples = [ex for para in article["paragraphs"] for ex in _paragraph(p, title, para)]
        out.append((title, examples))
    return out


def _paragraph(path: Path, title: str, para: Any) -> list[QAExample]:
    if not isinstance(para, dict) or not isinstance(para.get("context"), str) or not isinstance(para.get("qas"), list):
        raise DataError(f"{path}: article '{title}': a paragraph needs a 'context' string and a 'qas' list")
    context = para["context"]
    out = []
    for qa in para["qas"]:
        qid = str(qa.get("id", "?")) if isinstance(qa, dict) else "?"
        where = f"{path}: question {qid}"
        if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
            raise DataError(f"{where}: needs 'id', 'question' and 'answers'")
        if qa.get("is_impossible") or not qa.get("answers"):
            raise DataError(f"{where}: unanswerable question (SQuAD 2.0): only SQuAD v1.1, where every question "
                            "has an answer span, is supported")
        texts, starts = [], []
        for ans in qa["answers"]:
            if not isinstance(ans, dict) or not isinstance(ans.get("text"), str) or \
                    not isinstance(ans.get("answer_start"), int):
                raise DataError(f"{where}: each answer needs 'text' and an integer 'answer_start'")
            text, start = ans["text"], ans["answer_start"]
            if context[start:start + len(text)] != text:
                raise DataError(f"{where}: answer {text!r} is not at character {start} of its context")
            texts.append(text)
            starts.append(start)
        out.append(QAExample(qid, qa["question"], context, texts, starts, title))
    return out


def read_squad(path: str | Path) -> list[QAExample]:
    """Every question of a SQuAD v1.1 file, in file order."""
    return [ex for _, examples in read_squad_articles(path) for ex in examples]


def split_articles(articles: list[tuple[str, list[QAExample]]], seed: int = SPLIT_SEED,
                   sizes: tuple[int, int, int] = ARTICLE_SPLIT) -> tuple[list[int], list[int], list[int]]:
    """Article indices of train / dev / test: the indices shuffled with ``seed`` and cut by ``sizes``
    (a file with another number of articles is cut in the same proportions)."""
    n = len(articles)
    if n < 3:
        raise DataError(f"the article split needs at least 3 articles, got {n}")
    order = list(range(n))
    random.Random(seed).shuffle(order)
    total = sum(sizes)
    n_dev = max(1, round(n * sizes[1] / total))
    n_test = max(1, round(n * sizes[2] / total))
    n_train = n - n_dev - n_test
    return sorted(order[:n_train]), sorted(order[n_train:n_train + n_dev]), sorted(order[n_train + n_dev:])


def read_qa_splits(dataset: str, path: str | Path, train_file: str | None = None, dev_file: str | None = None,
                   test_file: str | None = None) -> QASplits:
    """The train / dev / test questions of a protocol (see the module docstring)."""
    folder = Path(path)
    if dataset == "squad-articles":
        if train_file or test_file:
            raise ConfigError("data.train_file / data.test_file: the squad-articles protocol splits one file "
                              "(data.dev_file, default dev-v1.1.json); use data.dataset: squad for train + dev files")
        articles = read_squad_articles(folder / (dev_file or DEV_FILE))
        parts = split_articles(articles)
        chosen = [[ex for i in idx for ex in articles[i][1]] for idx in parts]
        titles = {name: [articles[i][0] for i in idx] for name, idx in zip(("train", "dev", "test"), parts,
                                                                           strict=True)}
        return QASplits(*chosen, protocol=dataset, articles=titles)
    if dataset == "squad":
        if test_file:
            raise ConfigError("data.test_file: the official SQuAD protocol reports on dev (dev = test); leave it empty")
        train = read_squad(folder / (train_file or TRAIN_FILE))
        dev = read_squad(folder / (dev_file or DEV_FILE))
        return QASplits(train, dev, dev, protocol=dataset)
    raise ConfigError(f"data.dataset: question answering reads {' or '.join(PROTOCOLS)}, not '{dataset}'")


def take_train_examples(examples: list[QAExample], n: int | None, seed: int) -> list[QAExample]:
    """The first ``n`` questions of the training questions shuffled with ``seed`` (all of them for None):
    the learning curve's 500 / 2,000 / all points (``data.max_train_examples``)."""
    if n is None or n >= len(examples):
        return examples
    if n < 1:
        raise ConfigError(f"data.max_train_examples: must be at least 1, got {n}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    return [examples[i] for i in sorted(order[:n])]


# --------------------------------------------------------------------------- words and offsets


def word_spans(text: str) -> list[tuple[str, int, int]]:
    """Words and punctuation of ``text`` with their character spans ``(word, start, end)``, end exclusive:
    ``"Denver's 24-10 win."`` -> Denver's, 24-10, win, ``.``."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


def char_to_word_span(spans: list[tuple[str, int, int]], start: int, end: int) -> tuple[int, int] | None:
    """The first and last word (inclusive) that the characters ``[start, end)`` touch, or None when they
    touch no word (an answer of only spaces)."""
    first = next((i for i, (_, s, e) in enumerate(spans) if e > start), None)
    last = next((i for i in range(len(spans) - 1, -1, -1) if spans[i][1] < end), None)
    if first is None or last is None or last < first:
        return None
    return first, last


def parse_qa_input(text: str) -> tuple[str, str]:
    """A predict input: ``"question ||| context"`` or a JSON line with ``question`` and ``context``."""
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON input ({exc.msg})") from None
        if not isinstance(obj, dict) or not isinstance(obj.get("question"), str) or \
                not isinstance(obj.get("context"), str):
            raise DataError("a JSON input needs 'question' and 'context' strings")
        question, context = obj["question"], obj["context"]
    elif "|||" in text:
        question, context = text.split("|||", 1)
    else:
        raise DataError("a question-answering input is 'question ||| context' (or a JSON line with question, context)")
    if not question.strip() or not context.strip():
        raise DataError("empty question or context")
    return question.strip(), context.strip()
