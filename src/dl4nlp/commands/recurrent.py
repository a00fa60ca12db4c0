"""CLI commands of the recurrent rungs: ``dl4nlp gradients`` and ``dl4nlp attention-map``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def gradients(
    runs: Annotated[
        list[Path] | None, typer.Argument(help="trained recurrent run folders (default: fresh models)")
    ] = None,
    cells: Annotated[
        str, typer.Option(help="without RUNS: cells to compare at initialisation")
    ] = "rnn,gru,lstm",
    data: Annotated[Path, typer.Option(help="without RUNS: SST folder the sentences come from")] = Path(
        "../shared/data/sst"
    ),
    dataset: Annotated[str, typer.Option(help="without RUNS: dataset reader (sst2, sst5, ...)")] = "sst2",
    length: Annotated[int, typer.Option(help="sentence length T (sentences are cut to T tokens)")] = 30,
    examples: Annotated[int, typer.Option(help="sentences in the batch")] = 64,
    hidden: Annotated[int, typer.Option(help="without RUNS: hidden size of the fresh models")] = 150,
    seed: Annotated[int, typer.Option(help="without RUNS: initialisation seed")] = 13,
    out: Annotated[Path, typer.Option(help="PNG to write (the numbers go to the .json beside it)")] = Path(
        "gradients.png"
    ),
) -> None:
    """Plot ||d loss / d h_t|| per time step, RNN vs GRU vs LSTM on one batch (vanishing gradients)."""
    from dl4nlp.analysis.rnn_diagnostics import gradient_report
    from dl4nlp.core.config import load_config
    from dl4nlp.core.errors import ConfigError

    if length < 2 or examples < 1:
        raise ConfigError("--length must be >= 2 and --examples >= 1")
    cfg = load_config(None, [f"data.path={data}", f"data.dataset={dataset}"])
    names = [c.strip() for c in cells.split(",") if c.strip()]
    path, curves = gradient_report(
        [str(r) for r in runs or []], names, cfg, length, examples, hidden, seed, out
    )
    for name, ys in curves.items():
        typer.echo(
            f"{name}: ||dL/dh_1|| = {ys[0]:.3g}   ||dL/dh_T|| = {ys[-1]:.3g}   ratio {ys[0] / ys[-1]:.3g}"
        )
    typer.echo(f"wrote {path}")


def attention(
    run: Annotated[Path, typer.Argument(help="run folder of a recurrent model with pooling: attention")],
    text: Annotated[list[str], typer.Argument(help="sentence(s) to show")],
    out: Annotated[
        Path, typer.Option(help="PNG to write (-1, -2, ... appended for several sentences)")
    ] = Path("attention.png"),
) -> None:
    """Heatmap of the attention-pooling weights over each sentence."""
    from dl4nlp.analysis.rnn_diagnostics import attention_figure
    from dl4nlp.pipelines.classification import Classifier

    clf = Classifier(run)  # loaded once for every sentence
    for i, t in enumerate(text):
        target = out if len(text) == 1 else out.with_name(f"{out.stem}-{i + 1}{out.suffix}")
        path, toks, weights = attention_figure(clf, t, target)
        typer.echo("  ".join(f"{w}:{a:.2f}" for w, a in zip(toks, weights, strict=True)))
        typer.echo(f"wrote {path}")


def register(app: typer.Typer) -> None:
    app.command()(gradients)
    app.command("attention-map")(attention)
