"""Figures as PNG files: learning curves, confusion matrices, ladder comparison, attention heatmaps."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dl4nlp.core.io import save_figure


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def read_epoch_metrics(metrics_csv: str | Path) -> dict[str, dict[int, float]]:
    """``metric -> {epoch: value}`` from Lightning's CSV log (last value per epoch wins)."""
    out: dict[str, dict[int, float]] = defaultdict(dict)
    with open(metrics_csv, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row.get("epoch") in (None, ""):
                continue
            epoch = int(float(row["epoch"]))
            for k, v in row.items():
                if k in ("epoch", "step") or v in (None, ""):
                    continue
                out[k][epoch] = float(v)
    return dict(out)


def learning_curves(metrics_csv: str | Path, out_png: str | Path, title: str = "",
                    pairs: Sequence[tuple[str, str, str]] = (("loss", "train_loss", "dev_loss"),
                                                             ("accuracy", "train_acc", "dev_acc"))) -> Path:
    """One panel per (name, train metric, dev metric): both curves per epoch."""
    plt = _plt()
    m = read_epoch_metrics(metrics_csv)
    fig, axes = plt.subplots(1, len(pairs), figsize=(5 * len(pairs), 3.6))
    axes = [axes] if len(pairs) == 1 else list(axes)
    for ax, (name, tr, dv) in zip(axes, pairs, strict=True):
        for key, style in ((tr, "o-"), (dv, "s--")):
            if key in m:
                xs = sorted(m[key])
                ax.plot([x + 1 for x in xs], [m[key][x] for x in xs], style, label=key.replace("_", " "))
        ax.set_xlabel("epoch")
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


def confusion_matrix(cm: Any, labels: Sequence[str], out_png: str | Path, title: str = "") -> Path:
    plt = _plt()
    import numpy as np

    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 2, 1.1 * len(labels) + 1.5))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("gold")
    top = cm.max() if cm.size else 0
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, int(cm[i, j]), ha="center", va="center", color="white" if cm[i, j] > top / 2 else "black")
    ax.set_title(title or "confusion matrix (test)")
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


def ladder_comparison(rows: Sequence[dict[str, Any]], out_png: str | Path, title: str = "") -> Path:
    """Grouped bars of dev and test accuracy per run."""
    plt = _plt()
    names = [str(r["run"]) for r in rows]
    dev = [100 * float(r["dev_acc"] or 0) for r in rows]
    test = [100 * float(r["test_acc"] or 0) for r in rows]
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(rows) + 2), 4))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], dev, width=0.4, label="dev")
    ax.bar([x + 0.2 for x in xs], test, width=0.4, label="test")
    for x, v in zip(xs, test, strict=True):
        ax.text(x + 0.2, v + 0.3, f"{v:.1f}", ha="center", fontsize=8)
    ax.set_xticks(list(xs), names, rotation=25, ha="right")
    ax.set_ylabel("accuracy (%)")
    lo = min(dev + test) if rows else 0
    ax.set_ylim(max(0, lo - 10), 100)
    ax.legend()
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title or "sentiment ladder")
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


def attention_heatmap(weights: Any, rows: Sequence[str], cols: Sequence[str], out_png: str | Path,
                      title: str = "", xlabel: str = "", ylabel: str = "") -> Path:
    """A [len(rows), len(cols)] weight matrix with the words on the axes (one row for a single vector)."""
    plt = _plt()
    import numpy as np

    w = np.atleast_2d(np.asarray(weights, dtype=float))
    fig, ax = plt.subplots(figsize=(0.5 * len(cols) + 2, 0.5 * len(rows) + 1.5))
    im = ax.imshow(w, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    fig.colorbar(im, ax=ax, fraction=0.03)
    if title:
        ax.set_title(title)
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path


@dataclass
class LadderBar:
    """One rung of a ladder plot: its scores over seeds (fractions) and its published reference (%, source)."""

    name: str
    family: str
    scores: list[float]
    reference: tuple[float, str] | None = None
    scale: float = 100.0  # score x scale is what is drawn (100: fractions as %; 1: BLEU)

    @property
    def mean(self) -> float | None:
        return self.scale * sum(self.scores) / len(self.scores) if self.scores else None

    @property
    def std(self) -> float:
        if len(self.scores) < 2:
            return 0.0
        m = sum(self.scores) / len(self.scores)
        return self.scale * (sum((s - m) ** 2 for s in self.scores) / (len(self.scores) - 1)) ** 0.5

    def as_dict(self) -> dict[str, Any]:
        return {"rung": self.name, "family": self.family, "seeds": len(self.scores), "mean": self.mean,
                "std": self.std, "reference": list(self.reference) if self.reference else None}


def ladder_plot(bars: Sequence[LadderBar], out_png: str | Path, title: str, metric: str = "test_acc") -> Path:
    """Rungs in ladder order, coloured by family, mean test score with the seed std as an error bar, and each
    rung's published reference as a marker whose source is in the legend."""
    plt = _plt()
    families = list(dict.fromkeys(b.family or "other" for b in bars))
    colours = {f: plt.get_cmap("tab10")(i % 10) for i, f in enumerate(families)}
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(bars) + 3) + 3.5, 4.5))
    xs = list(range(len(bars)))
    means = [b.mean or 0.0 for b in bars]
    ax.bar(xs, means, yerr=[b.std for b in bars], capsize=3, color=[colours[b.family or "other"] for b in bars])
    for x, b in zip(xs, bars, strict=True):
        if b.mean is not None:
            ax.text(x, b.mean + b.std + 0.4, f"{b.mean:.1f}", ha="center", fontsize=8)
    markers = "D^sv<>ph*"
    sources = list(dict.fromkeys(b.reference[1] for b in bars if b.reference))
    for k, src in enumerate(sources):
        pts = [(x, b.reference[0]) for x, b in zip(xs, bars, strict=True) if b.reference and b.reference[1] == src]
        ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=markers[k % len(markers)], color="black",
                   zorder=3, label=f"published: {src}")
    for f in families:
        ax.bar([0], [0], color=colours[f], label=f)  # legend entry per family
    ax.set_xticks(xs, [b.name for b in bars], rotation=25, ha="right")
    ax.set_ylabel(f"{metric} (%)" + (", mean ± std over seeds" if any(len(b.scores) > 1 for b in bars) else ""))
    values = [m for m in means if m] + [b.reference[0] for b in bars if b.reference]
    ax.set_ylim(max(0, min(values, default=0) - 10), min(100, max(values, default=100) + 8))
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    ax.grid(axis="y", alpha=0.3)
    ax.set_title(title)
    fig.tight_layout()
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path
