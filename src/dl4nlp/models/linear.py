"""Softmax (multinomial) logistic regression on bag-of-words features.

    p(y = k | x) = softmax(W^T f(x) + b)_k

trained by minimising the cross-entropy, optionally plus the L2 penalty lambda * sum(W^2) (added by
the task, see :mod:`dl4nlp.tasks.classification`). Reference point: the NB / SVM / BiNB baselines of
Socher et al. (2013), Table 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from dl4nlp.core.config import build_options
from dl4nlp.models.bow import BagOfWordsLinear, check_ngrams, idf_from_vocab


@dataclass
class LogRegOptions:
    features: str = "counts"  # counts | binary | tfidf
    normalize: bool = False  # L2-normalise each feature vector
    ngrams: int = 1  # word n-grams up to n as extra features (the tokenizer adds them: see data/tokenize.py)

    def __post_init__(self) -> None:
        check_ngrams(self.ngrams)


class LogisticRegression(nn.Module):
    Options = LogRegOptions

    def __init__(self, vocab_size: int, num_classes: int, opts: LogRegOptions | None = None,
                 idf: torch.Tensor | None = None):
        super().__init__()
        self.opts = opts or LogRegOptions()
        self.linear = BagOfWordsLinear(vocab_size, num_classes, self.opts.features, idf, self.opts.normalize)

    @classmethod
    def build(cls, params: dict, vocab, num_classes: int) -> LogisticRegression:
        opts = build_options(LogRegOptions, params, "model (logreg)")
        return cls(len(vocab), num_classes, opts, idf_from_vocab(vocab))

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.linear(tokens, mask)  # [B, C] logits
