"""Things to look at inside recurrent classifiers: the gradient reaching each time step (vanishing
gradients) and attention-pooling weights over a sentence.

Vanishing gradients (Bengio et al. 1994; Pascanu et al. 2013): with the loss computed from the last
state, ``dL/dh_t = dL/dh_T * prod_{k=t+1..T} dh_k/dh_{k-1}``; for the Elman RNN each factor is
``diag(1 - h_k^2) W_hh`` and the product shrinks geometrically as ``T - t`` grows, while the
GRU's ``z * h`` path and the LSTM's additive cell state ``c_k = f_k * c_{k-1} + ...`` keep it alive.
:func:`hidden_state_gradients` measures ``||dL/dh_t||`` for every t on a batch of equal-length
sentences (no padding, so every position is comparable).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dl4nlp.core.io import save_figure, write_json
from dl4nlp.models.recurrent import RecurrentClassifier, RecurrentOptions


def as_scratch(model: RecurrentClassifier) -> RecurrentClassifier:
    """The same classifier (same weights) computed by our cells, so per-step states can be recorded."""
    if model.encoder.impl == "scratch":
        return model
    opts = dataclasses.replace(model.opts, impl="scratch", embeddings="random")
    emb = model.embed
    pretrained = emb.pretrained if emb.frozen else None
    found = emb.found if emb.frozen else None
    copy = RecurrentClassifier(emb.table.num_embeddings, model.output.out_features, opts, pretrained, found)
    copy.load_state_dict(model.state_dict())
    return copy


def hidden_state_gradients(model: RecurrentClassifier, tokens: torch.Tensor,
                           labels: torch.Tensor) -> list[float]:
    """Mean over the batch of ``||dL_i/dh_t||`` for t = 1..T (top layer, forward direction), where
    ``L_i`` is example i's cross-entropy. ``tokens`` [B, T] must be unpadded (all length T)."""
    m = as_scratch(model)
    was = m.training
    m.eval()  # no dropout: the gradient of the model itself
    top = m.encoder.layers[-1]
    top.record = True
    try:
        m.zero_grad(set_to_none=True)
        mask = torch.ones_like(tokens, dtype=torch.bool)  # [B, T]
        loss = F.cross_entropy(m(tokens, mask), labels, reduction="sum")
        loss.backward()
        states = top.states[0]  # forward direction: T x [B, H]
        norms = torch.stack([h.grad.norm(dim=-1) for h in states])  # [T, B]
    finally:
        top.record = False
        top.states = []
        m.train(was)
    return norms.mean(dim=1).tolist()


def equal_length_batch(token_lists: Sequence[Sequence[str]], labels: Sequence[int], length: int,
                       examples: int) -> tuple[list[list[str]], list[int]]:
    """The first ``examples`` sentences with at least ``length`` tokens, cut to ``length``."""
    out, ys = [], []
    for toks, y in zip(token_lists, labels, strict=True):
        if len(toks) >= length:
            out.append(list(toks[:length]))
            ys.append(int(y))
            if len(out) == examples:
                break
    return out, ys


def plot_gradient_norms(curves: dict[str, list[float]], out_png: str | Path, title: str = "") -> Path:
    """One line per model: ||dL/dh_t|| against t, log scale."""
    from dl4nlp.analysis.plots import _plt

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, ys in curves.items():
        ax.plot(range(1, len(ys) + 1), ys, marker="o", markersize=3, label=name)
    ax.set_yscale("log")
    ax.set_xlabel("time step t (loss on the final state, t = T)")
    ax.set_ylabel("mean ||dL / dh_t||")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    ax.set_title(title or "gradient reaching each time step")
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


def _sentences(cfg: Any, split: str) -> tuple[list[str], list[int]]:
    from dl4nlp.pipelines.classification import read_splits

    splits = read_splits(cfg)
    ds = getattr(splits, split)
    return list(ds["text"]), list(ds["label"])


def gradient_report(runs: Sequence[str | Path], cells: Sequence[str], cfg: Any, length: int, examples: int,
                    hidden: int, seed: int, out_png: str | Path) -> tuple[Path, dict[str, list[float]]]:
    """Gradient norms per time step for trained ``runs`` or, without runs, for freshly initialised
    classifiers with each of ``cells`` (same seed, same embeddings, same batch from ``cfg``'s train split).
    Writes the PNG and a JSON of the numbers beside it."""
    from dl4nlp.core.errors import ConfigError, DataError, RunError
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.pipelines.classification import Classifier

    curves: dict[str, list[float]] = {}
    if runs:
        for run in runs:
            clf = Classifier(run)
            if not isinstance(clf.model, RecurrentClassifier):
                raise RunError(f"{run}: model '{clf.cfg.model_name}' is not a recurrent classifier")
            texts, ys = _sentences(clf.cfg, "dev")
            toks, ys = equal_length_batch([clf.tokens(t) for t in texts], ys, length, examples)
            if not toks:
                raise DataError(f"{run}: no dev sentence has {length} tokens (lower --length)")
            ids = torch.tensor([clf.vocab.encode(t) for t in toks])
            curves[Path(run).name] = hidden_state_gradients(clf.model, ids, torch.tensor(ys))
        title = f"trained runs, {len(toks)} dev sentences of {length} tokens"
    else:
        tok = Tokenizer(lowercase=cfg.data.lowercase)
        texts, ys = _sentences(cfg, "train")
        toks, ys = equal_length_batch([tok(t) for t in texts], ys, length, examples)
        if not toks:
            raise DataError(f"{cfg.data.path}: no training sentence has {length} tokens (lower --length)")
        vocab = Vocab.build(toks)
        ids = torch.tensor([vocab.encode(t) for t in toks])
        for cell in cells:
            if cell not in ("rnn", "gru", "lstm"):
                raise ConfigError(f"--cells: unknown cell '{cell}' (use rnn, gru, lstm)")
            torch.manual_seed(seed)  # the same embeddings for every cell
            model = RecurrentClassifier(len(vocab), max(ys) + 1 if ys else 2,
                                        RecurrentOptions(cell=cell, hidden=hidden, impl="scratch"))
            curves[cell] = hidden_state_gradients(model, ids, torch.tensor(ys))
        title = f"at initialisation, {len(toks)} sentences of {length} tokens, hidden {hidden}"
    path = plot_gradient_norms(curves, out_png, title)
    write_json(Path(out_png).with_suffix(".json"),
               {"title": title, "length": length, "grad_norm_per_step": curves})
    return path, curves


def attention_figure(run: Any, text: str, out_png: str | Path) -> tuple[Path, list[str], list[float]]:
    """Heatmap of a trained attention-pooling run's weights over one sentence (``run``: a run folder
    or an already loaded :class:`~dl4nlp.pipelines.classification.Classifier`)."""
    from dl4nlp.analysis import plots
    from dl4nlp.core.errors import DataError, RunError
    from dl4nlp.data.batching import pad_batch
    from dl4nlp.pipelines.classification import Classifier

    clf = run if isinstance(run, Classifier) else Classifier(run)
    if not isinstance(clf.model, RecurrentClassifier) or clf.model.attention is None:
        raise RunError(f"{clf.run_dir}: not a recurrent classifier with 'pooling: attention'")
    toks = clf.tokens(text)
    if not toks:
        raise DataError("attention: empty sentence")
    b = pad_batch([clf.vocab.encode(toks)])
    weights = clf.model.attention_weights(b["tokens"], b["mask"])[0].tolist()  # [T]
    label, _ = clf.predict([text])[0]
    path = plots.attention_heatmap([weights], ["attention"], toks, out_png,
                                   title=f"{clf.name}: predicted {label}")
    return path, toks, weights
