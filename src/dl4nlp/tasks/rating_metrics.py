"""Scores of predicted ratings against true ones, and the predicted-vs-true plot of a rating run.

    MAE  = 1/N sum |y_hat - y|          RMSE = sqrt(1/N sum (y_hat - y)^2)
    Pearson r = cov(y_hat, y) / (sd(y_hat) sd(y))     Spearman rho = Pearson r of the ranks (ties: mean rank)
    accuracy         = share with round(y_hat) == y   (rounded to the nearest level of the scale)
    within one level = share with |round(y_hat) - y| <= one level (one star on IMDB)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("mae", "rmse", "spearman", "pearson", "accuracy", "within_one")


def ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing their mean rank (scipy's ``rankdata(method="average")``)."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_x)) + 1]  # first index of each run of equal values
    ends = np.r_[starts[1:], len(x)]
    mean_rank = (starts + ends + 1) / 2.0  # mean of the 1-based positions start+1 .. end
    out = np.empty(len(x))
    out[order] = np.repeat(mean_rank, ends - starts)
    return out


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation; NaN when either side is constant (no correlation is defined)."""
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    a, b = a - a.mean(), b - b.mean()
    denom = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / denom) if denom > 0 else float("nan")


def rating_scores(pred: Any, gold: Any, lo: float, hi: float, levels: int) -> dict[str, float]:
    """Every metric of :data:`METRICS` for predictions ``pred`` [N] against ``gold`` [N] on a scale [lo, hi]
    with ``levels`` evenly spaced values."""
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    if p.shape != g.shape or p.ndim != 1 or len(p) == 0:
        raise ValueError(f"pred and gold must be two 1-D arrays of the same non-zero length, got {p.shape}, {g.shape}")
    step = (hi - lo) / (levels - 1)
    lp = np.clip(np.rint((p - lo) / step), 0, levels - 1)
    lg = np.clip(np.rint((g - lo) / step), 0, levels - 1)
    err = p - g
    return {
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err * err).mean())),
        "spearman": pearson(ranks(p), ranks(g)),
        "pearson": pearson(p, g),
        "accuracy": float((lp == lg).mean()),
        "within_one": float((np.abs(lp - lg) <= 1).mean()),
    }


def rating_plot(pred: Any, gold: Any, lo: float, hi: float, levels: int, path: str | Path, title: str) -> Path:
    """Two panels: predicted vs true rating (jittered scatter and the diagonal), and the confusion of the
    rounded prediction against the true level (rows: true, share of the row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dl4nlp.core.io import save_figure

    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gold, dtype=np.float64)
    step = (hi - lo) / (levels - 1)
    lp = np.clip(np.rint((p - lo) / step), 0, levels - 1).astype(int)
    lg = np.clip(np.rint((g - lo) / step), 0, levels - 1).astype(int)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.8))
    jitter = np.random.default_rng(0).uniform(-0.2, 0.2, len(g)) * step
    ax1.scatter(g + jitter, p, s=4, alpha=0.25)
    ax1.plot([lo, hi], [lo, hi], color="black", linewidth=1)
    ax1.set(xlabel="true rating (jittered)", ylabel="predicted rating", xlim=(lo - step, hi + step),
            ylim=(lo - step / 2, hi + step / 2), title="predicted vs true")
    counts = np.zeros((levels, levels))
    np.add.at(counts, (lg, lp), 1)
    share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
    ax2.imshow(share, cmap="Blues", vmin=0, vmax=1, origin="lower")
    ticks = [f"{lo + k * step:g}" for k in range(levels)]
    ax2.set_xticks(range(levels), ticks, fontsize=7)
    ax2.set_yticks(range(levels), ticks, fontsize=7)
    ax2.set(xlabel="predicted (rounded)", ylabel="true", title="share of each true rating")
    fig.suptitle(title)
    fig.tight_layout()
    out = save_figure(fig, path, dpi=110)
    plt.close(fig)
    return out
