"""word2vec: continuous bag-of-words (CBOW) and skip-gram with negative sampling.

Mikolov, Chen, Corrado, Dean, 2013, *Efficient Estimation of Word Representations in Vector Space*
(arXiv:1301.3781) and Mikolov, Sutskever, Chen, Corrado, Dean, 2013, *Distributed Representations of
Words and Phrases and their Compositionality* (NeurIPS).

Each word ``w`` has an input vector ``v_w`` (the word vector we keep) and an output vector ``u_w``.
For a positive pair (hidden vector ``h``, target word ``o``) and ``K`` noise words ``n_1..n_K`` drawn
from the unigram distribution raised to 3/4, negative sampling minimises::

    loss = -log sigma(u_o . h) - sum_k log sigma(-u_{n_k} . h)

- skip-gram: ``h = v_c`` for the centre word ``c``, target ``o`` = one context word;
- CBOW: ``h = mean(v_x for x in the context window)``, target ``o`` = the centre word.

As in the reference C code, input vectors start uniform in ``[-0.5/D, 0.5/D]`` and output vectors
at zero. The loss is *summed* over the batch (not averaged), so the learning rate means the same thing
as word2vec's ``alpha`` (0.025 for skip-gram, 0.05 for CBOW).

Two ways to train, same result: :meth:`Word2Vec.forward` returns the loss for autograd (sparse
embedding gradients + ``torch.optim.SGD``), and :meth:`Word2Vec.sgd_step` applies the closed-form
gradients with ``index_add_`` (what the C code does, batched). With ``s = sigma(u . h)``::

    dL/du_o = (s_o - 1) h        dL/du_k = s_k h        dL/dh = (s_o - 1) u_o + sum_k s_k u_k

``sgd_step`` is about 5-10x faster on CPU (no autograd graph, no sparse-gradient coalescing), so the
trainer uses it; a test checks it against autograd. For CBOW it follows the reference code (and
gensim's ``cbow_mean=1``): every context word receives the full ``dL/dh``, not ``dL/dh / C``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Word2VecOptions:
    """Model options (the training options live in :class:`dl4nlp.pipelines.word2vec.TrainOptions`)."""

    dim: int = 100
    arch: str = "skipgram"  # skipgram | cbow

    def __post_init__(self) -> None:
        if self.arch not in ("skipgram", "cbow"):
            raise ValueError(f"arch must be 'skipgram' or 'cbow', not '{self.arch}'")
        if self.dim < 1:
            raise ValueError("dim must be positive")


class Word2Vec(nn.Module):
    """Input and output embedding tables and the negative-sampling loss for both architectures."""

    def __init__(self, vocab_size: int, dim: int = 100, arch: str = "skipgram", seed: int = 0):
        super().__init__()
        Word2VecOptions(dim, arch)
        self.arch = arch
        self.inp = nn.Embedding(vocab_size, dim, sparse=True)  # v_w: the word vectors [V, D]
        self.out = nn.Embedding(vocab_size, dim, sparse=True)  # u_w: the output vectors [V, D]
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            self.inp.weight.copy_((torch.rand(vocab_size, dim, generator=gen) - 0.5) / dim)
            self.out.weight.zero_()

    def hidden(self, words: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``h``: the centre word's vector ``[B, D]`` (skip-gram, ``words`` ``[B]``), or the mean of the
        context vectors (CBOW, ``words`` ``[B, C]`` with ``mask`` ``[B, C]`` True for real context words)."""
        if words.dim() == 1:
            return self.inp(words)  # [B, D]
        vecs = self.inp(words)  # [B, C, D]
        if mask is None:
            return vecs.mean(1)
        m = mask.unsqueeze(-1).to(vecs.dtype)  # [B, C, 1]
        return (vecs * m).sum(1) / m.sum(1).clamp(min=1.0)  # [B, D]

    def forward(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Summed negative-sampling loss of a batch.

        inputs: ``[B]`` centre words (skip-gram) or ``[B, C]`` context words (CBOW, with ``mask``);
        targets: ``[B]`` the word to predict; negatives: ``[B, K]`` noise words.
        """
        h = self.hidden(inputs, mask)  # [B, D]
        pos = (self.out(targets) * h).sum(-1)  # [B]
        neg = torch.bmm(self.out(negatives), h.unsqueeze(-1)).squeeze(-1)  # [B, K]
        return -(F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum())

    @torch.no_grad()
    def sgd_step(self, inputs: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor, lr: float,
                 mask: torch.Tensor | None = None) -> torch.Tensor:
        """One SGD step on the summed loss with the closed-form gradients; returns the loss (same
        arguments as :meth:`forward`). Rows repeated in a batch get the sum of their updates."""
        inp, out = self.inp.weight, self.out.weight  # [V, D] each
        h = self.hidden(inputs, mask)  # [B, D]
        u_o = out.index_select(0, targets)  # [B, D]  (index_select: faster than out[idx] on CPU)
        u_n = out.index_select(0, negatives.reshape(-1)).view(*negatives.shape, -1)  # [B, K, D]
        pos = (u_o * h).sum(-1)  # [B]
        neg = torch.bmm(u_n, h.unsqueeze(-1)).squeeze(-1)  # [B, K]
        loss = -(F.logsigmoid(pos).sum() + F.logsigmoid(-neg).sum())
        g_pos = torch.sigmoid(pos) - 1.0  # [B]     dL/d(u_o . h)
        g_neg = torch.sigmoid(neg)  # [B, K]         dL/d(u_k . h)
        g_h = g_pos.unsqueeze(-1) * u_o + torch.bmm(g_neg.unsqueeze(1), u_n).squeeze(1)  # [B, D]
        out.index_add_(0, targets, g_pos.unsqueeze(-1) * h, alpha=-lr)
        g_un = g_neg.unsqueeze(-1) * h.unsqueeze(1)  # [B, K, D]
        out.index_add_(0, negatives.reshape(-1), g_un.reshape(-1, h.shape[-1]), alpha=-lr)
        if inputs.dim() == 1:  # skip-gram: the centre word
            inp.index_add_(0, inputs, g_h, alpha=-lr)
        else:  # CBOW: every real context word gets dL/dh
            m = torch.ones_like(inputs, dtype=torch.bool) if mask is None else mask  # [B, C]
            rows = m.nonzero(as_tuple=True)[0]  # [P]
            inp.index_add_(0, inputs[m], g_h[rows], alpha=-lr)
        return loss

    @property
    def vectors(self) -> torch.Tensor:
        """The word vectors ``[V, D]`` (the input table, as in word2vec)."""
        return self.inp.weight.detach()
