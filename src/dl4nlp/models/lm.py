"""Recurrent language models (LSTM / GRU): embedding -> dropout -> stacked RNN -> dropout -> softmax
(a full softmax or an adaptive softmax).

    e_t = dropout(E w_t)                         embedding, dropout on the embeddings
    h_t^l = RNN^l(dropout(h_t^{l-1}), h_{t-1}^l)   dropout only between layers, never on the recurrent path
    p(w_{t+1} | w_<=t) = softmax(W dropout(h_t^L) + b)

Dropout only on the non-recurrent connections is the recipe of Zaremba, Sutskever & Vinyals 2014,
*Recurrent Neural Network Regularization*. ``tie_weights`` shares E and W (Press & Wolf 2017; Inan et al.
2017), which needs ``emb_dim == hidden`` or a projection (added here when they differ).

The recurrent layers use the fused ``torch.nn.LSTM`` / ``torch.nn.GRU`` kernels (the same equations as
the cells written out in ``models/rnn.py``; the fused path is what makes word-level LMs trainable on a CPU).

``output: adaptive`` replaces softmax(W h + b) by the adaptive softmax of Grave et al. 2017
(``models/adaptive_softmax.py``; ``cutoffs`` and ``div_value`` options): the same exact, normalised
distribution over the vocabulary, cheaper to train when the vocabulary is indexed by decreasing frequency
(as ``data.lm.build_lm_vocab`` builds it). With ``tie_weights`` the head's word rows are the first
``cutoffs[0]`` rows of E; the tail clusters are not tied (see that module).

Shapes: ``scores, state = model(tokens [B, T], state)`` with ``scores [B, T, V]``: logits for the full
softmax, exact log-probabilities for the adaptive one (both give the same distribution under log_softmax /
cross_entropy, so generation and scoring code need not know which); ``nll, state = model.forward_loss(tokens,
targets, state)`` is the mean token NLL without the [B, T, V] tensor when the head is adaptive (training).
``state`` is the RNN state in torch's layout (``h [layers, B, H]``, plus ``c`` for the LSTM), or None for zeros.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import build_options, check_ranges
from dl4nlp.models.adaptive_softmax import AdaptiveSoftmax, check_cutoffs

State = Any  # torch.Tensor (GRU) or tuple[torch.Tensor, torch.Tensor] (LSTM); layer-first like torch.nn


@dataclass
class LMOptions:
    """Model options (the ``model:`` section of a config, besides ``name``)."""

    cell: str = "lstm"  # lstm | gru (set from the model name lstm_lm / gru_lm)
    emb_dim: int = 200
    hidden: int = 200
    layers: int = 2
    dropout: float = 0.2  # between layers and on the RNN output (Zaremba et al.)
    emb_dropout: float | None = None  # on the embeddings; default: same as dropout
    tie_weights: bool = False
    init_range: float = 0.1  # uniform(-r, r) for embedding and output weights (as in pytorch/examples)
    output: str = "full"  # full | adaptive (Grave et al. 2017)
    cutoffs: list[int] = field(default_factory=lambda: [2000, 10000])  # adaptive: cluster starts (ids >= V dropped)
    div_value: float = 4.0  # adaptive: tail cluster i projects the output input to D / div_value^i

    RANGES: ClassVar[dict[str, str]] = {"init_range": "(0, inf)"}

    def __post_init__(self) -> None:
        check_ranges(self, "model")  # finite numbers, and the RANGES above
        if self.cell not in ("lstm", "gru"):
            raise ValueError(f"cell must be lstm or gru, got '{self.cell}'")
        if self.output not in ("full", "adaptive"):
            raise ValueError(f"output must be full or adaptive, got '{self.output}'")
        if not isinstance(self.cutoffs, list | tuple):
            raise ValueError(f"cutoffs must be a list of integers, got {self.cutoffs!r}")
        self.cutoffs = list(self.cutoffs)
        check_cutoffs(self.cutoffs, float(self.div_value))
        for key in ("emb_dim", "hidden", "layers"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key} must be >= 1")
        for key in ("dropout", "emb_dropout"):
            v = getattr(self, key)
            if v is not None and not 0.0 <= float(v) < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {v}")


class RNNLanguageModel(nn.Module):
    """Word- or character-level RNN language model (see the module docstring for the equations)."""

    def __init__(self, vocab_size: int, opts: LMOptions):
        super().__init__()
        self.opts = opts
        self.vocab_size = vocab_size
        rnn_cls = nn.LSTM if opts.cell == "lstm" else nn.GRU
        self.embedding = nn.Embedding(vocab_size, opts.emb_dim)
        emb_p = opts.dropout if opts.emb_dropout is None else opts.emb_dropout
        self.emb_drop = nn.Dropout(emb_p)
        # dropout= applies between stacked layers only (the non-recurrent connections)
        self.rnn = rnn_cls(opts.emb_dim, opts.hidden, opts.layers, batch_first=True,
                           dropout=opts.dropout if opts.layers > 1 else 0.0)
        self.out_drop = nn.Dropout(opts.dropout)
        self.proj = None
        if opts.tie_weights and opts.hidden != opts.emb_dim:
            self.proj = nn.Linear(opts.hidden, opts.emb_dim, bias=False)  # h -> embedding space, then E^T
        out_in = opts.emb_dim if opts.tie_weights else opts.hidden
        self.decoder: nn.Linear | None = None
        self.adaptive: AdaptiveSoftmax | None = None
        if opts.output == "adaptive":
            self.adaptive = AdaptiveSoftmax(out_in, vocab_size, opts.cutoffs, opts.div_value)
        else:
            self.decoder = nn.Linear(out_in, vocab_size)
        self.reset_parameters()
        if opts.tie_weights and self.adaptive is not None:
            self.adaptive.tie_head(self.embedding.weight)  # head word rows = E[:cutoffs[0]]
        elif opts.tie_weights:
            self.decoder.weight = self.embedding.weight  # W = E

    @classmethod
    def build(cls, params: dict[str, Any], vocab: Any, cell: str | None = None) -> RNNLanguageModel:
        params = dict(params)
        if cell is not None:
            params.setdefault("cell", cell)
        return cls(len(vocab), build_options(LMOptions, params, "model"))

    def reset_parameters(self) -> None:
        r = self.opts.init_range
        nn.init.uniform_(self.embedding.weight, -r, r)
        if self.decoder is not None:
            nn.init.uniform_(self.decoder.weight, -r, r)
            nn.init.zeros_(self.decoder.bias)
        else:  # the head's rows as the full softmax's; the tails keep nn.Linear's default init (as torch's)
            nn.init.uniform_(self.adaptive.word_weight, -r, r)
            nn.init.uniform_(self.adaptive.cluster_weight, -r, r)
            nn.init.zeros_(self.adaptive.bias)

    def layer_groups(self) -> list[list[nn.Parameter]]:
        """Parameters from input to output, for discriminative learning rates / gradual unfreezing:
        ``[embedding (+ tied decoder), rnn layer 1, ..., rnn layer L, output layer]`` (torch's fused RNN
        keeps layer l's weights in parameters named ``*_l{l-1}``). Every parameter is in exactly one group."""
        groups: list[list[nn.Parameter]] = [[self.embedding.weight]]
        for i in range(self.opts.layers):
            groups.append([p for n, p in self.rnn.named_parameters() if n.endswith(f"_l{i}")])
        out = self.decoder if self.decoder is not None else self.adaptive
        out_layers = [self.proj, out] if self.proj is not None else [out]
        head = [p for m in out_layers for p in m.parameters() if p is not self.embedding.weight]
        groups.append(head)
        return groups

    def init_state(self, batch_size: int, device: torch.device | None = None) -> State:
        h = torch.zeros(self.opts.layers, batch_size, self.opts.hidden, device=device)  # [layers, B, H]
        return (h, torch.zeros_like(h)) if self.opts.cell == "lstm" else h

    def encode(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Top-layer outputs [B, T, H] (before the output dropout) and the final state."""
        emb = self.emb_drop(self.embedding(tokens))  # [B, T, E]
        out, state = self.rnn(emb, state)  # [B, T, H]
        return out, state

    def features(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """The output layer's input [B, T, D] (D = emb_dim when tied, else hidden) and the final state."""
        out, state = self.encode(tokens, state)  # [B, T, H]
        out = self.out_drop(out)
        if self.proj is not None:
            out = self.proj(out)  # [B, T, E]
        return out, state

    def forward(self, tokens: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """Logits (full softmax) or exact log-probabilities (adaptive) [B, T, V], and the final state."""
        out, state = self.features(tokens, state)  # [B, T, D]
        if self.adaptive is not None:
            B, T, D = out.shape
            return self.adaptive.log_prob(out.reshape(B * T, D)).view(B, T, -1), state  # [B, T, V]
        return self.decoder(out), state  # [B, T, V]

    def forward_loss(self, tokens: torch.Tensor, targets: torch.Tensor,
                     state: State = None) -> tuple[torch.Tensor, State]:
        """Mean token NLL of ``targets`` [B, T] after ``tokens`` [B, T] (nats), and the final state."""
        out, state = self.features(tokens, state)  # [B, T, D]
        flat = out.reshape(-1, out.size(-1))  # [B*T, D]
        if self.adaptive is not None:
            return self.adaptive(flat, targets.reshape(-1)).mean(), state
        return F.cross_entropy(self.decoder(flat), targets.reshape(-1)), state


def detach_state(state: State) -> State:
    """Cut the graph at a window boundary (truncated BPTT): same values, no gradient into the past."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def state_to_batch_first(state: State) -> State:
    """torch layout [layers, B, H] -> [B, layers, H] (``dl4nlp.engine.generation`` wants batch on dim 0)."""
    if isinstance(state, tuple):
        return tuple(s.transpose(0, 1).contiguous() for s in state)
    return state.transpose(0, 1).contiguous()


def state_to_layer_first(state: State) -> State:
    if isinstance(state, tuple):
        return tuple(s.transpose(0, 1).contiguous() for s in state)
    return state.transpose(0, 1).contiguous()
