"""Rating heads: what a sentence model's last linear layer means when the target is a number on a scale
[lo, hi] with K levels (IMDB: 1..10 stars, K = 10).

Each head says how many outputs it needs from the model (``num_outputs``), its loss against ratings, and the
rating it predicts (on the user's scale, e.g. 7.6 stars). :class:`RatingModel` puts any sentence model
``model(tokens, mask) -> [B, num_outputs]`` (built with ``num_classes = num_outputs``) under a head.

* ``regress``: :class:`RegressionHead` (MSE or Huber on the scale mapped to [0, 1], output clamped).
* ``ordinal``: :class:`CoralHead` (CORAL, Cao, Mirjalili & Raschka 2020: K - 1 binary tasks "rating > level k"
  sharing one weight vector, with ordered biases).
* ``classify``: :class:`ClassHead` (softmax over the K levels, the rating its expected value).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

HEADS = ("classify", "regress", "ordinal")
LOSSES = ("mse", "huber")


@dataclass(frozen=True)
class RatingScale:
    """Ratings from ``lo`` to ``hi``; ``levels`` evenly spaced values ``v_k = lo + k * step`` (k = 0..K-1) for
    the ordinal and class heads and for the accuracy of a rounded rating."""

    lo: float
    hi: float
    levels: int

    @property
    def step(self) -> float:
        return (self.hi - self.lo) / (self.levels - 1)

    def values(self) -> torch.Tensor:
        return torch.linspace(self.lo, self.hi, self.levels)  # [K]

    def to_level(self, rating: torch.Tensor) -> torch.Tensor:
        """The index of the nearest level [B] (long) of ratings [B]."""
        return ((rating - self.lo) / self.step).round().clamp(0, self.levels - 1).long()

    def to_unit(self, rating: torch.Tensor) -> torch.Tensor:
        return (rating - self.lo) / (self.hi - self.lo)

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        return self.lo + (self.hi - self.lo) * u

    def is_whole(self) -> bool:
        return float(self.lo).is_integer() and float(self.hi).is_integer() and self.step == 1

    def describe(self, rating: float) -> str:
        """What users read: ``7.6 stars`` on a whole-number star scale, ``0.73 on [0, 1]`` otherwise."""
        if self.is_whole():
            return f"{rating:.1f} stars"
        return f"{rating:.2f} on [{self.lo:g}, {self.hi:g}]"


class RegressionHead(nn.Module):
    """Least-squares (or Huber) regression of the rating mapped to the unit interval, u = (y - lo) / (hi - lo):

        L = 1/B sum_i (z_i - u_i)^2            (mse)
        L = 1/B sum_i huber_delta(z_i - u_i)    (huber: quadratic within delta, linear beyond)

    for the model's single output z_i. The prediction is clamped to the scale: y_hat = lo + (hi - lo) *
    clamp(z, 0, 1). The loss is on the unclamped z, so an output outside the scale still gets a gradient back.
    """

    num_outputs = 1

    def __init__(self, scale: RatingScale, loss: str = "mse", huber_delta: float = 0.1):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unknown loss '{loss}' (use {', '.join(LOSSES)})")
        self.scale, self.kind, self.delta = scale, loss, huber_delta

    def loss(self, out: torch.Tensor, rating: torch.Tensor) -> torch.Tensor:
        z, u = out[:, 0], self.scale.to_unit(rating)  # [B], [B]
        if self.kind == "huber":
            return F.huber_loss(z, u, delta=self.delta)
        return F.mse_loss(z, u)

    def rating(self, out: torch.Tensor) -> torch.Tensor:
        return self.scale.from_unit(out[:, 0].clamp(0, 1))  # [B]


class CoralHead(nn.Module):
    """CORAL ordinal regression (Cao, Mirjalili & Raschka 2020, "Rank consistent ordinal regression for neural
    networks with application to age estimation"). The model's single output g(x) = w^T h(x) is shared by
    K - 1 binary tasks with their own biases b_k:

        P(y > v_k | x) = sigma(g(x) + b_k),   k = 0..K-2
        L = -1/B sum_i sum_k [ 1[y_i > v_k] log sigma(g_i + b_k) + 1[y_i <= v_k] log(1 - sigma(g_i + b_k)) ]

    The paper shows that b_0 >= b_1 >= ... at the optimum, which makes the K - 1 probabilities decrease with k
    (rank consistency). Here the order holds by construction at every step: b_k = b_0 - sum_{j<k} softplus(d_j)
    with free b_0 and d_j. The rating is the expected value under the cumulative probabilities,

        E[y | x] = v_0 + step * sum_k P(y > v_k | x),

    which lies in [lo, hi]; ``rank`` gives the paper's predicted rank (the number of P(y > v_k) above 1/2).
    """

    num_outputs = 1

    def __init__(self, scale: RatingScale):
        super().__init__()
        self.scale = scale
        k = scale.levels - 1
        # initial thresholds spread evenly around 0 (b_0 = (K-2)/2, one unit apart)
        self.first_bias = nn.Parameter(torch.tensor((k - 1) / 2.0))
        self.gaps = nn.Parameter(torch.full((max(k - 1, 0),), 0.5413))  # softplus(0.5413) = 1

    def biases(self) -> torch.Tensor:
        steps = F.softplus(self.gaps)  # [K-2], > 0
        return self.first_bias - torch.cat([steps.new_zeros(1), steps.cumsum(0)])  # [K-1], decreasing

    def logits(self, out: torch.Tensor) -> torch.Tensor:
        return out[:, :1] + self.biases()[None, :]  # [B, K-1]

    def loss(self, out: torch.Tensor, rating: torch.Tensor) -> torch.Tensor:
        level = self.scale.to_level(rating)  # [B]
        k = torch.arange(self.scale.levels - 1, device=out.device)  # [K-1]
        targets = (level[:, None] > k[None, :]).float()  # [B, K-1]: 1[y > v_k]
        bce = F.binary_cross_entropy_with_logits(self.logits(out), targets, reduction="none")  # [B, K-1]
        return bce.sum(-1).mean()

    def cumulative(self, out: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(out))  # [B, K-1]: P(y > v_k)

    def rating(self, out: torch.Tensor) -> torch.Tensor:
        return self.scale.lo + self.scale.step * self.cumulative(out).sum(-1)  # [B]

    def rank(self, out: torch.Tensor) -> torch.Tensor:
        return (self.cumulative(out) > 0.5).sum(-1)  # [B] level index


class ClassHead(nn.Module):
    """Plain classification over the K levels: p = softmax(z), L = cross-entropy against the nearest level; the
    rating is the expected value sum_k p_k v_k (it minimises the expected squared error under p)."""

    def __init__(self, scale: RatingScale):
        super().__init__()
        self.scale = scale
        self.num_outputs = scale.levels
        self.register_buffer("values", scale.values(), persistent=False)  # [K]

    def loss(self, out: torch.Tensor, rating: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(out, self.scale.to_level(rating))

    def rating(self, out: torch.Tensor) -> torch.Tensor:
        return torch.softmax(out, -1) @ self.values  # [B]


def make_head(kind: str, scale: RatingScale, loss: str = "mse", huber_delta: float = 0.1) -> nn.Module:
    if kind == "regress":
        return RegressionHead(scale, loss, huber_delta)
    if loss != "mse":
        raise ValueError(f"loss '{loss}' applies only to head: regress")
    if kind == "ordinal":
        return CoralHead(scale)
    if kind == "classify":
        return ClassHead(scale)
    raise ValueError(f"unknown head '{kind}' (use {', '.join(HEADS)})")


class RatingModel(nn.Module):
    """A sentence model under a rating head: ``forward(tokens, mask) -> raw outputs [B, num_outputs]``,
    ``rating(tokens, mask) -> [B]`` on the scale, ``loss(out, rating)``."""

    def __init__(self, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.backbone(tokens, mask)  # [B, O]

    def loss(self, out: torch.Tensor, rating: torch.Tensor) -> torch.Tensor:
        return self.head.loss(out, rating)

    def rating(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head.rating(self(tokens, mask))  # [B]

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """A backbone's layer groups (input -> output, for ULMFiT's schedule), the head's parameters in the top one."""
        groups = [list(g) for g in self.backbone.layer_groups()]
        groups[-1] += list(self.head.parameters())
        return groups
