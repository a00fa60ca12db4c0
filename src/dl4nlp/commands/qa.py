"""``dl4nlp answer``: the answer span of a trained question-answering run (SQuAD-style reader) for one passage."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def answer(
    run: Annotated[Path, typer.Argument(help="a question-answering run folder (drqa or transformer_qa)")],
    context: Annotated[str, typer.Option(help="the passage to take the answer from")],
    question: Annotated[str, typer.Option(help="the question")],
    attention: Annotated[Path | None, typer.Option(help="PNG of the question-to-passage attention "
                                                        "(recurrent reader only)")] = None,
    window: Annotated[int, typer.Option(help="passage words shown either side of the answer in the PNG")] = 15,
) -> None:
    """Print the answer and its score (P_start x P_end for the recurrent reader; the softmax over the n-best
    spans for the transformer), tab-separated; the character offsets in the passage go to stderr."""
    from dl4nlp.core.errors import DataError
    from dl4nlp.data.squad import QAExample
    from dl4nlp.pipelines.qa import QAPredictor, attention_map

    if not context.strip() or not question.strip():
        raise DataError("empty --context or --question")
    reader = QAPredictor(run)
    if attention is not None and not reader.is_recurrent:
        raise DataError(f"--attention: {run} is a transformer reader; only the recurrent reader (drqa) has a "
                        "question-to-passage attention map")
    row = reader.answer([QAExample("0", question.strip(), context.strip())], attention=attention is not None)[0]
    typer.echo(f"{row['answer']}\tscore={row['score']:.3f}")
    typer.echo(f"characters {row['start']}-{row['end']} of the passage", err=True)
    if attention is not None:
        path = attention_map(row, attention, window)
        typer.echo(f"attention map: {path}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(answer)
