"""Reader for PTB-style sentiment trees (the Stanford Sentiment Treebank release).

A line is one sentence as a binarised tree; every node is ``(LABEL child child)`` or ``(LABEL word)``
with LABEL in 0-4. The root label is the sentence's label; inner nodes label phrases.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from dl4nlp.core.errors import DataError
from dl4nlp.core.io import require_file, text_lines
from dl4nlp.data.tokenize import unescape_ptb


@dataclass
class Tree:
    label: int
    children: list[Tree] = field(default_factory=list)
    word: str | None = None

    def leaves(self) -> list[str]:
        if self.word is not None:
            return [self.word]
        out: list[str] = []
        for child in self.children:
            out.extend(child.leaves())
        return out

    def subtrees(self) -> Iterator[Tree]:
        yield self
        for child in self.children:
            yield from child.subtrees()


def _tokens(line: str) -> list[str]:
    # split on parentheses and ASCII spaces only (some SST tokens contain U+00A0)
    out, buf = [], []
    for ch in line:
        if ch in "()":
            if buf:
                out.append("".join(buf))
                buf = []
            out.append(ch)
        elif ch == " " or ch == "\t":
            if buf:
                out.append("".join(buf))
                buf = []
        else:
            buf.append(ch)
    if buf:
        out.append("".join(buf))
    return out


def parse_tree(line: str, where: str = "<string>", num_labels: int = 5) -> Tree:
    """Parse one tree; raises :class:`DataError` naming ``where`` (``file:line``) on malformed input."""
    toks = _tokens(line.strip())
    if not toks:
        raise DataError(f"{where}: empty line, expected a tree like (3 (2 a) (3 b))")
    pos = 0

    def node() -> Tree:
        nonlocal pos
        if pos >= len(toks) or toks[pos] != "(":
            got = toks[pos] if pos < len(toks) else "end of line"
            raise DataError(f"{where}: malformed tree: expected '(' but found '{got}'")
        pos += 1
        if pos >= len(toks) or toks[pos] in "()":
            raise DataError(f"{where}: malformed tree: a node has no label")
        try:
            label = int(toks[pos])
        except ValueError:
            raise DataError(f"{where}: malformed tree: label '{toks[pos]}' is not an integer") from None
        if not 0 <= label < num_labels:
            raise DataError(f"{where}: label {label} out of range 0-{num_labels - 1}")
        pos += 1
        tree = Tree(label)
        if pos < len(toks) and toks[pos] not in "()":
            tree.word = unescape_ptb(toks[pos])
            pos += 1
        else:
            while pos < len(toks) and toks[pos] == "(":
                tree.children.append(node())
            if not tree.children:
                raise DataError(f"{where}: malformed tree: node ({label} ...) has neither word nor children")
        if pos >= len(toks) or toks[pos] != ")":
            raise DataError(f"{where}: malformed tree: missing ')'")
        pos += 1
        return tree

    tree = node()
    if pos != len(toks):
        raise DataError(f"{where}: malformed tree: unexpected text after the tree: '{' '.join(toks[pos:pos + 3])}'")
    return tree


def read_trees(path: str | Path) -> list[Tree]:
    """The trees of a UTF-8 file, one per non-blank line (a byte-order mark at the start is ignored);
    :class:`DataError` naming ``file:line`` for a malformed tree or bytes that are not UTF-8."""
    path = require_file(path)
    trees = []
    with closing(text_lines(path)) as fh:
        for i, line in enumerate(fh, 1):
            if line.strip():
                trees.append(parse_tree(line, f"{path}:{i}"))
    if not trees:
        raise DataError(f"{path}: no trees found")
    return trees
