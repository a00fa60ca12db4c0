"""The Transformer written from scratch (Vaswani et al. 2017, *Attention Is All You Need*, NeurIPS).

Each class mirrors one equation of the paper (section numbers in the docstrings)::

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V                              (3.2.1, eq. 1)
    MultiHead(Q, K, V) = Concat(head_1 .. head_h) W^O,
        head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)                              (3.2.2)
    FFN(x) = max(0, x W_1 + b_1) W_2 + b_2                                         (3.3, eq. 2)
    PE(pos, 2i) = sin(pos / 10000^(2i/d)),  PE(pos, 2i+1) = cos(pos / 10000^(2i/d)) (3.5)
    sub-layer output = LayerNorm(x + Dropout(Sublayer(x)))                          (3.1, 5.4; "post-norm")

Masks are boolean and say where attention MAY look (``True`` = keep), broadcastable to ``[B, H, T_q, T_k]``:
a padding mask hides padded keys, a causal mask hides future keys (decoder self-attention, 3.2.3).
``torch.nn`` uses the opposite convention (``True`` = masked out); the ``impl: torch`` path converts.

Residual placement (``norm``): ``post`` is the paper's ``LayerNorm(x + Dropout(F(x)))``; ``pre`` is
``x + Dropout(F(LayerNorm(x)))`` with one final LayerNorm after the stack (Wang et al. 2019, *Learning Deep
Transformer Models for Machine Translation*; Xiong et al. 2020, *On Layer Normalization in the Transformer
Architecture*). The default is ``pre``: its gradients at initialisation are well scaled, so it trains without a
carefully tuned warm-up, which matters when a user changes the learning rate, depth or batch size of a small
CPU run; ``post`` stays one key away for the paper's recipe.

``impl: torch`` swaps in ``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer`` (same sizes, same
placement) for a speed comparison; that path has no key/value cache (decoding recomputes the prefix) and
gives no attention weights.

Incremental decoding keeps, per layer, the keys and values of every past position (a key/value cache): step
t projects only the new token and attends over the cached ``[B, H, t, d_k]``, so nothing of the past is
recomputed. Cross-attention keys and values of the source are projected once, at ``encode`` time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import build_options, check_ranges

KV = tuple[torch.Tensor, torch.Tensor]  # (keys [B, H, T, d_k], values [B, H, T, d_k])
NORMS = ("pre", "post")
POSITIONS = ("sinusoidal", "learned")
IMPLS = ("scratch", "torch")


@dataclass
class ScratchTransformerOptions:
    """``model:`` keys of the from-scratch transformer (encoder-decoder and decoder-only LM)."""

    d_model: int = 256
    heads: int = 8
    d_ff: int = 512
    layers: int = 3  # encoder layers (and decoder layers unless dec_layers is set); LM: its layers
    dec_layers: int | None = None
    dropout: float = 0.1  # on embeddings+positions and on every sub-layer output (5.4, P_drop)
    attn_dropout: float | None = None  # on the attention weights; default: same as dropout
    norm: str = "pre"  # pre | post (the paper's); see the module docstring for why pre is the default
    positions: str = "sinusoidal"  # sinusoidal (3.5) | learned (a trained table of max_positions rows)
    max_positions: int = 256  # learned positions: table size; sinusoidal: precomputed (longer: computed on the fly)
    share_embeddings: bool = False  # source and target share one table (needs one joint vocabulary)
    tie_output: bool = True  # pre-softmax weights = target embedding (3.4; Press & Wolf 2017)
    impl: str = "scratch"  # scratch | torch (torch.nn layers, for speed comparison)
    cache: bool = True  # key/value cache in incremental decoding (impl: scratch); false recomputes the prefix
    # decoding defaults of the translation pipeline (the same keys as models/seq2seq.py)
    max_len: int = 50  # most target tokens decoded
    beam_size: int = 5
    length_alpha: float = 0.0  # beam search length normalisation ((5 + |Y|) / 6) ** alpha (GNMT)
    label_smoothing: float = 0.0  # translation training: epsilon of the label-smoothed loss (5.4: 0.1)

    RANGES: ClassVar[dict[str, str]] = {"length_alpha": "[0, inf)"}

    def __post_init__(self) -> None:
        check_ranges(self, "model")  # finite numbers, and the RANGES above
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        for key in ("d_model", "heads", "d_ff", "layers", "max_positions", "max_len", "beam_size"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.dec_layers is not None and self.dec_layers < 1:
            raise ValueError(f"dec_layers must be >= 1, got {self.dec_layers}")
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be divisible by heads ({self.heads})")
        for key in ("dropout", "attn_dropout"):
            v = getattr(self, key)
            if v is not None and not 0.0 <= float(v) < 1.0:
                raise ValueError(f"{key} must be in [0, 1), got {v}")
        for key, allowed in (("norm", NORMS), ("positions", POSITIONS), ("impl", IMPLS)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key} must be one of {', '.join(allowed)}, got '{getattr(self, key)}'")

    @property
    def p_attn(self) -> float:
        return self.dropout if self.attn_dropout is None else self.attn_dropout


# --------------------------------------------------------------------------- masks


def padding_keep(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """``True`` at real tokens: tokens [B, T] -> [B, T] bool."""
    return tokens != pad_id


def causal_keep(t_q: int, t_k: int, device: torch.device | None = None) -> torch.Tensor:
    """[t_q, t_k] bool: query i (the last t_q of t_k positions) may see keys j <= its own position."""
    offset = t_k - t_q  # cached positions before the first query
    q = torch.arange(t_q, device=device)[:, None] + offset  # [t_q, 1]
    return torch.arange(t_k, device=device)[None, :] <= q  # [t_q, t_k]


def attention_keep(key_keep: torch.Tensor | None, t_q: int, t_k: int, causal: bool,
                   device: torch.device | None = None) -> torch.Tensor | None:
    """One mask [B|1, 1, t_q|1, t_k] from a key padding mask [B, t_k] and / or causality (None: see all)."""
    mask = None
    if key_keep is not None:
        mask = key_keep[:, None, None, :]  # [B, 1, 1, t_k]
    if causal:
        c = causal_keep(t_q, t_k, device)[None, None]  # [1, 1, t_q, t_k]
        mask = c if mask is None else mask & c
    return mask


# --------------------------------------------------------------------------- attention


def scaled_dot_product_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, keep: torch.Tensor | None = None,
                                 dropout: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V  (eq. 1), with masked scores set to the lowest float.

    q [B, H, T_q, d_k], k [B, H, T_k, d_k], v [B, H, T_k, d_v], keep broadcastable to [B, H, T_q, T_k]
    -> (output [B, H, T_q, d_v], weights [B, H, T_q, T_k]). A row with every key masked gets uniform weights
    (not NaN); the models never produce one for a real token.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # [B, H, T_q, T_k]
    if keep is not None:
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)  # [B, H, T_q, T_k]
    attn = dropout(weights) if dropout is not None else weights
    return attn @ v, weights  # [B, H, T_q, d_v]


class MultiHeadAttention(nn.Module):
    """MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O,  head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)
    (Vaswani et al. 2017, 3.2.2), with d_k = d_v = d_model / h; the h projections of each kind are one
    d_model x d_model matrix, split into heads after the product.

    ``past`` (self-attention cache) is prepended to this call's keys/values; ``kv`` (cross-attention cache)
    replaces the key/value projections altogether. Returns (output [B, T_q, d], weights [B, H, T_q, T_k],
    (keys, values) [B, H, T_k, d_k] for the cache).
    """

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        self.heads, self.d_k = heads, d_model // heads
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] -> [B, H, T, d_k]"""
        return x.view(x.size(0), x.size(1), self.heads, self.d_k).transpose(1, 2)

    def project_kv(self, key: torch.Tensor, value: torch.Tensor) -> KV:
        return self.split(self.w_k(key)), self.split(self.w_v(value))  # [B, H, T_k, d_k] each

    def forward(self, query: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None,
                keep: torch.Tensor | None = None, past: KV | None = None, kv: KV | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, KV]:
        q = self.split(self.w_q(query))  # [B, H, T_q, d_k]
        k, v = kv if kv is not None else self.project_kv(key, value)  # [B, H, T_k, d_k]
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)  # [B, H, T_past + T_k, d_k]
        out, weights = scaled_dot_product_attention(q, k, v, keep, self.dropout)  # [B, H, T_q, d_k]
        out = out.transpose(1, 2).reshape(query.size(0), query.size(1), -1)  # [B, T_q, d]
        return self.w_o(out), weights, (k, v)


class PositionwiseFeedForward(nn.Module):
    """FFN(x) = max(0, x W_1 + b_1) W_2 + b_2  (eq. 2), applied to each position alone; dropout after the ReLU
    (as tensor2tensor and ``torch.nn.TransformerEncoderLayer`` do)."""

    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0):
        super().__init__()
        self.w_1 = nn.Linear(d_model, d_ff)
        self.w_2 = nn.Linear(d_ff, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w_2(self.dropout(F.relu(self.w_1(x))))  # [B, T, d_ff] -> [B, T, d]


# --------------------------------------------------------------------------- positions and embeddings


def sinusoid_table(length: int, d_model: int, start: int = 0) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(pos / 10000^(2i/d))  (3.5) -> [length, d]"""
    pos = torch.arange(start, start + length, dtype=torch.float32)[:, None]  # [length, 1]
    inv = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))  # [d/2]
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(pos * inv)
    table[:, 1::2] = torch.cos(pos * inv[: d_model // 2])
    return table


class SinusoidalPositions(nn.Module):
    """Fixed sinusoids (3.5): no parameters, any length (rows past ``max_positions`` are computed when asked for)."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.d_model = d_model
        self.register_buffer("table", sinusoid_table(max_len, d_model), persistent=False)  # [max_len, d]

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        if offset + length <= self.table.size(0):
            return self.table[offset: offset + length]  # [T, d]
        return sinusoid_table(length, self.d_model, offset).to(self.table.device)


class LearnedPositions(nn.Module):
    """A trained position table P in R^{max_positions x d} (the paper's 3.5 alternative, "nearly identical results")."""

    def __init__(self, d_model: int, max_len: int):
        super().__init__()
        self.table = nn.Embedding(max_len, d_model)
        nn.init.normal_(self.table.weight, std=0.02)

    def forward(self, length: int, offset: int = 0) -> torch.Tensor:
        n = self.table.num_embeddings
        if offset + length > n:
            raise ValueError(f"position {offset + length - 1} is past model.max_positions ({n})")
        return self.table.weight[offset: offset + length]  # [T, d]


class Embeddings(nn.Module):
    """x_t = Dropout(sqrt(d) E w_t + PE(t))  (3.4: embeddings scaled by sqrt(d_model); 3.5; 5.4 dropout).
    E is drawn from N(0, 1/d), so sqrt(d) E has unit-variance rows and, tied to the output, gives small logits."""

    def __init__(self, vocab_size: int, opts: ScratchTransformerOptions, pad_id: int | None = None):
        super().__init__()
        self.scale = math.sqrt(opts.d_model)
        self.tokens = nn.Embedding(vocab_size, opts.d_model, padding_idx=pad_id)
        nn.init.normal_(self.tokens.weight, std=opts.d_model ** -0.5)
        if pad_id is not None:
            with torch.no_grad():
                self.tokens.weight[pad_id].zero_()
        cls = SinusoidalPositions if opts.positions == "sinusoidal" else LearnedPositions
        self.positions = cls(opts.d_model, opts.max_positions)
        self.dropout = nn.Dropout(opts.dropout)

    def forward(self, tokens: torch.Tensor, offset: int = 0) -> torch.Tensor:
        x = self.tokens(tokens) * self.scale  # [B, T, d]
        return self.dropout(x + self.positions(tokens.size(1), offset))  # [B, T, d]


# --------------------------------------------------------------------------- layers


def residual(x: torch.Tensor, sublayer: Any, norm: nn.LayerNorm, drop: nn.Dropout, norm_first: bool) -> Any:
    """post: LayerNorm(x + Dropout(F(x)))  (3.1);  pre: x + Dropout(F(LayerNorm(x))).
    ``sublayer`` returns a tensor or a tuple whose first item is the tensor (the rest is passed through)."""
    out = sublayer(norm(x) if norm_first else x)
    y, rest = (out[0], out[1:]) if isinstance(out, tuple) else (out, ())
    y = x + drop(y) if norm_first else norm(x + drop(y))
    return (y, *rest) if rest else y


class EncoderLayer(nn.Module):
    """One encoder layer (3.1): self-attention, then the feed-forward network, each in a residual block.

    With a causal mask and ``past`` it is also a decoder-only (language-model) block: masked self-attention
    over the cached and the new positions. Parameter names follow ``torch.nn.TransformerEncoderLayer``'s
    layout (norm1/norm2, dropout1/dropout2) so weights map one to one.
    """

    def __init__(self, opts: ScratchTransformerOptions):
        super().__init__()
        d = opts.d_model
        self.norm_first = opts.norm == "pre"
        self.self_attn = MultiHeadAttention(d, opts.heads, opts.p_attn)
        self.ff = PositionwiseFeedForward(d, opts.d_ff, opts.dropout)
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout1, self.dropout2 = nn.Dropout(opts.dropout), nn.Dropout(opts.dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor | None = None, past: KV | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, KV]:
        """x [B, T, d], keep [B|1, 1, T|1, T_past + T] -> (x [B, T, d], weights [B, H, T, T_past + T], cache)"""
        x, weights, kv = residual(x, lambda h: self.self_attn(h, h, h, keep, past), self.norm1, self.dropout1,
                                  self.norm_first)
        x = residual(x, self.ff, self.norm2, self.dropout2, self.norm_first)
        return x, weights, kv


class DecoderLayer(nn.Module):
    """One decoder layer (3.1): masked self-attention, attention over the encoder output (queries from the
    decoder, keys and values from the memory, 3.2.3), feed-forward; each in a residual block."""

    def __init__(self, opts: ScratchTransformerOptions):
        super().__init__()
        d = opts.d_model
        self.norm_first = opts.norm == "pre"
        self.self_attn = MultiHeadAttention(d, opts.heads, opts.p_attn)
        self.cross_attn = MultiHeadAttention(d, opts.heads, opts.p_attn)
        self.ff = PositionwiseFeedForward(d, opts.d_ff, opts.dropout)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout1, self.dropout2, self.dropout3 = (nn.Dropout(opts.dropout) for _ in range(3))

    def forward(self, y: torch.Tensor, memory_kv: KV, self_keep: torch.Tensor | None,
                cross_keep: torch.Tensor | None, past: KV | None = None
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, KV]:
        """y [B, T, d]; memory_kv: the source's keys/values [B, H, T_s, d_k] (``cross_attn.project_kv``)
        -> (y [B, T, d], self weights [B, H, T, T_past + T], cross weights [B, H, T, T_s], self cache)"""
        y, w_self, kv = residual(y, lambda h: self.self_attn(h, h, h, self_keep, past), self.norm1, self.dropout1,
                                 self.norm_first)
        y, w_cross, _ = residual(y, lambda h: self.cross_attn(h, keep=cross_keep, kv=memory_kv), self.norm2,
                                 self.dropout2, self.norm_first)
        y = residual(y, self.ff, self.norm3, self.dropout3, self.norm_first)
        return y, w_self, w_cross, kv


def torch_encoder_layer(opts: ScratchTransformerOptions) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(opts.d_model, opts.heads, opts.d_ff, opts.dropout, batch_first=True,
                                      norm_first=opts.norm == "pre")


def torch_decoder_layer(opts: ScratchTransformerOptions) -> nn.TransformerDecoderLayer:
    return nn.TransformerDecoderLayer(opts.d_model, opts.heads, opts.d_ff, opts.dropout, batch_first=True,
                                      norm_first=opts.norm == "pre")


# --------------------------------------------------------------------------- stacks


class Encoder(nn.Module):
    """N identical layers over the embedded source (3.1); pre-norm adds a final LayerNorm.

    ``forward(x [B, T, d], key_keep [B, T] | None, causal)`` -> (h [B, T, d], per-layer self-attention
    weights [B, H, T, T] (empty for ``impl: torch``), per-layer caches).
    """

    def __init__(self, opts: ScratchTransformerOptions, layers: int):
        super().__init__()
        self.torch_impl = opts.impl == "torch"
        make = torch_encoder_layer if self.torch_impl else EncoderLayer
        self.layers = nn.ModuleList(make(opts) for _ in range(layers))
        self.norm = nn.LayerNorm(opts.d_model) if opts.norm == "pre" else nn.Identity()

    def forward(self, x: torch.Tensor, key_keep: torch.Tensor | None = None, causal: bool = False,
                past: list[KV] | None = None) -> tuple[torch.Tensor, list[torch.Tensor], list[KV]]:
        if self.torch_impl:
            if past is not None:
                raise ValueError("impl: torch has no key/value cache")
            return self.norm(self._torch_forward(x, key_keep, causal)), [], []
        t_k = x.size(1) + (past[0][0].size(2) if past else 0)
        keep = attention_keep(key_keep, x.size(1), t_k, causal, x.device)  # [B|1, 1, T|1, t_k]
        weights, cache = [], []
        for i, layer in enumerate(self.layers):
            x, w, kv = layer(x, keep, past[i] if past else None)  # [B, T, d]
            weights.append(w)
            cache.append(kv)
        return self.norm(x), weights, cache

    def _torch_forward(self, x: torch.Tensor, key_keep: torch.Tensor | None, causal: bool) -> torch.Tensor:
        pad = None if key_keep is None else ~key_keep  # torch: True = masked out
        mask = ~causal_keep(x.size(1), x.size(1), x.device) if causal else None  # [T, T]
        for layer in self.layers:
            x = layer(x, src_mask=mask, src_key_padding_mask=pad, is_causal=causal)
        return x


class Decoder(nn.Module):
    """N identical decoder layers over the embedded target prefix (3.1), causal self-attention with an optional
    key/value cache, attention over the memory's cached keys/values; pre-norm adds a final LayerNorm."""

    def __init__(self, opts: ScratchTransformerOptions, layers: int):
        super().__init__()
        self.torch_impl = opts.impl == "torch"
        make = torch_decoder_layer if self.torch_impl else DecoderLayer
        self.layers = nn.ModuleList(make(opts) for _ in range(layers))
        self.norm = nn.LayerNorm(opts.d_model) if opts.norm == "pre" else nn.Identity()

    def memory_kv(self, memory: torch.Tensor) -> list[KV]:
        """Each layer's cross-attention keys/values of the source, projected once: [B, H, T_s, d_k] each."""
        return [layer.cross_attn.project_kv(memory, memory) for layer in self.layers]

    def forward(self, y: torch.Tensor, memory: torch.Tensor, src_keep: torch.Tensor | None,
                tgt_keep: torch.Tensor | None = None, past: list[KV] | None = None,
                memory_kv: list[KV] | None = None) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]], list[KV]]:
        """y [B, T, d] (the embedded prefix, or the new positions after ``past``), memory [B, T_s, d],
        src_keep [B, T_s], tgt_keep [B, T_past + T] -> (h [B, T, d], {"self": [...], "cross": [...]}, cache)."""
        if self.torch_impl:
            if past is not None:
                raise ValueError("impl: torch has no key/value cache")
            return self.norm(self._torch_forward(y, memory, src_keep, tgt_keep)), {"self": [], "cross": []}, []
        t_k = y.size(1) + (past[0][0].size(2) if past else 0)
        self_keep = attention_keep(tgt_keep, y.size(1), t_k, True, y.device)  # [B|1, 1, T, t_k]
        cross_keep = None if src_keep is None else src_keep[:, None, None, :]  # [B, 1, 1, T_s]
        memory_kv = memory_kv if memory_kv is not None else self.memory_kv(memory)
        attn: dict[str, list[torch.Tensor]] = {"self": [], "cross": []}
        cache = []
        for i, layer in enumerate(self.layers):
            y, w_self, w_cross, kv = layer(y, memory_kv[i], self_keep, cross_keep, past[i] if past else None)
            attn["self"].append(w_self)
            attn["cross"].append(w_cross)
            cache.append(kv)
        return self.norm(y), attn, cache

    def _torch_forward(self, y: torch.Tensor, memory: torch.Tensor, src_keep: torch.Tensor | None,
                       tgt_keep: torch.Tensor | None) -> torch.Tensor:
        causal = ~causal_keep(y.size(1), y.size(1), y.device)  # [T, T] True = future
        tgt_pad = None if tgt_keep is None else ~tgt_keep
        src_pad = None if src_keep is None else ~src_keep
        for layer in self.layers:
            y = layer(y, memory, tgt_mask=causal, tgt_key_padding_mask=tgt_pad, memory_key_padding_mask=src_pad,
                      tgt_is_causal=True)
        return y


class OutputLayer(nn.Module):
    """p(y_t | y_<t, x) = softmax(h_t W^T + b); W is the target embedding when ``tie_output`` (3.4)."""

    def __init__(self, d_model: int, vocab_size: int, tied: nn.Embedding | None):
        super().__init__()
        self.weight = tied.weight if tied is not None else nn.Parameter(torch.empty(vocab_size, d_model))
        if tied is None:
            nn.init.normal_(self.weight, std=d_model ** -0.5)
        self.bias = nn.Parameter(torch.zeros(vocab_size))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return F.linear(h, self.weight, self.bias)  # [B, T, V]


def init_linear_layers(module: nn.Module) -> None:
    """Glorot-uniform weights, zero biases for every matrix of the attention and feed-forward layers (as
    tensor2tensor and ``torch.nn.Transformer``); embeddings and LayerNorms keep their own init."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.MultiheadAttention):
            nn.init.xavier_uniform_(m.in_proj_weight)


def stack_kv(cache: list[KV], dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-layer (k, v) -> (K, V) stacked along ``dim`` (0: layer-first, 1: batch-first)."""
    return torch.stack([k for k, _ in cache], dim), torch.stack([v for _, v in cache], dim)


def unstack_kv(k: torch.Tensor, v: torch.Tensor, dim: int) -> list[KV]:
    return list(zip(k.unbind(dim), v.unbind(dim), strict=True))


def build_opts(params: dict[str, Any]) -> ScratchTransformerOptions:
    return build_options(ScratchTransformerOptions, dict(params), "model")


# --------------------------------------------------------------------------- the encoder-decoder


class TransformerSeq2Seq(nn.Module):
    """The Transformer encoder-decoder (Vaswani et al. 2017, figure 1):

        z = Encoder(Emb_src(x)),   h_t = Decoder(Emb_tgt(y_<t), z),   p(y_t | y_<t, x) = softmax(h_t W^T + b)

    It speaks the translation pipeline's model interface (the same as ``models/seq2seq.py``)::

        encode(src [B, S], src_mask [B, S]) -> state     dict of tensors / lists of tensors, batch dim 0
        step(last [N], state) -> log_probs [N, V], state, attention [N, S] | None
        forward(src, src_mask, tgt_in [B, T]) -> logits [B, T, V], attention [B, T, S] | None

    The attention returned by ``step`` / ``forward`` is the last decoder layer's cross-attention averaged
    over heads; :meth:`attention_maps` gives every layer and head. Padding id is 0 on both sides.
    """

    attention = "transformer"

    def __init__(self, src_vocab: int, tgt_vocab: int, opts: ScratchTransformerOptions | None = None,
                 pad_id: int = 0):
        super().__init__()
        o = self.opts = opts or ScratchTransformerOptions()
        if o.share_embeddings and src_vocab != tgt_vocab:
            raise ValueError(f"share_embeddings needs one joint vocabulary (source {src_vocab}, target {tgt_vocab})")
        self.pad_id = pad_id
        self.src_embed = Embeddings(src_vocab, o, pad_id)
        self.tgt_embed = self.src_embed if o.share_embeddings else Embeddings(tgt_vocab, o, pad_id)
        self.encoder = Encoder(o, o.layers)
        self.decoder = Decoder(o, o.dec_layers or o.layers)
        init_linear_layers(self.encoder)
        init_linear_layers(self.decoder)
        self.out = OutputLayer(o.d_model, tgt_vocab, self.tgt_embed.tokens if o.tie_output else None)
        self.use_cache = o.cache and o.impl == "scratch"

    @classmethod
    def build(cls, params: dict[str, Any], src_vocab: int, tgt_vocab: int) -> TransformerSeq2Seq:
        """The translation pipeline's constructor: ``model.*`` options (bad keys or values are ConfigErrors)."""
        return build_transformer_seq2seq(params, src_vocab, tgt_vocab)

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> dict[str, Any]:
        """The memory z [B, S, d] and, for cached decoding, each decoder layer's source keys/values."""
        src_mask = padding_keep(src, self.pad_id) if src_mask is None else src_mask  # [B, S]
        memory, _, _ = self.encoder(self.src_embed(src), src_mask)  # [B, S, d]
        state: dict[str, Any] = {"memory": memory, "mask": src_mask,
                                 "tokens": src.new_zeros(src.size(0), 0)}  # [B, 0] the target prefix
        if self.use_cache:
            state["memory_kv"] = self.decoder.memory_kv(memory)  # per layer ([B, H, S, d_k], [B, H, S, d_k])
            state["self_kv"] = None  # per layer, after the first step
        return state

    def step(self, last: torch.Tensor, state: dict[str, Any]
             ) -> tuple[torch.Tensor, dict[str, Any], torch.Tensor | None]:
        """One decoding step: the previous tokens [N] -> log-probabilities [N, V], new state, attention [N, S].
        With the cache only the new position is embedded and run through the layers."""
        tokens = torch.cat([state["tokens"], last[:, None]], 1)  # [N, t]
        new = {**state, "tokens": tokens}
        if self.use_cache:
            y = self.tgt_embed(last[:, None], offset=tokens.size(1) - 1)  # [N, 1, d]
            h, attn, new["self_kv"] = self.decoder(y, state["memory"], state["mask"], None, state["self_kv"],
                                                   state["memory_kv"])  # [N, 1, d]
        else:  # recompute the whole prefix, keep its last position
            h, attn, _ = self.decoder(self.tgt_embed(tokens), state["memory"], state["mask"])  # [N, t, d]
        logits = self.out(h[:, -1])  # [N, V]
        alpha = attn["cross"][-1][:, :, -1].mean(1) if attn["cross"] else None  # [N, S]
        return torch.log_softmax(logits, dim=-1), new, alpha

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None, tgt_in: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Teacher-forced logits [B, T, V] (all positions at once, causal mask) and the last layer's
        head-averaged cross-attention [B, T, S] (None for ``impl: torch``)."""
        logits, maps = self._run(src, src_mask, tgt_in, encoder_attention=False)
        return logits, (maps["cross"][-1].mean(1) if maps["cross"] else None)

    def attention_maps(self, src: torch.Tensor, src_mask: torch.Tensor | None, tgt_in: torch.Tensor
                       ) -> dict[str, list[torch.Tensor]]:
        """Every layer's and head's attention, for heatmaps: ``encoder`` [B, H, S, S], ``self`` [B, H, T, T],
        ``cross`` [B, H, T, S] (lists over layers; empty for ``impl: torch``)."""
        return self._run(src, src_mask, tgt_in, encoder_attention=True)[1]

    def _run(self, src: torch.Tensor, src_mask: torch.Tensor | None, tgt_in: torch.Tensor,
             encoder_attention: bool) -> tuple[torch.Tensor, dict[str, list[torch.Tensor]]]:
        src_mask = padding_keep(src, self.pad_id) if src_mask is None else src_mask  # [B, S]
        memory, enc_attn, _ = self.encoder(self.src_embed(src), src_mask)  # [B, S, d]
        tgt_keep = padding_keep(tgt_in, self.pad_id)  # [B, T]
        h, maps, _ = self.decoder(self.tgt_embed(tgt_in), memory, src_mask, tgt_keep)  # [B, T, d]
        if encoder_attention:
            maps = {"encoder": enc_attn, **maps}
        return self.out(h), maps  # [B, T, V]


def build_transformer_seq2seq(params: dict[str, Any], src_vocab: int, tgt_vocab: int) -> TransformerSeq2Seq:
    """From ``model.*`` options (unknown keys and bad values are ConfigErrors)."""
    from dl4nlp.core.errors import ConfigError

    try:
        return TransformerSeq2Seq(src_vocab, tgt_vocab, build_opts(params))
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
