"""Recurrent networks written from their equations, plus the ``torch.nn`` fast path.

Cells (one time step; ``x`` is [B, I], ``h``/``c`` are [B, H]; gate order and parameter shapes are
those of ``torch.nn`` so weights can be copied across)::

    Elman RNN (Elman 1990):      h' = tanh(W_ih x + b_ih + W_hh h + b_hh)

    GRU (Cho et al. 2014):       r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr)          reset gate
                                 z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz)          update gate
                                 n  = tanh(W_in x + b_in + r * (W_hn h + b_hn))       candidate
                                 h' = (1 - z) * n + z * h

    LSTM (Hochreiter & Schmidhuber 1997, forget gate Gers et al. 2000):
                                 i  = sigmoid(W_ii x + b_ii + W_hi h + b_hi)          input gate
                                 f  = sigmoid(W_if x + b_if + W_hf h + b_hf)          forget gate
                                 g  = tanh(W_ig x + b_ig + W_hg h + b_hg)             candidate cell
                                 o  = sigmoid(W_io x + b_io + W_ho h + b_ho)          output gate
                                 c' = f * c + i * g
                                 h' = o * tanh(c')

Padded batches: the state only moves on real tokens, ``h_t = m_t * cell(x_t, h_{t-1}) + (1 - m_t) *
h_{t-1}``, so the padding never changes a sentence's states (right padding; the backward direction
starts from h = 0 at each sentence's last real token).

:class:`RecurrentEncoder` stacks layers (optionally bidirectional, with dropout between layers and
residual connections h_l = RNN_l(h_{l-1}) + h_{l-1} from the second layer on) with ``impl``:

* ``scratch`` — our cells unrolled in Python (readable; per-step states can be recorded for the
  vanishing-gradient diagnostic),
* ``fused`` — ``torch.nn.RNN/GRU/LSTM`` on packed sequences (fast).

Both use the same parameter names (``weight_ih_l0``, ``weight_hh_l0_reverse``, ... per layer, as in
``torch.nn``), so a model trained with one implementation loads into the other.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

CELLS = ("rnn", "gru", "lstm")
GATES = {"rnn": 1, "gru": 3, "lstm": 4}
IMPLS = ("scratch", "fused")
POOLINGS = ("last", "mean", "max", "attention")

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]

# --------------------------------------------------------------------------- the equations


def rnn_step(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: torch.Tensor | None, b_hh: torch.Tensor | None,
             nonlinearity: str = "tanh") -> torch.Tensor:
    """Elman: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)  (or relu)."""
    pre = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # [B, H]
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def gru_step(x: torch.Tensor, h: torch.Tensor, w_ih: torch.Tensor, w_hh: torch.Tensor,
             b_ih: torch.Tensor | None, b_hh: torch.Tensor | None) -> torch.Tensor:
    """GRU (Cho et al. 2014), torch's gate order r, z, n."""
    xr, xz, xn = F.linear(x, w_ih, b_ih).chunk(3, dim=-1)  # 3 x [B, H]
    hr, hz, hn = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)  # 3 x [B, H]
    r = torch.sigmoid(xr + hr)  # reset gate [B, H]
    z = torch.sigmoid(xz + hz)  # update gate [B, H]
    n = torch.tanh(xn + r * hn)  # candidate [B, H]
    return (1.0 - z) * n + z * h  # [B, H]


def lstm_step(x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor], w_ih: torch.Tensor,
              w_hh: torch.Tensor, b_ih: torch.Tensor | None,
              b_hh: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """LSTM, torch's gate order i, f, g, o. Returns (h', c')."""
    h, c = state
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)  # [B, 4H]
    i, f, g, o = gates.chunk(4, dim=-1)  # 4 x [B, H]
    c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)  # [B, H]
    h_new = torch.sigmoid(o) * torch.tanh(c_new)  # [B, H]
    return h_new, c_new


def cell_step(cell: str, x: torch.Tensor, state: State, w_ih: torch.Tensor, w_hh: torch.Tensor,
              b_ih: torch.Tensor | None, b_hh: torch.Tensor | None, nonlinearity: str = "tanh") -> State:
    if cell == "lstm":
        return lstm_step(x, state, w_ih, w_hh, b_ih, b_hh)  # type: ignore[arg-type]
    if cell == "gru":
        return gru_step(x, state, w_ih, w_hh, b_ih, b_hh)  # type: ignore[arg-type]
    return rnn_step(x, state, w_ih, w_hh, b_ih, b_hh, nonlinearity)  # type: ignore[arg-type]


def _check_cell(cell: str) -> None:
    if cell not in CELLS:
        raise ValueError(f"unknown cell '{cell}' (use {', '.join(CELLS)})")


# --------------------------------------------------------------------------- cells as modules


class _Cell(nn.Module):
    """One time step with parameters named and initialised like ``torch.nn.{RNN,GRU,LSTM}Cell``:
    every weight and bias ~ U(-1/sqrt(H), 1/sqrt(H))."""

    kind = "rnn"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh"):
        super().__init__()
        g = GATES[self.kind]
        self.input_size, self.hidden_size, self.nonlinearity = input_size, hidden_size, nonlinearity
        self.weight_ih = nn.Parameter(torch.empty(g * hidden_size, input_size))  # [G*H, I]
        self.weight_hh = nn.Parameter(torch.empty(g * hidden_size, hidden_size))  # [G*H, H]
        self.bias_ih = nn.Parameter(torch.empty(g * hidden_size)) if bias else None  # [G*H]
        self.bias_hh = nn.Parameter(torch.empty(g * hidden_size)) if bias else None  # [G*H]
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def zero_state(self, batch: int, device: torch.device | None = None) -> State:
        h = torch.zeros(batch, self.hidden_size, device=device)
        return (h, h.clone()) if self.kind == "lstm" else h

    def forward(self, x: torch.Tensor, state: State | None = None) -> State:
        if state is None:
            state = self.zero_state(x.size(0), x.device)
        return cell_step(self.kind, x, state, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh,
                         self.nonlinearity)


class RNNCell(_Cell):
    """Elman RNN cell: h' = tanh(W_ih x + b_ih + W_hh h + b_hh)."""

    kind = "rnn"


class GRUCell(_Cell):
    """GRU cell (Cho et al. 2014): reset/update gates, h' = (1 - z) * n + z * h."""

    kind = "gru"


class LSTMCell(_Cell):
    """LSTM cell (Hochreiter & Schmidhuber 1997): input/forget/output gates and a cell state;
    ``forward(x, (h, c)) -> (h', c')``."""

    kind = "lstm"


def make_cell(cell: str, input_size: int, hidden_size: int, nonlinearity: str = "tanh") -> _Cell:
    _check_cell(cell)
    return {"rnn": RNNCell, "gru": GRUCell, "lstm": LSTMCell}[cell](input_size, hidden_size,
                                                                    nonlinearity=nonlinearity)


# --------------------------------------------------------------------------- one layer


def _lengths(mask: torch.Tensor) -> torch.Tensor:
    """Real-token counts on CPU (what packing wants); at least 1 so an empty row cannot break packing."""
    return mask.sum(dim=1).clamp_min(1).to("cpu", torch.long)


class ScratchLayer(nn.Module):
    """One recurrent layer (one or two directions) unrolled in Python over a padded batch.

    Parameters are named as in a one-layer ``torch.nn.RNN/GRU/LSTM`` (``rnn.weight_ih_l0``,
    ``rnn.weight_ih_l0_reverse``, ...), so state dicts are interchangeable with :class:`FusedLayer`.
    Set ``record = True`` to keep every step's hidden state (``self.states[d][t]``, [B, H], with
    ``retain_grad``) for the gradient diagnostic.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, bidirectional: bool = False,
                 nonlinearity: str = "tanh"):
        super().__init__()
        _check_cell(cell)
        self.cell, self.hidden_size, self.nonlinearity = cell, hidden_size, nonlinearity
        self.directions = 2 if bidirectional else 1
        g = GATES[cell]
        bound = 1.0 / math.sqrt(hidden_size)
        self.rnn = nn.Module()  # parameter holder, so keys read "rnn.weight_ih_l0" as in FusedLayer
        for suffix in ["", "_reverse"][: self.directions]:
            for name, shape in (("weight_ih", (g * hidden_size, input_size)), ("weight_hh", (g * hidden_size,
                                                                                           hidden_size)),
                                ("bias_ih", (g * hidden_size,)), ("bias_hh", (g * hidden_size,))):
                p = nn.Parameter(torch.empty(*shape))
                nn.init.uniform_(p, -bound, bound)
                self.rnn.register_parameter(f"{name}_l0{suffix}", p)
        self.record = False
        self.states: list[list[torch.Tensor]] = []

    def _weights(self, d: int) -> tuple[torch.Tensor, ...]:
        s = "_reverse" if d == 1 else ""
        r = self.rnn
        return (getattr(r, f"weight_ih_l0{s}"), getattr(r, f"weight_hh_l0{s}"),
                getattr(r, f"bias_ih_l0{s}"), getattr(r, f"bias_hh_l0{s}"))

    def _run(self, x: torch.Tensor, mask: torch.Tensor, d: int) -> tuple[torch.Tensor, torch.Tensor]:
        B, T, _ = x.shape
        w = self._weights(d)
        h = x.new_zeros(B, self.hidden_size)  # [B, H]
        state: State = (h, h.clone()) if self.cell == "lstm" else h
        outs: list[torch.Tensor] = [x.new_zeros(0)] * T
        recorded: list[torch.Tensor] = [x.new_zeros(0)] * T
        steps = range(T - 1, -1, -1) if d == 1 else range(T)
        for t in steps:
            new = cell_step(self.cell, x[:, t], state, *w, self.nonlinearity)
            m = mask[:, t, None]  # [B, 1] bool
            if self.cell == "lstm":
                state = (torch.where(m, new[0], state[0]), torch.where(m, new[1], state[1]))
                h_t = state[0]
            else:
                state = torch.where(m, new, state)  # [B, H]
                h_t = state
            if self.record and torch.is_grad_enabled():
                h_t.retain_grad()
            recorded[t] = h_t
            outs[t] = h_t * m  # padding positions output 0
        if self.record:
            self.states.append(recorded)
        final = state[0] if self.cell == "lstm" else state
        return torch.stack(outs, dim=1), final  # [B, T, H], [B, H]

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, I], mask [B, T] -> outputs [B, T, D*H], final states [B, D*H]
        (forward direction at the last real token, backward direction at the first)."""
        self.states = []
        runs = [self._run(x, mask, d) for d in range(self.directions)]
        return torch.cat([o for o, _ in runs], dim=-1), torch.cat([f for _, f in runs], dim=-1)


class FusedLayer(nn.Module):
    """The same layer computed by ``torch.nn.RNN/GRU/LSTM`` on a packed sequence (fast path)."""

    def __init__(self, cell: str, input_size: int, hidden_size: int, bidirectional: bool = False,
                 nonlinearity: str = "tanh"):
        super().__init__()
        _check_cell(cell)
        self.cell = cell
        kw = dict(batch_first=True, bidirectional=bidirectional)
        if cell == "rnn":
            self.rnn = nn.RNN(input_size, hidden_size, nonlinearity=nonlinearity, **kw)
        else:
            self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(input_size, hidden_size, **kw)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, I], mask [B, T] -> outputs [B, T, D*H] (0 on padding), final states [B, D*H]."""
        T = x.size(1)
        packed = pack_padded_sequence(x, _lengths(mask), batch_first=True, enforce_sorted=False)
        out, hn = self.rnn(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=T)  # [B, T, D*H]
        h_n = hn[0] if self.cell == "lstm" else hn  # [D, B, H]
        return out, torch.cat(list(h_n), dim=-1)  # [B, T, D*H], [B, D*H]


# --------------------------------------------------------------------------- stacked encoder


class RecurrentEncoder(nn.Module):
    """N stacked recurrent layers over a padded batch.

    ``x_1 = embeddings``;  ``o_l = Layer_l(drop(x_l))`` for l >= 2 (dropout between layers);
    ``x_{l+1} = o_l + x_l`` with ``residual`` (from the second layer on, where sizes match), else ``o_l``.
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, dropout: float = 0.0, residual: bool = False,
                 impl: str = "fused", nonlinearity: str = "tanh"):
        super().__init__()
        _check_cell(cell)
        if impl not in IMPLS:
            raise ValueError(f"unknown impl '{impl}' (use {', '.join(IMPLS)})")
        if num_layers < 1:
            raise ValueError(f"layers must be >= 1, got {num_layers}")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"unknown nonlinearity '{nonlinearity}' (use tanh or relu)")
        self.cell, self.impl, self.residual = cell, impl, residual
        self.directions = 2 if bidirectional else 1
        self.output_size = self.directions * hidden_size
        layer_cls = ScratchLayer if impl == "scratch" else FusedLayer
        self.layers = nn.ModuleList(
            layer_cls(cell, input_size if i == 0 else self.output_size, hidden_size, bidirectional,
                      nonlinearity) for i in range(num_layers))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x [B, T, I], mask [B, T] bool -> top layer's outputs [B, T, D*H] and final states [B, D*H]."""
        final = None
        for i, layer in enumerate(self.layers):
            inp = self.dropout(x) if i > 0 else x
            out, final = layer(inp, mask)  # [B, T, D*H], [B, D*H]
            x = out + x if (self.residual and i > 0) else out
        return x, final  # type: ignore[return-value]


# --------------------------------------------------------------------------- pooling


class AdditiveAttentionPooling(nn.Module):
    """Additive (Bahdanau-style) attention pooling over time (Yang et al. 2016 use it for documents):

        e_t = v^T tanh(W h_t + b),  a = softmax_{t: m_t}(e),  s = sum_t a_t h_t
    """

    def __init__(self, input_size: int, attention_size: int):
        super().__init__()
        self.proj = nn.Linear(input_size, attention_size)
        self.v = nn.Linear(attention_size, 1, bias=False)

    def forward(self, h: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """h [B, T, D], mask [B, T] -> (pooled [B, D], weights [B, T], 0 on padding)."""
        scores = self.v(torch.tanh(self.proj(h))).squeeze(-1)  # [B, T]
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # [B, T]
        return torch.bmm(weights.unsqueeze(1), h).squeeze(1), weights  # [B, D], [B, T]


def pool(kind: str, outputs: torch.Tensor, final: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Sentence vector from per-token outputs [B, T, D]: ``last`` (final state of each direction),
    ``mean`` or ``max`` over real tokens. (Attention is :class:`AdditiveAttentionPooling`.)"""
    if kind == "last":
        return final  # [B, D]
    m = mask.unsqueeze(-1)  # [B, T, 1]
    if kind == "mean":
        return (outputs * m).sum(1) / m.sum(1).clamp_min(1)  # [B, D]
    if kind == "max":
        return outputs.masked_fill(~m, float("-inf")).max(dim=1).values  # [B, D]
    raise ValueError(f"unknown pooling '{kind}' (use {', '.join(POOLINGS)})")
