"""2-D maps of word vectors: PCA or t-SNE projection of chosen words or of a word's neighbourhood.

PCA: the two directions of largest variance of the (centred) vectors. t-SNE: van der Maaten & Hinton,
2008, *Visualizing Data using t-SNE* (JMLR); it keeps neighbours close, distances between far clusters
mean little. Both from scikit-learn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dl4nlp.core.io import save_figure
from dl4nlp.embeddings import WordVectors


def project(points: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``[n, D]`` -> ``[n, 2]`` with PCA or t-SNE (perplexity scaled down for few points)."""
    n = len(points)
    if n < 2:
        raise ValueError("a map needs at least two words")
    if method == "pca":
        from sklearn.decomposition import PCA

        out = PCA(n_components=2, random_state=seed).fit_transform(points)
        return out if out.shape[1] == 2 else np.pad(out, ((0, 0), (0, 2 - out.shape[1])))
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(max(1.0, min(30.0, (n - 1) / 3)))
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                    learning_rate="auto").fit_transform(points)
    raise ValueError(f"unknown projection '{method}' (pca or tsne)")


def neighbourhood(vectors: WordVectors, centre: str, k: int = 20) -> list[str]:
    """The word and its ``k`` nearest neighbours."""
    return [centre] + [w for w, _ in vectors.neighbors(centre, k)]


def embedding_map(vectors: WordVectors, words: Sequence[str], out_png: str | Path, method: str = "pca",
                  title: str = "", seed: int = 0, highlight: Sequence[str] = ()) -> Path:
    """Scatter plot of ``words`` (unit vectors) projected to 2-D, each point labelled; saved as PNG."""
    from dl4nlp.analysis.plots import _plt

    missing = [w for w in words if w not in vectors]
    if missing:
        raise KeyError(f"not in the vocabulary of {vectors.source}: {', '.join(missing)}")
    xy = project(np.stack([vectors.unit(w) for w in words]), method, seed)  # [n, 2]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 6.5))
    colours = ["tab:red" if w in highlight else "tab:blue" for w in words]
    ax.scatter(xy[:, 0], xy[:, 1], c=colours, s=18)
    for (x, y), w in zip(xy, words, strict=True):
        ax.annotate(w, (x, y), xytext=(3, 3), textcoords="offset points", fontsize=9,
                    fontweight="bold" if w in highlight else "normal")
    name = {"pca": "PCA", "tsne": "t-SNE"}[method]
    ax.set_title(title or f"{name} map of {len(words)} words ({vectors.source})")
    ax.set_xticks([])
    ax.set_yticks([])
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path
