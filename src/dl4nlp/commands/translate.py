"""``dl4nlp translate RUN "ein Mann fährt Fahrrad"``: translate with a trained translation run, one translation a
line on stdout, and optionally save the source x target attention heatmap."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def heatmap_paths(out: Path, n: int) -> list[Path]:
    """``out`` for one sentence; ``out-1.png``, ``out-2.png``... for several."""
    if n == 1:
        return [out]
    return [out.with_name(f"{out.stem}-{i}{out.suffix or '.png'}") for i in range(1, n + 1)]


def translate(
    run: Annotated[Path, typer.Argument(help="a translation run folder")],
    text: Annotated[list[str] | None, typer.Argument(help="sentence(s) in the source language")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="one source sentence per line")] = None,
    beam: Annotated[int | None, typer.Option(help="beam size (1 = greedy; default: the run's model.beam_size)")]
    = None,
    heatmap: Annotated[Path | None, typer.Option(help="save the attention heatmap PNG here (several sentences: "
                                                 "NAME-1.png, NAME-2.png ...)")] = None,
) -> None:
    """Translate sentences (arguments or --file); prints one translation per line."""
    from dl4nlp.core.errors import ConfigError, DataError
    from dl4nlp.pipelines.translation import TranslationPredictor

    if beam is not None and beam < 1:
        raise ConfigError("--beam must be >= 1")
    texts = list(text or [])
    if file is not None:
        from dl4nlp.data.parallel import read_lines

        texts.extend(read_lines(file))
    if not texts:
        raise DataError("nothing to translate: give sentences as arguments or --file")
    predictions = TranslationPredictor(run, beam=beam).predict(texts)
    for p in predictions:
        typer.echo(p.label)
    if heatmap is None:
        return
    if predictions[0].extra["attention"] is None:
        typer.echo("no heatmap: this model has no attention", err=True)
        return
    from dl4nlp.analysis.plots import attention_heatmap

    for p, path in zip(predictions, heatmap_paths(heatmap, len(predictions)), strict=True):
        rows = [*p.extra["target_tokens"], "<eos>"]
        attention_heatmap(p.extra["attention"], rows, p.extra["source_tokens"], path, title=p.label,
                          xlabel="source", ylabel="translation")
        typer.echo(f"attention heatmap: {path}", err=True)


def register(app: typer.Typer) -> None:
    app.command()(translate)
