"""``dl4nlp generate`` (text from a trained language-model run) and ``dl4nlp transfer`` (ULMFiT)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def generate(
    run: Annotated[Path, typer.Argument(help="a language-model run folder")],
    prompt: Annotated[str, typer.Option(help="text to continue (empty: start a new line)")] = "",
    temperature: Annotated[float, typer.Option(help="softmax temperature; 0 = greedy decoding")] = 1.0,
    top_k: Annotated[int, typer.Option("--top-k", help="sample among the k most probable (0: all)")] = 0,
    top_p: Annotated[float, typer.Option("--top-p", help="nucleus: smallest set with this mass")] = 1.0,
    n: Annotated[int, typer.Option("-n", help="number of samples")] = 1,
    max_len: Annotated[int, typer.Option("--max-len", help="most tokens generated per sample")] = 50,
    seed: Annotated[int | None, typer.Option(help="random seed (same seed, same samples)")] = None,
) -> None:
    """Continue a prompt with a trained language model; one sample per line, stops at <eos>."""
    from dl4nlp.pipelines.language_model import load_language_model

    lm = load_language_model(run)
    for text in lm.generate(prompt, n=n, max_len=max_len, temperature=temperature, top_k=top_k, top_p=top_p,
                            seed=seed):
        typer.echo(f"{prompt} {text}".strip() if lm.level == "word" else f"{prompt}{text}")


def transfer(
    config: Annotated[Path | None, typer.Argument(help="transfer YAML (see configs/transfer/)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="override: section.key=value")] = None,
    resume: Annotated[Path | None, typer.Option(help="continue an unfinished transfer run folder")] = None,
) -> None:
    """ULMFiT: general LM -> target-task LM fine-tuning -> classifier (gradual unfreezing, discriminative
    learning rates, slanted triangular schedule). Prints the run folder and each stage's scores.
    ``--resume RUN`` reuses the finished stages and continues the interrupted one from its last.ckpt."""
    import json

    from dl4nlp.core.errors import RunError
    from dl4nlp.pipelines.ulmfit import load_transfer_config, run_transfer

    if resume is not None:
        if config is not None:
            raise typer.BadParameter("give a CONFIG file or --resume RUN, not both")
        if not (resume / "config.yaml").is_file():
            raise RunError(f"{resume}: not a transfer run folder (no config.yaml)")
        cfg = load_transfer_config(resume / "config.yaml", set_ or [])
    elif config is None:
        raise typer.BadParameter("give a CONFIG file or --resume RUN")
    else:
        cfg = load_transfer_config(config, set_ or [])
    path = run_transfer(cfg, resume=resume)
    typer.echo(f"run folder: {path}")
    typer.echo(json.dumps(json.loads((path / "results.json").read_text(encoding="utf-8")).get("stages", {}),
                          indent=2))


def register(app: typer.Typer) -> None:
    app.command()(generate)
    app.command()(transfer)
