"""Multi-layer perceptron on bag-of-words features.

    h_1 = drop(g(W_1^T f(x) + b_1)),  h_l = drop(g(W_l h_{l-1} + b_l)),  logits = W_o h_L + b_o

with g the activation (relu, tanh, gelu, sigmoid), dropout after every non-linearity and optional
dropout on the input features (Srivastava et al. 2014). The course's rung 2: two hidden layers.

With ``embeddings`` (e.g. ``glove-6b-50d``) a linear layer initialised from pretrained word vectors comes
first, e = E^T f(x) ([V, D] -> D: the tf-idf-weighted sum of the sentence's word vectors), and the hidden
layers work on e: the deep averaging network of Iyyer et al. (2015) on BoW weights. It is still an MLP on
f(x) whose first weight matrix is factorised as E W_1 and starts from the vectors; E is fine-tuned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from dl4nlp.core.config import build_options, check_ranges
from dl4nlp.core.errors import ConfigError
from dl4nlp.models.bow import BagOfWordsLinear, check_ngrams, idf_from_vocab

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU, "sigmoid": nn.Sigmoid}
INITS = ("default", "xavier", "kaiming", "normal")


@dataclass
class MLPOptions:
    hidden: list[int] = field(default_factory=lambda: [256, 256])
    activation: str = "relu"
    dropout: float = 0.5
    input_dropout: float = 0.0
    init: str = "default"  # default (PyTorch's) | xavier | kaiming | normal (std 0.02)
    features: str = "counts"
    normalize: bool = False
    embeddings: str = "random"  # random | glove-6b-50d | a GloVe/word2vec text file: see the module docstring
    ngrams: int = 1  # word n-grams up to n as extra input features (as for logreg)

    RANGES: ClassVar[dict[str, str]] = {"dropout": "[0, 1)", "input_dropout": "[0, 1)"}

    def __post_init__(self) -> None:
        check_ngrams(self.ngrams)
        check_ranges(self, "model")
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError(f"model.hidden: every layer size must be a whole number >= 1, got {self.hidden}")


def init_weights(module: nn.Module, scheme: str, activation: str) -> None:
    """Re-initialise every weight matrix with ``scheme``; biases to zero."""
    if scheme not in INITS:
        raise ValueError(f"unknown init '{scheme}' (use {', '.join(INITS)})")
    if scheme == "default":
        return
    for name, p in module.named_parameters():
        if p.dim() < 2:
            if name.endswith("bias"):
                nn.init.zeros_(p)
            continue
        if scheme == "xavier":
            nn.init.xavier_uniform_(p, gain=nn.init.calculate_gain("tanh" if activation == "tanh" else "linear"))
        elif scheme == "kaiming":
            nn.init.kaiming_uniform_(p, nonlinearity="relu")
        elif scheme == "normal":
            nn.init.normal_(p, std=0.02)


class MLPClassifier(nn.Module):
    Options = MLPOptions

    def __init__(self, vocab_size: int, num_classes: int, opts: MLPOptions | None = None,
                 idf: torch.Tensor | None = None, pretrained: torch.Tensor | None = None):
        super().__init__()
        opts = opts or MLPOptions()
        if not opts.hidden:
            raise ValueError("mlp: hidden must list at least one layer size (use logreg for none)")
        if opts.activation not in ACTIVATIONS:
            raise ValueError(f"mlp: unknown activation '{opts.activation}' (use {', '.join(ACTIVATIONS)})")
        self.opts = opts
        act = ACTIVATIONS[opts.activation]
        # with word vectors: f(x) [B, V] -> e [B, D] -> W_1 (the first hidden layer); else f(x) -> W_1 directly
        first = pretrained.size(1) if pretrained is not None else opts.hidden[0]
        self.input = BagOfWordsLinear(vocab_size, first, opts.features, idf, opts.normalize, opts.input_dropout)
        layers: list[nn.Module] = [nn.Linear(first, opts.hidden[0])] if pretrained is not None else []
        layers += [act(), nn.Dropout(opts.dropout)]
        for d_in, d_out in zip(opts.hidden[:-1], opts.hidden[1:], strict=True):
            layers += [nn.Linear(d_in, d_out), act(), nn.Dropout(opts.dropout)]
        self.hidden = nn.Sequential(*layers)
        self.output = nn.Linear(opts.hidden[-1], num_classes)
        init_weights(self, opts.init, opts.activation)
        if pretrained is not None:
            with torch.no_grad():
                self.input.weight.copy_(pretrained)  # [V, D]; words without a vector keep small random rows
                self.input.bias.zero_()

    @classmethod
    def build(cls, params: dict, vocab, num_classes: int) -> MLPClassifier:
        from dl4nlp.models.recurrent import pretrained_vectors

        opts = build_options(MLPOptions, params, "model (mlp)")
        pretrained = None
        if opts.embeddings != "random":
            pretrained, _ = pretrained_vectors(opts.embeddings, vocab)
        return cls(len(vocab), num_classes, opts, idf_from_vocab(vocab), pretrained)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.hidden(self.input(tokens, mask))  # [B, H_L]
        return self.output(h)  # [B, C]
