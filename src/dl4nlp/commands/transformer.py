"""Commands for fine-tuned transformer runs: predictions with word pieces and [CLS] attention.

``dl4nlp predict RUN TEXT...`` and ``dl4nlp evaluate RUN`` serve transformer runs through their pipeline
(:data:`dl4nlp.pipelines.finetune.PIPELINE`; ``predict --attention DIR`` draws heatmaps on request);
``dl4nlp explain RUN TEXT --out map.png`` draws one sentence's heatmap where you want it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _describe(exp: object) -> str:
    """Pieces with their head-averaged [CLS] attention, e.g. ``[CLS]:.05 a:.02 gorgeous:.31 ...``."""
    att = exp.cls_attention  # type: ignore[attr-defined]
    mean = [sum(col) / len(att) for col in zip(*att, strict=True)]
    return " ".join(f"{p}:{w:.2f}" for p, w in zip(exp.pieces, mean, strict=True))  # type: ignore[attr-defined]


def explain(
    run: Annotated[Path, typer.Argument(help="a fine-tuned transformer run folder")],
    text: Annotated[str, typer.Argument(help="sentence (NLI runs: 'premise ||| hypothesis')")],
    out: Annotated[Path, typer.Option(help="heatmap PNG to write")] = Path("cls_attention.png"),
) -> None:
    """Word pieces of TEXT and the last layer's [CLS] attention of every head, drawn as a heatmap."""
    from dl4nlp.pipelines.finetune import load_transformer_run

    exp = load_transformer_run(run).explain(text, out)
    p = "  ".join(f"{k}={v:.3f}" for k, v in exp.probabilities.items())
    typer.echo(f"{exp.label}\t{p}\t{text}")
    typer.echo(f"pieces: {' '.join(exp.pieces)}")
    typer.echo(f"[CLS] attention (mean over heads): {_describe(exp)}")
    typer.echo(f"heatmap: {out}")


def register(app: typer.Typer) -> None:
    app.command("explain")(explain)
