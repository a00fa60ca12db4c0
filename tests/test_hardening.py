"""Bad inputs a new user tries, each refused with one clear line (never a traceback, never a silent chance-level
run): config values out of range, a diverging run, an unknown monitor, --resume with changed settings, a run name
that leaves run.dir, Ctrl-C, the demo's HTTP API, broken leaderboards, foreign checkpoints, notes on stdout."""

from __future__ import annotations

import json
import math
import os
import socket
from dataclasses import fields
from pathlib import Path

import pytest
import torch
from conftest import tiny_config, write_sst

from dl4nlp.core.config import DataConfig, RunConfig, TrainConfig, TrainerConfig, from_dict, load_config
from dl4nlp.core.errors import ConfigError, RunError

ROOT = Path(__file__).resolve().parents[1]
LOGREG = ROOT / "configs/ladder/logreg.yaml"


def _train_args(sst: Path, runs: Path, **extra: object) -> list[str]:
    args = ["train", str(LOGREG)]
    for s in tiny_config(sst, runs, "logreg", **{"train.epochs": 2, **extra}):
        args += ["--set", s]
    return args


def _leftover(runs: Path) -> list[Path]:
    return sorted(runs.iterdir()) if runs.is_dir() else []


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch):
    """``inject(callback)``: every Trainer the engine makes gets ``callback`` too (for any pipeline)."""
    from dl4nlp.engine import training

    def add(callback: object) -> None:
        make = training.make_trainer

        def with_callback(*args, callbacks=None, **kwargs):
            return make(*args, callbacks=[*(callbacks or []), callback], **kwargs)

        monkeypatch.setattr(training, "make_trainer", with_callback)

    return add


def at_batch(epoch: int, batch: int, action) -> object:
    """A callback that calls ``action(pl_module)`` at the start of ``batch`` of ``epoch`` (both from 0)."""
    from lightning.pytorch.callbacks import Callback

    class At(Callback):
        def on_train_batch_start(self, trainer, pl_module, batch_, batch_idx):
            if trainer.current_epoch == epoch and batch_idx == batch:
                action(pl_module)

    return At()


# --------------------------------------------------------------------------- 1, 4, 6: config values at load


def test_1_nan_learning_rate_is_refused_before_a_run_folder_exists(cli, sst_dir, tmp_path):
    runs = tmp_path / "runs"
    code, err = cli(*_train_args(sst_dir, runs, **{"train.lr": "nan"}))
    assert code == 2 and "train.lr: must be a finite number, got nan" in err and "Traceback" not in err
    assert _leftover(runs) == []


@pytest.mark.parametrize("override, message", [
    ("data.max_length=-1", "data.max_length: must be at least 1, got -1"),
    ("data.max_length=0", "data.max_length: must be at least 1, got 0"),
    ("data.max_vocab=0", "data.max_vocab: must be at least 1, got 0"),
    ("data.max_vocab=-5", "data.max_vocab: must be at least 1, got -5"),
    ("data.max_train_examples=0", "data.max_train_examples: must be at least 1, got 0"),
    ("data.min_count=0", "data.min_count: must be at least 1"),
    ("data.bptt=0", "data.bptt: must be at least 1"),
    ("train.lr=inf", "train.lr: must be a finite number, got inf"),
    ("train.l2=.nan", "train.l2: must be a finite number, got nan"),
    ("train.momentum=1.5", "train.momentum: must lie between 0 and 1 (1 excluded), got 1.5"),
    ("train.l2=1e400", "train.l2: must be a finite number, got inf"),
    ("data.max_length=nan", "'max_length' must be a whole number, got 'nan'"),
    ("data.max_length=2.5", "'max_length' must be int, got 2.5"),
    ("trainer.num_nodes=0", "trainer.num_nodes: must be at least 1"),
    ("trainer.limit_train_batches=0", "trainer.limit_train_batches: a share in (0, 1] or a batch count >= 1"),
    ("trainer.limit_train_batches=1.5", "trainer.limit_train_batches: a share in (0, 1]"),
    ("run.seed=-1", "run.seed: must lie between 0 and 4294967295, got -1"),
])
def test_4_numeric_keys_are_range_checked_at_load(override, message):
    with pytest.raises(ConfigError, match="^" + str(LOGREG).replace(".", r"\.") + ": ") as exc:
        load_config(LOGREG, [override])
    assert message in str(exc.value)


@pytest.mark.parametrize("section, cls", [("data", DataConfig), ("train", TrainConfig), ("trainer", TrainerConfig),
                                          ("run", RunConfig)])
def test_4_every_declared_range_refuses_values_just_outside_and_accepts_its_ends(section, cls):
    import typing

    from dl4nlp.core.config import _interval

    assert cls.RANGES, f"{section}: no ranges declared"
    known = {f.name for f in fields(cls)}
    for key, spec in cls.RANGES.items():
        assert key in known, f"{section}.RANGES names '{key}', not a key of the section"
        low, high, low_closed, high_closed = _interval(spec)
        hint = typing.get_type_hints(cls)[key]
        whole = hint is int or (int in typing.get_args(hint) and float not in typing.get_args(hint))
        step = 1 if whole else 1e-6
        outside = [low - step if low_closed else low] + ([high + step if high_closed else high]
                                                           if math.isfinite(high) else [])
        for value in outside:
            with pytest.raises(ConfigError, match=rf"{section}\.{key}: "):
                from_dict({section: {key: int(value) if whole else value}}, "t.yaml")
        inside = low if low_closed else low + step
        if not (key == "distill_alpha" or key == "distill_temperature"):  # those need data.teacher_file
            from_dict({section: {key: int(inside) if whole else inside}}, "t.yaml")


def test_4_nan_and_inf_are_refused_for_every_float_key():
    import typing

    for section, cls in (("data", DataConfig), ("train", TrainConfig), ("trainer", TrainerConfig)):
        hints = typing.get_type_hints(cls)
        floats = [k for k, h in hints.items() if h is float or float in typing.get_args(h)]
        for key in floats:
            for bad in (float("nan"), float("inf"), float("-inf")):
                with pytest.raises(ConfigError, match=rf"{section}\.{key}: must be a finite number"):
                    from_dict({section: {key: bad}}, "t.yaml")


@pytest.mark.parametrize("model, override, message", [
    ("mlp", "model.hidden=[0]", "model.hidden: every layer size must be a whole number >= 1, got [0]"),
    ("mlp", "model.hidden=[-3]", "model.hidden: every layer size must be a whole number >= 1, got [-3]"),
    ("mlp", "model.hidden=64", "'hidden' must be a list of int, got 64"),
    ("mlp", "model.input_dropout=1.0", "model.input_dropout: must lie between 0 and 1 (1 excluded), got 1.0"),
    ("gru", "model.attention_dim=0", "model.attention_dim: must be at least 1, got 0"),
    ("gru", "model.embed_dropout=1.0", "model.embed_dropout: must lie between 0 and 1 (1 excluded), got 1.0"),
    ("gru", "model.mlp_hidden=[0]", "model.mlp_hidden: every layer size must be a whole number >= 1, got [0]"),
])
def test_4_model_options_that_slipped_through_are_refused(cli, sst_dir, tmp_path, model, override, message):
    runs = tmp_path / "runs"
    args = ["train", ROOT / f"configs/ladder/{model}.yaml"]
    extra = [override] if model == "mlp" else ["model.pooling=attention", override]
    for s in tiny_config(sst_dir, runs, model) + extra:
        args += ["--set", s]
    code, err = cli(*args)
    assert code == 2 and message in err and "Traceback" not in err
    assert _leftover(runs) == []


@pytest.mark.parametrize("name", ["../../escape", "a/b", "..", "a\\b", "/tmp/abs", "."])
def test_6_run_name_must_stay_inside_run_dir(cli, sst_dir, tmp_path, name):
    runs = tmp_path / "deep" / "runs"
    code, err = cli(*_train_args(sst_dir, runs, **{"run.name": name}))
    assert code == 2 and "run.name:" in err and "plain folder name" in err
    assert not (tmp_path / "escape").exists() and _leftover(runs) == []


# --------------------------------------------------------------------------- 2: divergence


def test_2_a_loss_that_is_not_finite_stops_the_run_naming_the_step_and_settings(cli, sst_dir, tmp_path):
    runs = tmp_path / "runs"
    code, err = cli(*_train_args(sst_dir, runs, **{"train.l2": 1e308}))
    assert code == 2 and "Traceback" not in err, err[-2000:]
    line = err.strip().splitlines()[-1]
    assert line.startswith("error: ") and "epoch 1, batch 1" in line and "train.l2 (1e+308)" in line
    assert "train.lr" in line and "no results written" in line
    assert _leftover(runs) == []  # no checkpoint yet: the folder goes


def test_2_divergence_later_keeps_the_last_good_checkpoint_and_writes_no_results(cli, sst_dir, tmp_path, inject):
    def poison(pl_module):
        with torch.no_grad():
            next(pl_module.parameters()).fill_(float("nan"))

    inject(at_batch(1, 1, poison))
    runs = tmp_path / "runs"
    code, err = cli(*_train_args(sst_dir, runs, **{"train.epochs": 3}))
    assert code == 2 and "epoch 2, batch 2" in err and "the last good checkpoint is" in err, err[-2000:]
    (run,) = _leftover(runs)
    assert not (run / "results.json").exists()
    from dl4nlp.core.io import torch_load

    ckpt = torch_load(run / "last.ckpt")
    assert ckpt["epoch"] == 0 and all(torch.isfinite(v).all() for v in ckpt["state_dict"].values())


# --------------------------------------------------------------------------- 3: monitor


def test_3_unknown_monitor_is_refused_before_training_listing_the_logged_names(cli, sst_dir, tmp_path, inject):
    trained = []
    inject(at_batch(0, 0, lambda m: trained.append(1)))
    runs = tmp_path / "runs"
    code, err = cli(*_train_args(sst_dir, runs, **{"train.monitor": "bogus"}))
    assert code == 2 and "Traceback" not in err
    assert "train.monitor: 'bogus' is not a metric this task logs on dev (it logs: dev_acc, dev_f1, dev_loss)" in err
    assert trained == [] and _leftover(runs) == []


# --------------------------------------------------------------------------- 5: resume


@pytest.fixture
def unfinished(cli, sst_dir, tmp_path) -> Path:
    """A tf-idf logistic-regression run with its results.json removed: what a killed run leaves."""
    runs = tmp_path / "runs"
    code, err = cli(*_train_args(sst_dir, runs, **{"train.epochs": 1}))
    assert code is None or code == 0, err
    (run,) = _leftover(runs)
    (run / "results.json").unlink()
    return run


def test_5_resume_refuses_changes_to_data_and_model_keys(cli, unfinished):
    before = (unfinished / "config.yaml").read_text()
    code, err = cli("train", "--resume", unfinished, "--set", "model.features=binary", "--set", "data.lowercase=false",
                    "--set", "train.epochs=2")
    assert code == 2 and "Traceback" not in err
    assert "model.features: tfidf -> binary" in err and "data.lowercase: True -> False" in err
    assert "train.epochs" not in err.split("may change only")[0]  # allowed, so not named as a change
    assert (unfinished / "config.yaml").read_text() == before and not (unfinished / "results.json").exists()
    for bad in ("train.lr=0.1", "run.seed=5", "trainer.precision=64-true"):
        code, err = cli("train", "--resume", unfinished, "--set", bad)
        assert code == 2 and bad.split("=")[0] in err and "--resume cannot change" in err


def test_5_resume_accepts_the_documented_keys(cli, unfinished):
    from dl4nlp.cli import RESUME_KEYS

    assert "train.epochs" in RESUME_KEYS and "trainer.progress_bar" in RESUME_KEYS
    assert all(f"`{k}`" in (ROOT / "docs/sentiment.md").read_text() for k in RESUME_KEYS)
    code, err = cli("train", "--resume", unfinished, "--set", "train.epochs=2", "--set", "train.patience=1")
    assert code in (None, 0), err
    assert json.loads((unfinished / "results.json").read_text())["epochs_run"] == 2


# --------------------------------------------------------------------------- 7: Ctrl-C


def test_7_ctrl_c_says_where_it_stopped_and_how_to_resume(cli, sst_dir, tmp_path, inject):
    import signal

    def ctrl_c(pl_module):
        raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGINT)
    inject(at_batch(1, 0, ctrl_c))
    runs = tmp_path / "runs"
    try:
        code, err = cli(*_train_args(sst_dir, runs, **{"train.epochs": 3}))
    finally:
        signal.signal(signal.SIGINT, handler)
    (run,) = _leftover(runs)
    assert code == 130 and err.strip().splitlines()[-1] == f"interrupted at epoch 2; resume with: dl4nlp train " \
                                                          f"--resume {run}"
    assert (run / "last.ckpt").is_file() and not (run / "results.json").exists()


def test_7_ctrl_c_before_the_first_checkpoint_leaves_no_folder(cli, sst_dir, tmp_path, inject):
    import signal

    def ctrl_c(pl_module):
        raise KeyboardInterrupt

    handler = signal.getsignal(signal.SIGINT)
    inject(at_batch(0, 1, ctrl_c))
    runs = tmp_path / "runs"
    try:
        code, err = cli(*_train_args(sst_dir, runs))
    finally:
        signal.signal(signal.SIGINT, handler)
    assert code == 130 and "interrupted at epoch 1, before the first checkpoint: nothing to resume" in err
    assert _leftover(runs) == []


# --------------------------------------------------------------------------- 9: leaderboard


def _fake_run(root: Path, name: str, results: object) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "results.json").write_text(json.dumps(results), encoding="utf-8")
    return run


def test_9_leaderboard_skips_a_bad_run_with_a_warning_naming_it(cli, tmp_path):
    root = tmp_path / "runs"
    _fake_run(root, "good", {"task": "sentiment", "model": "logreg", "dataset": "sst2", "dev_acc": 0.8})
    _fake_run(root, "list", [1, 2, 3])
    _fake_run(root, "text-score", {"task": "sentiment", "dev_acc": "high"})
    (root / "broken").mkdir()
    (root / "broken" / "results.json").write_text("{", encoding="utf-8")
    code, err = cli("leaderboard", root)
    assert code in (None, 0), err
    for bad in ("list", "text-score", "broken"):
        assert f"warning: skipped {root / bad}: {root / bad / 'results.json'}" in err
    assert "expected a JSON object of results, got a list" in err
    assert (root / "leaderboard.md").is_file() and "good" in (root / "leaderboard.md").read_text()


def test_9_leaderboard_unwritable_out_and_empty_folder(cli, tmp_path):
    root = tmp_path / "runs"
    _fake_run(root, "good", {"task": "sentiment", "model": "logreg", "dataset": "sst2", "dev_acc": 0.8})
    code, err = cli("leaderboard", root, "--out", "/proc/x")
    assert code == 2 and "Traceback" not in err and "error: /proc/x: cannot write the leaderboard there" in err
    (tmp_path / "empty").mkdir()
    code, err = cli("leaderboard", tmp_path / "empty")
    assert code in (None, 0) and f"no runs found under {tmp_path / 'empty'}" in err
    assert not (tmp_path / "empty" / "leaderboard.md").exists()


# --------------------------------------------------------------------------- 11: foreign checkpoints


class _NotPlainData:
    pass


def test_11_a_foreign_checkpoint_is_refused_without_torch_s_unsafe_advice(tmp_path):
    from dl4nlp.core.io import torch_load

    path = tmp_path / "best.ckpt"
    torch.save({"state_dict": {}, "x": _NotPlainData()}, path)
    with pytest.raises(RunError) as exc:
        torch_load(path)
    msg = str(exc.value)
    assert "not a checkpoint this tool wrote" in msg and str(path) in msg
    assert "weights_only" not in msg and "likely succeed" not in msg and "\n" not in msg


# --------------------------------------------------------------------------- 12: notes go to stderr


def test_12_the_pretrained_embeddings_note_goes_to_stderr(tmp_path, capsys):
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.models.recurrent import pretrained_vectors

    vectors = tmp_path / "v.txt"
    vectors.write_text("good 1 0\nbad 0 1\n", encoding="utf-8")
    vocab = Vocab.build([["good", "film"]], 1, None)
    pretrained_vectors(str(vectors), vocab)
    captured = capsys.readouterr()
    assert captured.out == "" and "[embeddings]" in captured.err


# --------------------------------------------------------------------------- 8: the demo's HTTP API


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    """A tiny logistic-regression run and a tiny vectors file served on a free loopback port."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from dl4nlp.core.config import load_config
    from dl4nlp.demo import build_app, launch
    from dl4nlp.demo.limits import DemoSettings
    from dl4nlp.experiments import train_any

    threads = torch.get_num_threads()
    root = tmp_path_factory.mktemp("guard")
    sst = write_sst(root / "sst")
    run = train_any(load_config(None, tiny_config(sst, root / "runs", "logreg", **{"train.epochs": 1})))
    vectors = root / "v.txt"
    vectors.write_text("good 0 1\nbad 0 -1\nfilm 1 0\nmovie 1 0.1\n", encoding="utf-8")
    settings = DemoSettings(max_chars=500, vectors=[str(vectors)])
    settings.max_request_bytes = 64 * 1024  # small, so that the cap is quick to reach
    app, _ = build_app([run], settings)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    launch(app, "127.0.0.1", port, settings, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()
    torch.set_num_threads(threads)


def _post(url: str, api: str, body: object | bytes):
    import httpx

    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(f"{url}gradio_api/call/{api}", content=content, timeout=30,
                      headers={"content-type": "application/json"})


@pytest.mark.parametrize("api, body, status, message", [
    ("sentiment", {"data": [["a", "b"]]}, 422, 'sentiment: Sentence: expected text (a JSON string), got ["a", "b"]'),
    ("sentiment", {"data": [42]}, 422, "sentiment: Sentence: expected text (a JSON string), got 42"),
    ("sentiment", {"data": [{"x": 1}]}, 422, "expected text (a JSON string)"),
    ("sentiment", {"data": []}, 422, "sentiment: expects 1 input(s) (Sentence), got 0"),
    ("sentiment", {"x": 1}, 400, 'request body must be a JSON object {"data": [inputs...]}'),
    ("sentiment", b"{not json", 400, "request body is not JSON"),
    ("neighbours", {"data": ["v.txt", "film", "ten"]}, 422, "neighbours: How many: expected a number, got \"ten\""),
    ("neighbours", {"data": ["v.txt", "film", None]}, 422, "neighbours: How many: expected a number, got null"),
    ("neighbours", {"data": ["v.txt", "film", 10 ** 6]}, 422, "neighbours: How many: 1000000 is out of range"),
    ("neighbours", {"data": ["nope", "film", 3]}, 422, "neighbours: Vectors: \"nope\" is not one of"),
    ("no_such_api", {"data": ["x"]}, 404, "unknown API 'no_such_api' (this demo has: "),
])
def test_8_api_checks_types_and_ranges_with_a_clear_message(demo, capfd, api, body, status, message):
    r = _post(demo, api, body)
    assert r.status_code == status and message in r.json()["error"], r.text
    err = capfd.readouterr().err
    assert "Traceback" not in err and err.count("dl4nlp demo: refused") == 1


def test_8_api_refuses_nan_and_huge_bodies_and_still_answers(demo, capfd):
    import httpx

    r = _post(demo, "neighbours", b'{"data": ["v.txt", "film", NaN]}')
    assert r.status_code == 422 and "How many: expected a finite number, got nan" in r.json()["error"]
    big = json.dumps({"data": ["a" * (1 << 20)]}).encode()
    r = _post(demo, "sentiment", big)
    assert r.status_code == 413 and "the limit is 65,536 bytes" in r.json()["error"]

    def chunks():  # no Content-Length: the body is counted as it arrives
        for _ in range(40):
            yield b" " * 4096

    r = httpx.post(f"{demo}gradio_api/call/sentiment", content=chunks(), timeout=30)
    assert r.status_code == 413
    r = _post(demo, "sentiment", {"data": ["a great fun film"]})
    assert r.status_code == 200 and "event_id" in r.json()
    assert "Traceback" not in capfd.readouterr().err


# --------------------------------------------------------------------------- no partial run folder, every pipeline


def _lm_case(root: Path) -> tuple[Path, list[str]]:
    import random

    corpus = root / "corpus"
    corpus.mkdir()
    rng = random.Random(0)
    for split, n in (("train", 40), ("valid", 8), ("test", 8)):
        lines = [" ".join(rng.choice("the cat sat on a mat and dog ran".split()) for _ in range(6)) for _ in range(n)]
        (corpus / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return ROOT / "configs/lm/wt2_small_tied.yaml", [
        "data.dataset=text", f"data.path={corpus}", "data.train_file=train.txt", "data.dev_file=valid.txt",
        "data.test_file=test.txt", "model.emb_dim=8", "model.hidden=8", "train.epochs=2", "train.batch_size=4",
        "train.eval_batch_size=2", "data.bptt=8", "trainer.progress_bar=false", "trainer.accelerator=cpu"]


def _nli_case(root: Path) -> tuple[Path, list[str]]:
    from test_nli import write_snli

    snli = write_snli(root / "nli")
    return ROOT / "configs/nli/attention.yaml", [
        f"data.path={snli}", "model.embeddings=random", "model.embedding_dim=6", "model.hidden=6", "train.epochs=2",
        "train.batch_size=8", "trainer.progress_bar=false", "trainer.accelerator=cpu"]


def _classification_case(root: Path) -> tuple[Path, list[str]]:
    sst = write_sst(root / "sst")
    return LOGREG, [f"data.path={sst}", "train.epochs=2", "train.batch_size=8", "trainer.progress_bar=false",
                    "trainer.accelerator=cpu"]


CASES = {"classification": _classification_case, "language_model": _lm_case, "nli": _nli_case}


def _assert_absent_or_resumable(runs: Path) -> None:
    for run in _leftover(runs):
        assert not (run / "results.json").exists(), f"{run}: results of a failed run"
        assert (run / "last.ckpt").is_file(), f"{run}: a folder that is neither absent nor resumable"


@pytest.mark.parametrize("pipeline", sorted(CASES))
def test_a_failed_training_leaves_no_partial_run_folder(pipeline, cli, tmp_path, inject):
    config, sets = CASES[pipeline](tmp_path)
    runs = tmp_path / "runs"

    def train(*extra: str) -> tuple[int, str]:
        args = ["train", config]
        for s in [*sets, f"run.dir={runs}", *extra]:
            args += ["--set", s]
        return cli(*args)

    code, err = train("train.no_such_key=1")  # at config load
    assert code == 2 and "no_such_key" in err and _leftover(runs) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    code, err = train(f"data.path={empty}")  # at data load
    assert code == 2 and "Traceback" not in err and str(empty) in err
    assert _leftover(runs) == []

    def fail(pl_module):
        raise RunError("simulated failure at step 1")

    inject(at_batch(0, 0, fail))  # at step 1
    code, err = train()
    assert code == 2 and "simulated failure at step 1" in err, err[-1500:]
    _assert_absent_or_resumable(runs)
    assert _leftover(runs) == []


@pytest.mark.parametrize("epoch", [0, 1])
def test_a_crash_leaves_no_folder_before_the_first_checkpoint_and_a_resumable_one_after(cli, sst_dir, tmp_path,
                                                                                      inject, epoch):
    def crash(pl_module):
        raise ZeroDivisionError("a bug")

    inject(at_batch(epoch, 0, crash))
    runs = tmp_path / "runs"
    with pytest.raises(ZeroDivisionError):
        cli(*_train_args(sst_dir, runs, **{"train.epochs": 3}))
    _assert_absent_or_resumable(runs)
    assert len(_leftover(runs)) == epoch  # epoch 0: nothing to keep; epoch 1: the run with its epoch-1 checkpoint


def test_8_the_browser_s_queue_requests_are_checked_too(demo):
    import httpx

    deps = httpx.get(f"{demo}config", timeout=30).json()["dependencies"]
    index = next(d["id"] for d in deps if d.get("api_name") == "sentiment")

    def join(data: list, fn_index: object = index):
        return httpx.post(f"{demo}gradio_api/queue/join", timeout=30,
                          json={"data": data, "fn_index": fn_index, "session_hash": "h4rd3n", "event_data": None})

    assert join(["a great fun film"]).status_code == 200
    r = join([["a", "b"]])
    assert r.status_code == 422 and "sentiment: Sentence: expected text" in r.json()["error"]
    r = join(["x"], 9999)
    assert r.status_code == 404 and "unknown fn_index 9999" in r.json()["error"]


def test_4_a_teacher_file_with_a_nan_logit_is_refused(tmp_path):
    from dl4nlp.core.errors import DataError
    from dl4nlp.data.nli import read_teacher_file

    path = tmp_path / "t.jsonl"
    path.write_text('{"premise": "a", "hypothesis": "b", "label": "neutral", "teacher_logits": [1, NaN, 2]}\n',
                    encoding="utf-8")
    with pytest.raises(DataError, match=r"t\.jsonl:1: teacher_logits must be a list of 3 numbers .*each finite"):
        read_teacher_file(path)


def test_8_serve_refuses_a_request_cap_below_one_byte(cli):
    code, err = cli("serve", "--max-request-bytes", "0")
    assert code == 2 and err.strip() == "error: serve: max_request_bytes must be at least 1, got 0"


@pytest.mark.parametrize("key, value, message", [("hidden", 0, "model.hidden"), ("dropout", 1.0, "model.dropout"),
                                                 ("dropout", float("nan"), "must be a finite number"),
                                                 ("embedding_dim", -3, "model.embedding_dim")])
def test_nli_model_options_are_range_checked(key, value, message):
    """The NLI models' own options: a zero-width encoder, dropout of 1 or NaN used to build and train silently."""
    from dl4nlp.core.config import build_options
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.models.nli import NLIOptions

    with pytest.raises(ConfigError, match=message):
        build_options(NLIOptions, {key: value}, "model")


@pytest.mark.parametrize("target, key, value", [
    ("dl4nlp.models.captioner:CaptionerOptions", "alpha_c", float("nan")),
    ("dl4nlp.models.captioner:CaptionerOptions", "feature_proj", -1),
    ("dl4nlp.models.transformer:FeatureOptions", "max_iter", 0),
    ("dl4nlp.models.seq2seq:Seq2SeqOptions", "length_alpha", float("nan")),
    ("dl4nlp.models.transformer_scratch:ScratchTransformerOptions", "length_alpha", -0.5),
    ("dl4nlp.models.lm:LMOptions", "init_range", 0.0),
])
def test_model_options_that_used_to_slip_through_are_refused(target, key, value):
    """Every family's model options refuse NaN / infinity and out-of-range numbers (these six built silently)."""
    import importlib

    from dl4nlp.core.config import build_options
    from dl4nlp.core.errors import ConfigError

    module, name = target.split(":")
    with pytest.raises(ConfigError, match=f"model.{key}"):
        build_options(getattr(importlib.import_module(module), name), {key: value}, "model")
