"""Recurrent sentence classifiers: embeddings -> stacked (bi)RNN/GRU/LSTM -> pooling -> (MLP) -> logits.

    x_t = E[w_t]                                  word vectors (random, or GloVe, frozen or fine-tuned)
    h_1..h_T = RecurrentEncoder(x_1..x_T)         see :mod:`dl4nlp.models.rnn` for the cells
    s = pool(h)                                   last state of each direction | mean | max | attention
    logits = W_o MLP(drop(s)) + b_o

One class, :class:`RecurrentClassifier`, with a ``cell`` option; the registered names (``rnn``,
``gru``, ``lstm``, ``bigru``, ``bilstm``, ``stacked``) only change its defaults, so configs read
``model: {name: bilstm, hidden: 150}``. References: Elman 1990; Cho et al. 2014; Hochreiter &
Schmidhuber 1997; Tai et al. 2015 (LSTM/BiLSTM baselines on SST); He et al. 2016 (residual).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import build_options, check_ranges
from dl4nlp.core.errors import ConfigError
from dl4nlp.models.rnn import POOLINGS, AdditiveAttentionPooling, RecurrentEncoder, pool


@dataclass
class RecurrentOptions:
    cell: str = "lstm"  # rnn | gru | lstm
    hidden: int = 150  # hidden units per direction
    layers: int = 1
    bidirectional: bool = False
    residual: bool = False  # h_l = RNN_l(h_{l-1}) + h_{l-1} from the second layer on
    impl: str = "fused"  # fused (torch.nn + packing) | scratch (our cells unrolled in Python)
    nonlinearity: str = "tanh"  # Elman RNN only: tanh | relu
    pooling: str = "last"  # last | mean | max | attention
    attention_dim: int = 100
    mlp_hidden: list[int] = field(default_factory=list)  # optional MLP between pooling and the output layer
    embeddings: str = "random"  # random | glove-6b-50d | path to a GloVe/word2vec text file
    embedding_dim: int = 50  # used for random embeddings (pretrained ones bring their own size)
    freeze_embeddings: bool = False  # pretrained rows frozen; rows not found stay trainable
    embed_dropout: float = 0.0
    dropout: float = 0.0  # between recurrent layers
    output_dropout: float = 0.5  # on the sentence vector (and the MLP's hidden layers)

    RANGES: ClassVar[dict[str, str]] = {
        "hidden": "[1, inf)", "layers": "[1, inf)", "attention_dim": "[1, inf)", "embedding_dim": "[1, inf)",
        "embed_dropout": "[0, 1)", "dropout": "[0, 1)", "output_dropout": "[0, 1)",
    }

    def __post_init__(self) -> None:
        check_ranges(self, "model")
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.mlp_hidden):
            raise ConfigError(f"model.mlp_hidden: every layer size must be a whole number >= 1, got {self.mlp_hidden}")


class WordEmbedding(nn.Module):
    """Embedding table E [V, D] with row 0 (<pad>) fixed at zero.

    With ``pretrained`` vectors and ``freeze=True`` the found rows are a frozen buffer and the rest
    come from a trainable table, combined by the ``found`` mask:
    ``E[w] = found[w] ? P[w] : O[w]`` — so OOV words still learn while GloVe rows stay put.
    """

    def __init__(self, vocab_size: int, dim: int, pretrained: torch.Tensor | None = None,
                 found: torch.Tensor | None = None, freeze: bool = False):
        super().__init__()
        self.dim = dim
        self.table = nn.Embedding(vocab_size, dim, padding_idx=0)  # [V, D] trainable
        nn.init.normal_(self.table.weight, std=0.3)
        self.frozen = freeze and pretrained is not None
        if pretrained is not None:
            if found is None:
                found = torch.ones(vocab_size, dtype=torch.bool)
            with torch.no_grad():
                self.table.weight.copy_(pretrained)  # OOV rows: the small random draws of embedding_matrix
        if self.frozen:
            self.register_buffer("pretrained", pretrained.clone())  # [V, D]
            self.register_buffer("found", found.clone())  # [V] bool
        with torch.no_grad():
            self.table.weight[0].zero_()

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens [B, T] -> vectors [B, T, D]."""
        x = self.table(tokens)  # [B, T, D]
        if self.frozen:
            fixed = F.embedding(tokens, self.pretrained)  # [B, T, D]
            x = torch.where(self.found[tokens].unsqueeze(-1), fixed, x)
        return x


def pretrained_vectors(spec: str, vocab: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """(matrix [V, D], found [V] bool) for ``spec`` (``glove-6b-50d`` or a vectors file) over ``vocab``;
    prints the share of the vocabulary found."""
    from dl4nlp import embeddings

    vectors = embeddings.load_vectors(spec)
    matrix, found = embeddings.embedding_matrix(vectors, vocab.itos)
    matrix = torch.as_tensor(matrix, dtype=torch.float32)
    found = torch.as_tensor(found, dtype=torch.bool)
    real = max(len(vocab) - 2, 1)  # <pad> and <unk> are never "found"
    n = int(found[2:].sum())
    print(f"[embeddings] {spec}: {n:,} of {real:,} vocabulary words found ({100 * n / real:.1f}%)",
          file=sys.stderr)  # a note: stdout carries results only
    return matrix, found


class RecurrentClassifier(nn.Module):
    """``model(tokens [B, T], mask [B, T]) -> logits [B, C]``; ``attention_weights(tokens, mask)``
    gives the pooling weights [B, T] when ``pooling: attention``."""

    Options = RecurrentOptions
    DEFAULTS: dict[str, Any] = {}

    def __init__(self, vocab_size: int, num_classes: int, opts: RecurrentOptions | None = None,
                 pretrained: torch.Tensor | None = None, found: torch.Tensor | None = None):
        super().__init__()
        opts = opts or RecurrentOptions()
        if opts.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling '{opts.pooling}' (use {', '.join(POOLINGS)})")
        if opts.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {opts.hidden}")
        self.opts = opts
        dim = pretrained.size(1) if pretrained is not None else opts.embedding_dim
        self.embed = WordEmbedding(vocab_size, dim, pretrained, found, opts.freeze_embeddings)
        self.embed_dropout = nn.Dropout(opts.embed_dropout)
        self.encoder = RecurrentEncoder(opts.cell, dim, opts.hidden, opts.layers, opts.bidirectional,
                                        opts.dropout, opts.residual, opts.impl, opts.nonlinearity)
        d = self.encoder.output_size
        self.attention = None
        if opts.pooling == "attention":
            self.attention = AdditiveAttentionPooling(d, opts.attention_dim)
        self.output_dropout = nn.Dropout(opts.output_dropout)
        layers: list[nn.Module] = []
        for h in opts.mlp_hidden:
            layers += [nn.Linear(d, h), nn.Tanh(), nn.Dropout(opts.output_dropout)]
            d = h
        self.mlp = nn.Sequential(*layers)
        self.output = nn.Linear(d, num_classes)

    @classmethod
    def build(cls, params: dict, vocab: Any, num_classes: int) -> RecurrentClassifier:
        opts = build_options(RecurrentOptions, {**cls.DEFAULTS, **params}, "model (recurrent)")
        pretrained = found = None
        if opts.embeddings != "random":
            pretrained, found = pretrained_vectors(opts.embeddings, vocab)
        return cls(len(vocab), num_classes, opts, pretrained, found)

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """tokens, mask [B, T] -> (sentence vectors [B, D], attention weights [B, T] or None)."""
        x = self.embed_dropout(self.embed(tokens))  # [B, T, E]
        outputs, final = self.encoder(x, mask)  # [B, T, D], [B, D]
        if self.attention is not None:
            return self.attention(outputs, mask)
        return pool(self.opts.pooling, outputs, final, mask), None

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s, _ = self.encode(tokens, mask)  # [B, D]
        return self.output(self.mlp(self.output_dropout(s)))  # [B, C]

    @torch.no_grad()
    def attention_weights(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Attention-pooling weights [B, T] (0 on padding) in eval mode."""
        if self.attention is None:
            raise ValueError(f"this model pools with '{self.opts.pooling}', not attention")
        was = self.training
        self.eval()
        _, w = self.encode(tokens, mask)
        self.train(was)
        return w  # type: ignore[return-value]


class RNNClassifier(RecurrentClassifier):
    """Elman RNN (tanh) classifier."""

    DEFAULTS = {"cell": "rnn"}


class GRUClassifier(RecurrentClassifier):
    DEFAULTS = {"cell": "gru"}


class LSTMClassifier(RecurrentClassifier):
    DEFAULTS = {"cell": "lstm"}


class BiGRUClassifier(RecurrentClassifier):
    DEFAULTS = {"cell": "gru", "bidirectional": True}


class BiLSTMClassifier(RecurrentClassifier):
    DEFAULTS = {"cell": "lstm", "bidirectional": True}


class StackedClassifier(RecurrentClassifier):
    """Two bidirectional LSTM layers with a residual connection and dropout between them."""

    DEFAULTS = {"cell": "lstm", "bidirectional": True, "layers": 2, "residual": True, "dropout": 0.3}
