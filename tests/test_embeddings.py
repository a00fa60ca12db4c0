"""Word vectors: loading every format, malformed files, embedding_matrix, queries and evaluation."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from dl4nlp.core.errors import DataError
from dl4nlp.embeddings import (
    WordVectors,
    embedding_matrix,
    evaluate_analogies,
    evaluate_orientation,
    evaluate_word_pairs,
    load_vectors,
    sst_word_polarity,
)

WORDS = ["king", "queen", "man", "woman", "apple", "good", "bad", "great"]


def tiny() -> WordVectors:
    """Hand-built vectors: axis 0 royalty, axis 1 gender (+ female), axis 2 fruit, axis 3 sentiment."""
    vecs = np.array([
        [1.0, -1.0, 0.0, 0.0],   # king
        [1.0, 1.0, 0.0, 0.0],    # queen
        [0.1, -1.0, 0.0, 0.0],   # man
        [0.1, 1.0, 0.0, 0.0],    # woman
        [0.0, 0.0, 1.0, 0.0],    # apple
        [0.0, 0.0, 0.1, 1.0],    # good
        [0.0, 0.0, 0.1, -1.0],   # bad
        [0.1, 0.0, 0.0, 0.9],    # great
    ], dtype=np.float32)
    return WordVectors(WORDS, vecs)


def write_glove(path: Path, vecs: WordVectors) -> None:
    path.write_text("".join(w + " " + " ".join(f"{x:.6f}" for x in v) + "\n"
                            for w, v in zip(vecs.words, vecs.vectors, strict=True)), encoding="utf-8")


def test_text_formats_round_trip(tmp_path: Path) -> None:
    v = tiny()
    write_glove(tmp_path / "glove.txt", v)
    v.save(tmp_path / "w2v.txt")
    with gzip.open(tmp_path / "w2v.txt.gz", "wt", encoding="utf-8") as fh:
        fh.write((tmp_path / "w2v.txt").read_text(encoding="utf-8"))
    assert (tmp_path / "w2v.txt").read_text(encoding="utf-8").splitlines()[0] == "8 4"
    for name in ("glove.txt", "w2v.txt", "w2v.txt.gz"):
        got = load_vectors(tmp_path / name)
        assert got.words == WORDS and got.dim == 4 and "queen" in got and "nope" not in got
        np.testing.assert_allclose(got.vectors, v.vectors, atol=1e-5)
    assert load_vectors(tmp_path / "w2v.txt", limit=3).words == WORDS[:3]


def test_binary_round_trip_and_run_folder(tmp_path: Path) -> None:
    v = tiny()
    v.save(tmp_path / "vectors.bin", binary=True)
    got = load_vectors(tmp_path / "vectors.bin")
    assert got.words == WORDS
    np.testing.assert_array_equal(got.vectors, v.vectors)
    run = tmp_path / "run"
    run.mkdir()
    v.save(run / "vectors.txt")
    assert load_vectors(run).words == WORDS


@pytest.mark.parametrize("content, problem", [
    ("a 1.0 2.0\nb 1.0\n", ":2: expected a word and 2 numbers, found 1"),
    ("a 1.0 2.0\nb 1.0 x2\n", ":2: 'x2' is not a number"),
    ("3 2\na 1.0 2.0\nb 1.0 2.0\n", "header announces 3 words but the file has 2"),
    ("a 1.0\n\nb 2.0\n", ":2: empty line"),
])
def test_malformed_text_file_names_line(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_vectors(path)
    assert str(path) in str(err.value) and problem in str(err.value)


def test_malformed_binary_and_missing(tmp_path: Path) -> None:
    v = tiny()
    v.save(tmp_path / "v.bin", binary=True)
    data = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated"):
        load_vectors(tmp_path / "cut.bin")
    (tmp_path / "junk.bin").write_bytes(b"hello world\n\x00\x01")
    with pytest.raises(DataError, match="not a word2vec binary file"):
        load_vectors(tmp_path / "junk.bin")
    with pytest.raises(DataError, match="vectors file not found"):
        load_vectors(tmp_path / "nothing.txt")
    with pytest.raises(DataError, match="no vectors.txt"):
        load_vectors(tmp_path)


def test_glove_package_loads_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    v = load_vectors("glove-6b-50d", limit=1000)
    assert len(v) == 1000 and v.dim == 50 and v.words[0] == "the"
    assert v.vectors.dtype == np.float32
    write_glove(tmp_path / "glove.6B.50d.txt", tiny())
    monkeypatch.setenv("DL4NLP_GLOVE_DIR", str(tmp_path))
    assert load_vectors("glove-6b-50d").words == WORDS
    monkeypatch.setenv("DL4NLP_GLOVE_DIR", str(tmp_path / "missing"))
    with pytest.raises(DataError, match="no GloVe files"):
        load_vectors("glove-6b-50d")


def test_embedding_matrix_rows() -> None:
    v = tiny()
    itos = ["<pad>", "<unk>", "King", "zzz", "apple"]
    w, found = embedding_matrix(v, itos, seed=3)
    assert w.shape == (5, 4) and w.dtype == torch.float32
    assert found.tolist() == [False, False, True, False, True]
    assert torch.equal(w[0], torch.zeros(4))
    assert torch.allclose(w[2], torch.from_numpy(v["king"]))
    assert torch.allclose(w[4], torch.from_numpy(v["apple"]))
    assert w[3].abs().sum() > 0 and w[3].abs().max() < 1.0
    w2, _ = embedding_matrix(v, itos, seed=3)
    assert torch.equal(w, w2)


def test_queries_on_hand_built_vectors() -> None:
    v = tiny()
    assert v.analogy("man", "king", "woman")[0][0] == "queen"  # man:king :: woman:?
    assert v.analogy("man", "king", "woman", method="mul")[0][0] == "queen"
    assert v.analogy("king", "queen", "man")[0][0] == "woman"
    # the input words are excluded even when they are closest
    assert all(w not in ("man", "king", "woman") for w, _ in v.analogy("man", "king", "woman", k=5))
    nb = v.neighbors("good", 2)
    assert nb[0][0] == "great" and nb[0][1] > nb[1][1] and "good" not in [w for w, _ in nb]
    assert v.similarity("king", "king") == pytest.approx(1.0, abs=1e-6)
    assert v.odd_one_out(["queen", "woman", "apple"]) == "apple"
    axis = v.orientation_axis(["good"], ["bad"])
    assert v.orientation("great", axis) > 0 > v.orientation("bad", axis)
    score, known = v.sentence_orientation(["Great", "zzz", "good"], axis)
    assert known == 2 and score > 0
    with pytest.raises(KeyError, match="not in the vocabulary"):
        v.neighbors("zzz")


def test_evaluation_on_tiny_files(tmp_path: Path) -> None:
    v = tiny()
    (tmp_path / "q.txt").write_text(": family\nman king woman queen\nking queen man woman\n"
                                    "man king woman zzz\n: gram-x\nman woman king apple\n", encoding="utf-8")
    res = evaluate_analogies(v, tmp_path / "q.txt", restrict=None)
    assert res.sections["family"] == (2, 2) and res.skipped == 1 and res.syntactic == (0, 1)
    assert res.accuracy(res.total) == pytest.approx(2 / 3)
    (tmp_path / "p.tsv").write_text("# c\nking\tman\t8\nking\tapple\t1\ngood\tgreat\t9\nbad\tzzz\t3\n",
                                    encoding="utf-8")
    pr = evaluate_word_pairs(v, tmp_path / "p.tsv")
    assert pr.pairs == 3 and pr.oov == 1 and pr.spearman == pytest.approx(1.0)
    (tmp_path / "bad.tsv").write_text("king\tqueen\thigh\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad.tsv:1: score 'high' is not a number"):
        evaluate_word_pairs(v, tmp_path / "bad.tsv")


def test_sst_polarity_and_orientation(tmp_path: Path) -> None:
    trees = "(3 (4 great) (2 (1 bad) (2 apple)))\n(4 (4 Great) (0 bad))\n"
    (tmp_path / "t.txt").write_text(trees, encoding="utf-8")
    pol = sst_word_polarity(tmp_path / "t.txt")
    assert pol == {"great": 1, "bad": 0}
    res = evaluate_orientation(tiny(), pol, ["good"], ["woman"])
    assert res["words"] == 2 and res["accuracy"] == 1.0


def test_word2vec_files_interoperate_with_gensim(tmp_path: Path) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    kv = gensim_models.KeyedVectors(4)
    kv.add_vectors(["a", "bé", "c"], np.random.default_rng(0).random((3, 4)).astype(np.float32))
    kv.save_word2vec_format(str(tmp_path / "g.bin"), binary=True)
    kv.save_word2vec_format(str(tmp_path / "g.txt"))
    for name in ("g.bin", "g.txt"):
        got = load_vectors(tmp_path / name)
        assert got.words == ["a", "bé", "c"]
        np.testing.assert_allclose(got.vectors, kv.vectors, atol=1e-6)
    tiny().save(tmp_path / "ours.bin", binary=True)
    back = gensim_models.KeyedVectors.load_word2vec_format(str(tmp_path / "ours.bin"), binary=True)
    assert back.index_to_key == WORDS
