"""``dl4nlp tree RUN TEXT --out tree.png``: a tree model's sentiment of every phrase of one sentence, drawn.

Train the tree models with ``dl4nlp train configs/trees/tree_lstm.yaml`` (the ``trees`` pipeline,
:data:`dl4nlp.pipelines.trees.PIPELINE`); ``dl4nlp predict`` and ``dl4nlp evaluate`` serve their runs too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def tree(
    run: Annotated[Path, typer.Argument(help="a tree-model run folder (tree_rnn, rntn, tree_lstm)")],
    text: Annotated[str, typer.Argument(help="a sentence, or an SST-format tree line to use its structure")],
    out: Annotated[Path, typer.Option(help="PNG to write")] = Path("tree.png"),
) -> None:
    """Root label and probabilities of TEXT, then its phrase tree with every node's predicted sentiment
    (stdout), drawn to --out. Plain text gets a balanced binary tree (no parser offline; a note says so)."""
    from dl4nlp.analysis.tree_plot import draw_prediction
    from dl4nlp.core.errors import RunError
    from dl4nlp.pipelines import pipeline_for

    if pipeline_for(run).name != "trees":
        raise RunError(f"{run}: not a tree-model run (train one with configs/trees/*.yaml)")
    from dl4nlp.pipelines.trees import load

    pred = load(run).predict([text])[0]
    if pred.note:
        typer.echo(f"note: {pred.note}", err=True)
    typer.echo(pred.line())
    typer.echo(pred.extra["tree"])
    typer.echo(f"tree: {draw_prediction(pred, out)}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(tree)
