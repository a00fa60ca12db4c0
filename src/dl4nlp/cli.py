"""The ``dl4nlp`` command line: a thin front over the library.

Every command parses its arguments, loads a config or a run folder and calls one library function.
Heavy libraries are imported inside the commands, so ``dl4nlp --help`` starts fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from dl4nlp.core.errors import Dl4nlpError

app = typer.Typer(
    help="dl4nlp: deep learning for NLP, from logistic regression to transformers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SetOpt = Annotated[list[str] | None, typer.Option("--set", "-s", help="override a config key: section.key=value")]


def _echo_json(obj: object) -> None:
    import json

    typer.echo(json.dumps(obj, indent=2, default=str))


@app.command()
def train(
    config: Annotated[Path | None, typer.Argument(help="YAML config (see configs/)")] = None,
    set_: SetOpt = None,
    resume: Annotated[Path | None, typer.Option(help="continue an unfinished run folder from its last.ckpt")] = None,
) -> None:
    """Train a model from a YAML config; prints the run folder."""
    from dl4nlp.core.config import apply_overrides, from_dict, load_config, read_yaml
    from dl4nlp.core.runs import load_config as run_config

    if resume is not None:
        cfg = run_config(resume)
        if set_:
            saved = cfg
            cfg = from_dict(apply_overrides(cfg.to_dict(), set_), str(resume / "config.yaml"))
            _check_resume_overrides(saved, cfg, resume)
    else:
        if config is None:
            raise typer.BadParameter("give a CONFIG file or --resume RUN")
        read_yaml(config)  # clear error for a missing/invalid file before anything else
        cfg = load_config(config, set_)
    from dl4nlp.experiments import train_any

    run = train_any(cfg, resume=resume) if resume is None else _resume(cfg, resume)
    typer.echo(f"run folder: {run}")
    from dl4nlp.core.runs import read_results

    res = read_results(run)
    if res:
        keys = [k for k in ("dev_acc", "test_acc", "dev_f1", "test_f1", "dev_ppl", "test_ppl", "params",
                             "train_time_s", "tokens_per_second", "dev_bleu4", "test_bleu4", "dev_bleu",
                             "test_bleu", "dev_mae", "test_mae", "test_spearman") if k in res]
        typer.echo("  ".join(f"{k}={res[k]:.4f}" if isinstance(res[k], float) else f"{k}={res[k]}" for k in keys))


#: the only keys ``train --resume RUN --set`` may change: when to stop, how fast dev is scored, what is shown
RESUME_KEYS = ("train.epochs", "train.patience", "train.min_delta", "train.eval_batch_size", "data.num_workers",
               "trainer.progress_bar", "trainer.log_every_n_steps")


def _check_resume_overrides(saved: Any, cfg: Any, run: Path) -> None:
    """A :class:`ConfigError` naming every changed key outside :data:`RESUME_KEYS`: a resumed run must stay the
    experiment its checkpoint and vocabulary come from (data, model, optimiser, seed, devices, run name)."""
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.experiments import settings_changed

    old, new = saved.to_dict(), cfg.to_dict()
    changed = [c for c in settings_changed(saved, cfg) if c.split(":", 1)[0] not in RESUME_KEYS]
    changed += [f"{sec}.{k}: {v} -> {new[sec][k]}" for sec in ("trainer", "run") for k, v in old[sec].items()
                if v != new[sec][k] and f"{sec}.{k}" not in RESUME_KEYS and f"{sec}.{k}" != "run.seed"]
    if changed:
        raise ConfigError(f"{run}: --resume cannot change {'; '.join(changed)} (the run would no longer be the "
                          f"experiment its checkpoint comes from); --resume may change only {', '.join(RESUME_KEYS)}. "
                          "Train a new run instead")


def _resume(cfg: Any, run: Path) -> Path:
    """Continue ``run`` with ``cfg`` (its config.yaml plus any --set). If that fails with an error before a new
    checkpoint was written, the run's config.yaml is put back as it was, so a bad --set loses nothing."""
    from dl4nlp.core.errors import Dl4nlpError
    from dl4nlp.core.io import write_text
    from dl4nlp.experiments import train_any

    config, ckpt = run / "config.yaml", run / "last.ckpt"
    before = config.read_text(encoding="utf-8") if config.is_file() else None
    stamp = ckpt.stat().st_mtime_ns if ckpt.is_file() else None
    try:
        return train_any(cfg, resume=run)
    except Dl4nlpError:
        if before is not None and (ckpt.stat().st_mtime_ns if ckpt.is_file() else None) == stamp:
            write_text(config, before)
        raise


def _note_if_unfinished(run: Path) -> None:
    """A note on stderr when a run folder has a best checkpoint but no results.json: an unfinished run's best
    checkpoint so far is what answers."""
    if (run / "best.ckpt").is_file() and not (run / "results.json").is_file():
        typer.echo(f"note: {run} is unfinished (no results.json): using its best checkpoint so far", err=True)


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="run folder")],
    split: Annotated[str, typer.Option(help="train, dev or test")] = "test",
    data: Annotated[Path | None, typer.Option(help="score on this labelled file instead of a split (sentences: "
                                              "CSV/TSV/JSONL; pairs: SNLI/MultiNLI JSONL or TSV; captions: a "
                                              "caption file beside its images; language models: a text file)")]
    = None,
) -> None:
    """Score a trained run's best model on a split of its dataset, or on any labelled file (--data)."""
    from dl4nlp.core.runs import check_split
    from dl4nlp.pipelines import pipeline_for

    check_split(split)
    pipe = pipeline_for(run)
    _note_if_unfinished(run)
    _echo_json(pipe.evaluate(run, split) if data is None else pipe.evaluate(run, split, data))


MAX_ATTENTION_MAPS = 50  # --attention draws at most this many heatmaps


@app.command()
def predict(
    run: Annotated[Path, typer.Argument(help="run folder")],
    text: Annotated[list[str] | None, typer.Argument(help="input(s): sentences, 'premise ||| hypothesis', ...")]
    = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="one input per line")] = None,
    format_: Annotated[str, typer.Option("--format", help="text (tab-separated) or jsonl")] = "text",
    attention: Annotated[Path | None, typer.Option(help=f"also draw attention heatmaps into this folder (runs "
                                                   f"that have attention; the first {MAX_ATTENTION_MAPS} inputs)")]
    = None,
    tree: Annotated[Path | None, typer.Option(help=f"tree-model runs: draw each input's phrase tree with every "
                                              f"node's sentiment into this folder (the first {MAX_ATTENTION_MAPS})")]
    = None,
) -> None:
    """One line per input on stdout (label, scores, input; or JSON lines); notes go to stderr."""
    from dl4nlp.core.errors import ConfigError, DataError
    from dl4nlp.core.io import require_file, text_lines
    from dl4nlp.pipelines import pipeline_for

    if format_ not in ("text", "jsonl"):
        raise ConfigError(f"--format: unknown value '{format_}' (use text or jsonl)")
    texts = list(text or [])
    if file is not None:
        for i, line in enumerate(text_lines(require_file(file)), 1):
            if not line.strip():
                raise DataError(f"{file}:{i}: empty line")
            texts.append(line.rstrip("\r\n"))
    if not texts:
        raise DataError("nothing to predict: give inputs as arguments or --file")
    pipe = pipeline_for(run)
    _note_if_unfinished(run)
    predictor = pipe.load(run)
    for i, pred in enumerate(predictor.predict(texts), 1):
        if pred.note:
            typer.echo(f"note: input {i}: {pred.note}", err=True)
        typer.echo(pred.json() if format_ == "jsonl" else pred.line())
    for option, folder, method in (("--attention", attention, "attention_png"), ("--tree", tree, "tree_png")):
        if folder is None:
            continue
        draw = getattr(predictor, method, None)
        if draw is None:
            raise ConfigError(f"{option}: {pipe.name} runs have nothing to draw for it")
        for i, t in enumerate(texts[:MAX_ATTENTION_MAPS]):
            path = draw(t, folder / f"{i + 1:04d}.png")
            if path is not None:
                typer.echo(f"{option.strip('-')}: {path}", err=True)


@app.command()
def leaderboard(
    root: Annotated[Path, typer.Argument(help="folder of runs")] = Path("runs"),
    out: Annotated[Path | None, typer.Option(help="where to write leaderboard.md/.csv (default: ROOT)")] = None,
) -> None:
    """Collect results.json of every run under ROOT into leaderboard.md and leaderboard.csv."""
    from dl4nlp.core.errors import RunError
    from dl4nlp.core.runs import leaderboard_markdown, write_leaderboard

    if not root.is_dir():
        raise RunError(f"{root}: folder not found")
    from dl4nlp.core.runs import find_runs

    if not find_runs(root):
        typer.echo(f"no runs found under {root} (a run folder holds results.json once it has finished)", err=True)
        return
    md, cs, rows = write_leaderboard(root, out)
    typer.echo(leaderboard_markdown(rows))
    typer.echo(f"wrote {md} and {cs}", err=True)


@app.command()
def ladder(
    dataset: Annotated[str | None, typer.Option(help="dataset of the ladder (default: its first, e.g. sst2)")]
    = None,
    configs: Annotated[Path, typer.Option(help="ladder folder: ladder.yaml + one config per rung")]
    = Path("configs/ladder"),
    out: Annotated[Path | None, typer.Option(help="runs folder (default runs/ladder-<dataset>)")] = None,
    only: Annotated[list[str] | None, typer.Option(help="train only these rungs")] = None,
    skip: Annotated[list[str] | None, typer.Option(help="skip these rungs (e.g. slow ones)")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="the short tour: the ladder's quick rungs")] = False,
    seeds: Annotated[str | None, typer.Option(help="comma-separated seeds: every rung once per seed")] = None,
    sort: Annotated[str, typer.Option(help="leaderboard order: ladder (rung order) or dev (best dev first)")]
    = "ladder",
    set_: SetOpt = None,
) -> None:
    """Train every rung of a ladder (sentiment, NLI, NER, translation ... : any configs folder with a
    ladder.yaml), then print the leaderboard in ladder order and draw ladder.png with published references."""
    from dl4nlp.core.config import parse_value
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.ladder import run_ladder

    seed_list = None
    if seeds:
        try:
            seed_list = [int(parse_value(x.strip())) for x in seeds.split(",") if x.strip()]
        except (TypeError, ValueError):
            raise ConfigError(f"--seeds: expected comma-separated integers, got '{seeds}'") from None
    md = run_ladder(configs, dataset, out, only or [], skip or [], set_ or [], quick, seed_list, sort)
    typer.echo(md.read_text(encoding="utf-8"))
    typer.echo(f"leaderboard: {md}", err=True)


@app.command()
def sweep(
    config: Annotated[Path, typer.Argument(help="base YAML config")],
    grid: Annotated[list[str], typer.Option(help="key=v1,v2,... (repeat for more keys), e.g. train.lr=0.1,0.01")],
    set_: SetOpt = None,
) -> None:
    """Grid search selected on dev; the test split is scored once, for the chosen model only."""
    from dl4nlp.ladder import run_sweep

    summary = run_sweep(config, grid, set_ or [])
    typer.echo(summary.read_text(encoding="utf-8"))


from dl4nlp.commands.caption import caption as _caption  # noqa: E402
from dl4nlp.commands.caption import caption_eval as _caption_eval  # noqa: E402

app.command("caption")(_caption)
app.command("caption-eval")(_caption_eval)


from dl4nlp.commands import lm as _lm_commands  # noqa: E402  (generate, transfer)

_lm_commands.register(app)


from dl4nlp.commands import recurrent as _recurrent_commands  # noqa: E402  (gradients, attention)

_recurrent_commands.register(app)


from dl4nlp.commands import transformer as _transformer_commands  # noqa: E402  (explain)

_transformer_commands.register(app)


from dl4nlp.commands import nli as _nli_commands  # noqa: E402  (nli, nli-ladder)

_nli_commands.register(app)


from dl4nlp.commands.serve import serve as _serve  # noqa: E402  (the web demo; gradio loads on use)

app.command("serve")(_serve)


from dl4nlp.commands import embeddings as _embeddings_commands  # noqa: E402  (embeddings train|neighbors|...)

_embeddings_commands.register(app)


from dl4nlp.commands import ner as _ner_commands  # noqa: E402  (tag)

_ner_commands.register(app)


from dl4nlp.commands import qa as _qa_commands  # noqa: E402  (answer)

_qa_commands.register(app)


from dl4nlp.commands import trees as _trees_commands  # noqa: E402  (tree)

_trees_commands.register(app)


from dl4nlp.commands import translate as _translate_commands  # noqa: E402  (translate)

_translate_commands.register(app)


def main() -> None:
    """Console entry point: library errors become one line on stderr and exit status 2."""
    try:
        app()
    except Dl4nlpError as exc:
        from dl4nlp.core.runs import discard_unstarted_runs

        discard_unstarted_runs()  # a run folder made before the error was found, with nothing in it to keep
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except SystemExit as exc:  # Typer turns Ctrl-C into exit status 130, silently
        interrupt = _interrupt_behind(exc)
        if interrupt is not None:
            from dl4nlp.core.runs import discard_unstarted_runs

            discard_unstarted_runs()  # a run folder made before the first checkpoint holds nothing to resume
            typer.echo(str(interrupt) or "interrupted", err=True)  # training says where, and how to resume
        raise
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except Exception:  # a bug: the traceback is shown, but an empty run folder is not left behind
        from dl4nlp.core.runs import discard_unstarted_runs

        discard_unstarted_runs()
        raise


def _interrupt_behind(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt (e.g. :class:`dl4nlp.engine.training.TrainingInterrupted`) an exit was raised for,
    if any."""
    seen: BaseException | None = exc
    for _ in range(5):
        seen = seen.__cause__ or seen.__context__ if seen is not None else None
        if isinstance(seen, KeyboardInterrupt):
            return seen
    return None


if __name__ == "__main__":
    main()
