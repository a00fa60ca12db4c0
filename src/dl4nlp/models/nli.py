"""Recognising textual entailment with recurrent encoders and attention (Rocktäschel et al. 2016,
"Reasoning about Entailment with Neural Attention", ICLR 2016).

Premise ``x_1..x_L`` and hypothesis ``x_{L+1}..x_{L+N}`` share one embedding table (frozen GloVe by
default; words not found keep a trainable row), projected to the hidden size ``k`` (no bias)::

    e_t = dropout(W^e E[w_t])                                        [k]

Conditional encoding (section 2.2; :class:`ConditionalEncoding`): two recurrent networks with their
own parameters (``shared: true``: one network reads both, the paper's "shared" rows); the hypothesis
network starts from the premise network's final state (LSTM: both ``h`` and ``c``)::

    Y = (h_1 .. h_L) = RNN_p(e_1 .. e_L)                              [L, k]  premise outputs
    h_{L+1} .. h_{L+N} = RNN_h(e_{L+1} .. e_{L+N}; state_0 = state_L)        hypothesis outputs
    h* = h_N                                                          (last hypothesis output)

Attention (section 2.3; :class:`Attention`), one premise weighting from the last hypothesis output::

    M     = tanh(W^y Y + W^h h_N (x) e_L)                             [k, L]
    alpha = softmax(w^T M)                                            [L]
    r     = Y alpha^T                                                 [k]
    h*    = tanh(W^p r + W^x h_N)                                     [k]

Word-by-word attention (section 2.4; :class:`WordByWordAttention`), a new weighting at every
hypothesis token t, carrying a representation r_t along the hypothesis::

    M_t     = tanh(W^y Y + (W^h h_t + W^r r_{t-1}) (x) e_L)           [k, L]
    alpha_t = softmax(w^T M_t)                                        [L]
    r_t     = Y alpha_t^T + tanh(W^t r_{t-1})                         [k]      r_0 = 0
    h*      = tanh(W^p r_N + W^x h_N)                                 [k]

Every W above is a matrix without bias, as in the paper; ``(x) e_L`` repeats a vector L times.
Softmaxes run over real premise tokens only (padding gets weight 0), and r_t only moves on real
hypothesis tokens, so a pair gives the same output alone or in a padded batch. The classifier is
``softmax(W^s dropout(h*) + b^s)`` over entailment / neutral / contradiction.

Paper (Table 1, k=100 LSTMs, 300d word2vec, 549k SNLI pairs): conditional encoding 80.9, attention 82.3,
word-by-word attention 83.5 test accuracy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from dl4nlp.core.config import build_options, check_ranges
from dl4nlp.models.recurrent import WordEmbedding, pretrained_vectors
from dl4nlp.models.rnn import IMPLS, State, cell_step

ATTENTIONS = ("none", "single", "word_by_word")


@dataclass
class NLIOptions:
    cell: str = "lstm"  # lstm | gru
    hidden: int = 100  # k
    impl: str = "fused"  # fused (torch.nn + packing) | scratch (our cells, unrolled in Python)
    attention: str = "none"  # none (conditional encoding) | single | word_by_word
    embeddings: str = "glove-6b-50d"  # random | glove-6b-50d | a GloVe/word2vec text file
    embedding_dim: int = 50  # random embeddings only (pretrained ones bring their size)
    freeze_embeddings: bool = True  # pretrained rows frozen; rows not found stay trainable
    extend_vocab: str = "frozen"  # dev/test words with a pretrained vector join the vocabulary: frozen | always | never
    dropout: float = 0.1  # on the projected word vectors and on h*
    shared: bool = False  # one recurrent network (one set of weights) reads the premise and the hypothesis

    RANGES: ClassVar[dict[str, str]] = {"hidden": "[1, inf)", "embedding_dim": "[1, inf)", "dropout": "[0, 1)"}

    def __post_init__(self) -> None:
        check_ranges(self, "model")


class ConditionalRNN(nn.Module):
    """One unidirectional GRU/LSTM layer over a padded batch that may start from a given state.

    Parameters live in a one-layer ``torch.nn.GRU/LSTM`` (``weight_ih_l0``, ...) for both ``impl``s:
    ``fused`` runs it on a packed sequence, ``scratch`` unrolls :func:`dl4nlp.models.rnn.cell_step`
    with the same weights (the state only moves on real tokens).
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, impl: str = "fused"):
        super().__init__()
        if cell not in ("gru", "lstm"):
            raise ValueError(f"unknown cell '{cell}' (use gru or lstm)")
        if impl not in IMPLS:
            raise ValueError(f"unknown impl '{impl}' (use {', '.join(IMPLS)})")
        self.cell, self.impl, self.hidden_size = cell, impl, hidden_size
        self.rnn = (nn.LSTM if cell == "lstm" else nn.GRU)(input_size, hidden_size, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor,
                state: State | None = None) -> tuple[torch.Tensor, State]:
        """x [B, T, I], mask [B, T], state ([B, H] or (h, c)) -> outputs [B, T, H] (0 on padding),
        final state at each row's last real token ([B, H], or (h, c) for an LSTM)."""
        B, T, _ = x.shape
        if state is None:
            h = x.new_zeros(B, self.hidden_size)  # [B, H]
            state = (h, h.clone()) if self.cell == "lstm" else h
        if self.impl == "fused":
            lengths = mask.sum(1).clamp_min(1).to("cpu", torch.long)  # [B]
            packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            hx = (state[0][None].contiguous(), state[1][None].contiguous()) if self.cell == "lstm" \
                else state[None].contiguous()  # [1, B, H]
            out, hn = self.rnn(packed, hx)
            out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # [B, T, H]
            final = (hn[0][0], hn[1][0]) if self.cell == "lstm" else hn[0]
            return out, final
        r = self.rnn
        outs = []
        for t in range(T):
            new = cell_step(self.cell, x[:, t], state, r.weight_ih_l0, r.weight_hh_l0, r.bias_ih_l0, r.bias_hh_l0)
            m = mask[:, t, None]  # [B, 1]
            if self.cell == "lstm":
                state = (torch.where(m, new[0], state[0]), torch.where(m, new[1], state[1]))
                outs.append(state[0] * m)
            else:
                state = torch.where(m, new, state)  # [B, H]
                outs.append(state * m)
        return torch.stack(outs, 1), state  # [B, T, H]


class PremiseAttention(nn.Module):
    """The attention of section 2.3 (and, with ``word_by_word``, 2.4). Weights without bias."""

    def __init__(self, k: int, word_by_word: bool = False):
        super().__init__()
        self.word_by_word = word_by_word
        self.W_y = nn.Linear(k, k, bias=False)
        self.W_h = nn.Linear(k, k, bias=False)
        self.w = nn.Linear(k, 1, bias=False)
        self.W_p = nn.Linear(k, k, bias=False)
        self.W_x = nn.Linear(k, k, bias=False)
        if word_by_word:
            self.W_r = nn.Linear(k, k, bias=False)
            self.W_t = nn.Linear(k, k, bias=False)

    def weights(self, WyY: torch.Tensor, query: torch.Tensor, pmask: torch.Tensor) -> torch.Tensor:
        """alpha = softmax(w^T tanh(W^y Y + query (x) e_L)) over real premise tokens: [B, L]."""
        M = torch.tanh(WyY + query.unsqueeze(1))  # [B, L, k]
        scores = self.w(M).squeeze(-1).masked_fill(~pmask, float("-inf"))  # [B, L]
        return torch.softmax(scores, dim=-1)  # [B, L], 0 on padding

    def forward(self, Y: torch.Tensor, pmask: torch.Tensor, H: torch.Tensor, hmask: torch.Tensor,
                h_N: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Y [B, L, k] premise outputs, H [B, N, k] hypothesis outputs, h_N [B, k] ->
        h* [B, k] and the weights: [B, L] (single) or [B, N, L] (word by word, rows of padding are 0)."""
        WyY = self.W_y(Y)  # [B, L, k], computed once
        if not self.word_by_word:
            alpha = self.weights(WyY, self.W_h(h_N), pmask)  # [B, L]
            r = torch.bmm(alpha.unsqueeze(1), Y).squeeze(1)  # [B, k]
            return torch.tanh(self.W_p(r) + self.W_x(h_N)), alpha
        B, N, k = H.shape
        WhH = self.W_h(H)  # [B, N, k]
        r = H.new_zeros(B, k)  # r_0 [B, k]
        alphas = []
        for t in range(N):
            alpha = self.weights(WyY, WhH[:, t] + self.W_r(r), pmask)  # [B, L]
            r_t = torch.bmm(alpha.unsqueeze(1), Y).squeeze(1) + torch.tanh(self.W_t(r))  # [B, k]
            m = hmask[:, t, None]  # [B, 1]
            r = torch.where(m, r_t, r)  # padding keeps r_{t-1}
            alphas.append(alpha * m)
        return torch.tanh(self.W_p(r) + self.W_x(h_N)), torch.stack(alphas, 1)  # [B, k], [B, N, L]


class NLIModel(nn.Module):
    """``model(premise [B, L], pmask [B, L], hypothesis [B, N], hmask [B, N]) -> logits [B, 3]``;
    ``model.attend(...)`` also returns the attention weights (None for conditional encoding)."""

    Options = NLIOptions
    DEFAULTS: dict[str, Any] = {}

    def __init__(self, vocab_size: int, num_classes: int = 3, opts: NLIOptions | None = None,
                 pretrained: torch.Tensor | None = None, found: torch.Tensor | None = None):
        super().__init__()
        opts = opts or NLIOptions()
        if opts.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention '{opts.attention}' (use {', '.join(ATTENTIONS)})")
        if opts.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {opts.hidden}")
        self.opts = opts
        k = opts.hidden
        dim = pretrained.size(1) if pretrained is not None else opts.embedding_dim
        self.embed = WordEmbedding(vocab_size, dim, pretrained, found, opts.freeze_embeddings)
        self.project = nn.Linear(dim, k, bias=False)  # W^e: word vectors -> k
        self.dropout = nn.Dropout(opts.dropout)
        self.premise_rnn = ConditionalRNN(opts.cell, k, k, opts.impl)
        self.hypothesis_rnn = self.premise_rnn if opts.shared else ConditionalRNN(opts.cell, k, k, opts.impl)
        self.attention = None
        if opts.attention != "none":
            self.attention = PremiseAttention(k, word_by_word=opts.attention == "word_by_word")
        self.output = nn.Linear(k, num_classes)  # W^s, b^s

    @classmethod
    def build(cls, params: dict, vocab: Any, num_classes: int = 3) -> NLIModel:
        opts = build_options(NLIOptions, {**cls.DEFAULTS, **params}, "model (nli)")
        pretrained = found = None
        if opts.embeddings != "random":
            pretrained, found = pretrained_vectors(opts.embeddings, vocab)
        return cls(len(vocab), num_classes, opts, pretrained, found)

    def parameters_without_embeddings(self) -> int:
        """Parameters as the paper counts them: everything but the word-embedding table."""
        return sum(p.numel() for n, p in self.named_parameters() if not n.startswith("embed."))

    def attend(self, premise: torch.Tensor, pmask: torch.Tensor, hypothesis: torch.Tensor,
               hmask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> logits [B, C] and attention weights ([B, L] single, [B, N, L] word by word, or None)."""
        xp = self.dropout(self.project(self.embed(premise)))  # [B, L, k]
        xh = self.dropout(self.project(self.embed(hypothesis)))  # [B, N, k]
        Y, state = self.premise_rnn(xp, pmask)  # [B, L, k], state after the last premise token
        H, final = self.hypothesis_rnn(xh, hmask, state)  # [B, N, k], conditioned on the premise
        h_N = final[0] if isinstance(final, tuple) else final  # [B, k]
        alpha = None
        h_star = h_N
        if self.attention is not None:
            h_star, alpha = self.attention(Y, pmask, H, hmask, h_N)  # [B, k]
        return self.output(self.dropout(h_star)), alpha  # [B, C]

    def forward(self, premise: torch.Tensor, pmask: torch.Tensor, hypothesis: torch.Tensor,
                hmask: torch.Tensor) -> torch.Tensor:
        return self.attend(premise, pmask, hypothesis, hmask)[0]


class ConditionalEncoding(NLIModel):
    """Two recurrent encoders, the hypothesis one starting from the premise's final state."""

    DEFAULTS = {"attention": "none"}


class Attention(NLIModel):
    """Conditional encoding + attention over the premise outputs from the last hypothesis state."""

    DEFAULTS = {"attention": "single"}


class WordByWordAttention(NLIModel):
    """Conditional encoding + attention recomputed at every hypothesis token (section 2.4)."""

    DEFAULTS = {"attention": "word_by_word"}
