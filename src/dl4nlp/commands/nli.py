"""CLI of the recurrent NLI models (:mod:`dl4nlp.pipelines.nli`): ``dl4nlp nli RUN``, ``dl4nlp nli-ladder`` and
``dl4nlp nli-teacher`` (a teacher file for distillation, :mod:`dl4nlp.pipelines.distill`).

``dl4nlp nli RUN --premise P --hypothesis H`` (or ``--index I`` for a test pair) prints the label with
its probabilities and writes the attention map: premise x hypothesis heatmap for word-by-word attention,
a bar per premise word for single attention (conditional encoding has no attention to draw).
``dl4nlp predict RUN "premise ||| hypothesis"`` and ``dl4nlp evaluate RUN`` also take NLI runs.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import typer


def _slug(premise: str, hypothesis: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", f"{premise} {hypothesis}".lower()).strip("-")[:48]
    return words or "pair"


def _fmt_probs(probs: dict[str, float]) -> str:
    return "  ".join(f"{k}={v:.3f}" for k, v in probs.items())


def nli(
    run: Annotated[Path, typer.Argument(help="an NLI run folder (configs/nli/*.yaml)")],
    premise: Annotated[str | None, typer.Option(help="premise sentence")] = None,
    hypothesis: Annotated[str | None, typer.Option(help="hypothesis sentence")] = None,
    index: Annotated[int | None, typer.Option(help="instead of a pair: example INDEX (0-based) of --split")] = None,
    split: Annotated[str, typer.Option(help="split for --index: train, dev or test")] = "test",
    out: Annotated[Path | None, typer.Option(help="PNG to write (default RUN/attention/<words>.png)")] = None,
) -> None:
    """Label, probabilities and attention map of one premise/hypothesis pair."""
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.pipelines.nli import load_nli_run

    if index is None and (premise is None or hypothesis is None):
        raise ConfigError("give --premise and --hypothesis, or --index N for a pair of --split")
    if index is not None and (premise is not None or hypothesis is not None):
        raise ConfigError("give either --index or --premise/--hypothesis, not both")
    model = load_nli_run(run)
    gold = None
    if index is not None:
        premise, hypothesis, gold = model.example(index, split)
    assert premise is not None and hypothesis is not None
    pred = model.predict(premise, hypothesis)
    typer.echo(f"{pred.label}\t{_fmt_probs(pred.probabilities)}" + (f"\tgold={gold}" if gold else ""))
    typer.echo(f"premise:    {' '.join(pred.premise)}")
    typer.echo(f"hypothesis: {' '.join(pred.hypothesis)}")
    if pred.attention is None:
        typer.echo("(conditional encoding: no attention to draw)")
        return
    if model.kind == "single":
        typer.echo("attention: " + "  ".join(f"{w}:{a:.2f}" for w, a in zip(pred.premise, pred.attention,
                                                                            strict=True)))
    else:
        for w, row in zip(pred.hypothesis, pred.attention, strict=True):
            top = max(range(len(row)), key=row.__getitem__)
            typer.echo(f"  {w:>14} -> {pred.premise[top]} ({row[top]:.2f})")
    stem = f"{split}-{index}" if index is not None else _slug(premise, hypothesis)
    target = out or run / "attention" / f"{stem}.png"
    model.attention_map(pred, target)
    typer.echo(f"wrote {target}")


def nli_ladder(
    configs: Annotated[Path, typer.Option(help="folder with <model>.yaml")] = Path("configs/nli"),
    out: Annotated[Path, typer.Option(help="runs folder")] = Path("runs/nli-ladder"),
    only: Annotated[list[str] | None, typer.Option(help="train only these models")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="override a config key")] = None,
) -> None:
    """Train conditional encoding, attention and word-by-word attention side by side (the generic ladder over
    configs/nli): leaderboard in ladder order + ladder.png with the published references."""
    from dl4nlp.ladder import run_ladder

    md = run_ladder(configs, None, out, only or [], [], set_ or [])
    typer.echo(md.read_text(encoding="utf-8"))
    typer.echo(f"leaderboard: {md}", err=True)


def nli_teacher(
    teacher: Annotated[Path, typer.Argument(help="a fine-tuned transformer NLI run (configs/transformer/snli.yaml)")],
    config: Annotated[Path, typer.Option(help="the student's config: its training pairs are labelled")],
    out: Annotated[Path, typer.Option(help="teacher file to write (JSONL)")],
    copies: Annotated[int, typer.Option(help="augmented copies of each pair (labelled by the teacher only)")] = 0,
    p_mask: Annotated[float, typer.Option(help="augmentation: probability that a word is masked")] = 0.1,
    p_swap: Annotated[float, typer.Option(help="augmentation: probability of a GloVe-neighbour swap")] = 0.1,
    p_ngram: Annotated[float, typer.Option(help="augmentation: probability of cutting to an n-gram")] = 0.25,
    max_n: Annotated[int, typer.Option(help="augmentation: longest n-gram")] = 5,
    seed: Annotated[int, typer.Option(help="augmentation seed")] = 13,
    batch_size: Annotated[int, typer.Option(help="teacher batch size")] = 128,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="override a key of --config")] = None,
) -> None:
    """Label the student's training pairs (and augmented copies) with a fine-tuned transformer's logits;
    train the student on them with --set data.teacher_file=OUT (Tang et al. 2019)."""
    from rich.progress import Progress

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.distill import AugmentOptions, write_teacher_file

    cfg = load_config(config, set_)
    opts = AugmentOptions(p_mask=p_mask, p_swap=p_swap, p_ngram=p_ngram, max_n=max_n)
    with Progress(transient=True) as bar:
        task = bar.add_task("teacher logits", total=None)
        made = write_teacher_file(teacher, cfg, out, copies, opts, seed, batch_size,
                                  progress=lambda done, total: bar.update(task, completed=done, total=total))
    typer.echo(f"wrote {made.path}: {made.originals} training pairs (teacher accuracy on their gold labels "
               f"{100 * made.teacher_accuracy:.2f} %) + {made.augmented} augmented pairs; teacher "
               f"{made.teacher_seconds:.0f} s")


def register(app: typer.Typer) -> None:
    app.command("nli")(nli)
    app.command("nli-ladder")(nli_ladder)
    app.command("nli-teacher")(nli_teacher)
