"""Label smoothing (Szegedy et al. 2016, *Rethinking the Inception Architecture*, sec. 7; used with
epsilon_ls = 0.1 by Vaswani et al. 2017, 5.4).

The one-hot target is mixed with the uniform distribution over the K classes::

    q'(k) = (1 - eps) [k = y] + eps / K
    loss  = - sum_k q'(k) log p(k) = (1 - eps) * (-log p(y)) + eps * (1/K) sum_k (-log p(k))

It "hurts perplexity, as the model learns to be more unsure, but improves accuracy and BLEU" (Vaswani et
al.). Positions whose target is ``ignore_index`` (padding) count neither in the sum nor in the mean.
"""

from __future__ import annotations

import torch
from torch import nn


def label_smoothed_nll(logits: torch.Tensor, target: torch.Tensor, epsilon: float = 0.1,
                       ignore_index: int = -100, reduction: str = "mean") -> torch.Tensor:
    """logits [N, K] (or [..., K]), target [N] (or [...]) -> the smoothed loss (mean over the kept positions,
    their sum with ``reduction="sum"``, or per position [N] with ``"none"``, zero where ignored)."""
    if not 0.0 <= epsilon < 1.0:
        raise ValueError(f"label smoothing epsilon must be in [0, 1), got {epsilon}")
    logp = torch.log_softmax(logits.reshape(-1, logits.size(-1)).float(), dim=-1)  # [N, K]
    target = target.reshape(-1)  # [N]
    keep = target != ignore_index  # [N]
    nll = -logp.gather(1, target.clamp(min=0)[:, None]).squeeze(1)  # [N]  -log p(y)
    uniform = -logp.mean(dim=-1)  # [N]  (1/K) sum_k -log p(k)
    loss = ((1.0 - epsilon) * nll + epsilon * uniform) * keep  # [N]
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.sum() / keep.sum().clamp(min=1)
    raise ValueError(f"reduction must be mean, sum or none, got '{reduction}'")


class LabelSmoothingLoss(nn.Module):
    """:func:`label_smoothed_nll` as a module (``epsilon``, ``ignore_index``, ``reduction`` fixed at build)."""

    def __init__(self, epsilon: float = 0.1, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__()
        self.epsilon, self.ignore_index, self.reduction = epsilon, ignore_index, reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return label_smoothed_nll(logits, target, self.epsilon, self.ignore_index, self.reduction)
