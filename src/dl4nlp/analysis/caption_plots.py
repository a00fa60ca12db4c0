"""Caption figures: the image once per generated word with that word's attention upsampled over it
(Xu et al. 2015, Fig. 2/3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from dl4nlp.core.io import save_figure


def upsample_attention(alpha: torch.Tensor, grid: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """alpha [L] over an h x w grid -> [H, W] map (bilinear), rescaled to [0, 1] for display."""
    a = alpha.detach().float().view(1, 1, *grid)  # [1, 1, h, w]
    up = F.interpolate(a, size=size, mode="bilinear", align_corners=False)[0, 0]  # [H, W]
    up = up - up.min()
    return up / up.max().clamp_min(1e-12)


def attention_grid(
    image: Any,
    words: list[str],
    alphas: torch.Tensor | None,
    grid: tuple[int, int],
    out_png: str | Path,
    title: str = "",
    columns: int = 5,
) -> Path:
    """One panel per word (and ``<end>``): the image with that step's attention over it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [*words, "<end>"]
    if alphas is None:
        raise ValueError("this model has no attention (show_and_tell): nothing to draw")
    labels = labels[: alphas.size(0)]
    n = len(labels) + 1
    cols = min(columns, n)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(2.4 * cols, 2.5 * rows), squeeze=False)
    w, h = image.size
    for ax in axes.flat:
        ax.axis("off")
    axes[0, 0].imshow(image)
    axes[0, 0].set_title("image", fontsize=9)
    for i, word in enumerate(labels, 1):
        ax = axes[i // cols, i % cols]
        ax.imshow(image)
        ax.imshow(
            upsample_attention(alphas[i - 1], grid, (h, w)).numpy(),
            cmap="gray",
            alpha=0.6,
            extent=(0, w, h, 0),
        )
        ax.set_title(word, fontsize=10)
    caption = " ".join(words)
    fig.suptitle(f"{title}: {caption}" if title else caption, fontsize=10)
    path = save_figure(fig, out_png)
    plt.close(fig)
    return path
