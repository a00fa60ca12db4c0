"""Sparse bag-of-words features and the linear map on them.

For a sentence with word counts c_w the feature vector f has, per word w in the vocabulary,

    counts:  f_w = c_w
    binary:  f_w = 1[c_w > 0]
    tfidf:   f_w = c_w * idf_w,   idf_w = ln((1 + N) / (1 + df_w)) + 1   (N documents, df_w of them with w)

optionally L2-normalised (f / ||f||). ``BagOfWordsLinear`` computes W^T f without building the dense
V-dimensional f: only the words present are gathered (``nn.EmbeddingBag`` with per-word values).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

SCHEMES = ("counts", "binary", "tfidf")


def check_ngrams(n: int) -> None:
    """``ngrams`` of a bag-of-words model: 1 = words only, 2 = words and bigrams, ..."""
    if not 1 <= n <= 5:
        raise ValueError(f"ngrams must be between 1 (words only) and 5, got {n}")


def idf_from_vocab(vocab) -> torch.Tensor:
    n = max(int(vocab.num_docs), 1)
    df = torch.tensor(vocab.doc_freq, dtype=torch.float)
    return torch.log((1 + n) / (1 + df)) + 1.0


def sparse_bow(tokens: torch.Tensor, mask: torch.Tensor, scheme: str = "counts",
               idf: torch.Tensor | None = None, normalize: bool = False):
    """Turn padded token ids into a sparse BoW matrix in EmbeddingBag form.

    Returns ``ids [N]``, ``offsets [B]`` and ``values [N]``: row b holds entries
    ``offsets[b] : offsets[b+1]`` (one entry per distinct word of sentence b).
    """
    B, T = tokens.shape
    V = int(tokens.max().item()) + 1 if tokens.numel() else 1
    key = torch.arange(B, device=tokens.device)[:, None] * V + tokens  # [B, T] unique per (row, word)
    uniq, counts = torch.unique(key[mask], return_counts=True)  # [N], sorted, so rows ascend
    rows = torch.div(uniq, V, rounding_mode="floor")  # [N]
    ids = uniq - rows * V  # [N]
    if scheme == "binary":
        values = torch.ones_like(counts, dtype=torch.float)
    elif scheme in ("counts", "tfidf"):
        values = counts.float()
    else:
        raise ValueError(f"unknown bag-of-words scheme '{scheme}' (use {', '.join(SCHEMES)})")
    if scheme == "tfidf":
        if idf is None:
            raise ValueError("tfidf needs idf weights")
        values = values * idf[ids]
    if normalize:
        norm = torch.zeros(B, device=tokens.device).index_add_(0, rows, values * values).sqrt()  # [B]
        values = values / norm.clamp_min(1e-12)[rows]
    per_row = torch.bincount(rows, minlength=B)  # [B]
    offsets = torch.cumsum(per_row, 0) - per_row  # [B]
    return ids, offsets, values


class BagOfWordsLinear(nn.Module):
    """y = W^T f(x) + b for the sparse BoW vector f(x); W is [V, out].

    ``input_dropout`` zeroes each present feature f_w with probability p during training (and scales
    the rest by 1/(1-p)), i.e. dropout on the input vector without materialising it.
    """

    def __init__(self, vocab_size: int, out_features: int, scheme: str = "counts",
                 idf: torch.Tensor | None = None, normalize: bool = False, input_dropout: float = 0.0):
        super().__init__()
        if scheme not in SCHEMES:
            raise ValueError(f"unknown bag-of-words scheme '{scheme}' (use {', '.join(SCHEMES)})")
        self.scheme = scheme
        self.normalize = normalize
        self.input_dropout = input_dropout
        self.weight = nn.Parameter(torch.empty(vocab_size, out_features))  # [V, out]
        self.bias = nn.Parameter(torch.zeros(out_features))  # [out]
        self.register_buffer("idf", idf if idf is not None else torch.ones(vocab_size), persistent=True)
        bound = 1.0 / math.sqrt(out_features)
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        ids, offsets, values = sparse_bow(tokens, mask, self.scheme, self.idf, self.normalize)
        if self.training and self.input_dropout > 0:
            values = F.dropout(values, self.input_dropout)
        out = F.embedding_bag(ids, self.weight, offsets, mode="sum", per_sample_weights=values)  # [B, out]
        return out + self.bias
