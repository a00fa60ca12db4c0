"""The phrase tree of a sentence with each node's predicted sentiment, drawn as a PNG (matplotlib).

Leaves sit on the bottom row in sentence order with their words under them; an inner node sits above the
middle of its children at its height (leaves 0, the root highest). Each node is a disc coloured by its
predicted class on a red (negative) - grey (neutral) - blue (positive) scale, marked ``--  -  0  +  ++``
(SST-5) or ``-  +`` (SST-2), as in the Sentiment Treebank's own figures.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dl4nlp.core.errors import DataError
from dl4nlp.core.io import save_figure
from dl4nlp.data.tree_batching import post_order
from dl4nlp.data.trees import Tree, parse_tree

MARKS = {5: ["--", "-", "0", "+", "++"], 2: ["-", "+"], 3: ["-", "0", "+"]}
COLOURS = {5: ["#b2182b", "#ef8a62", "#d9d9d9", "#67a9cf", "#2166ac"], 2: ["#d6604d", "#4393c3"],
           3: ["#d6604d", "#d9d9d9", "#4393c3"]}


def layout(tree: Tree) -> dict[int, tuple[float, float]]:
    """``id(node) -> (x, y)``: leaves at x = 0, 1, 2 ... left to right, y = the node's height."""
    pos: dict[int, tuple[float, float]] = {}
    next_leaf = 0
    for node in post_order(tree):  # children are placed before their parent
        if node.word is not None:
            pos[id(node)] = (float(next_leaf), 0.0)
            next_leaf += 1
        else:
            xs = [pos[id(c)][0] for c in node.children]
            ys = [pos[id(c)][1] for c in node.children]
            pos[id(node)] = (sum(xs) / len(xs), max(ys) + 1.0)
    return pos


def draw_tree(tree: Tree, labels: list[str], out_png: str | Path, title: str = "") -> Path:
    """Draw ``tree`` (node labels: class ids into ``labels``) to ``out_png``."""
    from dl4nlp.analysis.plots import _plt

    k = len(labels)
    marks = MARKS.get(k, [str(i) for i in range(k)])
    colours = COLOURS.get(k)
    if colours is None:
        import matplotlib

        cmap = matplotlib.colormaps["RdBu"]
        colours = [cmap(i / max(k - 1, 1)) for i in range(k)]
    pos = layout(tree)
    n_leaves, height = len(tree.leaves()), max(y for _, y in pos.values())
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.75 * n_leaves + 1), max(2.5, 0.45 * height + 1.8)))
    for node in tree.subtrees():
        x, y = pos[id(node)]
        for child in node.children:
            cx, cy = pos[id(child)]
            ax.plot([x, cx], [y, cy], color="#888888", linewidth=0.8, zorder=1)
        ax.scatter([x], [y], s=260, color=colours[node.label], edgecolors="#333333", linewidths=0.6, zorder=2)
        ax.text(x, y, marks[node.label], ha="center", va="center", fontsize=7, zorder=3)
        if node.word is not None:
            ax.text(x, y - 0.45, node.word, ha="center", va="top", fontsize=9, rotation=45 if n_leaves > 14 else 0)
    handles = [plt.Line2D([], [], marker="o", linestyle="", markersize=9, color=colours[i],
                          markeredgecolor="#333333", label=f"{marks[i]} {labels[i]}") for i in range(k)]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ax.set_xlim(-0.8, n_leaves - 0.2)
    ax.set_ylim(-1.1, height + 0.6)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


def draw_prediction(pred: Any, out_png: str | Path) -> Path:
    """Draw a tree model's :class:`~dl4nlp.pipelines.base.Prediction` (its ``extra["tree"]``, the predicted
    labels in PTB form, and ``extra["labels"]``) to ``out_png``."""
    if "tree" not in pred.extra or "labels" not in pred.extra:
        raise DataError("this prediction holds no phrase tree to draw (only tree-model runs give one)")
    labels = list(pred.extra["labels"])
    tree = parse_tree(pred.extra["tree"], "predicted tree", num_labels=len(labels))
    title = pred.input if len(pred.input) <= 90 else pred.input[:87] + "..."
    title = f"{pred.label}: {title}"
    if pred.extra.get("structure") == "balanced binary tree":
        title += "\n(balanced binary tree over the tokens: no parser offline)"
    return draw_tree(tree, labels, out_png, title)
