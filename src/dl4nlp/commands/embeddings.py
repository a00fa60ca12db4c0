"""``dl4nlp embeddings train|neighbors|analogy|similarity|orientation|evaluate|plot``.

Every query command takes ``--vectors`` (``glove-6b-50d``, a GloVe/word2vec text or binary file, or a
run folder of ``dl4nlp embeddings train``) and prints plain text.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from dl4nlp.embeddings import WordVectors

app = typer.Typer(help="Word vectors: train word2vec, query neighbours/analogies/orientation, evaluate, plot maps.",
                  no_args_is_help=True)

DATA = Path("../shared/data")
DEFAULT_SST = DATA / "sst" / "train.txt"  # evaluate: the SST trees of the orientation accuracy
DEFAULT_EVAL = DATA / "wordsim"  # train: the word-similarity and analogy sets scored after training
VectorsOpt = Annotated[str, typer.Option("--vectors", "-v", help="glove-6b-50d | vectors file | run folder")]
LimitOpt = Annotated[int | None, typer.Option(help="search only the N most frequent words (default: all)")]


def _load(vectors: str) -> WordVectors:
    from dl4nlp.embeddings import load_vectors

    return load_vectors(vectors)


def _word(vecs: WordVectors, word: str) -> str:
    """The word, or its lowercase form; a clear error when neither is known."""
    from dl4nlp.core.errors import DataError

    found = vecs.lookup(word)
    if found is None:
        raise DataError(f"'{word}' is not in the vocabulary of {vecs.source} ({len(vecs):,} words)")
    return found


def _at_least_one(**counts: int | None) -> None:
    """A clear error for a count option below 1 (``-k 0`` would print nothing, ``-k -5`` all but 5 words)."""
    from dl4nlp.core.errors import ConfigError

    for name, value in counts.items():
        if value is not None and value < 1:
            raise ConfigError(f"--{name} must be at least 1, got {value}")


def _seeds(text: str | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return default if not text else tuple(w.strip() for w in text.split(",") if w.strip())


@app.command()
def train(
    corpus: Annotated[Path | None, typer.Argument(
        help="text file, one sentence/paragraph per line (default ../shared/data/wikitext2/wiki.train.tokens; "
             "with --resume: the run's own corpus)", show_default=False)] = None,
    config: Annotated[Path | None, typer.Option(help="YAML of training options (configs/embeddings/)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", "-s", help="option=value, e.g. epochs=3")] = None,
    backend: Annotated[str | None, typer.Option(help="torch (ours) or gensim")] = None,
    out: Annotated[Path | None, typer.Option(
        help="run folder (default runs/embeddings/<arch>-<backend>-d<dim>)")] = None,
    resume: Annotated[Path | None, typer.Option(
        help="continue an unfinished run folder from its checkpoints/last.pt (only threads and device may "
             "change; torch backend only)")] = None,
    eval_data: Annotated[Path, typer.Option(
        help="folder with the analogy/WS-353/SimLex files ('' skips the evaluation)")] = DEFAULT_EVAL,
    progress: Annotated[bool, typer.Option(help="progress bar with words/second")] = True,
) -> None:
    """Train word2vec (skip-gram or CBOW, negative sampling); writes vectors.txt and results.json."""
    from dataclasses import asdict

    from dl4nlp.core.config import parse_value, read_yaml
    from dl4nlp.core.errors import ConfigError, DataError, RunError
    from dl4nlp.core.runs import free_name, write_results
    from dl4nlp.embeddings import evaluate_all
    from dl4nlp.engine.training import machine_info
    from dl4nlp.pipelines.word2vec import TrainOptions, resume_point, train_word2vec

    values: dict = dict(read_yaml(config)) if config is not None else {}
    for item in set_ or []:
        if "=" not in item:
            raise ConfigError(f"--set {item}: expected option=value")
        key, val = item.split("=", 1)
        values[key.strip()] = parse_value(val)
    if backend is not None:
        values["backend"] = backend
    sources = ([str(config)] if config is not None else []) + (["--set"] if set_ else [])
    point = None
    if resume is not None:
        if out is not None:
            raise ConfigError("--out and --resume: a resumed run continues in its own folder; give only --resume")
        point = resume_point(resume)
        opts = point.options_with(values, " / ".join(sources) or "options")
        if corpus is None:
            if not point.corpus.is_file():
                raise RunError(f"{resume}: its corpus {point.corpus} is not found (moved? give it as CORPUS)")
            corpus = point.corpus
        run = resume
        typer.echo(f"resuming {run} after epoch {point.epoch} of {opts.epochs}")
    else:
        opts = TrainOptions.from_dict(values, " / ".join(sources) or "options")
        corpus = corpus if corpus is not None else DATA / "wikitext2" / "wiki.train.tokens"
        run = out or free_name("runs/embeddings", f"{opts.arch}-{opts.backend}-d{opts.dim}")
        if run.exists() and not run.is_dir():
            raise ConfigError(f"--out {run}: exists and is not a folder")
    evaluate = eval_data != Path("") and (eval_data / "questions-words.txt").is_file()  # '' arrives as Path('.')
    if not evaluate and eval_data not in (Path(""), DEFAULT_EVAL):  # a folder named on purpose: before training
        raise DataError(f"--eval-data {eval_data}: no questions-words.txt there (--eval-data '' skips the evaluation)")
    # no mkdir here: the folder appears with the first file written, once the corpus has been read and
    # its vocabulary built, so a bad corpus (missing, empty, not UTF-8, min_count too high) leaves nothing
    vecs, summary = train_word2vec(corpus, opts, run, progress=progress, resume=point)
    results = {"task": "embeddings", "model": f"word2vec-{opts.arch}-{opts.backend}", "dataset": corpus.name,
               "train_time_s": summary["train_time_s"], "words_per_s": summary["words_per_s"],
               "vocab_size": summary["vocab_size"], "hyper_parameters": asdict(opts), "machine": machine_info()}
    if evaluate:
        results.update(evaluate_all(vecs, eval_data))
    elif eval_data == DEFAULT_EVAL:
        typer.echo(f"note: not evaluated: {eval_data}/questions-words.txt not found (--eval-data names the folder)",
                   err=True)
    write_results(run, results)
    typer.echo(f"run folder: {run}")
    typer.echo(f"{summary['vocab_size']:,} words, {summary['train_time_s']:.1f} s, "
               f"{summary['words_per_s']:,.0f} words/s")
    if "analogy_total" in results:
        typer.echo(_summary_line(results))


def _summary_line(r: dict) -> str:
    return (f"analogy semantic {100 * r['analogy_semantic']:.1f}  syntactic {100 * r['analogy_syntactic']:.1f}  "
            f"total {100 * r['analogy_total']:.1f}  (of {r['analogy_answered']:,} answered)  "
            f"WS-353 {r['ws353_spearman']:.3f}  SimLex-999 {r['simlex_spearman']:.3f}")


@app.command()
def neighbors(
    words: Annotated[list[str], typer.Argument(help="one or more words")],
    vectors: VectorsOpt = "glove-6b-50d",
    k: Annotated[int, typer.Option("--k", "-k", help="how many neighbours")] = 10,
    limit: LimitOpt = None,
) -> None:
    """Most similar words by cosine similarity, with scores."""
    _at_least_one(k=k, limit=limit)
    vecs = _load(vectors)
    for word in words:
        w = _word(vecs, word)
        typer.echo(f"{w}:")
        for n, s in vecs.neighbors(w, k, limit=limit):
            typer.echo(f"  {s:.4f}  {n}")


@app.command()
def analogy(
    a: Annotated[str, typer.Argument(help="A in A - B + C")],
    b: Annotated[str, typer.Argument(help="B")],
    c: Annotated[str, typer.Argument(help="C")],
    vectors: VectorsOpt = "glove-6b-50d",
    k: Annotated[int, typer.Option("--k", "-k")] = 5,
    method: Annotated[str, typer.Option(help="add (3CosAdd) or mul (3CosMul)")] = "add",
    limit: LimitOpt = None,
) -> None:
    """Words closest to A - B + C (B is to A as C is to ?): `king man woman` -> queen,
    `paris france italy` -> rome. The three words are excluded from the answers."""
    from dl4nlp.core.errors import ConfigError

    if method not in ("add", "mul"):
        raise ConfigError(f"--method must be add or mul, not '{method}'")
    _at_least_one(k=k, limit=limit)
    vecs = _load(vectors)
    wa, wb, wc = (_word(vecs, x) for x in (a, b, c))
    typer.echo(f"{wb} : {wa} :: {wc} : ?")
    for w, s in vecs.analogy(wb, wa, wc, k=k, method=method, limit=limit):
        typer.echo(f"  {s:.4f}  {w}")


@app.command()
def similarity(
    a: Annotated[str, typer.Argument()],
    b: Annotated[str, typer.Argument()],
    vectors: VectorsOpt = "glove-6b-50d",
) -> None:
    """Cosine similarity of two words."""
    vecs = _load(vectors)
    typer.echo(f"{vecs.similarity(_word(vecs, a), _word(vecs, b)):.4f}")


@app.command()
def orientation(
    text: Annotated[list[str], typer.Argument(help="a word, or several words / a sentence")],
    vectors: VectorsOpt = "glove-6b-50d",
    positive: Annotated[str | None, typer.Option(help="comma-separated positive seed words")] = None,
    negative: Annotated[str | None, typer.Option(help="comma-separated negative seed words")] = None,
) -> None:
    """Semantic orientation: projection on the axis from negative to positive seed words (> 0: positive)."""
    from dl4nlp.embeddings import NEGATIVE_SEEDS, POSITIVE_SEEDS

    vecs = _load(vectors)
    try:
        axis = vecs.orientation_axis(_seeds(positive, POSITIVE_SEEDS), _seeds(negative, NEGATIVE_SEEDS))
    except KeyError as exc:
        from dl4nlp.core.errors import DataError

        raise DataError(f"{vecs.source}: {exc.args[0]}") from None
    tokens = [t for chunk in text for t in chunk.split()]
    for t in tokens:
        w = vecs.lookup(t)
        if w is None:
            typer.echo(f"  {'?':>7s}  {t} (unknown)")
        else:
            s = vecs.orientation(w, axis)
            typer.echo(f"  {s:+.4f}  {t}  {'positive' if s > 0 else 'negative'}")
    if len(tokens) > 1:
        score, known = vecs.sentence_orientation(tokens, axis)
        label = "positive" if score > 0 else "negative"
        typer.echo(f"sentence: {score:+.4f} {label} (mean of {known} known words of {len(tokens)})")


@app.command()
def evaluate(
    vectors: VectorsOpt = "glove-6b-50d",
    data: Annotated[Path, typer.Option(help="folder with questions-words.txt, wordsim353.tsv, simlex999.txt")] = (
        DATA / "wordsim"),
    restrict: Annotated[int, typer.Option(help="analogy: search the N most frequent words")] = 30000,
    sst: Annotated[Path | None, typer.Option(help="SST trees for the orientation accuracy (empty: skip)")] = (
        DEFAULT_SST),
    json_out: Annotated[Path | None, typer.Option("--json", help="also write the scores as JSON")] = None,
) -> None:
    """Google analogy (per section), WordSim-353 and SimLex-999 Spearman, SST word orientation accuracy."""
    from dl4nlp.core.errors import DataError
    from dl4nlp.embeddings import evaluate_all, evaluate_orientation, sst_word_polarity

    _at_least_one(restrict=restrict)
    if not data.is_dir():
        raise DataError(f"{data}: evaluation data folder not found")
    vecs = _load(vectors)
    r = evaluate_all(vecs, data, restrict=restrict)
    if sst is not None and sst != Path(""):  # --sst '' arrives as Path('.'): skip
        if sst.is_file():
            try:
                o = evaluate_orientation(vecs, sst_word_polarity(sst))
                r["orientation_accuracy"], r["orientation_words"] = o["accuracy"], o["words"]
            except KeyError as exc:  # vectors without any seed word of a pole (a small vocabulary)
                typer.echo(f"note: orientation accuracy skipped: {vecs.source}: {exc.args[0]}", err=True)
        elif sst == DEFAULT_SST:
            typer.echo(f"note: orientation accuracy skipped: {sst} not found (--sst names the SST trees)", err=True)
        else:
            raise DataError(f"{sst}: SST trees not found (--sst '' skips the orientation accuracy)")
    typer.echo(format_table(r, vecs.source))
    if json_out is not None:
        from dl4nlp.core.io import write_json

        write_json(json_out, r)
        typer.echo(f"wrote {json_out}")


def format_table(r: dict, source: str) -> str:
    """The evaluation as a markdown table (analogy sections, totals, word pairs, orientation)."""
    lines = [f"vectors: {source}   analogy search: {r['restrict']:,} most frequent words, 3CosAdd", "",
             "| test | score | answered / pairs | skipped / OOV |", "|---|---:|---:|---:|"]
    for name, s in r["analogy_sections"].items():
        acc = 100 * s["correct"] / s["answered"] if s["answered"] else 0.0
        lines.append(f"| analogy: {name} | {acc:.1f} | {s['answered']} | |")
    lines += [
        f"| **analogy semantic** | {100 * r['analogy_semantic']:.1f} | | |",
        f"| **analogy syntactic** | {100 * r['analogy_syntactic']:.1f} | | |",
        f"| **analogy total** | {100 * r['analogy_total']:.1f} | {r['analogy_answered']} | {r['analogy_skipped']} |",
        f"| WordSim-353 Spearman | {r['ws353_spearman']:.3f} | {r['ws353_pairs']} | {r['ws353_oov']} |",
        f"| SimLex-999 Spearman | {r['simlex_spearman']:.3f} | {r['simlex_pairs']} | {r['simlex_oov']} |",
    ]
    if "orientation_accuracy" in r:
        lines.append(f"| SST word orientation accuracy | {100 * r['orientation_accuracy']:.1f} | "
                     f"{r['orientation_words']} | |")
    return "\n".join(lines)


@app.command()
def plot(
    words: Annotated[list[str] | None, typer.Argument(help="words to place on the map")] = None,
    vectors: VectorsOpt = "glove-6b-50d",
    around: Annotated[str | None, typer.Option(help="map this word and its --k nearest neighbours")] = None,
    k: Annotated[int, typer.Option("--k", "-k")] = 20,
    method: Annotated[str, typer.Option(help="pca or tsne")] = "pca",
    out: Annotated[Path, typer.Option(help="PNG file")] = Path("embedding_map.png"),
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """A labelled 2-D PCA or t-SNE map of WORDS and/or the neighbourhood of --around, saved as PNG."""
    from dl4nlp.analysis.embedding_maps import embedding_map, neighbourhood
    from dl4nlp.core.errors import ConfigError

    if method not in ("pca", "tsne"):
        raise ConfigError(f"--method must be pca or tsne, not '{method}'")
    _at_least_one(k=k)
    vecs = _load(vectors)
    chosen = [_word(vecs, w) for w in words or []]
    highlight = []
    if around is not None:
        centre = _word(vecs, around)
        highlight.append(centre)
        chosen += [w for w in neighbourhood(vecs, centre, k) if w not in chosen]
    if len(chosen) < 3:
        raise ConfigError("give at least three WORDS or --around WORD")
    path = embedding_map(vecs, chosen, out, method, seed=seed, highlight=highlight)
    typer.echo(f"wrote {path}")


def register(main_app: typer.Typer) -> None:
    main_app.add_typer(app, name="embeddings")


