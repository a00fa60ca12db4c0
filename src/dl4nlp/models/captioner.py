"""Caption decoders over a grid of image features: Show, Attend and Tell and a Show-and-Tell baseline.

Show, Attend and Tell (Xu et al. 2015, "soft" deterministic attention), with a GRU (or LSTM) cell.
The encoder gives L annotation vectors a_1..a_L (here projected to ``feature_proj`` dims). At step t:

    e_ti     = w^T tanh(W_a a_i + W_h h_{t-1})            additive (Bahdanau et al. 2015) attention
    alpha_t  = softmax_i(e_ti)                             sums to 1 over the L grid cells
    z_t      = beta_t * sum_i alpha_ti a_i,   beta_t = sigmoid(w_b^T h_{t-1})     the gating scalar
    h_t      = GRU([E y_{t-1}; z_t], h_{t-1})              (LSTM: (h_t, c_t) = LSTM(..., (h, c)))
    p(y_t)   = softmax(L_o tanh(E y_{t-1} + L_h h_t + L_z z_t))                  the deep output layer
    h_0      = tanh(W_init mean_i a_i)                     (c_0 likewise for the LSTM)

Training adds the doubly stochastic regulariser  lambda * sum_i (1 - sum_t alpha_ti)^2  (Xu et al.
eq. 14), which asks every grid cell to be looked at over the whole caption.

``attention=False`` is the same decoder without attention (Show and Tell, Vinyals et al. 2015, style):
the context is the single pooled image vector z_t = beta_t * mean_i a_i at every step — uniform attention,
the closest ablation. ``image_input="start"`` (without attention only) is Show and Tell as published: the
image enters once, through h_0 = tanh(W_init mean_i a_i), and every step reads the previous word alone,

    h_t = GRU(E y_{t-1}, h_{t-1}),   p(y_t) = softmax(L_o tanh(E y_{t-1} + L_h h_t))

(Vinyals et al. feed the image as the LSTM's first input x_{-1}; starting from it is the usual variant,
e.g. Karpathy & Fei-Fei 2015).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import build_options, check_ranges


@dataclass
class CaptionerOptions:
    """``model:`` keys of a captioning config (``name: show_attend_tell`` or ``show_and_tell``)."""

    # image encoder (features are extracted once and cached; see dl4nlp.models.image_encoder)
    encoder: str = "efficientnet-lite0"
    encoder_weights: str | None = None  # a local weights file (default: the installed package's file)
    image_size: int | None = None  # default: the encoder's (224 for EfficientNet-Lite0)
    # decoder
    attention: bool = True
    cell: str = "gru"  # gru | lstm
    embed_dim: int = 256
    hidden: int = 512
    attn_dim: int = 256
    feature_proj: int = 512  # annotation vectors are projected D -> feature_proj (0: keep D)
    dropout: float = 0.3
    gate: bool = True  # the gating scalar beta on the context
    alpha_c: float = 1.0  # weight of the doubly stochastic attention regulariser (0: off)
    image_input: str = "every_step"  # without attention: every_step (pooled context) | start (h_0 only)
    # decoding
    beam_size: int = 3
    max_len: int = 30
    length_alpha: float = 0.0  # GNMT length normalisation exponent in beam search (0: raw log-prob)

    RANGES: ClassVar[dict[str, str]] = {"feature_proj": "[0, inf)", "alpha_c": "[0, inf)", "length_alpha": "[0, inf)"}

    def __post_init__(self) -> None:
        check_ranges(self, "model")  # finite numbers, and the RANGES above
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be gru or lstm, got '{self.cell}'")
        for k in ("embed_dim", "hidden", "attn_dim", "beam_size", "max_len"):
            if int(getattr(self, k)) < 1:
                raise ValueError(f"{k} must be >= 1")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError("dropout must be in [0, 1)")
        if self.image_input not in ("every_step", "start"):
            raise ValueError(f"image_input must be every_step or start, got '{self.image_input}'")
        if self.attention and self.image_input != "every_step":
            raise ValueError("image_input: start is for show_and_tell (attention reads the image at every step)")


def make_options(name: str, params: dict, where: str = "model") -> CaptionerOptions:
    if name == "show_and_tell":
        params = {**params, "attention": False}
    return build_options(CaptionerOptions, params, where)


class AdditiveAttention(nn.Module):
    """e_i = w^T tanh(W_a a_i + W_h h);  alpha = softmax(e) over the L cells;  z = sum_i alpha_i a_i."""

    def __init__(self, feat_dim: int, hidden: int, attn_dim: int):
        super().__init__()
        self.key = nn.Linear(feat_dim, attn_dim)  # W_a (applied once per image: keys)
        self.query = nn.Linear(hidden, attn_dim, bias=False)  # W_h
        self.score = nn.Linear(attn_dim, 1, bias=False)  # w

    def forward(
        self, feats: torch.Tensor, keys: torch.Tensor, h: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # feats [B, L, P], keys [B, L, A] = self.key(feats), h [B, H]
        e = self.score(torch.tanh(keys + self.query(h).unsqueeze(1))).squeeze(-1)  # [B, L]
        alpha = torch.softmax(e, dim=-1)  # [B, L]
        z = torch.bmm(alpha.unsqueeze(1), feats).squeeze(1)  # [B, P]
        return z, alpha


class Captioner(nn.Module):
    """``logits, alphas = model(features [B, L, D], tokens_in [B, T])`` with teacher forcing;
    ``model.step(y_prev, state)`` decodes one step (for greedy / beam search)."""

    def __init__(self, vocab_size: int, feat_dim: int, opts: CaptionerOptions):
        super().__init__()
        self.opts = opts
        P = opts.feature_proj or feat_dim
        E, H = opts.embed_dim, opts.hidden
        self.proj = nn.Linear(feat_dim, P) if opts.feature_proj else nn.Identity()
        self.embed = nn.Embedding(vocab_size, E, padding_idx=0)
        self.attention = AdditiveAttention(P, H, opts.attn_dim) if opts.attention else None
        self.init_h = nn.Linear(P, H)
        self.init_c = nn.Linear(P, H) if opts.cell == "lstm" else None
        self.every_step = opts.image_input == "every_step"  # the image is a context at every step
        self.gate = nn.Linear(H, 1) if opts.gate and self.every_step else None
        X = E + P if self.every_step else E  # the cell's input: [E y_{t-1}; z_t], or E y_{t-1} alone
        self.cell = nn.GRUCell(X, H) if opts.cell == "gru" else nn.LSTMCell(X, H)
        self.out_h = nn.Linear(H, E)  # L_h
        self.out_z = nn.Linear(P, E) if self.every_step else None  # L_z
        self.out = nn.Linear(E, vocab_size)  # L_o
        self.drop = nn.Dropout(opts.dropout)

    @classmethod
    def build(cls, name: str, params: dict, vocab_size: int, feat_dim: int) -> Captioner:
        return cls(vocab_size, feat_dim, make_options(name, params))

    def init_state(self, features: torch.Tensor) -> dict[str, torch.Tensor]:
        """features [B, L, D] -> the decoder state (every tensor batch-first, for beam reordering)."""
        a = self.proj(features.float())  # [B, L, P]
        mean = a.mean(dim=1)  # [B, P]
        state = {"h": torch.tanh(self.init_h(mean))}  # h [B, H]
        if self.attention is not None:  # the grid is read at every step
            state["a"] = a
            state["keys"] = self.attention.key(a)  # [B, L, A]
        elif self.every_step:  # the pooled vector is the context at every step (image_input=start: h_0 only)
            state["pooled"] = mean
        if self.init_c is not None:
            state["c"] = torch.tanh(self.init_c(mean))
        return state

    def step(
        self, y_prev: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor | None, dict[str, torch.Tensor]]:
        """y_prev [B] -> (logits [B, V], alpha [B, L] or None, new state)."""
        h = state["h"]
        emb = self.drop(self.embed(y_prev))  # [B, E]
        alpha = None
        if self.attention is not None:
            z, alpha = self.attention(state["a"], state["keys"], h)  # [B, P], [B, L]
        elif self.every_step:
            z = state["pooled"]  # [B, P] the pooled image vector
        if self.gate is not None:
            z = torch.sigmoid(self.gate(h)) * z  # beta_t * z_t
        x = torch.cat([emb, z], dim=-1) if self.every_step else emb  # [B, E + P] or [B, E]
        new = dict(state)
        if self.init_c is not None:
            h, new["c"] = self.cell(x, (h, state["c"]))
        else:
            h = self.cell(x, h)  # [B, H]
        new["h"] = h
        pre = emb + self.out_h(self.drop(h))  # [B, E]
        if self.out_z is not None:
            pre = pre + self.out_z(z)
        logits = self.out(self.drop(torch.tanh(pre)))  # [B, V]
        return logits, alpha, new

    def forward(
        self, features: torch.Tensor, tokens_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """features [B, L, D], tokens_in [B, T] (<start> w1 .. wn, padded) ->
        logits [B, T, V], alphas [B, T, L] (None without attention)."""
        state = self.init_state(features)
        logits, alphas = [], []
        for t in range(tokens_in.size(1)):
            lg, alpha, state = self.step(tokens_in[:, t], state)
            logits.append(lg)
            if alpha is not None:
                alphas.append(alpha)
        return torch.stack(logits, 1), (torch.stack(alphas, 1) if alphas else None)

    def log_prob_step(
        self, y_prev: torch.Tensor, state: dict[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The ``step_fn`` of :mod:`dl4nlp.engine.generation`: (log-probs [N, V], new state)."""
        logits, _, new = self.step(y_prev, state)
        return F.log_softmax(logits, dim=-1), new

    @torch.no_grad()
    def sequence_log_prob(self, features: torch.Tensor, ids: list[int], start_id: int, end_id: int) -> float:
        """sum_t log p(y_t | y_<t, image) of ``ids`` followed by <end> (for one image [1, L, D])."""
        tokens = torch.tensor([[start_id, *ids]])
        logits, _ = self(features, tokens)
        logp = F.log_softmax(logits, dim=-1)[0]  # [T, V]
        target = torch.tensor([*ids, end_id])
        return float(logp.gather(1, target[:, None]).sum())


def doubly_stochastic_penalty(alphas: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """mean over the batch of sum_i (1 - sum_t alpha_ti)^2; alphas [B, T, L], mask [B, T] (real steps)."""
    attended = (alphas * mask.unsqueeze(-1).to(alphas.dtype)).sum(dim=1)  # [B, L]
    return ((1.0 - attended) ** 2).sum(dim=1).mean()
