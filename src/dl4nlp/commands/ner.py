"""CLI of the named-entity taggers (:mod:`dl4nlp.pipelines.tagging`): ``dl4nlp tag RUN "sentence" ...``.

For each sentence, stdout gets one ``token<TAB>tag`` line per token, then one ``# TYPE<TAB>start-end<TAB>text``
line per entity (token indices, 0-based, end inclusive) and a blank line; ``--format jsonl`` gives one JSON
object per sentence (``tokens``, ``tags``, ``entities``). ``dl4nlp predict RUN`` and ``dl4nlp evaluate RUN
[--data file.conll]`` also take NER runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def tag(
    run: Annotated[Path, typer.Argument(help="an NER run folder (configs/ner/*.yaml)")],
    text: Annotated[list[str] | None, typer.Argument(help="sentence(s) to tag")] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="one sentence per line")] = None,
    scheme: Annotated[str | None, typer.Option(help="show tags as iob1, iob2 or bioes (default: the run's)")] = None,
    format_: Annotated[str, typer.Option("--format", help="text or jsonl")] = "text",
) -> None:
    """Tag sentences: each token with its tag, then the entity spans (type, token span, text)."""
    import json

    from dl4nlp.core.errors import ConfigError, DataError
    from dl4nlp.core.io import require_file, text_lines
    from dl4nlp.data.conll import SCHEMES, spans_to_tags
    from dl4nlp.pipelines.tagging import TaggerPredictor

    if format_ not in ("text", "jsonl"):
        raise ConfigError(f"--format: unknown value '{format_}' (use text or jsonl)")
    if scheme is not None and scheme not in SCHEMES:
        raise ConfigError(f"--scheme: unknown value '{scheme}' (use {', '.join(SCHEMES)})")
    texts = list(text or [])
    if file is not None:
        texts += [line.strip() for line in text_lines(require_file(file)) if line.strip()]
    if not texts:
        raise DataError("nothing to tag: give sentences as arguments or --file")
    for pred in TaggerPredictor(run).predict(texts):
        tokens, tags, ents = pred.extra["tokens"], pred.extra["tags"], pred.extra["entities"]
        if scheme is not None:
            tags = spans_to_tags([(e["type"], e["start"], e["end"]) for e in ents], len(tokens), scheme)
        if format_ == "jsonl":
            typer.echo(json.dumps({"input": pred.input, "tokens": tokens, "tags": tags, "entities": ents},
                                  ensure_ascii=False))
            continue
        for token, t in zip(tokens, tags, strict=True):
            typer.echo(f"{token}\t{t}")
        for e in ents:
            typer.echo(f"# {e['type']}\t{e['start']}-{e['end']}\t{e['text']}")
        typer.echo("")


def register(app: typer.Typer) -> None:
    app.command()(tag)
