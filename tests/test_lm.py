"""Language models: readers, BPTT batching, carried/detached state, perplexity, overfitting, CLI train/generate."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dl4nlp.cli import app
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.lm import EOS, BPTTWindows, batchify, build_lm_vocab, line_tokens, read_corpus, read_tokens
from dl4nlp.models.lm import LMOptions, RNNLanguageModel, detach_state
from dl4nlp.tasks.language_model import LanguageModelTask, perplexity

WORDS = "the cat sat on a mat and dog ran to red big house".split()


def write_corpus(folder: Path, seed: int = 0, lines: tuple[int, int, int] = (120, 20, 20)) -> Path:
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "valid", "test"), lines, strict=True):
        with open(folder / f"{split}.txt", "w", encoding="utf-8") as fh:
            for _ in range(n):
                fh.write(" " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + " \n")
            fh.write(" \n")  # a blank line, as WikiText has
    return folder


# --------------------------------------------------------------------------- readers


def test_line_tokens_word_and_char_level():
    assert line_tokens(" a b  c \n") == ["a", "b", "c", EOS]
    assert line_tokens("   \n") == [EOS]
    assert line_tokens(" Ab  c", "char", lowercase=True) == ["a", "b", " ", "c", EOS]
    with pytest.raises(ConfigError, match="level"):
        line_tokens("x", "byte")


def test_read_corpus_counts_eos_per_line_and_builds_vocab_on_train(tmp_path):
    write_corpus(tmp_path)
    text = (tmp_path / "train.txt").read_text(encoding="utf-8").splitlines()
    corpus = read_corpus("text", tmp_path, train_file="train.txt", dev_file="valid.txt", test_file="test.txt")
    assert corpus.train.numel() == sum(len(line.split()) + 1 for line in text)
    assert corpus.vocab.itos[:3] == ["<pad>", "<unk>", EOS]
    assert set(corpus.vocab.itos[3:]) <= set(WORDS)
    eos = corpus.vocab.stoi[EOS]
    assert int((corpus.train == eos).sum()) == len(text)


def test_known_corpus_names_and_bad_inputs(tmp_path):
    (tmp_path / "ptb.train.txt").write_text(" a b \n", encoding="utf-8")
    (tmp_path / "ptb.valid.txt").write_text(" a \n", encoding="utf-8")
    (tmp_path / "ptb.test.txt").write_bytes(b" a \n b \xff\xfe \n")
    with pytest.raises(DataError, match=r"ptb\.test\.txt:2: not UTF-8"):
        read_corpus("ptb", tmp_path)
    with pytest.raises(ConfigError, match="unknown language-model corpus 'wiki'"):
        read_corpus("wiki", tmp_path)
    with pytest.raises(ConfigError, match="train_file"):
        read_corpus("text", tmp_path)
    (tmp_path / "empty.txt").write_text("\n \n", encoding="utf-8")
    with pytest.raises(DataError, match="empty.txt: no text"):
        read_tokens(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="not found"):
        read_tokens(tmp_path / "missing.txt")


# --------------------------------------------------------------------------- BPTT batching


@pytest.mark.parametrize("n,B,L", [(103, 4, 5), (100, 5, 7), (41, 2, 40), (64, 8, 1)])
def test_bptt_windows_cover_every_target_once_in_order(n, B, L):
    stream = torch.arange(n)
    data = batchify(stream, B)  # [B, N]
    N = n // B
    assert data.shape == (B, N)
    assert torch.equal(data.reshape(-1), stream[: B * N])  # rows are contiguous chunks, only the tail dropped
    windows = BPTTWindows(data, L)
    xs = torch.cat([x for x, _ in windows], dim=1)  # [B, N-1]
    ys = torch.cat([y for _, y in windows], dim=1)
    for x, y in windows:
        assert x.shape == y.shape and x.size(1) <= L
    # every input position 0..N-2 and every target 1..N-1 of every row exactly once, in stream order
    assert torch.equal(xs, data[:, :-1])
    assert torch.equal(ys, data[:, 1:])
    assert torch.equal(ys, xs + 1)  # targets are the next token of the stream
    assert windows.num_targets() == ys.numel()


def test_batchify_rejects_too_short_stream():
    with pytest.raises(DataError, match="too few"):
        batchify(torch.arange(5), 4)
    with pytest.raises(DataError, match=r"^v\.txt: 5 tokens, too few for 4 rows"):
        batchify(torch.arange(5), 4, "v.txt")


def test_too_short_valid_file_is_named_and_nothing_is_written(tmp_path, cli):
    write_corpus(tmp_path / "data")
    (tmp_path / "data" / "valid.txt").write_text(" the cat \n", encoding="utf-8")  # 3 tokens with <eos>
    sets = [f"data.path={tmp_path / 'data'}", "data.dataset=text", "data.train_file=train.txt",
            "data.dev_file=valid.txt", "data.test_file=test.txt", "train.eval_batch_size=2",
            f"run.dir={tmp_path / 'runs'}", "trainer.accelerator=cpu"]
    code, err = cli("train", "configs/lm/wt2_small_tied.yaml", *[a for s in sets for a in ("--set", s)])
    assert code == 2
    assert err == (f"error: {tmp_path / 'data' / 'valid.txt'} (dev split): 3 tokens, too few for 2 rows "
                   "(the batch size) of at least 2 tokens\n")
    assert not (tmp_path / "runs").exists()


# --------------------------------------------------------------------------- model and task


def tiny_lm(V: int = 12, cell: str = "lstm", tie: bool = False, dropout: float = 0.0) -> RNNLanguageModel:
    return RNNLanguageModel(
        V, LMOptions(cell=cell, emb_dim=8, hidden=8, layers=2, dropout=dropout, tie_weights=tie)
    )


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_shapes_and_state_carry_equals_one_long_pass(cell):
    torch.manual_seed(0)
    m = tiny_lm(cell=cell).eval()
    x = torch.randint(0, 12, (3, 10))
    full, _ = m(x)  # [3, 10, V]
    a, st = m(x[:, :4])
    b, _ = m(x[:, 4:], st)  # carrying the state = reading the stream in one go
    assert full.shape == (3, 10, 12)
    assert torch.allclose(torch.cat([a, b], 1), full, atol=1e-5)


def test_weight_tying_shares_the_matrix_and_groups_cover_all_parameters():
    m = tiny_lm(tie=True)
    assert m.decoder.weight is m.embedding.weight
    groups = m.layer_groups()
    ids = [id(p) for g in groups for p in g]
    assert len(ids) == len(set(ids))
    assert set(ids) == {id(p) for p in m.parameters()}
    assert len(groups) == 2 + 2  # embedding, 2 LSTM layers, output layer
    with pytest.raises(ValueError, match="cell"):
        LMOptions(cell="rnn2")


def test_hidden_state_is_carried_but_detached_between_windows():
    torch.manual_seed(0)
    from dl4nlp.core.config import TrainConfig

    m = tiny_lm()
    task = LanguageModelTask(m, TrainConfig())
    w1 = (torch.tensor([[3, 4, 3, 4]]), torch.tensor([[4, 3, 4, 3]]))  # tokens 3, 4 only in window 1
    w2 = (torch.tensor([[5, 6, 5, 6]]), torch.tensor([[6, 5, 6, 5]]))
    task._step(w1, "train")
    carried = task._state["train"]
    assert all(s.abs().sum() > 0 for s in carried) and not any(s.requires_grad for s in carried)
    m.zero_grad()
    loss2, n = task._step(w2, "train")
    loss2.backward()
    g = m.embedding.weight.grad
    assert g[5].abs().sum() > 0 and g[6].abs().sum() > 0
    assert g[3].abs().sum() == 0 and g[4].abs().sum() == 0  # no gradient into the previous window
    # control: without detaching, the gradient does reach window 1's tokens
    m.zero_grad()
    _, st = m(w1[0])
    logits, _ = m(w2[0], st)
    torch.nn.functional.cross_entropy(logits.reshape(-1, 12), w2[1].reshape(-1)).backward()
    assert m.embedding.weight.grad[3].abs().sum() > 0
    assert detach_state(None) is None


def test_perplexity_of_uniform_model_is_vocab_size_and_matches_torchmetrics():
    from dl4nlp.core.config import TrainConfig

    V = 17
    m = tiny_lm(V)
    with torch.no_grad():
        m.decoder.weight.zero_()
        m.decoder.bias.zero_()
    task = LanguageModelTask(m, TrainConfig())
    x = torch.randint(0, V, (2, 9))
    loss, n = task._step((x, torch.roll(x, -1, 1)), "test")
    assert n == 18
    assert math.exp(loss.item()) == pytest.approx(V, rel=1e-5)
    assert perplexity(n * math.log(V), n) == pytest.approx(V)
    # a non-uniform case against torchmetrics' Perplexity
    from torchmetrics.text import Perplexity

    logits = torch.randn(2, 9, V)
    target = torch.randint(0, V, (2, 9))
    nll = torch.nn.functional.cross_entropy(logits.reshape(-1, V), target.reshape(-1), reduction="sum").item()
    assert perplexity(nll, 18) == pytest.approx(float(Perplexity()(logits, target)), rel=1e-4)
    with pytest.raises(ValueError):
        perplexity(1.0, 0)


def test_logged_train_loss_is_the_token_weighted_epoch_mean():
    """With the weights frozen (lr 0, no dropout) the epoch's train loss must equal the dev loss over the same
    stream and batch size: both are the NLL per token, and the last BPTT window is shorter than the others, so
    an unweighted mean of the step losses would differ."""
    import lightning as L

    from dl4nlp.core.config import TrainConfig
    from dl4nlp.data.lm import make_lm_loader

    torch.manual_seed(0)
    stream = torch.randint(0, 12, (4 * 23 + 1,))  # 4 rows of 23 tokens: windows of 5, 5, 5, 5 and 2
    task = LanguageModelTask(tiny_lm(12), TrainConfig(optimizer="sgd", lr=0.0, batch_size=4))
    trainer = L.Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    trainer.fit(task, make_lm_loader(stream, 4, 5), make_lm_loader(stream, 4, 5))
    train, dev = float(trainer.callback_metrics["train_loss"]), float(trainer.callback_metrics["dev_loss"])
    assert train == pytest.approx(dev, rel=1e-6)
    steps = [task._step(b, "check") for b in make_lm_loader(stream, 4, 5)]
    unweighted = sum(loss.item() for loss, _ in steps) / len(steps)
    assert abs(unweighted - dev) > 1e-4  # the fixture can tell the two means apart


def test_tiny_lm_overfits_a_tiny_text():
    torch.manual_seed(0)
    pattern = [3, 4, 5, 6, 7, 2]  # a repeating "sentence" ending with <eos>
    data = batchify(torch.tensor(pattern * 40), 4)
    m = tiny_lm(V=8)
    opt = torch.optim.Adam(m.parameters(), lr=0.05)
    state = None
    first = last = None
    for _ in range(12):
        state = None
        for x, y in BPTTWindows(data, 6):
            logits, state = m(x, detach_state(state))
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 8), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            opt.step()
            first = loss.item() if first is None else first
            last = loss.item()
    assert first > math.log(4)
    assert math.exp(last) < 1.3  # the pattern is deterministic: perplexity -> 1


# --------------------------------------------------------------------------- CLI end to end


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm")
    write_corpus(root / "data")
    runner = CliRunner()
    args = [
        "train",
        "configs/lm/wt2_small_tied.yaml",
        "--set",
        "data.dataset=text",
        "--set",
        f"data.path={root}/data",
        "--set",
        "data.train_file=train.txt",
        "--set",
        "data.dev_file=valid.txt",
        "--set",
        "data.test_file=test.txt",
        "--set",
        "model.emb_dim=16",
        "--set",
        "model.hidden=16",
        "--set",
        "train.epochs=3",
        "--set",
        "train.optimizer=adam",
        "--set",
        "train.lr=0.01",
        "--set",
        "train.schedule=none",
        "--set",
        "train.batch_size=4",
        "--set",
        "train.eval_batch_size=2",
        "--set",
        "data.bptt=8",
        "--set",
        "trainer.progress_bar=false",
        "--set",
        f"run.dir={root}/runs",
        "--set",
        "run.name=tiny",
    ]
    res = runner.invoke(app, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return root / "runs" / "tiny"


def test_train_writes_lm_run_folder(lm_run):
    res = json.loads((lm_run / "results.json").read_text())
    assert res["task"] == "lm" and res["model"] == "lstm_lm"
    assert 1 < res["dev_ppl"] < res["vocab_size"] and 1 < res["test_ppl"] < res["vocab_size"]
    assert res["tokens_per_second"] > 0 and res["train_time_s"] > 0
    assert res["dev_loss"] == pytest.approx(math.log(res["dev_ppl"]), rel=1e-5)
    for f in ("best.ckpt", "last.ckpt", "vocab.json", "config.yaml", "metrics.csv", "learning_curves.png"):
        assert (lm_run / f).is_file(), f


def test_generate_cli_is_reproducible_and_uses_the_vocabulary(lm_run):
    runner = CliRunner()
    args = [
        "generate",
        str(lm_run),
        "--prompt",
        "the cat",
        "--temperature",
        "0.8",
        "--top-p",
        "0.9",
        "-n",
        "3",
        "--seed",
        "1",
        "--max-len",
        "12",
    ]
    a = runner.invoke(app, args, catch_exceptions=False)
    b = runner.invoke(app, args, catch_exceptions=False)
    assert a.exit_code == 0, a.output
    lines = a.output.strip().splitlines()
    assert a.output == b.output and len(lines) == 3
    for line in lines:
        words = line.split()
        assert words[:2] == ["the", "cat"] and len(words) <= 2 + 12
        assert set(words) <= set(WORDS) | {"<unk>"}
    greedy = runner.invoke(app, ["generate", str(lm_run), "--prompt", "the", "--temperature", "0", "-n", "2"])
    g = greedy.output.strip().splitlines()
    assert len(g) == 2 and g[0] == g[1]  # greedy decoding is deterministic


def test_generate_rejects_bad_runs_and_options(lm_run, tmp_path):
    from dl4nlp.cli import main  # noqa: F401  (main turns Dl4nlpError into "error: ...")
    from dl4nlp.core.errors import RunError
    from dl4nlp.pipelines.language_model import load_language_model

    with pytest.raises(RunError, match="run folder not found"):
        load_language_model(tmp_path / "nope")
    lm = load_language_model(lm_run)
    with pytest.raises(ConfigError, match="top-p"):
        lm.generate("the", top_p=0.0)
    assert lm.perplexity("the cat sat") > 1


def test_predict_on_a_language_model_run_scores_and_continues_each_input(lm_run, capsys):
    """predict goes through the LM pipeline's predictor: one line per input with its perplexity (the same as
    LanguageModel.perplexity) and a greedy continuation (the same as generate at temperature 0)."""
    from dl4nlp.pipelines import pipeline_for
    from dl4nlp.pipelines.language_model import LanguageModel

    preds = pipeline_for(lm_run).load(lm_run).predict(["the cat", "a dog"])
    lm = LanguageModel(lm_run)
    assert [p.scores["perplexity"] for p in preds] == [lm.perplexity("the cat"), lm.perplexity("a dog")]
    assert preds[0].label == lm.generate("the cat", n=1, max_len=20, temperature=0.0)[0]
    assert preds[0].line().endswith("\tthe cat") and "perplexity=" in preds[0].line()


def test_vocab_keeps_corpus_unk_as_the_unk_id():
    v = build_lm_vocab(["a", "<unk>", "b", "a", EOS])
    assert v.stoi["<unk>"] == v.unk_id and v.encode(["zzz"]) == [v.unk_id]


def test_evaluate_cli_reproduces_the_recorded_test_perplexity(lm_run):
    res = json.loads((lm_run / "results.json").read_text())
    out = CliRunner().invoke(app, ["evaluate", str(lm_run), "--split", "test"], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    ev = json.loads(out.output)
    assert ev["perplexity"] == pytest.approx(res["test_ppl"], rel=1e-4)
    assert ev["tokens"] == res["corpus_tokens"]["test"] - res["corpus_tokens"]["test"] % 2 - 2


def test_killed_lm_run_with_the_plateau_schedule_resumes_exactly(tmp_path: Path):
    """The shipped LM configs cut the learning rate on a dev-perplexity plateau: a run killed in its third
    epoch and resumed ends with the weights, learning rate and token count of one never killed."""
    from conftest import Killed, kill_at

    from dl4nlp.core.config import load_config
    from dl4nlp.core.runs import load_state_dict
    from dl4nlp.pipelines.language_model import train_lm

    data = write_corpus(tmp_path / "data")

    def cfg(name: str):  # SGD at a rate that overshoots: dev perplexity rises and the plateau step fires
        return load_config("configs/lm/wt2_small_tied.yaml", [
            "data.dataset=text", f"data.path={data}", "data.train_file=train.txt", "data.dev_file=valid.txt",
            "data.test_file=test.txt", "model.emb_dim=16", "model.hidden=16", "train.epochs=5", "train.lr=80",
            "train.gamma=0.1", "train.batch_size=4", "train.eval_batch_size=2", "data.bptt=8",
            "trainer.progress_bar=false", f"run.dir={tmp_path / 'runs'}", f"run.name={name}"])

    full = train_lm(cfg("full"))
    with pytest.raises(Killed):
        train_lm(cfg("killed"), callbacks=[kill_at(epoch=2, batch=3)])
    killed = tmp_path / "runs" / "killed"
    resumed = train_lm(cfg("killed"), resume=killed)
    a, b = load_state_dict(full, "last"), load_state_dict(resumed, "last")
    assert all(torch.equal(a[k], b[k]) for k in a)
    lrs = [torch.load(run / "last.ckpt", weights_only=True)["optimizer_states"][0]["param_groups"][0]["lr"]
           for run in (full, resumed)]
    assert lrs[0] == lrs[1] < 80  # the schedule cut the rate, in both runs alike
    ra, rb = (json.loads((run / "results.json").read_text()) for run in (full, resumed))
    assert ra["train_tokens_seen"] == rb["train_tokens_seen"] and ra["test_ppl"] == rb["test_ppl"]
