"""The demo tabs of the newer families, on tiny runs trained here: named entities, question answering, translation
(recurrent and from-scratch transformer: beam, layer and head) and tree models in the sentiment tab; their
handlers, the HTTP API, and headless Chromium (skipped as in test_demo.py when the browser is missing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

from conftest import tiny_config, write_sst  # noqa: E402
from test_demo import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, _browser, call_api, free_port  # noqa: E402

from dl4nlp.demo.limits import DemoSettings, InputError  # noqa: E402
from dl4nlp.demo.render import guarded  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
NER_SENTENCE = "Angela Merkel visited Paris"
QA = ("Warsaw is the capital of Poland. The Vistula river flows through Warsaw. Its population is about 1.7 million "
      "people.", "What river flows through Warsaw?")  # test_qa's training article: the tiny reader learns it
SOURCE = "Ein Hund schläft."


@pytest.fixture(scope="module", autouse=True)
def keep_torch_threads():
    """build_app sets torch's thread count (a serving choice); give the next test modules theirs back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def train_family_runs(root: Path) -> dict[str, Path]:
    """Tiny runs of each newer family under ``root/runs``: NER (BiLSTM-CRF), QA (DrQA), translation (Bahdanau GRU
    and the from-scratch transformer), a Tree-LSTM and a logistic regression on a tiny SST."""
    from test_ner import tiny_corpus
    from test_qa import write_squad
    from test_transformer_translation import write_parallel

    from dl4nlp.core.config import from_dict, load_config
    from dl4nlp.experiments import train_any

    runs, out = root / "runs", {}
    common = {"trainer": {"progress_bar": False, "accelerator": "cpu"}}
    ner = [f"data.path={tiny_corpus(root)}", f"run.dir={runs}", "run.name=ner", "model.embeddings=random",
           "model.hidden=16", "model.dropout=0.0", "train.lr=0.05", "train.epochs=30", "train.patience=0",
           "trainer.progress_bar=false", "trainer.accelerator=cpu", "run.seed=1"]
    out["ner"] = train_any(load_config(ROOT / "configs/ner/bilstm_crf_charcnn.yaml", ner))
    out["qa"] = train_any(from_dict({
        "data": {"dataset": "squad-articles", "path": str(write_squad(root / "squad"))},
        "model": {"name": "drqa", "embeddings": "random", "embedding_dim": 16, "hidden": 16, "layers": 1,
                  "dropout": 0.0},
        "train": {"lr": 0.02, "batch_size": 4, "eval_batch_size": 8, "epochs": 12, "patience": 0},
        "run": {"dir": str(runs), "name": "qa", "seed": 1}, **common}))
    m30k = write_parallel(root / "m30k")
    data = {"dataset": "multi30k", "path": str(m30k), "direction": "de-en", "min_count": 1}
    train = {"lr": 0.01, "batch_size": 16, "eval_batch_size": 16, "patience": 0}
    out["bahdanau"] = train_any(from_dict({
        "data": data, "model": {"name": "seq2seq_bahdanau", "emb_dim": 12, "hidden": 12, "attn_dim": 12,
                                "dropout": 0.0, "beam_size": 2, "max_len": 8},
        "train": {**train, "lr": 0.03, "epochs": 10}, "run": {"dir": str(runs), "name": "bahdanau", "seed": 1},
        **common}))
    out["transformer"] = train_any(from_dict({
        "data": data, "model": {"name": "seq2seq_transformer", "d_model": 32, "heads": 4, "d_ff": 64, "layers": 2,
                                "dropout": 0.0, "norm": "pre", "tie_output": True, "beam_size": 2, "max_len": 8},
        "train": {**train, "epochs": 6, "schedule": "inverse_sqrt", "warmup_steps": 3},
        "run": {"dir": str(runs), "name": "transformer", "seed": 1}, **common}))
    sst = write_sst(root / "sst")
    out["tree"] = train_any(load_config(None, tiny_config(sst, runs, "tree_lstm", **{
        "run.name": "tree", "model.embeddings": "random", "model.embedding_dim": 8, "model.hidden": 8,
        "train.epochs": 2})))
    out["logreg"] = train_any(load_config(None, tiny_config(sst, runs, "logreg", **{"run.name": "lr",
                                                                                     "train.epochs": 2})))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models on a shared 2-core machine: no oversubscription
    torch.manual_seed(0)
    try:
        return train_family_runs(tmp_path_factory.mktemp("families"))
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def translation(runs: dict[str, Path]):
    from dl4nlp.demo.tabs import translation

    return translation.load([runs["bahdanau"], runs["transformer"]], DemoSettings())


@pytest.fixture(scope="module")
def server(runs: dict[str, Path]):
    """The demo over every tiny run (one folder of runs), on a free loopback port; yields its URL."""
    from dl4nlp.demo import build_app, launch

    settings = DemoSettings(max_chars=500, vectors=[])
    app, titles = build_app([runs["ner"].parent], settings)
    assert titles == ["Sentiment", "Named entities", "Question answering", "Translation", "Leaderboard"]
    port = free_port()
    launch(app, "127.0.0.1", port, settings, block=False, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.close()


# --------------------------------------------------------------------------- the translation tab


def test_translation_tab_matches_the_pipeline_greedy_and_beam(runs, translation):
    from dl4nlp.pipelines.translation import TranslationPredictor

    predictors = {key: TranslationPredictor(runs[key]) for key in ("bahdanau", "transformer")}
    for beam, decoding in ((1, "greedy"), (2, "beam")):
        html, png = translation_analyse(translation, SOURCE, decoding, beam, "bahdanau", 0, 0)
        for key, predictor in predictors.items():
            predictor.beam = beam
            expected = predictor.predict([SOURCE])[0].label
            assert f'<b class="translation" data-run="{key}">{expected}</b>' in html
        assert Path(png).is_file() and Path(png).stat().st_size > 1000
        assert ("greedy" if beam == 1 else "beam search, beam 2") in html


def translation_analyse(models, text, decoding, beam, shown, layer, head):
    from dl4nlp.demo.tabs.translation import analyse

    return analyse(models, text, decoding, beam, shown, layer, head, 500)


def test_translation_tab_shows_each_transformer_head(runs, translation):
    import torch

    from dl4nlp.demo.tabs.translation import head_attention, translate
    from dl4nlp.pipelines.translation import TranslationPredictor

    run = translation.by_name("transformer")
    assert run.shape() == (2, 4) and translation.by_name("bahdanau").shape() is None
    out = translate(run, SOURCE, 1)
    pred = TranslationPredictor(runs["transformer"], beam=1).predict([SOURCE])[0]
    mean, what = head_attention(run, out, 0, 0)  # the last layer's mean over heads = the pipeline's alignment
    torch.testing.assert_close(torch.tensor(mean), torch.tensor(pred.extra["attention"]))
    assert what == "cross-attention, layer 2, mean over heads"
    heads = [torch.tensor(head_attention(run, out, 1, h)[0]) for h in (1, 2, 3, 4)]
    first_mean = torch.tensor(head_attention(run, out, 1, 0)[0])
    torch.testing.assert_close(sum(heads) / 4, first_mean)
    assert heads[0].shape == (len(out["target"]) + 1, len(out["source"]))
    torch.testing.assert_close(heads[0].sum(-1), torch.ones(heads[0].size(0)))
    assert not torch.allclose(heads[0], heads[1])
    html, png = translation_analyse(translation, SOURCE, "greedy", 1, "transformer", 2, 1)
    assert "layer 2, head 1" in html and Path(png).is_file()
    html, png = translation_analyse(translation, "Ein Hund " * 50, "greedy", 1, "transformer", 0, 0)
    assert "No heatmap: 100 source x" in html and png is None  # too long to draw, still translated
    assert 'class="translation" data-run="transformer"' in html


def test_translation_tab_rejects_bad_input(translation):
    from html import unescape

    handler = guarded(lambda *a: translation_analyse(translation, *a), 2, "translation")
    cases = [((" ", "greedy", 1, "bahdanau", 0, 0), "sentence is empty"),
             (("x" * 501, "greedy", 1, "bahdanau", 0, 0), "limit is 500"),
             ((SOURCE, "beam", 11, "bahdanau", 0, 0), "beam size: 11 is not a whole number from 1 to 10"),
             ((SOURCE, "beam", 2.5, "bahdanau", 0, 0), "beam size: 2.5"),
             ((SOURCE, "sampling", 2, "bahdanau", 0, 0), "decoding: 'sampling' is not one of greedy, beam"),
             ((SOURCE, "greedy", 1, "nope", 0, 0), "heatmap: unknown run 'nope'"),
             ((SOURCE, "greedy", 1, "transformer", 3, 0), "layer: transformer has 2 decoder layers"),
             ((SOURCE, "greedy", 1, "transformer", 0, 5), "head: transformer has 4 heads"),
             (("<script>x</script>", "greedy", 1, "bahdanau", 0, 0), None)]
    for args, message in cases:
        html, png = handler(*args)
        if message is None:  # typed HTML is shown as text
            assert "&lt;script&gt;" in html and "<script>" not in html
        else:
            assert 'class="dl4nlp-error"' in html and message in unescape(html) and png is None, (args, html)
    with pytest.raises(InputError, match="beam size"):
        from dl4nlp.demo.tabs.translation import check_beam

        check_beam("beam", True)


# --------------------------------------------------------------------------- tree models in the sentiment tab


def test_sentiment_tab_scores_a_tree_run_and_draws_its_tree(runs):
    import base64

    from dl4nlp.demo.scorers import SCORERS, TreeScorer
    from dl4nlp.demo.tabs import sentiment
    from dl4nlp.pipelines.trees import BALANCED_NOTE, TreePredictor

    assert SCORERS["trees"] is TreeScorer
    models = sentiment.load([runs["tree"], runs["logreg"]], DemoSettings())
    assert [s.name for s in models.scorers] == ["lr", "tree"]  # the ladder's bottom rung first
    text = "a wonderful , charming film"
    expected = TreePredictor(runs["tree"]).predict([text])[0]
    preds = sentiment.predict_all(models, text)
    tree = preds[1]
    assert tree["label"] == expected.label and tree["probabilities"] == expected.scores
    assert tree["words"] == ["a", "wonderful", ",", "charming", "film"] and tree["note"] == BALANCED_NOTE
    assert base64.b64decode(tree["image"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert preds[0]["image"] is None
    table, figures = sentiment.render(text, preds, models.scores)
    assert f'data-run="tree">{expected.label}</b>' in table
    assert figures.count('<figure class="sentiment-tree"') == 1 and "no constituency parser" in figures
    given = "(3 (2 a) (4 (4 wonderful) (2 film)))"  # an SST tree line keeps its structure: no caveat
    assert sentiment.predict_all(models, given)[1]["note"] is None


# --------------------------------------------------------------------------- HTTP API


def test_http_api_of_the_new_tabs(server, runs):
    import httpx

    out = call_api(server, "translate", SOURCE, "beam", 2, "transformer", 1, 2)
    assert 'class="translation" data-run="transformer"' in out[0] and "layer 1, head 2" in out[0]
    assert out[1] is not None
    r = httpx.post(f"{server}gradio_api/call/translate", json={"data": [SOURCE, "beam", 99, "bahdanau", 0, 0]})
    assert r.status_code == 422 and "Beam size: 99 is out of range (1 to 10)" in r.json()["error"]
    r = httpx.post(f"{server}gradio_api/call/translate", json={"data": [SOURCE, "greedy", 1, "other", 0, 0]})
    assert r.status_code == 422 and "Heatmap of" in r.json()["error"]
    out = call_api(server, "ner", NER_SENTENCE)
    assert 'class="ner-entity"' in out[0]
    out = call_api(server, "qa", *QA)
    assert 'class="qa-answer"' in out[0]


# --------------------------------------------------------------------------- headless Chromium


def test_browser_ner_and_qa_tabs(server, runs):
    from dl4nlp.pipelines import pipeline_for

    pw = _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    entities = pipeline_for(runs["ner"]).load(runs["ner"]).predict([NER_SENTENCE])[0].extra["entities"]
    from dl4nlp.data.squad import QAExample
    from dl4nlp.pipelines.qa import QAPredictor

    answer = QAPredictor(runs["qa"]).answer([QAExample("0", QA[1], QA[0])])[0]["answer"]
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(server)
        page.get_by_role("tab", name="Named entities").click()
        page.fill("#ner-input textarea", NER_SENTENCE)
        page.click("#ner-submit")
        page.wait_for_selector("#ner-output .ner-run[data-run='ner']", timeout=30_000)
        page.wait_for_load_state("networkidle")
        marks = page.locator("#ner-output .ner-run[data-run='ner']").first.locator("mark.ner-entity")
        assert marks.count() == len(entities) > 0
        for i, e in enumerate(entities):
            assert marks.nth(i).get_attribute("data-type") == e["type"]
            assert marks.nth(i).inner_text().split()[:-1] == e["text"].split()  # the words, then the type
        page.screenshot(path=str(ARTIFACTS / "demo-ner.png"), full_page=True)

        page.get_by_role("tab", name="Question answering").click()
        page.fill("#qa-context textarea", QA[0])
        page.fill("#qa-question textarea", QA[1])
        page.click("#qa-submit")
        page.wait_for_selector("#qa-output mark.qa-answer", timeout=30_000)
        assert page.inner_text("#qa-output .qa-label[data-run='qa']") == answer
        assert page.inner_text("#qa-output mark.qa-answer") == answer
        page.wait_for_selector("#qa-heatmap img", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "demo-qa.png"), full_page=True)
        browser.close()


def test_browser_translation_and_tree_sentiment(server, runs):
    from dl4nlp.pipelines.translation import TranslationPredictor
    from dl4nlp.pipelines.trees import TreePredictor

    pw = _browser()
    ARTIFACTS.mkdir(exist_ok=True)
    expected = {k: TranslationPredictor(runs[k], beam=1).predict([SOURCE])[0].label for k in ("bahdanau",
                                                                                               "transformer")}
    label = TreePredictor(runs["tree"]).predict(["a wonderful film"])[0].label
    with pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(server)
        page.get_by_role("tab", name="Translation").click()
        page.fill("#translation-input textarea", SOURCE)
        page.click("#translation-submit")
        page.wait_for_selector("#translation-output .translation[data-run='transformer']", timeout=30_000)
        for run, text in expected.items():
            assert page.inner_text(f"#translation-output .translation[data-run='{run}']") == text
        page.wait_for_selector("#translation-heatmap img", timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "demo-translation.png"), full_page=True)

        page.get_by_role("tab", name="Sentiment").click()
        page.fill("#sentiment-input textarea", "a wonderful film")
        page.click("#sentiment-submit")
        page.wait_for_selector("#sentiment-output .prediction[data-run='tree']", timeout=30_000)
        assert page.inner_text("#sentiment-output .prediction[data-run='tree']") == label
        assert page.locator("#sentiment-output .prediction[data-run='lr']").count() == 1
        page.wait_for_selector("#sentiment-attention figure.sentiment-tree[data-run='tree'] img", timeout=30_000)
        assert "balanced binary tree" in page.inner_text("#sentiment-attention .tree-note")
        width = page.evaluate("document.querySelector('figure.sentiment-tree img').naturalWidth")
        assert width > 100  # the PNG decoded in the browser
        page.screenshot(path=str(ARTIFACTS / "demo-sentiment-tree.png"), full_page=True)
        browser.close()
