"""word2vec: gradients vs autograd, noise distribution, sub-sampling, windows, training, run folder, exact
resume, CLI."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Killed
from typer.testing import CliRunner

from dl4nlp import embeddings_train
from dl4nlp.cli import app
from dl4nlp.core.errors import ConfigError, DataError, RunError
from dl4nlp.core.io import torch_load
from dl4nlp.embeddings import load_vectors
from dl4nlp.models.word2vec import Word2Vec
from dl4nlp.pipelines.word2vec import (
    Corpus,
    NoiseSampler,
    TrainOptions,
    context_windows,
    examples,
    keep_probabilities,
    noise_distribution,
    resume_point,
    train_word2vec,
)

GROUP_A = [f"a{i}" for i in range(6)]
GROUP_B = [f"b{i}" for i in range(6)]


def topic_corpus(path: Path, n: int = 1500, seed: int = 0) -> Path:
    """Each line uses words of one group only: a-words co-occur with a-words, b-words with b-words."""
    rng = np.random.default_rng(seed)
    lines = []
    for i in range(n):
        group = GROUP_A if i % 2 == 0 else GROUP_B
        lines.append(" ".join(rng.choice(group, size=8)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def mean_cos(vecs, xs, ys) -> float:
    return float(np.mean([vecs.similarity(x, y) for x in xs for y in ys if x != y]))


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_sgd_step_matches_autograd(arch: str) -> None:
    torch.manual_seed(0)
    model = Word2Vec(30, 8, arch, seed=1)
    with torch.no_grad():
        model.out.weight.normal_(0, 0.3)  # non-zero output vectors so every gradient term is exercised
    ref = copy.deepcopy(model)
    targets = torch.randint(0, 30, (16,))
    negatives = torch.randint(0, 30, (16, 4))
    if arch == "skipgram":
        inputs, mask, scale = torch.randint(0, 30, (16,)), None, 1.0
    else:  # every row has 3 real context words: the reference code gives each the full dL/dh = 3x autograd's
        inputs, mask, scale = torch.randint(0, 30, (16, 4)), torch.tensor([[True, True, True, False]] * 16), 3.0
    before_inp = ref.inp.weight.detach().clone()
    opt = torch.optim.SGD(ref.parameters(), lr=0.1)
    loss_ref = ref(inputs, targets, negatives, mask)
    loss_ref.backward()
    opt.step()
    loss = model.sgd_step(inputs, targets, negatives, 0.1, mask)
    assert float(loss) == pytest.approx(float(loss_ref), rel=1e-5)
    torch.testing.assert_close(model.out.weight, ref.out.weight)
    torch.testing.assert_close(model.inp.weight - before_inp, scale * (ref.inp.weight.detach() - before_inp))


def test_noise_distribution_is_unigram_to_the_three_quarters() -> None:
    counts = np.array([1000, 300, 100, 30, 10, 1])
    probs = noise_distribution(counts)
    expected = counts ** 0.75 / (counts ** 0.75).sum()
    np.testing.assert_allclose(probs, expected)
    draws = NoiseSampler(probs, np.random.default_rng(0))((200_000,))
    freq = np.bincount(draws, minlength=len(counts)) / len(draws)
    np.testing.assert_allclose(freq, expected, atol=0.005)
    assert abs(freq[0] - counts[0] / counts.sum()) > 0.05  # flatter than the raw unigram distribution


def test_subsampling_keeps_rare_words_and_thins_frequent_ones() -> None:
    counts = np.array([10_000, 1_000, 10, 1])
    keep = keep_probabilities(counts, 1e-3)
    t = 1e-3 * counts.sum()
    assert keep[0] == pytest.approx((np.sqrt(counts[0] / t) + 1) * t / counts[0])
    assert keep[0] < keep[1] and keep[2] == keep[3] == 1.0
    assert (keep_probabilities(counts, 0) == 1).all()
    # the per-epoch draw keeps each word at its probability
    ids = np.repeat(np.arange(4), counts).astype(np.int32)
    corpus = Corpus(["w0", "w1", "w2", "w3"], counts, ids, np.zeros_like(ids), len(ids))
    opts = TrainOptions(sample=1e-3, window=1, chunk_tokens=10**9)
    (_, ex), = list(examples(corpus, opts, np.random.default_rng(0)))
    kept = np.bincount(ex["inputs"], minlength=4)  # window 1 inside one sentence: ~2 pairs per kept token
    assert kept[0] / (2 * counts[0]) == pytest.approx(keep[0], abs=0.03)
    assert kept[3] >= 1


def test_context_windows_respect_sentences_and_dynamic_window() -> None:
    ids = np.arange(10, dtype=np.int32)
    sent = np.array([0] * 4 + [1] * 6, dtype=np.int32)
    ctx, mask = context_windows(ids, sent, 3, np.random.default_rng(0))
    assert ctx.shape == mask.shape == (10, 6)
    offsets = np.array([-3, -2, -1, 1, 2, 3])
    for i in range(10):
        for j in np.nonzero(mask[i])[0]:
            assert sent[ctx[i, j]] == sent[i] and ctx[i, j] == i + offsets[j]
        b = np.abs(offsets[mask[i]]).max(initial=0)
        assert set(np.abs(offsets[mask[i]])) <= set(range(1, b + 1))
    assert mask[:, [2, 3]].any()  # distance-1 neighbours are always used when they exist


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_tiny_corpus_puts_co_occurring_words_closer(tmp_path: Path, arch: str) -> None:
    corpus = topic_corpus(tmp_path / "c.txt")
    opts = TrainOptions(arch=arch, dim=16, window=3, negative=5, min_count=1, sample=0, epochs=3,
                        batch_size=32, threads=1, seed=0)  # 12-word vocabulary: small batches
    vecs, summary = train_word2vec(corpus, opts, tmp_path / "run", progress=False)
    within = (mean_cos(vecs, GROUP_A, GROUP_A) + mean_cos(vecs, GROUP_B, GROUP_B)) / 2
    across = mean_cos(vecs, GROUP_A, GROUP_B)
    assert within > across + 0.3
    assert summary["vocab_size"] == 12 and summary["words_per_s"] > 0
    assert summary["log"][-1]["loss_per_example"] < summary["log"][0]["loss_per_example"]
    # run folder: vectors in word2vec text format + the last epoch's training state, loadable back
    run = tmp_path / "run"
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.pt"]
    ckpt = torch_load(run / "checkpoints" / "last.pt")
    assert ckpt["epoch"] == 3 and ckpt["done_words"] == 3 * summary["train_tokens"] and ckpt["words"] == vecs.words
    torch.testing.assert_close(ckpt["state_dict"]["inp.weight"], torch.from_numpy(vecs.vectors))
    back = load_vectors(run)
    assert back.words == vecs.words
    np.testing.assert_allclose(back.vectors, vecs.vectors, atol=1e-5)


def test_training_is_reproducible(tmp_path: Path) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=200)
    opts = TrainOptions(dim=8, min_count=1, epochs=1, threads=1, seed=3)
    v1, _ = train_word2vec(corpus, opts, progress=False)
    v2, _ = train_word2vec(corpus, opts, progress=False)
    np.testing.assert_array_equal(v1.vectors, v2.vectors)


def kill_after(monkeypatch: pytest.MonkeyPatch, epoch: int, error: type[BaseException] = Killed) -> None:
    """Make training stop right after epoch ``epoch``'s checkpoint is written, as a kill would."""
    real = embeddings_train.torch_save

    def save(obj, path):
        real(obj, path)
        if obj["epoch"] == epoch:
            raise error(f"killed after epoch {epoch}")

    monkeypatch.setattr(embeddings_train, "torch_save", save)


RESUME_OPTS = {"dim": 8, "window": 3, "min_count": 1, "sample": 0.05, "epochs": 3, "batch_size": 32,
               "chunk_tokens": 700, "threads": 1, "seed": 5}  # sub-sampling and several chunks per epoch


@pytest.mark.parametrize("arch", ["skipgram", "cbow"])
def test_resume_after_a_kill_gives_the_vectors_of_an_uninterrupted_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, arch: str) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=300)
    opts = TrainOptions(arch=arch, **RESUME_OPTS)
    full, _ = train_word2vec(corpus, opts, tmp_path / "full", progress=False)
    run = tmp_path / "run"
    kill_after(monkeypatch, 1)
    with pytest.raises(Killed):
        train_word2vec(corpus, opts, run, progress=False)
    monkeypatch.undo()
    assert torch_load(run / "checkpoints" / "last.pt")["epoch"] == 1
    stale = [run / ".vectors.txt.k1l2.tmp", run / "checkpoints" / ".last.pt.k3l4.tmp"]  # writes cut short
    for path in stale:
        path.write_bytes(b"half")
    point = resume_point(run)
    assert point.epoch == 1 and point.options == opts and point.corpus == corpus.resolve()
    assert not any(path.exists() for path in stale)
    vecs, summary = train_word2vec(point.corpus, point.options, progress=False, resume=point)
    np.testing.assert_array_equal(vecs.vectors, full.vectors)  # bit for bit
    assert vecs.words == full.words and [e["epoch"] for e in summary["log"]] == [1, 2, 3]
    a, b = torch_load(tmp_path / "full" / "checkpoints" / "last.pt"), torch_load(run / "checkpoints" / "last.pt")
    for key in ("inp.weight", "out.weight"):
        assert torch.equal(a["state_dict"][key], b["state_dict"][key])
    assert (a["epoch"], a["done_words"], a["numpy_rng"]) == (b["epoch"], b["done_words"], b["numpy_rng"])
    drop_time = [{k: v for k, v in e.items() if k != "elapsed_s"} for e in a["log"]]
    assert drop_time == [{k: v for k, v in e.items() if k != "elapsed_s"} for e in b["log"]]
    np.testing.assert_array_equal(load_vectors(run).vectors, load_vectors(tmp_path / "full").vectors)


def test_resume_refuses_other_options_and_another_corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=100)
    opts = TrainOptions(**RESUME_OPTS)
    kill_after(monkeypatch, 2)
    with pytest.raises(Killed):
        train_word2vec(corpus, opts, tmp_path / "run", progress=False)
    monkeypatch.undo()
    point = resume_point(tmp_path / "run")
    assert point.options_with({"threads": 2, "seed": 5}).threads == 2  # safe / unchanged
    with pytest.raises(ConfigError, match=r"cannot change epochs \(3 -> 5\), lr \(None -> 0.1\) of a run"):
        point.options_with({"epochs": 5, "lr": 0.1})
    with pytest.raises(RunError, match="gensim backend cannot resume"):
        point.options_with({"backend": "gensim"})
    other = topic_corpus(tmp_path / "other.txt", n=100, seed=1)  # same words, other text
    with pytest.raises(RunError, match=f"the corpus {other} is not the one this run was trained on"):
        train_word2vec(other, point.options, progress=False, resume=point)
    with pytest.raises(ConfigError, match="options epochs differ from the run's"):
        train_word2vec(corpus, TrainOptions(**{**RESUME_OPTS, "epochs": 4}), progress=False, resume=point)
    with pytest.raises(ConfigError, match="writes to its own folder"):
        train_word2vec(corpus, point.options, tmp_path / "elsewhere", progress=False, resume=point)


def test_cli_resume_after_a_kill(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=200)
    sets = [x for k, v in RESUME_OPTS.items() for x in ("--set", f"{k}={v}")]
    common = ["--eval-data", "", "--no-progress"]
    assert cli("embeddings", "train", corpus, *sets, "--out", tmp_path / "full", *common) == (0, "")
    run = tmp_path / "run"
    kill_after(monkeypatch, 1, KeyboardInterrupt)
    assert cli("embeddings", "train", corpus, *sets, "--out", run, *common)[0] == 130  # Ctrl-C
    monkeypatch.undo()
    assert not (run / "results.json").exists()
    # the corpus comes from the run; threads may change
    code, err = cli("embeddings", "train", "--resume", run, "--set", "threads=2", *common)
    assert (code, err) == (0, "")
    assert (run / "results.json").is_file()
    assert (run / "vectors.txt").read_bytes() == (tmp_path / "full" / "vectors.txt").read_bytes()
    code, err = cli("embeddings", "train", "--resume", run, *common)  # finished now
    assert (code, err) == (2, f"error: {run}: this run has finished (results.json); train a new run instead of "
                              "resuming it\n")


def test_cli_resume_errors_are_one_line(tmp_path: Path, cli, monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=100)
    kill_after(monkeypatch, 1)
    with pytest.raises(Killed):
        train_word2vec(corpus, TrainOptions(**RESUME_OPTS), tmp_path / "run", progress=False)
    monkeypatch.undo()
    run, empty, gensim = tmp_path / "run", tmp_path / "empty", tmp_path / "g"
    empty.mkdir()
    gensim.mkdir()
    (gensim / "options.json").write_text('{"backend": "gensim"}\n', encoding="utf-8")
    cases = [
        ([tmp_path / "none"], f"{tmp_path / 'none'}: run folder not found"),
        ([empty], f"{empty}: nothing to resume (no checkpoints/last.pt)"),
        ([gensim], f"{gensim}: a gensim run (backend: gensim) cannot be resumed; train a new one"),
        ([run, "--backend", "gensim"], f"{run}: the gensim backend cannot resume a run (train a new one)"),
        ([run, "--set", "dim=16"], f"--resume {run}: cannot change dim (8 -> 16) of a run being resumed "
                                   "(only threads, device may change; train a new run instead)"),
        ([run, "--out", tmp_path / "x"], "--out and --resume: a resumed run continues in its own folder; "
                                         "give only --resume"),
    ]
    for args, message in cases:
        code, err = cli("embeddings", "train", "--resume", *args, "--no-progress")
        assert (code, err) == (2, f"error: {message}\n"), args
    (corpus.parent / "moved.txt").write_bytes(corpus.read_bytes())
    corpus.unlink()
    code, err = cli("embeddings", "train", "--resume", run, "--no-progress")
    assert (code, err) == (2, f"error: {run}: its corpus {corpus} is not found (moved? give it as CORPUS)\n")
    assert not (run / "results.json").exists()


def test_gensim_backend_gives_the_same_vectors_object(tmp_path: Path) -> None:
    pytest.importorskip("gensim")
    corpus = topic_corpus(tmp_path / "c.txt", n=300)
    opts = TrainOptions(dim=8, min_count=1, epochs=1, threads=1, backend="gensim")
    vecs, summary = train_word2vec(corpus, opts, tmp_path / "g", progress=False)
    assert sorted(vecs.words) == sorted(GROUP_A + GROUP_B) and vecs.dim == 8
    assert load_vectors(tmp_path / "g").words == vecs.words


def test_bad_options_and_corpus(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown option"):
        TrainOptions.from_dict({"epochz": 3})
    with pytest.raises(ConfigError, match="arch must be"):
        TrainOptions(arch="glove")
    with pytest.raises(DataError, match="corpus file not found"):
        train_word2vec(tmp_path / "none.txt", TrainOptions(), progress=False)
    (tmp_path / "rare.txt").write_text("a b c\n", encoding="utf-8")
    with pytest.raises(DataError, match="min_count=5"):
        train_word2vec(tmp_path / "rare.txt", TrainOptions(), progress=False)


def test_option_values_are_type_checked() -> None:
    opts = TrainOptions.from_dict({"epochs": "2", "lr": "1e-3", "max_vocab": None}, "--set")
    assert (opts.epochs, opts.lr, opts.max_vocab) == (2, 1e-3, None)  # numbers written as text
    with pytest.raises(ConfigError, match=r"^--set: 'epochs' must be int, got 'abc'$"):
        TrainOptions.from_dict({"epochs": "abc"}, "--set")
    with pytest.raises(ConfigError, match=r"^e\.yaml: 'sample' must be float, got \[1\]$"):
        TrainOptions.from_dict({"sample": [1]}, "e.yaml")
    with pytest.raises(ConfigError, match="'lowercase' must be bool"):
        TrainOptions.from_dict({"lowercase": "maybe"})
    with pytest.raises(ConfigError, match="chunk_tokens, threads must be >= 1"):
        TrainOptions(chunk_tokens=0)
    with pytest.raises(ConfigError, match="device must be cpu, cuda or cuda:N, not 'tpu'"):
        TrainOptions(device="tpu")


def test_cli_bad_option_value_is_one_line(tmp_path: Path, cli) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=20)
    code, err = cli("embeddings", "train", corpus, "--out", tmp_path / "run", "--set", "epochs=abc",
                    "--no-progress")
    assert (code, err) == (2, "error: --set: 'epochs' must be int, got 'abc'\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("corpus, message", [
    ("missing.txt", "corpus file not found"),
    ("folder", "corpus file not found"),
    ("empty.txt", "corpus has no tokens"),
    ("latin1.txt", "not UTF-8 text"),
    ("rare.txt", "no word occurs at least min_count=5 times"),
])
def test_cli_bad_corpus_leaves_no_run_folder(tmp_path: Path, cli, corpus: str, message: str) -> None:
    (tmp_path / "folder").mkdir()
    (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes("café crème\n".encode("latin-1"))
    (tmp_path / "rare.txt").write_text("a b c\n", encoding="utf-8")
    code, err = cli("embeddings", "train", tmp_path / corpus, "--out", tmp_path / "run", "--no-progress")
    assert code == 2 and err.startswith(f"error: {tmp_path / corpus}") and message in err, err
    assert len(err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


def test_cli_eval_data_folder_without_the_files_is_refused_before_training(tmp_path: Path, cli) -> None:
    corpus = topic_corpus(tmp_path / "c.txt", n=50)
    code, err = cli("embeddings", "train", corpus, "--eval-data", tmp_path / "typo", "--out", tmp_path / "run",
                    "--no-progress")
    assert (code, err) == (2, f"error: --eval-data {tmp_path / 'typo'}: no questions-words.txt there "
                              "(--eval-data '' skips the evaluation)\n")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["neighbors", "king", "-k", "0"], "--k must be at least 1, got 0"),
    (["neighbors", "king", "-k", "-5"], "--k must be at least 1, got -5"),  # not "all but 5"
    (["neighbors", "king", "--limit", "0"], "--limit must be at least 1, got 0"),
    (["analogy", "king", "man", "woman", "-k", "0"], "--k must be at least 1, got 0"),
    (["analogy", "king", "man", "woman", "--limit", "-1"], "--limit must be at least 1, got -1"),
    (["plot", "--around", "king", "-k", "-2"], "--k must be at least 1, got -2"),
    (["evaluate", "--restrict", "0"], "--restrict must be at least 1, got 0"),
])
def test_cli_count_options_below_one_are_refused(tmp_path: Path, cli, args: list[str], message: str) -> None:
    glove = tmp_path / "g.txt"
    glove.write_text("king 1 0\nqueen 1 1\nman 0 1\nwoman 0.5 1\n", encoding="utf-8")
    code, err = cli("embeddings", *args, "--vectors", glove)
    assert (code, err) == (2, f"error: {message}\n")


def test_cli_end_to_end(tmp_path: Path) -> None:
    runner = CliRunner()
    corpus = topic_corpus(tmp_path / "c.txt", n=400)
    run = tmp_path / "run"
    res = runner.invoke(app, ["embeddings", "train", str(corpus), "--set", "dim=8", "--set", "min_count=1",
                              "--set", "epochs=1", "--set", "threads=1", "--out", str(run),
                              "--eval-data", "", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert (run / "vectors.txt").is_file() and (run / "results.json").is_file()
    res = runner.invoke(app, ["embeddings", "neighbors", "a1", "--vectors", str(run), "-k", "3"])
    assert res.exit_code == 0 and res.output.startswith("a1:") and len(res.output.splitlines()) == 4
    # hand-built vectors in GloVe text format: analogy, orientation, similarity, evaluate, plot
    rows = {"king": [1, -1, 0, 0], "queen": [1, 1, 0, 0], "man": [0.1, -1, 0, 0], "woman": [0.1, 1, 0, 0],
            "apple": [0, 0, 1, 0], "good": [0, 0, 0.1, 1], "bad": [0, 0, 0.1, -1], "great": [0.1, 0, 0, 0.9]}
    glove = tmp_path / "g.txt"
    glove.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items()), encoding="utf-8")
    res = runner.invoke(app, ["embeddings", "analogy", "king", "man", "woman", "--vectors", str(glove)])
    assert res.exit_code == 0 and res.output.splitlines()[1].split()[1] == "queen"
    res = runner.invoke(app, ["embeddings", "orientation", "great", "--vectors", str(glove),
                              "--positive", "good", "--negative", "bad"])
    assert res.exit_code == 0 and "positive" in res.output
    res = runner.invoke(app, ["embeddings", "similarity", "king", "King", "--vectors", str(glove)])
    assert res.exit_code == 0 and float(res.output) == pytest.approx(1.0)
    data = tmp_path / "ws"
    data.mkdir()
    (data / "questions-words.txt").write_text(": family\nman king woman queen\n", encoding="utf-8")
    (data / "wordsim353.tsv").write_text("king\tman\t8\nking\tapple\t1\ngood\tgreat\t9\n", encoding="utf-8")
    (data / "simlex999.txt").write_text("king\tman\t8\nking\tapple\t1\n", encoding="utf-8")
    res = runner.invoke(app, ["embeddings", "evaluate", "--vectors", str(glove), "--data", str(data),
                              "--sst", "", "--json", str(tmp_path / "e.json")])
    assert res.exit_code == 0, res.output
    assert "| **analogy total** | 100.0 | 1 | 0 |" in res.output and (tmp_path / "e.json").is_file()
    res = runner.invoke(app, ["embeddings", "evaluate", "--vectors", str(glove), "--data", str(data),
                              "--sst", str(tmp_path / "none")])
    assert isinstance(res.exception, DataError) and f"{tmp_path / 'none'}: SST trees not found" in str(res.exception)
    # vectors without a negative seed word: the orientation accuracy is skipped, the other scores printed
    no_seeds = tmp_path / "no_seeds.txt"
    no_seeds.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in rows.items() if w != "bad"),
                        encoding="utf-8")
    trees = tmp_path / "trees.txt"
    trees.write_text("(4 (3 great) (2 king))\n(0 (0 awful) (2 apple))\n", encoding="utf-8")
    res = runner.invoke(app, ["embeddings", "evaluate", "--vectors", str(no_seeds), "--data", str(data),
                              "--sst", str(trees)])
    assert res.exit_code == 0, res.output
    assert "orientation accuracy skipped" in res.stderr and "analogy total" in res.stdout
    png = tmp_path / "map.png"
    res = runner.invoke(app, ["embeddings", "plot", "king", "queen", "man", "woman", "--vectors", str(glove),
                              "--out", str(png)])
    assert res.exit_code == 0 and png.stat().st_size > 1000
    res = runner.invoke(app, ["embeddings", "neighbors", "zzz", "--vectors", str(glove)])
    assert isinstance(res.exception, DataError) and "'zzz' is not in the vocabulary" in str(res.exception)


def test_a_cuda_device_this_machine_lacks_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    import torch

    from dl4nlp.pipelines.word2vec import train_word2vec

    missing = f"cuda:{torch.cuda.device_count()}"  # one past the last device (cuda:0 on a CPU-only machine)
    (tmp_path / "c.txt").write_text("a b c a b c\n" * 5, encoding="utf-8")
    with pytest.raises(ConfigError, match=f"device {missing}: no such CUDA device on this machine"):
        train_word2vec(tmp_path / "c.txt", TrainOptions(device=missing, min_count=1), tmp_path / "run")
    assert not (tmp_path / "run").exists()
