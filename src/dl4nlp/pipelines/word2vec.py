"""Training word2vec (CBOW / skip-gram with negative sampling) on a text file, in PyTorch or with gensim.

The pipeline, as in the reference word2vec C code (Mikolov et al., 2013):

1. **Corpus**: one sentence per non-empty line, tokens split on whitespace (optionally lowercased);
   windows never cross a line.
2. **Vocabulary**: words seen at least ``min_count`` times (most frequent first); rarer words are
   removed from the token stream before windows are taken.
3. **Sub-sampling** of frequent words, each epoch: a token of word ``w`` with corpus frequency
   ``f(w) = count(w) / total`` is kept with probability ``(sqrt(f/t) + 1) * t/f`` (``t`` = ``sample``).
4. **Dynamic window**: each centre word draws ``b`` uniformly in ``1..window`` and uses the ``b``
   words on each side, so near words count more.
5. **Negative sampling**: ``K`` noise words per positive pair from ``P(w) ∝ count(w)^0.75``.
6. **Learning rate** decays linearly from ``lr`` to ``min_lr`` over all epochs.

Why a plain loop and not the Lightning engine: word2vec has no dev set, no early stopping and no
model selection; its "batches" are index arrays generated on the fly by vectorised numpy from the
token stream, and each step is a few milliseconds of sparse work, so per-step framework hooks would be
a large share of the time. The loop is short, seeded, writes vectors and a checkpoint every epoch
atomically, and reports words/second like the C tool.

**Exact resume** (PyTorch backend): after every epoch ``checkpoints/last.pt`` is replaced (atomically,
written last, so it is the commit point of the epoch) by everything the rest of the run depends on: the
weights, the epoch, the words processed so far (the learning rate is a function of it, so this is the
position of the linear decay; there is no optimizer state: :meth:`Word2Vec.sgd_step` is plain SGD), the
numpy generator's state (the only randomness of the loop: sub-sampling, windows,
shuffling and noise words all draw from it; the torch RNG state is kept too, python ``random`` is not
used), the train log and time so far, the options, and the corpus path with a fingerprint of its token
stream. :func:`resume_point` reads an unfinished run folder and ``train_word2vec(..., resume=point)``
continues it to the same vectors, bit for bit, as an uninterrupted run. gensim runs cannot be resumed.
"""

from __future__ import annotations

import hashlib
import re
import time
import typing
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from dl4nlp.core.config import coerce
from dl4nlp.core.devices import torch_device
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.core.io import remove_stale_temporaries, torch_load, torch_save, write_json
from dl4nlp.core.runs import unfinished_run
from dl4nlp.embeddings import WordVectors

CHECKPOINT = "checkpoints/last.pt"  # in a run folder: the state after the last finished epoch
# options a resumed run may change: where and how fast it runs, not what it computes
RESUME_SAFE_OPTIONS = ("threads", "device")


@dataclass
class TrainOptions:
    """Every option of ``dl4nlp embeddings train`` (names follow gensim where they overlap)."""

    arch: str = "skipgram"  # skipgram | cbow
    dim: int = 100
    window: int = 5
    negative: int = 5
    min_count: int = 5
    sample: float = 1e-3  # sub-sampling threshold t (0: off)
    epochs: int = 1
    lr: float | None = None  # start learning rate; default 0.025 (skip-gram) / 0.05 (CBOW), as word2vec
    min_lr: float = 1e-4
    # positive examples per step (pairs for skip-gram, windows for CBOW). Updates within a step are
    # summed, so keep it well below the number of distinct words in use (tiny corpora: 16-64)
    batch_size: int = 4096
    chunk_tokens: int = 200_000  # tokens turned into examples (and shuffled) at a time
    max_vocab: int | None = None
    lowercase: bool = False
    seed: int = 0
    threads: int = 2  # CPU threads (torch.set_num_threads; gensim workers)
    device: str = "cpu"  # torch backend: cpu | cuda | cuda:N
    backend: str = "torch"  # torch | gensim
    max_tokens: int | None = None  # read only this many tokens of the corpus (quick runs)

    def __post_init__(self) -> None:
        checks = [
            (self.arch in ("skipgram", "cbow"), f"arch must be skipgram or cbow, not '{self.arch}'"),
            (self.backend in ("torch", "gensim"), f"backend must be torch or gensim, not '{self.backend}'"),
            (self.dim >= 1 and self.window >= 1 and self.negative >= 1, "dim, window, negative must be >= 1"),
            (self.epochs >= 1 and self.batch_size >= 1 and self.min_count >= 1,
             "epochs, batch_size, min_count must be >= 1"),
            (self.chunk_tokens >= 1 and self.threads >= 1, "chunk_tokens, threads must be >= 1"),
            (all(n is None or n >= 1 for n in (self.max_vocab, self.max_tokens)),
             "max_vocab, max_tokens must be >= 1 (or null: no limit)"),
            (self.sample >= 0, "sample must be >= 0"),
            (re.fullmatch(r"cpu|cuda(:\d+)?", self.device) is not None,
             f"device must be cpu, cuda or cuda:N, not '{self.device}'"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ConfigError(f"embeddings train: {msg}")

    @property
    def start_lr(self) -> float:
        return self.lr if self.lr is not None else (0.025 if self.arch == "skipgram" else 0.05)

    @classmethod
    def from_dict(cls, values: dict[str, Any], where: str = "options") -> TrainOptions:
        """Options from a YAML / ``--set`` mapping: unknown keys and values of the wrong type (``epochs=abc``)
        are a :class:`ConfigError` naming ``where`` and the key; numbers written as text become numbers."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown option(s) {', '.join(unknown)} "
                              f"(known: {', '.join(sorted(known))})")
        hints = typing.get_type_hints(cls)
        return cls(**{k: coerce(v, hints[k], where, k) for k, v in values.items()})


# -- corpus -------------------------------------------------------------------------------------------

def read_sentences(path: str | Path, lowercase: bool = False,
                   max_tokens: int | None = None) -> list[list[str]]:
    """One sentence per non-empty line, split on whitespace."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: corpus file not found")
    out: list[list[str]] = []
    n = 0
    try:
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                toks = (line.lower() if lowercase else line).split()
                if toks:
                    out.append(toks)
                    n += len(toks)
                    if max_tokens is not None and n >= max_tokens:
                        break
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not out:
        raise DataError(f"{path}: corpus has no tokens")
    return out


@dataclass
class Corpus:
    """The corpus as ids: ``ids[i]`` the word of token i, ``sent[i]`` its sentence number (int32 arrays)."""

    words: list[str]  # most frequent first
    counts: np.ndarray  # [V] int64
    ids: np.ndarray  # [T] tokens of in-vocabulary words only
    sent: np.ndarray  # [T]
    raw_tokens: int  # tokens before min_count filtering

    @classmethod
    def build(cls, sentences: list[list[str]], min_count: int = 5, max_vocab: int | None = None) -> Corpus:
        counts = Counter(t for s in sentences for t in s)
        words = sorted((w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w))
        if max_vocab is not None:
            words = words[:max_vocab]
        if not words:
            raise DataError(f"no word occurs at least min_count={min_count} times (lower min_count)")
        index = {w: i for i, w in enumerate(words)}
        ids, sent = [], []
        for k, s in enumerate(sentences):
            row = [index[t] for t in s if t in index]
            ids.extend(row)
            sent.extend([k] * len(row))
        return cls(words, np.array([counts[w] for w in words], dtype=np.int64),
                   np.array(ids, dtype=np.int32), np.array(sent, dtype=np.int32),
                   sum(len(s) for s in sentences))


def keep_probabilities(counts: np.ndarray, sample: float) -> np.ndarray:
    """word2vec's sub-sampling: P(keep w) = (sqrt(c/(t N)) + 1) t N / c, capped at 1 (``[V]``)."""
    if sample <= 0:
        return np.ones(len(counts))
    thr = sample * counts.sum()
    return np.minimum(1.0, (np.sqrt(counts / thr) + 1.0) * thr / counts)


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """Negative-sampling distribution ``P(w) ∝ count(w)^0.75`` (``[V]``, sums to 1)."""
    p = counts.astype(np.float64) ** power
    return p / p.sum()


class NoiseSampler:
    """Draws noise words from a table in which word ``w`` fills a share ``P(w)`` of the cells, as the
    word2vec C code does: one uniform integer per draw, no search (``table_size`` cells)."""

    def __init__(self, probs: np.ndarray, rng: np.random.Generator, table_size: int = 1 << 22):
        cdf = np.cumsum(probs)
        cdf[-1] = 1.0
        cells = (np.arange(table_size) + 0.5) / table_size  # [S] cell centres in (0, 1)
        self.table = np.searchsorted(cdf, cells, side="right").astype(np.int64)  # [S] word of each cell
        self.rng = rng

    def __call__(self, shape: tuple[int, ...]) -> np.ndarray:
        return self.table[self.rng.integers(0, len(self.table), size=shape)]


def context_windows(ids: np.ndarray, sent: np.ndarray, window: int,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """For every token, the ids of its context words under a dynamic window.

    Returns ``ctx`` ``[T, 2W]`` (offsets -W..-1, 1..W) and ``mask`` ``[T, 2W]``, True where the offset is
    within the token's drawn window ``b`` in ``1..W`` and inside the same sentence.
    """
    n = len(ids)
    b = rng.integers(1, window + 1, size=n)  # [T]
    offsets = np.concatenate([np.arange(-window, 0), np.arange(1, window + 1)])  # [2W]
    pos = np.arange(n)[:, None] + offsets[None, :]  # [T, 2W]
    inside = (pos >= 0) & (pos < n)
    pos_c = np.clip(pos, 0, n - 1)
    mask = inside & (np.abs(offsets)[None, :] <= b[:, None]) & (sent[pos_c] == sent[:, None])
    return ids[pos_c], mask


def examples(corpus: Corpus, opts: TrainOptions, rng: np.random.Generator) -> Iterator[tuple[int, dict]]:
    """One epoch of shuffled positive examples, chunk by chunk: yields (tokens consumed, arrays).

    skip-gram arrays: ``inputs`` ``[P]`` centre ids, ``targets`` ``[P]`` context ids.
    CBOW arrays: ``inputs`` ``[P, 2W]`` context ids, ``mask`` ``[P, 2W]``, ``targets`` ``[P]`` centres.
    """
    keep = keep_probabilities(corpus.counts, opts.sample)[corpus.ids] > rng.random(len(corpus.ids))
    ids, sent = corpus.ids[keep], corpus.sent[keep]
    total = len(corpus.ids)
    for start in range(0, len(ids), opts.chunk_tokens):
        c_ids, c_sent = ids[start:start + opts.chunk_tokens], sent[start:start + opts.chunk_tokens]
        ctx, mask = context_windows(c_ids, c_sent, opts.window, rng)  # [n, 2W] each
        consumed = round(total * min(len(ids), start + opts.chunk_tokens) / max(len(ids), 1)) - \
            round(total * start / max(len(ids), 1))
        if opts.arch == "skipgram":
            rows, cols = np.nonzero(mask)
            order = rng.permutation(len(rows))
            yield consumed, {"inputs": c_ids[rows[order]].astype(np.int64), "targets": ctx[rows, cols][order]
                             .astype(np.int64)}
        else:
            has = mask.any(1)
            order = rng.permutation(int(has.sum()))
            yield consumed, {"inputs": ctx[has][order].astype(np.int64), "mask": mask[has][order],
                             "targets": c_ids[has][order].astype(np.int64)}


# -- training -----------------------------------------------------------------------------------------

def train_word2vec(corpus_path: str | Path, opts: TrainOptions, out_dir: str | Path | None = None,
                   progress: bool = True, sentences: list[list[str]] | None = None,
                   resume: ResumePoint | None = None) -> tuple[WordVectors, dict]:
    """Train on ``corpus_path`` and return the vectors and a summary (time, words/second, sizes).

    With ``out_dir``: writes ``options.json``, ``vectors.txt`` (word2vec text format, rewritten after
    every epoch), ``train_log.json`` and ``checkpoints/last.pt`` (the full training state, replaced after
    every epoch). The folder is created by the first of these writes, after the corpus has been read and
    its vocabulary built: a bad corpus leaves no folder behind.

    ``resume``: continue the unfinished run of :func:`resume_point` in its own folder (``out_dir`` must be
    None or that folder; ``opts`` may differ from the run's only in :data:`RESUME_SAFE_OPTIONS`, and the
    corpus must be the one it was trained on). The result is that of an uninterrupted run.
    """
    if resume is not None:
        if out_dir is not None and Path(out_dir).resolve() != resume.run.resolve():
            raise ConfigError(f"resume {resume.run}: a resumed run writes to its own folder, not {out_dir}")
        if opts.backend == "gensim":
            raise RunError(f"{resume.run}: the gensim backend cannot resume a run (train a new one)")
        out_dir = resume.run
    if opts.backend == "torch":
        torch_device(opts.device, "device")  # a CUDA device this machine lacks: one error before any work
    if sentences is None:
        sentences = read_sentences(corpus_path, opts.lowercase, opts.max_tokens)
    try:
        corpus = Corpus.build(sentences, opts.min_count, opts.max_vocab)
    except DataError as exc:  # name the file
        raise DataError(f"{corpus_path}: {exc}") from None
    if opts.backend == "gensim":
        return _train_gensim(sentences, corpus, opts, out_dir)
    return _train_torch(corpus, opts, out_dir, progress, corpus_path, resume)


# -- resume -------------------------------------------------------------------------------------------

@dataclass
class ResumePoint:
    """An unfinished run folder of the PyTorch backend, ready to continue."""

    run: Path
    options: TrainOptions  # as the run was started (its options.json)
    corpus: Path  # the corpus file it was trained on (absolute)
    checkpoint: dict  # the contents of checkpoints/last.pt

    @property
    def epoch(self) -> int:
        return int(self.checkpoint["epoch"])

    def options_with(self, values: dict[str, Any], where: str = "--set") -> TrainOptions:
        """The run's options with ``values`` applied: a :class:`ConfigError` for a change to anything but
        :data:`RESUME_SAFE_OPTIONS` (it would not continue the same training), the gensim backend a
        :class:`RunError`."""
        new = TrainOptions.from_dict({**asdict(self.options), **values}, where)
        if new.backend == "gensim":
            raise RunError(f"{self.run}: the gensim backend cannot resume a run (train a new one)")
        changed = [f"{k} ({getattr(self.options, k)!r} -> {getattr(new, k)!r})"
                   for k in _changed_options(asdict(self.options), new)]
        if changed:
            raise ConfigError(f"--resume {self.run}: cannot change {', '.join(changed)} of a run being resumed "
                              f"(only {', '.join(RESUME_SAFE_OPTIONS)} may change; train a new run instead)")
        return new


def _option_names() -> list[str]:
    return [f.name for f in fields(TrainOptions)]


def resume_point(run: str | Path) -> ResumePoint:
    """The state to continue the unfinished run folder ``run`` from; a one-line :class:`RunError` naming
    the folder when there is none (no folder, no checkpoint), when the run has finished (``results.json``,
    written by ``dl4nlp embeddings train`` at the end) or when it is a gensim run. Deletes the temporary
    files of an atomic write that the kill interrupted."""
    run = Path(run)
    options_file = run / "options.json"
    if options_file.is_file():
        import json

        try:
            stored = json.loads(options_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise RunError(f"{options_file}: not valid JSON ({exc})") from None
        if not isinstance(stored, dict):
            raise RunError(f"{options_file}: expected a mapping of options")
        if stored.get("backend") == "gensim":
            raise RunError(f"{run}: a gensim run (backend: gensim) cannot be resumed; train a new one")
    unfinished_run(run)  # the folder exists and has not finished
    if not (run / CHECKPOINT).is_file() or not options_file.is_file():
        missing = CHECKPOINT if not (run / CHECKPOINT).is_file() else "options.json"
        raise RunError(f"{run}: nothing to resume (no {missing})")
    try:
        options = TrainOptions.from_dict(stored, str(options_file))
    except ConfigError as exc:
        raise RunError(str(exc)) from None
    for folder in (run, run / "checkpoints"):
        remove_stale_temporaries(folder)
    ckpt = torch_load(run / CHECKPOINT)
    keys = ("state_dict", "epoch", "done_words", "numpy_rng", "torch_rng", "log", "options", "corpus",
            "fingerprint", "words")
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in keys) or not isinstance(ckpt["options"], dict):
        raise RunError(f"{run / CHECKPOINT}: not a word2vec training checkpoint")
    diff = _changed_options(ckpt["options"], options)
    if diff:
        raise RunError(f"{run}: options.json and {CHECKPOINT} disagree on {', '.join(diff)}")
    return ResumePoint(run, options, Path(ckpt["corpus"]), ckpt)


def _changed_options(saved: dict[str, Any], opts: TrainOptions) -> list[str]:
    """The options, other than :data:`RESUME_SAFE_OPTIONS`, whose value in ``opts`` is not the saved one."""
    return [k for k in _option_names() if k not in RESUME_SAFE_OPTIONS and saved.get(k) != getattr(opts, k)]


def _fingerprint(corpus: Corpus) -> str:
    """SHA-256 of the token stream (word ids and sentence numbers): a resumed run checks its corpus."""
    h = hashlib.sha256()
    h.update(np.ascontiguousarray(corpus.ids).tobytes())
    h.update(np.ascontiguousarray(corpus.sent).tobytes())
    return h.hexdigest()


# -- the PyTorch loop ---------------------------------------------------------------------------------

def _train_torch(corpus: Corpus, opts: TrainOptions, out_dir: str | Path | None, progress: bool,
                 corpus_path: str | Path | None = None,
                 resume: ResumePoint | None = None) -> tuple[WordVectors, dict]:
    import torch

    from dl4nlp.models.word2vec import Word2Vec

    torch.set_num_threads(opts.threads)
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    model = Word2Vec(len(corpus.words), opts.dim, opts.arch, seed=opts.seed).to(opts.device)
    dev = torch.device(opts.device)
    noise = NoiseSampler(noise_distribution(corpus.counts), rng)  # draws from rng: one state for all
    out = Path(out_dir) if out_dir is not None else None
    fingerprint = _fingerprint(corpus)
    total_words = len(corpus.ids) * opts.epochs
    done_words, log, start_epoch, before = 0, [], 1, 0.0
    if resume is not None:
        ckpt = resume.checkpoint
        changed = _changed_options(ckpt["options"], opts)
        if changed:
            raise ConfigError(f"resume {resume.run}: options {', '.join(changed)} differ from the run's "
                              f"(only {', '.join(RESUME_SAFE_OPTIONS)} may change)")
        if ckpt["words"] != corpus.words or ckpt["fingerprint"] != fingerprint:
            raise RunError(f"{resume.run}: the corpus {corpus_path} is not the one this run was trained on "
                           f"({ckpt['corpus']})")
        model.load_state_dict(ckpt["state_dict"])
        rng.bit_generator.state = ckpt["numpy_rng"]
        torch.set_rng_state(ckpt["torch_rng"])
        done_words, log, start_epoch = int(ckpt["done_words"]), list(ckpt["log"]), int(ckpt["epoch"]) + 1
        before = float(log[-1]["elapsed_s"]) if log else 0.0  # training time before the kill
    if out is not None:
        write_json(out / "options.json", asdict(opts))
    bar = _progress(total_words, progress, initial=done_words)
    t0 = time.perf_counter() - before
    for epoch in range(start_epoch, opts.epochs + 1):
        loss_sum, n_ex = torch.zeros((), device=dev), 0
        for consumed, ex in examples(corpus, opts, rng):
            n = len(ex["targets"])
            for s in range(0, n, opts.batch_size):
                frac = done_words + consumed * s / max(n, 1)
                lr = max(opts.min_lr, opts.start_lr * (1.0 - frac / total_words))
                sl = slice(s, s + opts.batch_size)
                targets = torch.from_numpy(ex["targets"][sl]).to(dev)  # [B]
                negatives = torch.from_numpy(noise((len(targets), opts.negative))).to(dev)  # [B, K]
                mask = torch.from_numpy(ex["mask"][sl]).to(dev) if "mask" in ex else None  # [B, 2W] (CBOW)
                inputs = torch.from_numpy(ex["inputs"][sl]).to(dev)  # [B] or [B, 2W]
                loss_sum += model.sgd_step(inputs, targets, negatives, lr, mask)
                n_ex += len(targets)
            done_words += consumed
            if bar is not None:
                bar.update(consumed)
                bar.set_postfix(epoch=epoch, loss=f"{float(loss_sum) / max(n_ex, 1):.3f}", lr=f"{lr:.5f}",
                                words_s=f"{done_words / (time.perf_counter() - t0):,.0f}")
        elapsed = time.perf_counter() - t0
        log.append({"epoch": epoch, "loss_per_example": float(loss_sum) / max(n_ex, 1), "examples": n_ex,
                    "elapsed_s": elapsed})
        if out is not None:
            _vectors(corpus, model, out).save(out / "vectors.txt")
            write_json(out / "train_log.json", log)
            # last: the checkpoint commits the epoch (a kill before it retrains the epoch identically)
            torch_save({"state_dict": {k: v.cpu() for k, v in model.state_dict().items()}, "epoch": epoch,
                        "done_words": int(done_words), "numpy_rng": rng.bit_generator.state,
                        "torch_rng": torch.get_rng_state(), "log": log, "options": asdict(opts),
                        "corpus": str(Path(corpus_path).resolve()) if corpus_path is not None else None,
                        "fingerprint": fingerprint, "words": corpus.words}, out / CHECKPOINT)
    if bar is not None:
        bar.close()
    vecs = _vectors(corpus, model, out)
    if out is not None and start_epoch > opts.epochs:  # killed after its last checkpoint: nothing to train
        vecs.save(out / "vectors.txt")
        write_json(out / "train_log.json", log)
    elapsed = time.perf_counter() - t0
    summary = _summary(corpus, opts, elapsed, log)
    return vecs, summary


def _vectors(corpus: Corpus, model: Any, out: Path | None) -> WordVectors:
    return WordVectors(corpus.words, model.vectors.cpu().numpy().copy(), str(out or "<memory>"))


def _summary(corpus: Corpus, opts: TrainOptions, elapsed: float, log: list) -> dict:
    return {"backend": opts.backend, "vocab_size": len(corpus.words), "corpus_tokens": corpus.raw_tokens,
            "train_tokens": int(len(corpus.ids)), "epochs": opts.epochs, "train_time_s": elapsed,
            # words/second as word2vec and gensim count them: in-vocabulary corpus words (before
            # sub-sampling) processed per second
            "words_per_s": len(corpus.ids) * opts.epochs / max(elapsed, 1e-9), "log": log}


def _progress(total: int, enabled: bool, initial: int = 0) -> Any:
    if not enabled:
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="word", unit_scale=True, desc="word2vec", dynamic_ncols=True)


def _train_gensim(sentences: list[list[str]], corpus: Corpus, opts: TrainOptions,
                  out_dir: str | Path | None) -> tuple[WordVectors, dict]:
    """The same configuration trained by gensim's optimised C code; same vectors object back."""
    try:
        from gensim.models import Word2Vec as GensimWord2Vec
    except ImportError:
        raise ConfigError("backend gensim: the gensim package is not installed (pip install gensim)") \
            from None

    model = GensimWord2Vec(
        vector_size=opts.dim, window=opts.window, negative=opts.negative, hs=0,
        min_count=opts.min_count, sample=opts.sample, sg=int(opts.arch == "skipgram"), cbow_mean=1,
        alpha=opts.start_lr, min_alpha=opts.min_lr, epochs=opts.epochs, workers=opts.threads, seed=opts.seed,
        max_final_vocab=opts.max_vocab)
    model.build_vocab(sentences)
    t0 = time.perf_counter()  # timed like ours: training only, vocabulary already built
    model.train(sentences, total_examples=model.corpus_count, epochs=opts.epochs)
    elapsed = time.perf_counter() - t0
    vecs = WordVectors(list(model.wv.index_to_key), np.asarray(model.wv.vectors, dtype=np.float32),
                       str(out_dir or "<memory>"))
    if out_dir is not None:
        out = Path(out_dir)
        write_json(out / "options.json", asdict(opts))
        vecs.save(out / "vectors.txt")
    return vecs, _summary(corpus, opts, elapsed, [])
