"""Binarised sentiment trees -> arrays a tree network processes level by level.

A tree is encoded once (:func:`encode_tree`) as arrays over its nodes in post-order (children before their
parent, the root last): the word id of each leaf, the two children of each inner node, each node's height
(leaves 0, a parent 1 + the higher child) and label. :func:`collate_trees` concatenates a batch of encoded
trees into one node index space and groups the inner nodes by height, so a model computes every node of the
same height across the whole batch in one step (all their children are lower, hence already computed)::

    level 0:  h[leaf_nodes] = leaf(E[leaf_words])
    level k:  h[nodes_k]    = compose(h[left_k], h[right_k])        k = 1 .. max height

With every node labelled, a softmax over ``h`` gives the loss over all phrases (``label_mask`` leaves out the
nodes without a label, e.g. the neutral phrases of SST-2) and ``h[roots]`` the sentence predictions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dl4nlp.core.errors import DataError
from dl4nlp.core.io import require_file, text_lines
from dl4nlp.data.trees import Tree, parse_tree

NO_LABEL = -1  # a node that is not supervised (SST-2: a neutral phrase)


def check_binary(tree: Tree, where: str) -> Tree:
    """``tree`` if every inner node has exactly two children; a :class:`DataError` naming ``where`` otherwise."""
    for node in tree.subtrees():
        if node.word is None and len(node.children) != 2:
            raise DataError(f"{where}: not a binarised tree: node ({node.label} ...) over "
                            f"'{' '.join(node.leaves())}' has {len(node.children)} children (expected 2)")
    return tree


def read_binary_trees(path: str | Path) -> list[Tree]:
    """The binarised trees of a PTB-format file (one per non-blank line, labels 0-4); a :class:`DataError`
    naming ``file:line`` for a malformed or non-binary tree."""
    path = require_file(path)
    trees = []
    with closing(text_lines(path)) as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                where = f"{path}:{i}"
                trees.append(check_binary(parse_tree(line, where), where))
    if not trees:
        raise DataError(f"{path}: no trees found")
    return trees


def sst2_label(label: int) -> int:
    """SST-2's label of a 0-4 sentiment: 0-1 negative (0), 3-4 positive (1), neutral unlabelled."""
    return NO_LABEL if label == 2 else int(label > 2)


def balanced_tree(tokens: Sequence[str], label: int = 0) -> Tree:
    """A balanced binary tree over ``tokens`` (the left half gets the extra token), every node labelled
    ``label``: the structure used for text that comes without a parse."""
    if not tokens:
        raise DataError("balanced_tree: no tokens")
    if len(tokens) == 1:
        return Tree(label, word=tokens[0])
    mid = (len(tokens) + 1) // 2
    return Tree(label, [balanced_tree(tokens[:mid], label), balanced_tree(tokens[mid:], label)])


_ESCAPE = {"(": "-LRB-", ")": "-RRB-"}


def format_tree(tree: Tree) -> str:
    """``tree`` as one PTB-format line, ``(3 (2 a) (3 good))``; parentheses in words escaped as -LRB- / -RRB-
    (what :func:`~dl4nlp.data.trees.parse_tree` reads back)."""
    if tree.word is not None:
        word = "".join(_ESCAPE.get(ch, ch) for ch in tree.word)
        return f"({tree.label} {word})"
    return f"({tree.label} {' '.join(format_tree(c) for c in tree.children)})"


def post_order(tree: Tree) -> list[Tree]:
    """The nodes of ``tree``, children before parents, the root last (the order of every node array here)."""
    out: list[Tree] = []
    stack: list[tuple[Tree, bool]] = [(tree, False)]
    while stack:  # iterative: deep trees do not hit Python's recursion limit
        node, expanded = stack.pop()
        if expanded or node.word is not None:
            out.append(node)
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in reversed(node.children))
    return out


@dataclass
class EncodedTree:
    """One binarised tree as arrays over its ``n`` nodes in post-order (the root is node ``n - 1``).

    ``word`` [n]: the word id of a leaf, -1 for an inner node; ``left``/``right`` [n]: the children of an inner
    node, -1 for a leaf; ``height`` [n]: 0 for a leaf; ``label`` [n]: the class, or ``NO_LABEL``."""

    word: np.ndarray
    left: np.ndarray
    right: np.ndarray
    height: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.word)


def encode_tree(tree: Tree, word_id: Callable[[str], int], label_map: Callable[[int], int] | None = None,
                where: str = "<tree>") -> EncodedTree:
    """Arrays of ``tree`` (see :class:`EncodedTree`); ``word_id`` maps a leaf's word to its id, ``label_map`` a
    0-4 label to the class (or ``NO_LABEL``)."""
    nodes = post_order(check_binary(tree, where))
    index = {id(node): i for i, node in enumerate(nodes)}
    n = len(nodes)
    word, left, right = np.full(n, -1, np.int64), np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    height, label = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i, node in enumerate(nodes):
        label[i] = label_map(node.label) if label_map else node.label
        if node.word is not None:
            word[i] = word_id(node.word)
        else:
            left[i], right[i] = index[id(node.children[0])], index[id(node.children[1])]
            height[i] = 1 + max(height[left[i]], height[right[i]])
    return EncodedTree(word, left, right, height, label)


@dataclass
class TreeBatch:
    """A batch of ``B`` trees with ``N`` nodes in all, node ``j`` of tree ``b`` at ``offset[b] + j``.

    ``leaf_nodes``, ``leaf_words`` [L]: where each leaf goes and its word id; ``levels``: for heights 1 .. H,
    ``(nodes, left, right)`` LongTensors [n_k] (an inner node and its children, all nodes of that height in
    the batch); ``labels`` [N] (0 where unlabelled); ``label_mask`` [N] bool: the node is supervised;
    ``roots`` [B]: each tree's root; ``node_tree`` [N]: the tree each node belongs to."""

    leaf_nodes: torch.Tensor
    leaf_words: torch.Tensor
    levels: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    labels: torch.Tensor
    label_mask: torch.Tensor
    roots: torch.Tensor
    node_tree: torch.Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.labels.numel())

    @property
    def num_trees(self) -> int:
        return int(self.roots.numel())

    @property
    def root_labels(self) -> torch.Tensor:
        return self.labels[self.roots]  # [B]

    @property
    def root_mask(self) -> torch.Tensor:
        return self.label_mask[self.roots]  # [B]

    def to(self, device: torch.device | str) -> TreeBatch:
        moved = [tuple(t.to(device) for t in level) for level in self.levels]
        return TreeBatch(self.leaf_nodes.to(device), self.leaf_words.to(device), moved,  # type: ignore[arg-type]
                         self.labels.to(device), self.label_mask.to(device), self.roots.to(device),
                         self.node_tree.to(device))


def collate_trees(trees: Sequence[EncodedTree]) -> TreeBatch:
    """One :class:`TreeBatch` of ``trees`` (the DataLoader's ``collate_fn``)."""
    if not trees:
        raise DataError("collate_trees: empty batch")
    sizes = np.array([len(t) for t in trees])
    offset = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # [B]
    shift = np.concatenate([np.full(len(t), o) for t, o in zip(trees, offset, strict=True)])  # [N]
    word = np.concatenate([t.word for t in trees])  # [N]
    left = np.concatenate([t.left for t in trees]) + shift  # [N]; leaves: -1 + shift, never read
    right = np.concatenate([t.right for t in trees]) + shift
    height = np.concatenate([t.height for t in trees])
    label = np.concatenate([t.label for t in trees])
    leaves = np.flatnonzero(height == 0)  # [L]
    inner = np.flatnonzero(height > 0)
    inner = inner[np.argsort(height[inner], kind="stable")]  # grouped by height, batch order within a height
    bounds = np.flatnonzero(np.diff(height[inner])) + 1
    levels = []
    for nodes in np.split(inner, bounds) if len(inner) else []:
        levels.append((torch.from_numpy(nodes), torch.from_numpy(left[nodes]), torch.from_numpy(right[nodes])))
    mask = label != NO_LABEL
    return TreeBatch(
        leaf_nodes=torch.from_numpy(leaves),
        leaf_words=torch.from_numpy(word[leaves]),
        levels=levels,
        labels=torch.from_numpy(np.where(mask, label, 0)),
        label_mask=torch.from_numpy(mask),
        roots=torch.from_numpy(offset + sizes - 1),
        node_tree=torch.from_numpy(np.repeat(np.arange(len(trees)), sizes)),
    )


class TreeDataset(torch.utils.data.Dataset):
    """Encoded trees, for a DataLoader with ``collate_fn=collate_trees``."""

    def __init__(self, trees: list[EncodedTree]):
        self.trees = trees

    def __len__(self) -> int:
        return len(self.trees)

    def __getitem__(self, i: int) -> EncodedTree:
        return self.trees[i]

    def num_nodes(self) -> int:
        return sum(len(t) for t in self.trees)


def tree_loader(trees: list[EncodedTree], batch_size: int, shuffle: bool, seed: int,
                bucket: bool = False) -> torch.utils.data.DataLoader:
    """Batches of ``batch_size`` trees, shuffled from ``seed`` and the epoch when ``shuffle`` (a resumed run sees
    the same batches); ``bucket`` groups trees of similar height (fewer level steps per batch, still random)."""
    from dl4nlp.data.batching import make_loader

    heights = [int(t.height[-1]) for t in trees]  # the root's height: the batch's number of level steps
    return make_loader(TreeDataset(trees), heights, collate_trees, batch_size, shuffle, bucket, seed)
