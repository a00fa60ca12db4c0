"""Recurrent encoder-decoder translation models: no attention (Cho et al. 2014), Bahdanau additive attention
(Bahdanau, Cho & Bengio 2015) and Luong global attention with dot / general / concat scores and input feeding
(Luong, Pham & Manning 2015).

Every model here speaks the translation pipeline's model interface (``dl4nlp.pipelines.translation``)::

    encode(src [B, S], src_mask [B, S]) -> state         nested dict of tensors, batch dim 0 (beam-reorderable)
    step(last [N], state) -> log_probs [N, V], state, attention [N, S] | None
    forward(src, src_mask, tgt_in [B, T]) -> logits [B, T, V], attention [B, T, S] | None

``forward`` is teacher-forced (with ``teacher_forcing < 1`` a sentence's next input is, with probability
1 - ratio, the model's own greedy prediction, while training only). ``step`` is the one decoding step that
greedy and beam search share (:mod:`dl4nlp.engine.generation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dl4nlp.core.config import check_ranges

CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}
SCORES = ("dot", "general", "concat")


@dataclass
class Seq2SeqOptions:
    """``model.*`` options of the recurrent encoder-decoders (the attention type comes from the model name)."""

    cell: str = "gru"  # gru | lstm (encoder and decoder)
    emb_dim: int = 256
    hidden: int = 512  # per direction in the encoder; the decoder's state size
    layers: int = 1
    bidirectional: bool = True  # encoder
    dropout: float = 0.5  # on embeddings, between stacked layers and before the output layer
    attn_dim: int = 512  # Bahdanau's and Luong concat's hidden size of the scoring MLP
    score: str = "general"  # Luong: dot | general | concat
    input_feeding: bool = True  # Luong: the previous attentional vector h~_{t-1} is fed with the next word
    tie_embeddings: bool = False  # decoder output layer shares the decoder input embedding (Press & Wolf 2017)
    teacher_forcing: float = 1.0  # probability that the gold previous word is fed while training
    max_len: int = 50  # most target tokens decoded
    beam_size: int = 5  # default beam for `translate` and evaluation
    length_alpha: float = 0.0  # beam search length normalisation ((5 + |Y|) / 6) ** alpha (GNMT)
    label_smoothing: float = 0.0  # training: epsilon of the label-smoothed loss (0: plain cross-entropy)

    RANGES: ClassVar[dict[str, str]] = {"length_alpha": "[0, inf)"}

    def __post_init__(self) -> None:
        check_ranges(self, "model")  # finite numbers, and the RANGES above
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {', '.join(CELLS)}, got '{self.cell}'")
        if self.score not in SCORES:
            raise ValueError(f"score must be one of {', '.join(SCORES)}, got '{self.score}'")
        if not 0.0 <= self.dropout < 1.0 or not 0.0 <= self.teacher_forcing <= 1.0:
            raise ValueError("dropout must lie in [0, 1) and teacher_forcing in [0, 1]")
        for key in ("emb_dim", "hidden", "layers", "attn_dim", "max_len", "beam_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """softmax over the source positions with padding (``mask`` False) given exactly zero weight."""
    return torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)  # [N, S]


def _layer_first(h: torch.Tensor) -> torch.Tensor:
    return h.transpose(0, 1).contiguous()  # [N, L, H] <-> [L, N, H]


class Encoder(nn.Module):
    """A (bi)directional GRU/LSTM over the source embeddings, packed so padding never enters it:

        ->h_j = RNN(e(x_j), ->h_{j-1}),  <-h_j = RNN(e(x_j), <-h_{j+1}),  h_j = [->h_j; <-h_j]

    Returns the annotations h_1..h_S [B, S, M] (M = hidden x directions, zero at padding) and the summary
    [->h_S; <-h_1] [B, M] of the top layer (for LSTMs also its cell state)."""

    def __init__(self, vocab_size: int, o: Seq2SeqOptions):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, o.emb_dim, padding_idx=0)
        self.rnn = CELLS[o.cell](o.emb_dim, o.hidden, num_layers=o.layers, batch_first=True,
                                 bidirectional=o.bidirectional, dropout=o.dropout if o.layers > 1 else 0.0)
        self.drop = nn.Dropout(o.dropout)
        self.dirs, self.layers, self.hidden = 2 if o.bidirectional else 1, o.layers, o.hidden

    def _top(self, h: torch.Tensor) -> torch.Tensor:
        top = h.view(self.layers, self.dirs, h.size(1), self.hidden)[-1]  # [d, B, H]
        return top.transpose(0, 1).reshape(h.size(1), -1)  # [B, d*H]

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        emb = self.drop(self.embed(src))  # [B, S, E]
        lengths = src_mask.sum(1).clamp(min=1).cpu()  # [B]
        packed = pack_padded_sequence(emb, lengths, batch_first=True, enforce_sorted=False)
        out, hn = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=src.size(1))  # [B, S, d*H]
        h, c = hn if isinstance(hn, tuple) else (hn, hn)
        return out, self._top(h), self._top(c)


class BahdanauAttention(nn.Module):
    """Additive attention (Bahdanau et al. 2015, eq. 6 and A.1.2): with the previous decoder state s_{i-1},

        e_ij = v_a^T tanh(W_a s_{i-1} + U_a h_j),  alpha_ij = softmax_j(e_ij),  c_i = sum_j alpha_ij h_j

    ``U_a h_j`` does not depend on i: :meth:`keys` computes it once per sentence."""

    def __init__(self, query_dim: int, memory_dim: int, attn_dim: int):
        super().__init__()
        self.W = nn.Linear(query_dim, attn_dim, bias=False)
        self.U = nn.Linear(memory_dim, attn_dim)
        self.v = nn.Linear(attn_dim, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.U(memory)  # [N, S, A]

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.v(torch.tanh(self.W(query)[:, None, :] + keys)).squeeze(-1)  # [N, S]
        alpha = masked_softmax(scores, mask)  # [N, S]
        return torch.bmm(alpha[:, None, :], memory).squeeze(1), alpha  # [N, M], [N, S]


class LuongAttention(nn.Module):
    """Global attention (Luong et al. 2015, eq. 7-8) of the current decoder state h_t over the source states:

        score(h_t, h_s) = h_t^T h_s  (dot) | h_t^T W_a h_s  (general) | v_a^T tanh(W_a [h_t; h_s])  (concat)
        a_t(s) = softmax_s(score(h_t, h_s)),   c_t = sum_s a_t(s) h_s

    For ``dot`` the source states are first projected to the decoder's size when they differ (a bidirectional
    encoder), so the product is defined. The source-side half of each score is computed once (:meth:`keys`)."""

    def __init__(self, score: str, query_dim: int, memory_dim: int, attn_dim: int):
        super().__init__()
        self.score = score
        if score == "dot":
            self.Wk = nn.Identity() if memory_dim == query_dim else nn.Linear(memory_dim, query_dim, bias=False)
        elif score == "general":
            self.Wk = nn.Linear(memory_dim, query_dim, bias=False)  # W_a h_s
        else:  # concat: W_a [h_t; h_s] = W_q h_t + W_k h_s
            self.Wk = nn.Linear(memory_dim, attn_dim, bias=False)
            self.Wq = nn.Linear(query_dim, attn_dim)
            self.v = nn.Linear(attn_dim, 1, bias=False)

    def keys(self, memory: torch.Tensor) -> torch.Tensor:
        return self.Wk(memory)  # [N, S, H] (dot, general) or [N, S, A] (concat)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor,
                mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.score == "concat":
            scores = self.v(torch.tanh(self.Wq(query)[:, None, :] + keys)).squeeze(-1)  # [N, S]
        else:
            scores = torch.bmm(keys, query[:, :, None]).squeeze(-1)  # [N, S]
        alpha = masked_softmax(scores, mask)  # [N, S]
        return torch.bmm(alpha[:, None, :], memory).squeeze(1), alpha  # [N, M], [N, S]


class Seq2Seq(nn.Module):
    """Encoder-decoder without attention (Cho et al. 2014, sec. 2.2): the source is summarised once,

        c = h_S (the encoder's final state [->h_S; <-h_1]),   s_0 = tanh(W_b c)
        s_t = RNN([e(y_{t-1}); c], s_{t-1}),   p(y_t | y_<t, x) = softmax(W_o [s_t; c; e(y_{t-1})])

    The attention subclasses replace the fixed c with a per-step context (:meth:`_decode`). Decoder states are
    kept batch-first in the state dict (``h`` [N, L, H], ``c`` for LSTMs) so beam search can reorder them."""

    attention = "none"

    def __init__(self, src_vocab: int, tgt_vocab: int, opts: Seq2SeqOptions | None = None):
        super().__init__()
        o = self.opts = opts or Seq2SeqOptions()
        self.encoder = Encoder(src_vocab, o)
        mem = o.hidden * self.encoder.dirs  # M
        self.bridge = nn.Linear(mem, o.layers * o.hidden)  # s_0 = tanh(W_b c)
        self.bridge_c = nn.Linear(mem, o.layers * o.hidden) if o.cell == "lstm" else None
        self.embed = nn.Embedding(tgt_vocab, o.emb_dim, padding_idx=0)
        self.rnn = CELLS[o.cell](o.emb_dim + self.feed_dim(mem), o.hidden, num_layers=o.layers, batch_first=True,
                                 dropout=o.dropout if o.layers > 1 else 0.0)
        self.drop = nn.Dropout(o.dropout)
        pre = self.pre_output_dim(mem)
        self.tie = nn.Linear(pre, o.emb_dim) if o.tie_embeddings else None  # to the embedding size, then E^T
        self.out = nn.Linear(o.emb_dim if o.tie_embeddings else pre, tgt_vocab)
        if o.tie_embeddings:
            self.out.weight = self.embed.weight

    @classmethod
    def build(cls, params: dict[str, Any], src_vocab: int, tgt_vocab: int) -> Seq2Seq:
        """The model of the config's ``model.*`` options (the translation pipeline's constructor)."""
        return build_seq2seq(cls, params, src_vocab, tgt_vocab)

    def feed_dim(self, mem: int) -> int:
        """Size of what is fed to the decoder RNN beside the word embedding (here: the context c)."""
        return mem

    def pre_output_dim(self, mem: int) -> int:
        return self.opts.hidden + mem + self.opts.emb_dim  # [s_t; c; e(y_{t-1})]

    # ------------------------------------------------------------------ the model interface

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        memory, final_h, final_c = self.encoder(src, src_mask)  # [B, S, M], [B, M], [B, M]
        B, L, H = src.size(0), self.opts.layers, self.opts.hidden
        state = {"h": torch.tanh(self.bridge(final_h)).view(B, L, H), "mask": src_mask}
        if self.bridge_c is not None:
            state["c"] = torch.tanh(self.bridge_c(final_c)).view(B, L, H)
        return self.init_context(state, memory, final_h)

    def init_context(self, state: dict[str, torch.Tensor], memory: torch.Tensor,
                     final_h: torch.Tensor) -> dict[str, torch.Tensor]:
        state["context"] = final_h  # [B, M]: the fixed c of Cho et al.
        return state

    def step(self, last: torch.Tensor, state: dict[str, torch.Tensor]
             ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        """One decoding step: the previous tokens [N] -> log-probabilities [N, V], new state, attention [N, S]."""
        logits, state, alpha = self._step(last, state)
        return torch.log_softmax(logits, dim=-1), state, alpha

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor, tgt_in: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits [B, T, V] and attention [B, T, S] (None without attention)."""
        state = self.encode(src, src_mask)
        ratio = self.opts.teacher_forcing if self.training else 1.0
        y = tgt_in[:, 0]  # [B] <sos>
        logits, alphas = [], []
        for t in range(tgt_in.size(1)):
            lt, state, alpha = self._step(y, state)  # [B, V]
            logits.append(lt)
            alphas.append(alpha)
            if t + 1 < tgt_in.size(1):
                y = tgt_in[:, t + 1]
                if ratio < 1.0:  # per sentence: feed the model's own guess with probability 1 - ratio
                    own = torch.rand(y.shape, device=y.device) >= ratio
                    y = torch.where(own, lt.argmax(-1), y)
        attn = torch.stack(alphas, 1) if alphas[0] is not None else None  # [B, T, S]
        return torch.stack(logits, 1), attn  # [B, T, V]

    # ------------------------------------------------------------------ one step

    def _rnn(self, x: torch.Tensor, state: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The decoder RNN over one input [N, D]: top-layer output [N, H] and the state with h (and c) updated."""
        new = dict(state)
        if "c" in state:
            out, (h, c) = self.rnn(x[:, None, :], (_layer_first(state["h"]), _layer_first(state["c"])))
            new["c"] = _layer_first(c)
        else:
            out, h = self.rnn(x[:, None, :], _layer_first(state["h"]))
        new["h"] = _layer_first(h)  # [N, L, H]
        return out[:, 0], new  # [N, H]

    def logits(self, pre: torch.Tensor) -> torch.Tensor:
        pre = self.drop(pre)
        return self.out(self.tie(pre) if self.tie is not None else pre)  # [N, V]

    def _step(self, last: torch.Tensor, state: dict[str, torch.Tensor]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        e = self.drop(self.embed(last))  # [N, E]
        c = state["context"]  # [N, M]
        s, state = self._rnn(torch.cat([e, c], -1), state)  # [N, H]
        return self.logits(torch.cat([s, c, e], -1)), state, None


class BahdanauSeq2Seq(Seq2Seq):
    """RNNsearch (Bahdanau et al. 2015, eq. 4-6): a fresh context for every target word, from the previous
    decoder state,

        c_i = sum_j alpha_ij h_j  (additive attention over s_{i-1}),   s_i = RNN([e(y_{i-1}); c_i], s_{i-1})
        p(y_i | y_<i, x) = softmax(W_o [s_i; c_i; e(y_{i-1})])

    (the output layer of the pytorch-seq2seq tutorial; the paper adds a maxout layer)."""

    attention = "bahdanau"

    def __init__(self, src_vocab: int, tgt_vocab: int, opts: Seq2SeqOptions | None = None):
        super().__init__(src_vocab, tgt_vocab, opts)
        o = self.opts
        self.attn = BahdanauAttention(o.hidden, o.hidden * self.encoder.dirs, o.attn_dim)

    def init_context(self, state: dict[str, torch.Tensor], memory: torch.Tensor,
                     final_h: torch.Tensor) -> dict[str, torch.Tensor]:
        state["memory"], state["keys"] = memory, self.attn.keys(memory)  # [B, S, M], [B, S, A]
        return state

    def _step(self, last: torch.Tensor, state: dict[str, torch.Tensor]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        e = self.drop(self.embed(last))  # [N, E]
        c, alpha = self.attn(state["h"][:, -1], state["keys"], state["memory"], state["mask"])  # [N, M], [N, S]
        s, state = self._rnn(torch.cat([e, c], -1), state)  # [N, H]
        return self.logits(torch.cat([s, c, e], -1)), state, alpha


class LuongSeq2Seq(Seq2Seq):
    """Global attention (Luong et al. 2015, eq. 5-8 and sec. 3.3): attend with the CURRENT decoder state,

        h_t = RNN([e(y_{t-1}); h~_{t-1}], h_{t-1})       (input feeding; without it RNN(e(y_{t-1}), h_{t-1}))
        c_t = sum_s a_t(s) h_s  (dot | general | concat score of h_t),   h~_t = tanh(W_c [c_t; h_t])
        p(y_t | y_<t, x) = softmax(W_s h~_t)

    ``h~_0`` is zero."""

    attention = "luong"

    def __init__(self, src_vocab: int, tgt_vocab: int, opts: Seq2SeqOptions | None = None):
        super().__init__(src_vocab, tgt_vocab, opts)
        o = self.opts
        mem = o.hidden * self.encoder.dirs
        self.attn = LuongAttention(o.score, o.hidden, mem, o.attn_dim)
        self.Wc = nn.Linear(mem + o.hidden, o.hidden, bias=False)

    def feed_dim(self, mem: int) -> int:
        return self.opts.hidden if self.opts.input_feeding else 0

    def pre_output_dim(self, mem: int) -> int:
        return self.opts.hidden  # h~_t

    def init_context(self, state: dict[str, torch.Tensor], memory: torch.Tensor,
                     final_h: torch.Tensor) -> dict[str, torch.Tensor]:
        state["memory"], state["keys"] = memory, self.attn.keys(memory)  # [B, S, M], [B, S, H or A]
        if self.opts.input_feeding:
            state["feed"] = memory.new_zeros(memory.size(0), self.opts.hidden)  # h~_0 [B, H]
        return state

    def _step(self, last: torch.Tensor, state: dict[str, torch.Tensor]
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor | None]:
        e = self.drop(self.embed(last))  # [N, E]
        x = torch.cat([e, state["feed"]], -1) if self.opts.input_feeding else e
        h, state = self._rnn(x, state)  # [N, H]
        c, alpha = self.attn(h, state["keys"], state["memory"], state["mask"])  # [N, M], [N, S]
        h_tilde = torch.tanh(self.Wc(torch.cat([c, h], -1)))  # [N, H]
        if self.opts.input_feeding:
            state["feed"] = h_tilde
        return self.logits(h_tilde), state, alpha


def build_seq2seq(cls: type[Seq2Seq], params: dict[str, Any], src_vocab: int, tgt_vocab: int) -> Seq2Seq:
    """``cls`` with ``model.*`` options ``params`` (unknown keys and bad values are ConfigErrors)."""
    from dl4nlp.core.config import build_options
    from dl4nlp.core.errors import ConfigError

    try:
        opts = build_options(Seq2SeqOptions, params, "model")
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
    if cls.attention != "luong" and (opts.score != "general" or not opts.input_feeding):
        raise ConfigError(f"model: 'score' and 'input_feeding' are Luong attention options, not for "
                          f"{cls.__name__} (attention: {cls.attention})")
    return cls(src_vocab, tgt_vocab, opts)


def sequence_nll(logits: torch.Tensor, target: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Token cross-entropy with padding ignored (mean over the real target tokens)."""
    return F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=pad_id)
