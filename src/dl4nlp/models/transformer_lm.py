"""A decoder-only Transformer language model (the decoder of Vaswani et al. 2017 without cross-attention;
Radford et al. 2018, *Improving Language Understanding by Generative Pre-Training*; Liu et al. 2018)::

    h^0 = Dropout(sqrt(d) E w_<=t + PE)
    h^l = Block_l(h^{l-1})             masked (causal) self-attention + FFN, residual + LayerNorm
    p(w_{t+1} | w_<=t) = softmax(h_t^L E^T + b)       output tied to the input embedding (3.4)

The blocks are :class:`~dl4nlp.models.transformer_scratch.EncoderLayer` under a causal mask.

Interface of the language-model pipeline: ``logits, state = model(tokens [B, T], state)``.

- ``state=None`` (training, evaluation): every window is read on its own and the returned state is None: a
  transformer carries no hidden state across BPTT windows, so its context is the window (``data.bptt``).
- ``state=model.init_state(B)`` (generation): an empty key/value cache; the call returns the cache with
  the new positions appended, and the next call runs only its new tokens. The cache is the tuple
  ``(K, V)``, each ``[layers, B, H, t, d_k]``, layer-first like an RNN state, so the pipeline's
  ``state_to_batch_first`` / ``state_to_layer_first`` work on it unchanged. With ``cache: false`` or
  ``impl: torch`` the state is the token prefix ``[1, B, t]`` and each call recomputes it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dl4nlp.models.transformer_scratch import (
    Embeddings,
    Encoder,
    OutputLayer,
    ScratchTransformerOptions,
    build_opts,
    init_linear_layers,
    stack_kv,
    unstack_kv,
)

State = tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None


class TransformerLM(nn.Module):
    """Decoder-only transformer LM (see the module docstring)."""

    def __init__(self, vocab_size: int, opts: ScratchTransformerOptions | None = None):
        super().__init__()
        o = self.opts = opts or ScratchTransformerOptions()
        self.vocab_size = vocab_size
        self.embed = Embeddings(vocab_size, o)
        self.blocks = Encoder(o, o.layers)
        init_linear_layers(self.blocks)
        self.out = OutputLayer(o.d_model, vocab_size, self.embed.tokens if o.tie_output else None)
        self.use_cache = o.cache and o.impl == "scratch"

    @classmethod
    def build(cls, params: dict[str, Any], vocab: Any, cell: str | None = None) -> TransformerLM:
        """The pipeline's constructor (``cell`` is the RNN models' argument, unused here)."""
        return cls(len(vocab), build_opts(params))

    def init_state(self, batch_size: int, device: torch.device | None = None) -> torch.Tensor | tuple:
        """An empty cache for generation: (K, V) [layers, B, H, 0, d_k], or an empty prefix [1, B, 0]."""
        if not self.use_cache:
            return torch.zeros(1, batch_size, 0, dtype=torch.long, device=device)  # [1, B, 0]
        o = self.opts
        k = torch.zeros(o.layers, batch_size, o.heads, 0, o.d_model // o.heads, device=device)
        return k, k.clone()

    def forward(self, tokens: torch.Tensor, state: State = None, return_attention: bool = False) -> Any:
        """tokens [B, T] -> (logits [B, T, V], state) (+ per-layer attention [B, H, T, t] with
        ``return_attention``)."""
        if state is None:
            h, attn, _ = self.blocks(self.embed(tokens), None, causal=True)  # [B, T, d]
            new: State = None
        elif isinstance(state, torch.Tensor):  # no cache: the whole prefix again, its last T positions kept
            prefix = torch.cat([state[0], tokens], 1)  # [B, t + T]
            h, attn, _ = self.blocks(self.embed(prefix), None, causal=True)
            h, attn, new = h[:, -tokens.size(1):], [w[:, :, -tokens.size(1):] for w in attn], prefix[None]
        else:
            past = unstack_kv(*state, dim=0)  # per layer [B, H, t, d_k]
            offset = past[0][0].size(2)
            h, attn, cache = self.blocks(self.embed(tokens, offset), None, causal=True, past=past)  # [B, T, d]
            new = stack_kv(cache, dim=0)  # [layers, B, H, t + T, d_k] each
        logits = self.out(h)  # [B, T, V]
        return (logits, new, attn) if return_attention else (logits, new)


def build_transformer_lm(params: dict[str, Any], vocab_size: int) -> TransformerLM:
    """From ``model.*`` options (unknown keys and bad values are ConfigErrors)."""
    from dl4nlp.core.errors import ConfigError

    try:
        return TransformerLM(vocab_size, build_opts(params))
    except ValueError as exc:
        raise ConfigError(f"model: {exc}") from None
