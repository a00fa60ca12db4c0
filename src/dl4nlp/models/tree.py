"""Tree-structured networks over binarised parse trees, with a softmax at every node.

Each model computes a vector for every node of a tree from its children's vectors, bottom-up, and classifies
every node from its vector (phrase-level supervision, the setting the Sentiment Treebank was built for)::

    leaf:   h_w = leaf(E[w])                                   word vectors (GloVe 50d, fine-tuned)
    inner:  h_p = compose(h_a, h_b)                            a, b: the two children of p
    every node n:  y_n = softmax(W_s drop(h_n) + b_s)

``forward(batch)`` computes all nodes of a :class:`~dl4nlp.data.tree_batching.TreeBatch` level by level (every
node of one height across the batch in one step); ``reference(tree, word_id)`` is the plain recursive
computation of one tree with the same weights, written from the equations node by node (the tests check the
two agree at every node; ``benchmarks/trees_speed.py`` times them).

References: Socher, Lin, Ng & Manning 2011 (*Parsing Natural Scenes and Natural Language with Recursive
Neural Networks*, ICML); Socher, Perelygin, Wu, Chuang, Manning, Ng & Potts 2013 (*Recursive Deep Models for
Semantic Compositionality Over a Sentiment Treebank*, EMNLP); Tai, Socher & Manning 2015 (*Improved Semantic
Representations From Tree-Structured Long Short-Term Memory Networks*, ACL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dl4nlp.core.config import build_options
from dl4nlp.data.tree_batching import TreeBatch
from dl4nlp.data.trees import Tree
from dl4nlp.models.recurrent import WordEmbedding, pretrained_vectors

State = tuple[torch.Tensor, ...]  # (h,) for the RNN and RNTN, (h, c) for the Tree-LSTM; h first


@dataclass
class RecursiveOptions:
    embeddings: str = "glove-6b-50d"  # glove-6b-50d | random | path to a GloVe/word2vec text file
    embedding_dim: int = 50  # random embeddings only (pretrained ones bring their own size)
    freeze_embeddings: bool = False  # pretrained rows frozen, the rest trainable
    embed_dropout: float = 0.0  # on the word vectors at the leaves
    dropout: float = 0.5  # on every node's vector before its softmax


@dataclass
class TreeLSTMOptions(RecursiveOptions):
    hidden: int = 150  # memory cell size


class TreeNetwork(nn.Module):
    """The part every tree model shares: word vectors at the leaves, level-by-level composition, a softmax
    classifier on every node. Subclasses give the cell: ``leaf`` / ``compose`` over batches of nodes and
    ``leaf_one`` / ``compose_one`` over single vectors (the recursive reference)."""

    Options: type = RecursiveOptions

    def __init__(self, vocab_size: int, num_classes: int, opts: Any, pretrained: torch.Tensor | None = None,
                 found: torch.Tensor | None = None, embedding_dim: int | None = None):
        super().__init__()
        for key in ("dropout", "embed_dropout"):
            if not 0.0 <= getattr(opts, key) < 1.0:
                raise ValueError(f"{key} must lie in [0, 1), got {getattr(opts, key)}")
        self.opts = opts
        dim = pretrained.size(1) if pretrained is not None else embedding_dim or opts.embedding_dim
        self.embedding_dim = dim
        self.embed = WordEmbedding(vocab_size, dim, pretrained, found, opts.freeze_embeddings)
        self.embed_dropout = nn.Dropout(opts.embed_dropout)
        self.dropout = nn.Dropout(opts.dropout)
        self.output = nn.Linear(self.state_size(), num_classes)  # W_s, b_s

    def state_size(self) -> int:
        return self.embedding_dim  # the RNN and RNTN compose in the word vectors' space

    @classmethod
    def build(cls, params: dict, vocab: Any, num_classes: int, load_vectors: bool = True,
              embedding_dim: int | None = None) -> TreeNetwork:
        """From a config's model options; ``load_vectors=False`` (loading a trained run) skips reading the
        pretrained file, whose values the checkpoint replaces (``embedding_dim``: its width)."""
        opts = build_options(cls.Options, params, f"model ({cls.__name__})")
        pretrained = found = None
        if opts.embeddings != "random" and load_vectors:
            pretrained, found = pretrained_vectors(opts.embeddings, vocab)
        elif opts.embeddings != "random" and opts.freeze_embeddings:  # buffers the checkpoint fills
            dim = embedding_dim or opts.embedding_dim
            pretrained, found = torch.zeros(len(vocab), dim), torch.ones(len(vocab), dtype=torch.bool)
        return cls(len(vocab), num_classes, opts, pretrained, found, embedding_dim)

    # ---------------------------------------------------------------- the cell (subclasses)
    def leaf(self, x: torch.Tensor) -> State:
        raise NotImplementedError

    def compose(self, a: State, b: State) -> State:
        raise NotImplementedError

    def leaf_one(self, x: torch.Tensor) -> State:
        raise NotImplementedError

    def compose_one(self, a: State, b: State) -> State:
        raise NotImplementedError

    # ---------------------------------------------------------------- batched, level by level
    def encode(self, batch: TreeBatch) -> torch.Tensor:
        """Vectors of every node of the batch [N, D], computed one height at a time."""
        x = self.embed_dropout(self.embed(batch.leaf_words))  # [L, E]
        leaf = self.leaf(x)  # each [L, D]
        states = [t.new_zeros(batch.num_nodes, t.size(1)).index_copy(0, batch.leaf_nodes, t) for t in leaf]
        for nodes, left, right in batch.levels:  # each [n_k]
            a = tuple(s.index_select(0, left) for s in states)  # each [n_k, D]
            b = tuple(s.index_select(0, right) for s in states)
            new = self.compose(a, b)  # each [n_k, D]
            # out of place: every level's states stay as autograd saved them
            states = [s.index_copy(0, nodes, t) for s, t in zip(states, new, strict=True)]
        return states[0]  # [N, D]

    def forward(self, batch: TreeBatch) -> torch.Tensor:
        """Logits of every node [N, C]."""
        return self.output(self.dropout(self.encode(batch)))  # [N, C]

    # ---------------------------------------------------------------- plain recursion, one tree
    def reference(self, tree: Tree, word_id: Callable[[str], int]) -> torch.Tensor:
        """Logits [n, C] of every node of ``tree`` in post-order (children first, the root last), computed by
        plain recursion with single vectors: the reference the batched computation is checked against."""
        device = self.output.weight.device
        outputs: list[torch.Tensor] = []

        def visit(node: Tree) -> State:
            if node.word is not None:
                x = self.embed(torch.tensor([word_id(node.word)], device=device))[0]  # [E]
                state = self.leaf_one(self.embed_dropout(x))
            else:
                left, right = node.children
                a = visit(left)
                state = self.compose_one(a, visit(right))
            outputs.append(state[0])
            return state

        visit(tree)
        return self.output(self.dropout(torch.stack(outputs)))  # [n, C]


class RecursiveNN(TreeNetwork):
    """Recursive neural network (Socher et al. 2011; the "RNN" of Socher et al. 2013, Sec. 4.1):

        p = tanh(W [a; b] + b),     W in R^{d x 2d}

    with d the word-vector size (a leaf's vector is its word vector). W starts near averaging the children,
    0.5 [I I] plus small noise, so early phrase vectors stay in the word vectors' range.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        d = self.embedding_dim
        self.W = nn.Linear(2 * d, d)
        _near_average(self.W, d)

    def leaf(self, x: torch.Tensor) -> State:
        return (x,)

    def compose(self, a: State, b: State) -> State:
        return (torch.tanh(self.W(torch.cat([a[0], b[0]], dim=-1))),)  # [n, d]

    def leaf_one(self, x: torch.Tensor) -> State:
        return (x,)

    def compose_one(self, a: State, b: State) -> State:
        ab = torch.cat([a[0], b[0]])  # [2d]
        return (torch.tanh(self.W.weight @ ab + self.W.bias),)  # [d]


class RNTN(TreeNetwork):
    """Recursive neural tensor network (Socher et al. 2013, Eq. 2):

        p = tanh([a; b]^T V^{[1:d]} [a; b] + W [a; b] + b),     V^{[k]} in R^{2d x 2d},  W in R^{d x 2d}

    where slice k of the tensor gives output k: ``h_k = [a; b]^T V^{[k]} [a; b]``, so each pair of child
    dimensions can interact multiplicatively. d is the word-vector size.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        d = self.embedding_dim
        self.W = nn.Linear(2 * d, d)
        _near_average(self.W, d)
        self.V = nn.Parameter(torch.empty(d, 2 * d, 2 * d).uniform_(-1 / (2 * d), 1 / (2 * d)))  # [d, 2d, 2d]

    def leaf(self, x: torch.Tensor) -> State:
        return (x,)

    def compose(self, a: State, b: State) -> State:
        ab = torch.cat([a[0], b[0]], dim=-1)  # [n, 2d]
        d2 = ab.size(1)
        xv = (ab @ self.V.permute(1, 0, 2).reshape(d2, -1)).view(-1, self.V.size(0), d2)  # [n, d, 2d]
        tensor_term = (xv * ab.unsqueeze(1)).sum(-1)  # [n, d]
        return (torch.tanh(tensor_term + self.W(ab)),)

    def leaf_one(self, x: torch.Tensor) -> State:
        return (x,)

    def compose_one(self, a: State, b: State) -> State:
        ab = torch.cat([a[0], b[0]])  # [2d]
        tensor_term = torch.einsum("i,kij,j->k", ab, self.V, ab)  # [d]
        return (torch.tanh(tensor_term + self.W.weight @ ab + self.W.bias),)


class TreeLSTM(TreeNetwork):
    """Constituency (binary N-ary) Tree-LSTM (Tai et al. 2015, Eqs. 9-14, N = 2), a forget gate per child:

        i   = sigma(W_i x + U_i^L h_L + U_i^R h_R + b_i)
        f_k = sigma(W_f x + U_f^{kL} h_L + U_f^{kR} h_R + b_f)        k in {L, R}: one gate per child
        o   = sigma(W_o x + U_o^L h_L + U_o^R h_R + b_o)
        u   = tanh(W_u x + U_u^L h_L + U_u^R h_R + b_u)
        c   = i * u + f_L * c_L + f_R * c_R
        h   = o * tanh(c)

    In a constituency tree only leaves hold a word x (and have no children); inner nodes have no input,
    so a leaf is ``c = i * u, h = o * tanh(c)`` with gates of W x + b, and an inner node uses the U terms.
    """

    Options = TreeLSTMOptions

    def __init__(self, vocab_size: int, num_classes: int, opts: Any, *args: Any, **kwargs: Any):
        if opts.hidden < 1:
            raise ValueError(f"hidden must be >= 1, got {opts.hidden}")
        self.hidden = opts.hidden
        super().__init__(vocab_size, num_classes, opts, *args, **kwargs)
        d = opts.hidden
        self.W_leaf = nn.Linear(self.embedding_dim, 3 * d)  # W_i, W_o, W_u (and biases) at the leaves
        self.U = nn.Linear(2 * d, 5 * d)  # [U^L U^R] of i, f_L, f_R, o, u (and biases) at inner nodes

    def state_size(self) -> int:
        return self.hidden

    def leaf(self, x: torch.Tensor) -> State:
        i, o, u = self.W_leaf(x).chunk(3, dim=-1)  # each [L, d]
        c = torch.sigmoid(i) * torch.tanh(u)
        return torch.sigmoid(o) * torch.tanh(c), c

    def compose(self, a: State, b: State) -> State:
        (h_l, c_l), (h_r, c_r) = a, b  # each [n, d]
        i, f_l, f_r, o, u = self.U(torch.cat([h_l, h_r], dim=-1)).chunk(5, dim=-1)  # each [n, d]
        c = torch.sigmoid(i) * torch.tanh(u) + torch.sigmoid(f_l) * c_l + torch.sigmoid(f_r) * c_r
        return torch.sigmoid(o) * torch.tanh(c), c

    def leaf_one(self, x: torch.Tensor) -> State:
        d = self.hidden
        W, bias = self.W_leaf.weight, self.W_leaf.bias
        i = torch.sigmoid(W[:d] @ x + bias[:d])
        o = torch.sigmoid(W[d:2 * d] @ x + bias[d:2 * d])
        u = torch.tanh(W[2 * d:] @ x + bias[2 * d:])
        c = i * u
        return o * torch.tanh(c), c

    def compose_one(self, a: State, b: State) -> State:
        d = self.hidden
        (h_l, c_l), (h_r, c_r) = a, b  # each [d]
        U, bias = self.U.weight, self.U.bias  # [5d, 2d], [5d]

        def gate(k: int) -> torch.Tensor:  # U^L_k h_L + U^R_k h_R + b_k
            rows = slice(k * d, (k + 1) * d)
            return U[rows, :d] @ h_l + U[rows, d:] @ h_r + bias[rows]

        i, f_l, f_r, o, u = (gate(k) for k in range(5))
        c = torch.sigmoid(i) * torch.tanh(u) + torch.sigmoid(f_l) * c_l + torch.sigmoid(f_r) * c_r
        return torch.sigmoid(o) * torch.tanh(c), c


def _near_average(layer: nn.Linear, d: int) -> None:
    """W = 0.5 [I I] + U(-0.01, 0.01) noise, b = 0: p starts near the mean of its children."""
    with torch.no_grad():
        eye = torch.eye(d)
        layer.weight.copy_(0.5 * torch.cat([eye, eye], dim=1) + torch.empty(d, 2 * d).uniform_(-0.01, 0.01))
        layer.bias.zero_()


def node_loss(logits: torch.Tensor, batch: TreeBatch) -> torch.Tensor:
    """Mean cross-entropy over the batch's supervised nodes (every labelled phrase, the root included)."""
    mask = batch.label_mask  # [N]
    if not bool(mask.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask], batch.labels[mask])
