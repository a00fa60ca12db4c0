"""The web demo: input checks, tabs over tiny runs trained here, the HTTP API, and a real headless browser.

The browser tests drive Debian's ``chromium`` (``apt-get install chromium``) through Playwright; they are
skipped, with the reason, only when that browser or the ``playwright`` package is missing.
Screenshots go to ``tests/artifacts/`` (git-ignored).
"""

from __future__ import annotations

import os
import random
import socket
import sys
import time
import warnings
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from conftest import tiny_config, write_sst  # noqa: E402

from dl4nlp.core.errors import DataError, RunError  # noqa: E402
from dl4nlp.demo.limits import DemoSettings, InputError, check_image, check_text  # noqa: E402
from dl4nlp.demo.render import guarded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
LM_WORDS = "the cat sat on a mat and dog ran to red big house".split()
XSS = '<img src=x onerror="window.__xss=1"> <script>window.__xss=2</script> a great film'


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def keep_torch_threads():
    """build_app sets torch's thread count (a serving choice); give the next test modules theirs back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny runs of each demo-able kind: a logistic regression and a GRU with attention pooling (tiny SST
    fixture), a word-level LSTM language model, a show-attend-tell captioner (two synthetic images)."""
    import torch


    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared 2-core machine: no oversubscription
    try:
        return _train_runs(tmp_path_factory)
    finally:
        torch.set_num_threads(threads)


def _train_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from dl4nlp.core.config import from_dict, load_config
    from dl4nlp.experiments import train_any

    root = tmp_path_factory.mktemp("demo")
    sst = write_sst(root / "sst")
    out = {}
    lr = tiny_config(sst, root / "runs", "logreg", **{"run.name": "lr", "train.epochs": 2})
    out["logreg"] = train_any(load_config(None, lr))
    gru = tiny_config(sst, root / "runs", "gru", **{"run.name": "gru", "model.pooling": "attention",
                                                   "model.hidden": 8, "model.attention_dim": 8,
                                                   "model.embedding_dim": 8, "train.epochs": 2})
    out["gru"] = train_any(load_config(None, gru))

    corpus = root / "corpus"  # a tiny word-level language model
    corpus.mkdir()
    rng = random.Random(0)
    for split, n in (("train", 60), ("valid", 10), ("test", 10)):
        lines = [" ".join(rng.choice(LM_WORDS) for _ in range(rng.randint(3, 8))) for _ in range(n)]
        (corpus / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lm = [f"data.path={corpus}", "data.train_file=train.txt", "data.dev_file=valid.txt",
          "data.test_file=test.txt", "model.emb_dim=8", "model.hidden=8", "train.epochs=1", "train.batch_size=4",
          "train.eval_batch_size=2", "data.bptt=8", "trainer.progress_bar=false", f"run.dir={root}/runs",
          "run.name=lm", "trainer.accelerator=cpu"]
    out["lm"] = train_any(load_config(ROOT / "configs/lm/wt2_small_tied.yaml", ["data.dataset=text", *lm]))

    images = root / "images"  # a tiny show-attend-tell captioner on two synthetic images
    images.mkdir()
    write_images(images)
    lines = "\n".join(f"{name}\t{cap}" for name, cap in CAPTIONS.items())
    (images / "train.tsv").write_text("image\tcaption\n" + "\n".join([lines] * 8) + "\n", encoding="utf-8")
    for split in ("dev", "test"):
        (images / f"{split}.tsv").write_text(lines + "\n", encoding="utf-8")
    out["captioner"] = train_any(from_dict({
        "data": {"dataset": "captions", "path": str(images), "train_file": "train.tsv", "dev_file": "dev.tsv",
                 "test_file": "test.tsv", "cache_dir": str(root / "cache")},
        "model": {"name": "show_attend_tell", "encoder": "tiny-cnn", "embed_dim": 16, "hidden": 16,
                  "attn_dim": 8, "feature_proj": 8, "dropout": 0.0, "beam_size": 2, "max_len": 8},
        "train": {"lr": 0.02, "batch_size": 8, "epochs": 2, "patience": 0},
        "trainer": {"progress_bar": False, "accelerator": "cpu"},
        "run": {"dir": str(root / "runs"), "name": "captioner", "seed": 0},
    }))
    return out


CAPTIONS = {"red.png": "a red square on the left .", "blue.png": "two blue stripes across the middle ."}


def write_images(folder: Path) -> None:
    from PIL import Image

    red = Image.new("RGB", (32, 32))
    red.paste((255, 0, 0), (2, 4, 14, 20))
    red.save(folder / "red.png")
    blue = Image.new("RGB", (32, 32))
    blue.paste((0, 0, 255), (0, 10, 32, 14))
    blue.paste((0, 0, 255), (0, 20, 32, 24))
    blue.save(folder / "blue.png")


VECTORS = {  # built so that king - man + woman = queen exactly, and good/bad span the orientation axis
    "man": [1, 0, 0, 0], "woman": [0, 1, 0, 0], "king": [1, 0, 1, 0], "queen": [0, 1, 1, 0],
    "good": [0, 0, 0, 1], "bad": [0, 0, 0, -1], "superb": [0, 0, 0.1, 0.9], "film": [0.2, 0.2, 0.1, 0.5],
    "movie": [0.25, 0.2, 0.1, 0.5], "dreadful": [0.1, 0, 0, -0.8],
}


@pytest.fixture(scope="module")
def vectors_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("vectors") / "tiny.txt"
    path.write_text("".join(f"{w} {' '.join(map(str, v))}\n" for w, v in VECTORS.items()), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sentiment(runs: dict[str, Path]):
    from dl4nlp.demo.tabs import sentiment

    return sentiment.load([runs["logreg"], runs["gru"]], DemoSettings())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(runs: dict[str, Path], vectors_file: Path, nli_run: Path):
    """The demo served in this process on a free loopback port; yields its URL."""
    from dl4nlp.demo import build_app, launch

    settings = DemoSettings(max_chars=500, vectors=[str(vectors_file)])
    app, titles = build_app([runs["logreg"].parent, nli_run], settings)  # a folder of runs, and a run
    assert titles == ["Sentiment", "Embeddings", "Language model", "NLI", "Captioning", "Leaderboard"]
    port = free_port()
    launch(app, "127.0.0.1", port, settings, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def call_api(url: str, api_name: str, *data: object) -> list:
    """One request through Gradio's HTTP API (what the load test does), returning the output values."""
    import json

    import httpx

    r = httpx.post(f"{url}gradio_api/call/{api_name}", json={"data": list(data)}, timeout=30)
    r.raise_for_status()
    event = r.json()["event_id"]
    with httpx.stream("GET", f"{url}gradio_api/call/{api_name}/{event}", timeout=30) as s:
        kind = None
        for line in s.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                assert kind == "complete", line
                return json.loads(line[5:])
    raise AssertionError("no result event")


# --------------------------------------------------------------------------- input checks


def test_check_text_rejects_empty_and_too_long_accepts_unicode():
    for empty in ("", "   \n\t", None):
        with pytest.raises(InputError, match="empty"):
            check_text(empty, 100)
    with pytest.raises(InputError, match=r"1,048,576 characters long; the limit is 2,000"):
        check_text("a" * 2**20, 2000)
    assert check_text("  très bien, 映画 😀  ", 100) == "très bien, 映画 😀"
    assert check_text("x" * 100, 100) == "x" * 100  # the limit itself is allowed


def test_settings_reject_nonsense():
    with pytest.raises(ValueError, match="max_chars"):
        DemoSettings(max_chars=0)
    with pytest.raises(ValueError, match="concurrency"):
        DemoSettings(concurrency=-1)


def test_check_image_validates_uploads(tmp_path: Path):
    from PIL import Image

    good = tmp_path / "cat.png"
    Image.new("RGB", (32, 24), (200, 10, 10)).save(good)
    img = check_image(good, max_pixels=1000)
    assert img.size == (32, 24) and img.mode == "RGB"

    fake = tmp_path / "notes.png"
    fake.write_text("this is not an image\n", encoding="utf-8")
    with pytest.raises(InputError, match="notes.png: not a readable image"):
        check_image(fake, 10**6)
    truncated = tmp_path / "broken.png"
    truncated.write_bytes(good.read_bytes()[:40])
    with pytest.raises(InputError, match="broken.png"):
        check_image(truncated, 10**6)
    with pytest.raises(InputError, match="32x24 = 768 pixels; the limit is 700"):
        check_image(good, max_pixels=700)
    with pytest.raises(InputError, match="no image"):
        check_image(None, 10)


def test_guarded_turns_errors_into_an_escaped_message():
    def bad_input(text):
        raise DataError(f"cannot use {text}")

    def crash(text):
        raise ZeroDivisionError("boom")

    out, other = guarded(bad_input, 2, "tab")("<b>x</b>")
    assert 'class="dl4nlp-error"' in out and "&lt;b&gt;x&lt;/b&gt;" in out and "<b>x" not in out
    assert other is None
    out = guarded(crash, 1, "tab")("x")
    assert "internal error (ZeroDivisionError: boom)" in out


# --------------------------------------------------------------------------- the sentiment tab


def test_sentiment_tab_matches_the_classifier_and_shows_attention(runs, sentiment):
    from dl4nlp.demo.tabs.sentiment import predict_all
    from dl4nlp.pipelines.classification import load_classifier

    text = "a wonderful , charming film"
    preds = predict_all(sentiment, text)
    assert [p["run"] for p in preds] == ["lr", "gru"]
    for p, run in zip(preds, (runs["logreg"], runs["gru"]), strict=True):
        label, probs = load_classifier(run).predict([text])[0]
        assert p["label"] == label
        assert p["probabilities"] == pytest.approx(probs, abs=1e-5)
    assert preds[0]["attention"] is None  # bag of words: no attention
    att = preds[1]["attention"]
    assert preds[1]["words"] == ["a", "wonderful", ",", "charming", "film"]
    assert len(att) == 5 and sum(att) == pytest.approx(1.0, abs=1e-4) and min(att) >= 0


def test_sentiment_bad_inputs(sentiment):
    from dl4nlp.demo.tabs.sentiment import analyse

    with pytest.raises(InputError, match="empty"):
        analyse(sentiment, "  ", 2000)
    with pytest.raises(InputError, match="limit is 2,000"):
        analyse(sentiment, "good " * 200_000, 2000)  # 1 MB
    table, att = analyse(sentiment, "très bien — 映画 😀 good", 2000)
    assert "très bien — 映画 😀 good" in table and 'class="prediction"' in table
    table, att = analyse(sentiment, XSS, 2000)
    for html in (table, att):
        assert "<script" not in html and "<img" not in html and "onerror=\"" not in html
    assert "&lt;img src=x onerror=&quot;window.__xss=1&quot;&gt;" in table
    assert "&lt;" in att  # the symbols the tokenizer kept are escaped in the attention row too


# --------------------------------------------------------------------------- tabs and app assembly


def test_language_model_tab_generates_and_rejects_bad_input(runs):
    from dl4nlp.demo.tabs import language_model as tab
    from dl4nlp.pipelines.language_model import LanguageModel

    lms = tab.load([runs["lm"]], DemoSettings())
    html = tab.generate(lms, "lm", "the cat", 0.0, 1.0, 6, 2, 13, 100)
    greedy = LanguageModel(runs["lm"]).generate("the cat", n=1, max_len=6, temperature=0.0)[0]
    assert html.count('<li class="lm-sample">') == 2 and f"<b>the cat</b> {greedy}</li>" in html
    assert tab.generate(lms, "lm", "", 1.0, 0.9, 5, 1, 7, 100) == tab.generate(lms, "lm", "", 1.0, 0.9, 5, 1, 7, 100)
    html = tab.generate(lms, "lm", "<script>x</script> the", 0.0, 1.0, 3, 1, 1, 100)
    assert "<script" not in html and "&lt;script&gt;x&lt;/script&gt; the" in html
    with pytest.raises(InputError, match="limit is 100"):
        tab.generate(lms, "lm", "cat " * 1000, 1.0, 1.0, 5, 1, 1, 100)
    with pytest.raises(InputError, match="length must be"):
        tab.generate(lms, "lm", "the", 1.0, 1.0, 10_000, 1, 1, 100)
    with pytest.raises(InputError, match="top-p"):
        tab.generate(lms, "lm", "the", 1.0, 0.0, 5, 1, 1, 100)
    with pytest.raises(InputError, match="unknown model"):
        tab.generate(lms, "nope", "the", 1.0, 1.0, 5, 1, 1, 100)


def test_embeddings_tab_queries(vectors_file):
    from dl4nlp.demo.tabs import embeddings as tab
    from dl4nlp.embeddings import load_vectors

    v = tab.load([], DemoSettings(vectors=[str(vectors_file)]))
    name = "tiny.txt"
    assert list(v.sets) == [name]
    vecs = load_vectors(vectors_file)
    html = tab.neighbours(v, name, "Film", 3)  # lowercase fallback
    words = [w for w, _ in vecs.neighbors("film", 3)]
    assert words[0] == "movie"
    positions = [html.index(f'<span class="emb-word">{w}</span>') for w in words]
    assert positions == sorted(positions)
    assert '<b class="emb-answer">queen</b>' in tab.analogy(v, name, "man", "king", "woman", 3, "add")
    assert '<b class="emb-answer">queen</b>' in tab.analogy(v, name, "man", "king", "woman", 3, "mul")
    html = tab.orientation(v, name, "superb, dreadful <i>zzz</i>", 100)
    assert f"{vecs.orientation('superb'):+.3f}" in html and html.count("+") >= 1
    assert f"{vecs.orientation('dreadful'):+.3f}".startswith("-")
    assert "&lt;i&gt;zzz&lt;/i&gt;" in html and "<i>" not in html and "not in the vocabulary" in html
    fig = tab.neighbourhood_map(v, name, "film", 4)
    assert [t.get_text() for t in fig.axes[0].texts][0] == "film" and len(fig.axes[0].texts) == 5
    for bad, msg in (("", "empty"), ("two words", "single word"), ("<b>zzz</b>", "not in the vocabulary")):
        with pytest.raises(InputError, match=msg):
            tab.neighbours(v, name, bad, 3)
    with pytest.raises(InputError, match="1..50"):
        tab.neighbours(v, name, "film", 500)
    with pytest.raises(InputError, match="unknown vectors"):
        tab.neighbours(v, "glove", "film", 3)
    with pytest.raises(InputError, match="limit is 100"):
        tab.orientation(v, name, "good " * 100, 100)


def test_captioning_tab_captions_and_rejects_bad_uploads(runs, tmp_path):
    from dl4nlp.demo.tabs import captioning as tab
    from dl4nlp.pipelines.captioning import CaptionModel

    caps = tab.load([runs["captioner"]], DemoSettings())
    write_images(tmp_path)
    html, grid = tab.caption(caps, "captioner", str(tmp_path / "red.png"), 2, 10**6)
    words = CaptionModel(runs["captioner"]).caption(tmp_path / "red.png", beam_size=2).words
    assert f'<b>{" ".join(words)}</b>' in html
    assert grid is not None and Path(grid).stat().st_size > 1000  # the attention-grid PNG
    fake = tmp_path / "holiday.jpg"
    fake.write_bytes(b"<html><script>alert(1)</script></html>")
    for upload, msg in ((str(fake), "holiday.jpg: not a readable image"), (None, "no image"),
                        (str(tmp_path / "red.png"), "the limit is 1,000")):
        with pytest.raises(InputError, match=msg):
            tab.caption(caps, "captioner", upload, 2, 1000)
    out, grid = guarded(lambda f: tab.caption(caps, "captioner", f, 2, 10**6), 2, "captioning")(str(fake))
    assert "dl4nlp-error" in out and grid is None
    with pytest.raises(InputError, match="beam size"):
        tab.caption(caps, "captioner", str(tmp_path / "red.png"), 50, 10**6)


@pytest.fixture(scope="module")
def nli_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT fine-tuned for one epoch on a tiny SNLI-format fixture (see test_transformer)."""
    from test_transformer import make_tiny_bert, write_nli

    from dl4nlp.core.config import load_config
    from dl4nlp.experiments import train_any

    root = tmp_path_factory.mktemp("nli")
    bert, snli = make_tiny_bert(root / "bert"), write_nli(root / "snli")
    sets = tiny_config(snli, root / "runs", "transformer", **{
        "data.dataset": "snli", "model.checkpoint": str(bert), "train.optimizer": "adamw", "train.lr": 3e-3,
        "train.epochs": 1, "data.max_length": 32, "run.name": "nli"})
    return train_any(load_config(None, sets))


def test_nli_tab_labels_pairs_and_draws_the_heatmap(nli_run):
    from dl4nlp.demo.tabs import nli as tab
    from dl4nlp.pipelines.finetune import load_transformer_run

    models = tab.load([nli_run], DemoSettings())
    html, png = tab.analyse(models, "a dog runs", "a cat sleeps <b>x</b>", 200)
    label, probs = load_transformer_run(nli_run).predict(["a dog runs\ta cat sleeps <b>x</b>"])[0]
    assert f'data-run="nli">{label}</b>' in html
    pred = tab.predict_all(models, "a dog runs", "a cat sleeps <b>x</b>", 200)[0]
    assert pred["probabilities"] == pytest.approx(probs, abs=1e-5)
    assert pred["words"][0] == "[CLS]" and len(pred["heads"]) == 2  # the tiny BERT has 2 heads
    assert all(len(h) == len(pred["words"]) for h in pred["heads"])
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert png is not None and Path(png).stat().st_size > 1000
    with pytest.raises(InputError, match="premise is empty"):
        tab.analyse(models, " ", "a dog runs", 200)
    with pytest.raises(InputError, match="hypothesis is 1,000 characters long"):
        tab.analyse(models, "a dog runs", "x" * 1000, 200)


def test_embeddings_tab_default_glove_and_missing_assets(tmp_path, monkeypatch):
    from dl4nlp.demo.tabs import embeddings as tab
    from dl4nlp.embeddings import load_vectors

    v = tab.load([], DemoSettings(vectors_limit=2000))  # the packaged GloVe 6B 50d, offline
    assert list(v.sets) == ["glove-6b-50d"] and len(v.sets["glove-6b-50d"]) == 2000
    first = load_vectors("glove-6b-50d", limit=2000).neighbors("good", 1)[0][0]
    assert f'<span class="emb-word">{first}</span>' in tab.neighbours(v, "glove-6b-50d", "good", 1)

    monkeypatch.setenv("DL4NLP_GLOVE_DIR", str(tmp_path))  # assets missing: the tab is left out, with a warning
    with pytest.warns(UserWarning, match="embeddings tab off"):
        assert tab.load([], DemoSettings()) is None
    with pytest.raises(DataError, match="vectors file not found"):  # but a file the user named must exist
        tab.load([], DemoSettings(vectors=[str(tmp_path / "missing.txt")]))


def test_tab_modules_follow_the_protocol_and_runs_are_assigned(runs, tmp_path):
    from dl4nlp.core.io import write_json
    from dl4nlp.demo.app import assign_runs, expand_runs, load_tabs
    from dl4nlp.demo.tabs import REQUIRED, tab_modules

    mods = tab_modules()
    names = [m.__name__.rsplit(".", 1)[-1] for m in mods]
    assert {"sentiment", "leaderboard"} <= set(names)
    assert all(hasattr(m, a) for m in mods for a in REQUIRED)
    assert [m.ORDER for m in mods] == sorted(m.ORDER for m in mods)

    found = expand_runs([runs["logreg"].parent, runs["logreg"]])
    assert sorted(p.name for p in found) == ["captioner", "gru", "lm", "lr"]  # no duplicates
    assigned = assign_runs(found, mods)
    assert sorted(p.name for p in assigned["dl4nlp.demo.tabs.sentiment"]) == ["gru", "lr"]
    assert [p.name for p in assigned["dl4nlp.demo.tabs.language_model"]] == ["lm"]
    assert [p.name for p in assigned["dl4nlp.demo.tabs.captioning"]] == ["captioner"]
    assert len(assigned["dl4nlp.demo.tabs.leaderboard"]) == 4

    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.yaml").write_text("model: {name: logreg}\n", encoding="utf-8")
    write_json(odd / "results.json", {"task": "juggling", "dev_acc": 0.5})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assign_runs([odd], mods)
    assert any("no demo tab for task 'juggling'" in str(w.message) for w in caught)
    with pytest.raises(RunError, match="nothing to demo"):
        load_tabs([odd], DemoSettings(vectors=[]))

    stage = tmp_path / "ulmfit" / "3-classifier"  # results.json but no config.yaml (a ULMFiT stage folder)
    stage.mkdir(parents=True)
    write_json(stage / "results.json", {"task": "sentiment", "dev_acc": 0.8})
    with pytest.warns(UserWarning, match=r"Sentiment tab: skipped .*3-classifier: not a run folder"):
        loaded = load_tabs([stage, runs["logreg"]], DemoSettings(vectors=[]))
    sentiment = dict((m.TITLE, s) for m, s in loaded)["Sentiment"]
    assert [s.name for s in sentiment.scorers] == ["lr"]
    write_json(tmp_path / "ulmfit" / "results.json", {"task": "transfer", "dev_acc": 0.8})
    assert expand_runs([tmp_path / "ulmfit"]) == [tmp_path / "ulmfit"]  # not its stage folders
    with pytest.raises(RunError, match="run folder not found"):
        expand_runs([tmp_path / "missing"])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunError, match="no finished runs"):
        expand_runs([empty])


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    from dl4nlp.cli import main

    monkeypatch.setattr(sys, "argv", ["dl4nlp", *args])
    with pytest.raises(SystemExit) as exit_:
        main()
    return exit_.value.code, capsys.readouterr().err


def test_safe_defaults(runs):
    import inspect

    from dl4nlp.commands.serve import serve as serve_command
    from dl4nlp.demo import build_app, launch

    assert inspect.signature(serve_command).parameters["host"].default == "127.0.0.1"
    assert inspect.signature(launch).parameters["host"].default == "127.0.0.1"
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    settings = DemoSettings(concurrency=3, queue_size=5, vectors=[])
    app, _ = build_app([runs["logreg"]], settings)
    assert app.analytics_enabled is False
    assert (app._queue.max_size, app._queue.default_concurrency_limit) == (5, 3)
    # the queue's monitoring summary is rebuilt every 100 events, not after each one (a per-request cost)
    assert app._queue.ANAYLTICS_CACHE_FREQUENCY == int(os.environ["GRADIO_ANALYTICS_CACHE_FREQUENCY"]) >= 100
    import torch

    assert torch.is_grad_enabled()  # building the app leaves autograd alone for the rest of the process


def test_serve_cli_rejects_bad_arguments(tmp_path, monkeypatch, capsys):
    code, err = _cli(monkeypatch, capsys, "serve", str(tmp_path / "nope"))
    assert code == 2 and err.strip() == f"error: {tmp_path / 'nope'}: run folder not found"
    code, err = _cli(monkeypatch, capsys, "serve", str(tmp_path), "--max-chars", "0")
    assert code == 2 and err.strip() == "error: serve: max_chars must be at least 1, got 0"


@pytest.mark.parametrize("args, message", [
    (["--port", "70000"], "serve: --port must be between 1 and 65535, got 70000"),
    (["--port", "-1"], "serve: --port must be between 1 and 65535, got -1"),
    (["--device", "tpu"], "serve: --device must be cpu, cuda or cuda:N, got 'tpu'"),
    (["--device", "mps"], "serve: --device must be cpu, cuda or cuda:N, got 'mps'"),
    (["--device", "cuda:99"], "serve: --device cuda:99: no such CUDA device on this machine (use cpu)"),
])
def test_serve_cli_rejects_bad_port_and_device(tmp_path, monkeypatch, capsys, args, message):
    code, err = _cli(monkeypatch, capsys, "serve", str(tmp_path), *args)
    assert (code, err) == (2, f"error: {message}\n")


def test_settings_device():
    import torch

    from dl4nlp.core.errors import ConfigError

    assert DemoSettings(device="cpu").torch_device() == torch.device("cpu")
    with pytest.raises(ConfigError, match="--device must be cpu, cuda or cuda:N, got 'tpu'"):
        DemoSettings(device="tpu").torch_device()


# --------------------------------------------------------------------------- the running server


def test_http_api_survives_bad_requests(server, runs):
    from dl4nlp.pipelines.classification import load_classifier

    out = call_api(server, "sentiment", "a" * 2**20)  # 1 MB through the API, past the browser's maxlength
    assert "limit is 500" in out[0] and out[1] is None
    out = call_api(server, "sentiment", "")
    assert "empty" in out[0]
    out = call_api(server, "sentiment", "boring and dull")
    label = load_classifier(runs["logreg"]).predict(["boring and dull"])[0][0]
    assert f'data-run="lr">{label}</b>' in out[0]


def _browser():
    pw = pytest.importorskip("playwright.sync_api", reason="pip install playwright (the test extra)")
    if not Path(CHROMIUM).is_file():
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    return pw


def test_browser_sentiment_tab(server, runs):
    from dl4nlp.pipelines.classification import load_classifier

    pw = _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    text = "a wonderful and charming film"
    expected = {name: load_classifier(runs[key]).predict([text])[0][0] for key, name in
                (("logreg", "lr"), ("gru", "gru"))}
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        dialogs: list[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(server)
        box = page.locator("#sentiment-input textarea")
        box.fill(text)
        page.click("#sentiment-submit")
        page.wait_for_selector("#sentiment-output .prediction[data-run='gru']", timeout=30_000)
        for run, label in expected.items():
            assert page.inner_text(f"#sentiment-output .prediction[data-run='{run}']") == label
        assert page.locator("#sentiment-attention .dl4nlp-token").count() == 5  # the GRU's 5 words
        page.screenshot(path=str(ARTIFACTS / "demo-sentiment.png"), full_page=True)

        # empty text: a message in the tab, and the server keeps answering
        box.fill("")
        page.click("#sentiment-submit")
        page.wait_for_selector("#sentiment-output .dl4nlp-error", timeout=30_000)
        assert "empty" in page.inner_text("#sentiment-output .dl4nlp-error")

        # HTML/script typed by the user is shown as text, never run
        box.fill(XSS)
        page.click("#sentiment-submit")
        page.wait_for_selector("#sentiment-output .prediction", timeout=30_000)
        time.sleep(0.3)
        assert XSS in page.inner_text("#sentiment-output .dl4nlp-input")
        assert page.evaluate("window.__xss") is None and not dialogs
        assert page.locator("#sentiment-output img").count() == 0
        page.screenshot(path=str(ARTIFACTS / "demo-sentiment-escaped.png"), full_page=True)
        browser.close()


def test_browser_leaderboard_and_embeddings_tabs(server, runs, vectors_file):
    from dl4nlp.core.runs import read_results

    pw = _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(server)
        page.get_by_role("tab", name="Leaderboard").click()
        page.wait_for_selector("#leaderboard-table", timeout=30_000)
        table = page.inner_text("#leaderboard-table")
        for key, name in (("logreg", "lr"), ("gru", "gru")):
            dev = read_results(runs[key])["dev_acc"]
            assert name in table and f"{round(100 * dev, 2):g}" in table
        assert "test ppl" in table and f"{round(read_results(runs['lm'])['test_ppl'], 2):g}" in table
        assert page.locator(".leaderboard-curve img").count() == 5
        page.screenshot(path=str(ARTIFACTS / "demo-leaderboard.png"), full_page=True)

        page.get_by_role("tab", name="Embeddings").click()
        page.locator("#emb-word textarea, #emb-word input").first.fill("king")
        page.click("#emb-neighbours-submit")
        page.wait_for_selector("#emb-neighbours-output .emb-word", timeout=30_000)
        from dl4nlp.embeddings import load_vectors

        expected = [w for w, _ in load_vectors(vectors_file).neighbors("king", 10)]
        assert page.locator("#emb-neighbours-output .emb-word").all_inner_texts() == expected
        page.screenshot(path=str(ARTIFACTS / "demo-embeddings.png"), full_page=True)
        browser.close()


def test_browser_captioning_upload(server, runs, tmp_path):
    from dl4nlp.pipelines.captioning import CaptionModel

    pw = _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    write_images(tmp_path)
    fake = tmp_path / "notes.png"
    fake.write_text("not an image <script>window.__xss=3</script>\n", encoding="utf-8")
    words = CaptionModel(runs["captioner"]).caption(tmp_path / "red.png", beam_size=3).words
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(server)
        page.get_by_role("tab", name="Captioning").click()
        upload = page.locator("#caption-upload input[type=file]")
        upload.set_input_files(str(fake))  # a text file named .png: refused in the tab
        clear = "#caption-upload button[aria-label='Clear']"
        page.wait_for_selector(clear, timeout=30_000)  # uploaded
        assert "notes" in page.inner_text("#caption-upload")
        page.click("#caption-submit")
        page.wait_for_selector("#caption-output .dl4nlp-error", timeout=30_000)
        assert "notes.png: not a readable image" in page.inner_text("#caption-output")
        page.screenshot(path=str(ARTIFACTS / "demo-captioning-bad-upload.png"), full_page=True)

        page.click(clear)
        page.wait_for_selector(clear, state="detached", timeout=30_000)
        upload = page.locator("#caption-upload input[type=file]")
        upload.set_input_files(str(tmp_path / "red.png"))  # the server still works: a real image
        page.wait_for_selector(clear, timeout=30_000)
        assert "red" in page.inner_text("#caption-upload")
        page.click("#caption-submit")
        page.wait_for_selector("#caption-output .caption-text", timeout=30_000)
        assert page.inner_text("#caption-output .caption-text") == " ".join(words)
        assert page.evaluate("window.__xss") is None
        page.screenshot(path=str(ARTIFACTS / "demo-captioning.png"), full_page=True)
        browser.close()


def test_browser_language_model_and_nli_tabs(server, runs, nli_run):
    from dl4nlp.pipelines.finetune import load_transformer_run
    from dl4nlp.pipelines.language_model import LanguageModel

    pw = _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    greedy = LanguageModel(runs["lm"]).generate("the cat", n=1, max_len=30, temperature=0.0)[0]
    label = load_transformer_run(nli_run).predict(["a dog runs\tthe dog sleeps"])[0][0]
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(server)
        page.get_by_role("tab", name="Language model").click()
        page.fill("#lm-prompt textarea", "the cat")
        page.locator("#lm-output").scroll_into_view_if_needed()
        page.get_by_label("Temperature (0 = greedy)").first.fill("0")  # the slider's number box
        page.keyboard.press("Enter")
        page.click("#lm-submit")
        page.wait_for_selector("#lm-output .lm-sample", timeout=30_000)
        samples = page.locator("#lm-output .lm-sample").all_inner_texts()
        assert samples and all(s == f"the cat {greedy}" for s in samples)  # greedy: every sample alike
        page.screenshot(path=str(ARTIFACTS / "demo-language-model.png"), full_page=True)

        page.get_by_role("tab", name="NLI").click()
        page.fill("#nli-premise textarea", "a dog runs")
        page.fill("#nli-hypothesis textarea", "the dog sleeps")
        page.click("#nli-submit")
        page.wait_for_selector("#nli-output .nli-label", timeout=30_000)
        assert page.inner_text("#nli-output .nli-label") == label
        page.wait_for_selector("#nli-heatmap img", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "demo-nli.png"), full_page=True)
        browser.close()


def test_a_port_in_use_is_one_clear_error(runs):
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.demo import build_app, launch

    app, _ = build_app([runs["logreg"]], DemoSettings(vectors=[]))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(ConfigError, match=f"serve: cannot listen on 127.0.0.1:{port} .*try another --port"):
            launch(app, "127.0.0.1", port, DemoSettings(vectors=[]), block=False, quiet=True)
    app.close()
