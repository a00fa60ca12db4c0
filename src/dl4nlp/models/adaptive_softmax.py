"""Adaptive softmax (Grave, Joulin, Cissé, Grangier & Jégou 2017, *Efficient softmax approximation for GPUs*).

The vocabulary, indexed by decreasing frequency, is cut at ``cutoffs`` c_1 < c_2 < ... < c_K < V into a head
(words 0 .. c_1 - 1) and K tail clusters (cluster i holds words c_i .. c_{i+1} - 1, with c_{K+1} = V). The head
is one softmax over its words *and* one slot per tail cluster; a tail word's probability is the probability of
its cluster times its probability inside the cluster, computed from a smaller projection of h:

    p(w | h) = softmax(W_head h + b)_w                                            w < c_1
    p(w | h) = softmax(W_head h + b)_{c_1 + i - 1} * softmax(T_i P_i h)_{w - c_i}   c_i <= w < c_{i+1}

with P_i [d / div^i, d] and T_i [c_{i+1} - c_i, d / div^i]. The distribution is exact and normalised (the head
sums to 1 and every cluster's softmax sums to 1); only its parameterisation is cheaper: a frequent word costs
one head row of d multiply-adds, a rare one a share of a d / div^i projection. Training needs only the target
word's log-probability, so most tokens (those in the head) never touch a tail.

This is the same parameterisation as ``torch.nn.AdaptiveLogSoftmaxWithLoss`` (checked against it in
``tests/test_adaptive_softmax.py``) with three differences: the head has a bias by default, cutoffs at or
beyond V are dropped (no cutoff left = an ordinary softmax over the vocabulary), and the head's word rows
can be tied to the first c_1 rows of the input embedding (:meth:`tie_head`). Tail words are not tied: their
output vectors live in the reduced d / div^i space, so tying them would need adaptive *input* embeddings
(Baevski & Auli 2019), which this course does not build.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


def check_cutoffs(cutoffs: Sequence[int], div_value: float) -> None:
    """Raise ValueError unless cutoffs are increasing positive integers and ``div_value`` > 0."""
    if any(isinstance(c, bool) or not isinstance(c, int) or c < 1 for c in cutoffs):
        raise ValueError(f"cutoffs must be positive integers, got {list(cutoffs)}")
    if list(cutoffs) != sorted(set(cutoffs)):
        raise ValueError(f"cutoffs must be strictly increasing, got {list(cutoffs)}")
    if not div_value > 0:
        raise ValueError(f"div_value must be > 0, got {div_value}")


class AdaptiveSoftmax(nn.Module):
    """``nll [N] = module(h [N, d], target [N])``; ``module.log_prob(h [N, d]) -> [N, V]`` (see module docstring)."""

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int], div_value: float = 4.0,
                 head_bias: bool = True):
        super().__init__()
        check_cutoffs(cutoffs, div_value)
        self.cutoffs = [c for c in cutoffs if c < n_classes]  # cutoffs at or past V: no such cluster
        self.bounds = [*self.cutoffs, n_classes]  # [c_1, ..., c_K, V]
        self.n_classes = n_classes
        self.shortlist = self.bounds[0]  # c_1: words in the head
        self.n_clusters = len(self.cutoffs)
        self.word_weight = nn.Parameter(torch.empty(self.shortlist, in_features))  # head rows of the words
        self.cluster_weight = nn.Parameter(torch.empty(self.n_clusters, in_features))  # head rows of the clusters
        self.bias = nn.Parameter(torch.zeros(self.shortlist + self.n_clusters)) if head_bias else None
        self.tails = nn.ModuleList()
        for i in range(self.n_clusters):
            hsz = int(in_features // div_value ** (i + 1))
            if hsz < 1:
                raise ValueError(f"div_value {div_value}: cluster {i + 1} would have a projection of size 0 "
                                 f"(input size {in_features})")
            self.tails.append(nn.Sequential(nn.Linear(in_features, hsz, bias=False),
                                            nn.Linear(hsz, self.bounds[i + 1] - self.bounds[i], bias=False)))
        self.register_buffer("_boundaries", torch.tensor(self.cutoffs, dtype=torch.long), persistent=False)
        nn.init.normal_(self.word_weight, std=in_features ** -0.5)
        nn.init.normal_(self.cluster_weight, std=in_features ** -0.5)

    def tie_head(self, embedding_weight: nn.Parameter) -> None:
        """Share the head's word rows with the input embedding (its first c_1 rows are the head's words)."""
        if embedding_weight.size(0) != self.n_classes or embedding_weight.size(1) != self.word_weight.size(1):
            raise ValueError(f"cannot tie: embedding {tuple(embedding_weight.shape)} vs head "
                             f"({self.n_classes} words, {self.word_weight.size(1)} features)")
        self.word_weight = embedding_weight  # the whole matrix is shared; the head reads rows 0 .. c_1 - 1

    def head_log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """log softmax over [head words; clusters]: [N, c_1 + K]."""
        weight = torch.cat([self.word_weight[: self.shortlist], self.cluster_weight], dim=0)  # [c_1 + K, d]
        return F.log_softmax(F.linear(h, weight, self.bias), dim=-1)  # [N, c_1 + K]

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        """Exact log p(w | h) for every word: [N, d] -> [N, V] (each row's exp sums to 1)."""
        head = self.head_log_prob(h)  # [N, c_1 + K]
        parts = [head[:, : self.shortlist]]
        for i, tail in enumerate(self.tails):
            cluster = head[:, self.shortlist + i : self.shortlist + i + 1]  # [N, 1] log p(cluster i)
            parts.append(cluster + F.log_softmax(tail(h), dim=-1))  # [N, |cluster i|]
        return torch.cat(parts, dim=-1)  # [N, V]

    def forward(self, h: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Negative log-likelihood of each target: h [N, d], target [N] -> [N] (tails run on their rows only)."""
        head = self.head_log_prob(h)  # [N, c_1 + K]
        cluster = torch.bucketize(target, self._boundaries, right=True)  # [N] 0 = head, i = tail cluster i
        head_target = torch.where(cluster == 0, target, self.shortlist + cluster - 1)  # [N]
        logp = head.gather(1, head_target[:, None]).squeeze(1)  # [N]
        for i, tail in enumerate(self.tails):
            rows = (cluster == i + 1).nonzero().squeeze(1)  # [n_i]
            if rows.numel() == 0:
                continue
            inside = F.log_softmax(tail(h[rows]), dim=-1)  # [n_i, |cluster i|]
            word = (target[rows] - self.bounds[i])[:, None]  # [n_i, 1] index inside the cluster
            logp = logp.index_add(0, rows, inside.gather(1, word).squeeze(1))
        return -logp  # [N]
