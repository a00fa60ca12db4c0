"""Commands for fine-tuned transformer runs: predictions with word pieces and [CLS] attention.

``dl4nlp predict RUN TEXT...`` and ``dl4nlp evaluate RUN`` hand transformer runs to
:func:`predict_transformer` and :func:`dl4nlp.pipelines.finetune.evaluate_transformer_run`;
``dl4nlp explain RUN TEXT --out map.png`` draws one sentence's heatmap where you want it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer


def _slug(text: str, i: int) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40]
    return f"{i + 1:02d}-{words or 'text'}"


def _describe(exp: object) -> str:
    """Pieces with their head-averaged [CLS] attention, e.g. ``[CLS]:.05 a:.02 gorgeous:.31 ...``."""
    att = exp.cls_attention  # type: ignore[attr-defined]
    mean = [sum(col) / len(att) for col in zip(*att, strict=True)]
    return " ".join(f"{p}:{w:.2f}" for p, w in zip(exp.pieces, mean, strict=True))  # type: ignore[attr-defined]


def predict_transformer(run: Path, texts: list[str], attention_dir: Path | None = None) -> list[Path]:
    """Print label, probabilities and text per input, then its word pieces with their last-layer [CLS]
    attention (mean over heads); write one heatmap per input (heads x pieces) to ``attention_dir``
    (default ``RUN/attention/``). Frozen-feature runs print the predictions only."""
    from dl4nlp.pipelines.finetune import load_transformer_run

    clf = load_transformer_run(run)
    written: list[Path] = []
    for i, (t, (label, probs)) in enumerate(zip(texts, clf.predict(texts), strict=True)):
        p = "  ".join(f"{k}={v:.3f}" for k, v in probs.items())
        typer.echo(f"{label}\t{p}\t{t}")
        if clf.features:
            continue
        out = (attention_dir or Path(run) / "attention") / f"{_slug(t, i)}.png"
        exp = clf.explain(t, out)
        typer.echo(f"  pieces+[CLS] attention: {_describe(exp)}")
        typer.echo(f"  heatmap: {out}")
        written.append(out)
    return written


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
