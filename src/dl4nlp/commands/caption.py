"""``dl4nlp caption RUN IMAGE`` and ``dl4nlp caption-eval RUN``: caption an image with a trained run
(printing the caption and saving the per-word attention grid) and score a run with BLEU-1..4."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def caption(
    run: Annotated[Path, typer.Argument(help="captioning run folder")],
    image: Annotated[Path, typer.Argument(help="image file (JPEG, PNG, ...)")],
    beam: Annotated[
        int | None, typer.Option(help="beam size (1 = greedy; default: the run's model.beam_size)")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="attention grid PNG (default: <image stem>-attention.png)")
    ] = None,
) -> None:
    """Print a caption for IMAGE and save the image once per word with that word's attention over it."""
    from dl4nlp.core.errors import ConfigError, DataError
    from dl4nlp.pipelines.captioning import CaptionModel

    if beam is not None and beam < 1:
        raise ConfigError("--beam must be >= 1")
    if not image.is_file():
        raise DataError(f"{image}: image file not found")
    cm = CaptionModel(run)
    res = cm.caption(image, beam)
    typer.echo(" ".join(res.words))
    if res.alphas is None:
        typer.echo("(no attention map: this run has no attention)")
        return
    from dl4nlp.analysis.caption_plots import attention_grid

    png = out or image.with_name(f"{image.stem}-attention.png")
    attention_grid(res.image, res.words, res.alphas, res.grid, png, title=image.name)
    typer.echo(f"attention grid: {png}")


def caption_eval(
    run: Annotated[Path, typer.Argument(help="captioning run folder")],
    dataset: Annotated[str | None, typer.Option(help="another caption dataset (e.g. nwpu_captions)")] = None,
    path: Annotated[str | None, typer.Option(help="its data folder")] = None,
    split: Annotated[str, typer.Option(help="train, dev or test")] = "test",
    beam: Annotated[list[int] | None, typer.Option(help="beam size(s); repeat for several")] = None,
    out: Annotated[Path | None, typer.Option(help="write the results JSON and the captions here")] = None,
    meteor: Annotated[bool, typer.Option(help="METEOR too (a Java process: needs java on PATH)")] = True,
) -> None:
    """BLEU-1..4 (sacrebleu), CIDEr-D and METEOR (COCO caption evaluation), all references, of a run on a
    split, optionally of another dataset."""
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.pipelines.captioning import evaluate_captions

    beams = tuple(beam or [1, 3])
    if any(b < 1 for b in beams):
        raise ConfigError("--beam must be >= 1")
    res = evaluate_captions(run, dataset, path, split, beams, out_dir=out, meteor=meteor)
    text = json.dumps(res, indent=2)
    if out is not None:
        from dl4nlp.core.io import write_text

        write_text(out / f"{res['dataset']}-{split}.json", text + "\n")
    typer.echo(text)
