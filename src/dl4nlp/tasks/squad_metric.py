"""The official SQuAD v1.1 scores (``evaluate-v1.1.py`` of Rajpurkar et al. 2016), written once.

Both answers are normalised (lower case; punctuation removed; the articles a / an / the removed; runs of
white space collapsed), then

    EM(pred, gold) = 1 if norm(pred) == norm(gold) else 0
    F1(pred, gold) = 2 P R / (P + R),  P = |common| / |pred tokens|,  R = |common| / |gold tokens|

where ``common`` is the multiset intersection of the normalised tokens (0 when it is empty, so two answers
that both normalise to nothing score EM 1 but F1 0, as in the official v1.1 script). A question scores the
maximum over its reference answers; the file scores 100 x the mean over questions.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence

_PUNCT = set(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lower case, no punctuation, no articles, single spaces (the official order)."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def f1(prediction: str, gold: str) -> float:
    pred_tokens = normalize_answer(prediction).split()
    gold_tokens = normalize_answer(gold).split()
    common = Counter(pred_tokens) & Counter(gold_tokens)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred_tokens)
    recall = same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def best_over_gold(metric, prediction: str, golds: Sequence[str]) -> float:
    """max over the reference answers of ``metric(prediction, gold)``."""
    return max(metric(prediction, g) for g in golds)


def squad_scores(predictions: Mapping[str, str], golds: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """``{"exact_match", "f1"}`` in percent over the questions of ``golds``; a question without a prediction
    scores 0 (as the official script counts it)."""
    if not golds:
        return {"exact_match": 0.0, "f1": 0.0}
    em = total_f1 = 0.0
    for qid, answers in golds.items():
        if qid not in predictions:
            continue
        em += best_over_gold(exact_match, predictions[qid], answers)
        total_f1 += best_over_gold(f1, predictions[qid], answers)
    n = len(golds)
    return {"exact_match": 100.0 * em / n, "f1": 100.0 * total_f1 / n}
