"""Extractive QA: the official SQuAD metric on hand-worked cases, the reader (offsets, refusals), span decoding
against brute force, sliding windows mapped back to text, a tiny DrQA overfit, a tiny transformer reader, and the
CLI from training to ``dl4nlp answer``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.squad import (
    char_to_word_span,
    parse_qa_input,
    read_qa_splits,
    read_squad,
    read_squad_articles,
    split_articles,
    take_train_examples,
    word_spans,
)
from dl4nlp.models.qa_reader import best_span
from dl4nlp.tasks.squad_metric import exact_match, f1, normalize_answer, squad_scores

# --------------------------------------------------------------------------- fixture

PARAGRAPHS = [
    ("Super Bowl", "The Denver Broncos defeated the Carolina Panthers 24-10 to earn their third Super Bowl title. "
                   "The game was played at Levi's Stadium in Santa Clara, California.",
     [("Who won the Super Bowl?", "Denver Broncos"), ("Where was the game played?", "Levi's Stadium"),
      ("What was the score?", "24-10")]),
    ("Warsaw", "Warsaw is the capital of Poland. The Vistula river flows through Warsaw. "
               "Its population is about 1.7 million people.",
     [("What river flows through Warsaw?", "Vistula"), ("What is Warsaw the capital of?", "Poland")]),
    ("Normans", "The Normans were the people who gave their name to Normandy, a region in France. "
                "Their leader Rollo swore fealty to King Charles III.",
     [("Who was the leader of the Normans?", "Rollo"), ("What region is named after the Normans?", "Normandy")]),
]


def squad_json(paragraphs=PARAGRAPHS, version: str = "1.1") -> dict:
    data = []
    for a, (title, context, qas) in enumerate(paragraphs):
        items = [{"id": f"q{a}-{i}", "question": q, "answers": [{"text": ans, "answer_start": context.index(ans)}]}
                 for i, (q, ans) in enumerate(qas)]
        data.append({"title": title, "paragraphs": [{"context": context, "qas": items}]})
    return {"version": version, "data": data}


def write_squad(folder: Path) -> Path:
    """The tiny SQuAD v1.1 fixture as ``folder/dev-v1.1.json`` (3 articles: 1 train / 1 dev / 1 test)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dev-v1.1.json").write_text(json.dumps(squad_json()), encoding="utf-8")
    return folder


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models, one torch thread


@pytest.fixture
def squad_dir(tmp_path: Path) -> Path:
    return write_squad(tmp_path / "squad")


# --------------------------------------------------------------------------- metric


@pytest.mark.parametrize("pred, gold, em, f", [
    ("The Denver Broncos", "Denver Broncos", 1.0, 1.0),  # article and case removed
    ("Denver Broncos won", "the Denver Broncos", 0.0, 0.8),  # P = 2/3, R = 1 -> 2PR/(P+R) = 0.8
    ("Broncos, Broncos!", "Broncos", 0.0, 2 / 3),  # multiset: 1 common of 2 predicted -> P = 1/2, R = 1
    ("Levis Stadium", "Levi's Stadium", 1.0, 1.0),  # punctuation removed inside the word
    ("a", "the", 1.0, 0.0),  # both normalise to nothing: EM 1, F1 0 (no common token) in the v1.1 script
    ("An Banana  split", "banana split", 1.0, 1.0),  # 'an' only as a whole word; spaces collapsed
    ("Carolina", "Denver", 0.0, 0.0),
])
def test_metric_hand_worked_cases(pred: str, gold: str, em: float, f: float) -> None:
    assert exact_match(pred, gold) == em
    assert f1(pred, gold) == pytest.approx(f)


def test_metric_max_over_references_and_mean() -> None:
    assert normalize_answer("  The  Eiffel-Tower! ") == "eiffeltower"
    golds = {"a": ["Levi's Stadium", "Santa Clara, California"], "b": ["24-10"], "c": ["Rollo"]}
    # a: best reference is the 2nd: 2 common of 2 predicted / 3 gold -> F1 0.8; b: exact; c: no prediction -> 0
    scores = squad_scores({"a": "Santa Clara", "b": "24-10"}, golds)
    assert scores["exact_match"] == pytest.approx(100 / 3)
    assert scores["f1"] == pytest.approx(100 * (0.8 + 1.0) / 3)


# --------------------------------------------------------------------------- reader


def test_reader_offsets_and_article_split(squad_dir: Path) -> None:
    examples = read_squad(squad_dir / "dev-v1.1.json")
    assert len(examples) == 7 and examples[0].qid == "q0-0"
    for ex in examples:
        spans = word_spans(ex.context)
        first, last = char_to_word_span(spans, ex.starts[0], ex.starts[0] + len(ex.answers[0]))
        assert ex.context[spans[first][1]:spans[last][2]] == ex.answers[0]
    assert [w for w, _, _ in word_spans("Levi's 24-10 win.")] == ["Levi's", "24-10", "win", "."]
    splits = read_qa_splits("squad-articles", squad_dir)
    titles = [set(splits.articles[s]) for s in ("train", "dev", "test")]
    assert sum(map(len, titles)) == 3 and not (titles[0] & titles[1] or titles[0] & titles[2] or titles[1] & titles[2])
    assert read_qa_splits("squad-articles", squad_dir).articles == splits.articles  # fixed seed
    assert splits.describe().startswith("SQuAD v1.1 dev articles split 1/1/1")
    train, dev, test = split_articles([(str(i), []) for i in range(48)])
    assert (len(train), len(dev), len(test)) == (32, 6, 10) and not set(train) & set(dev) | set(test) & set(train)
    assert [ex.qid for ex in take_train_examples(examples, 3, seed=1)] == \
        [ex.qid for ex in take_train_examples(examples, 3, seed=1)]
    official = read_qa_splits("squad", squad_dir, train_file="dev-v1.1.json")
    assert official.test is official.dev and official.protocol == "squad"


def test_reader_refuses_v2_bad_json_and_bad_offsets(tmp_path: Path) -> None:
    v2 = squad_json()
    v2["data"][0]["paragraphs"][0]["qas"][1].update(answers=[], is_impossible=True)
    (tmp_path / "v2.json").write_text(json.dumps(v2), encoding="utf-8")
    with pytest.raises(DataError, match=r"v2\.json: question q0-1: unanswerable question \(SQuAD 2\.0\)"):
        read_squad(tmp_path / "v2.json")
    (tmp_path / "bad.json").write_text('{"data": [\n{"title": ', encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.json: line 2: invalid JSON"):
        read_squad(tmp_path / "bad.json")
    moved = squad_json()
    moved["data"][1]["paragraphs"][0]["qas"][0]["answers"][0]["answer_start"] += 1
    (tmp_path / "moved.json").write_text(json.dumps(moved), encoding="utf-8")
    with pytest.raises(DataError, match=r"moved\.json: question q1-0: answer 'Vistula' is not at character"):
        read_squad_articles(tmp_path / "moved.json")
    with pytest.raises(DataError, match="SQuAD file"):
        read_squad(tmp_path / "missing.json")
    with pytest.raises(ConfigError, match="data.dataset"):
        read_qa_splits("sst2", tmp_path)
    assert parse_qa_input("Who? ||| Rollo did.") == ("Who?", "Rollo did.")
    assert parse_qa_input('{"question": "Who?", "context": "Rollo."}') == ("Who?", "Rollo.")
    with pytest.raises(DataError, match="question ||| context"):
        parse_qa_input("no separator")


# --------------------------------------------------------------------------- decoding


def test_best_span_matches_brute_force() -> None:
    torch.manual_seed(0)
    for max_len in (0, 1, 3, 30):
        s, e = torch.randn(6, 12), torch.randn(6, 12)
        mask = torch.ones(6, 12, dtype=torch.bool)
        for b, n in enumerate((12, 7, 1, 3, 12, 5)):
            mask[b, n:] = False
        start, end, score = best_span(s, e, mask, max_len)
        for b in range(6):
            n = int(mask[b].sum())
            best = max(((s[b, i] + e[b, j]).item(), i, j) for i in range(n) for j in range(i, min(n, i + max_len + 1)))
            assert (int(start[b]), int(end[b])) == best[1:]
            assert float(score[b]) == pytest.approx(best[0])


def test_sliding_windows_map_back_to_text_on_a_long_passage() -> None:
    from dl4nlp.models.qa_transformer import answer_pieces, best_answer, make_windows, window_candidates
    from dl4nlp.models.transformer import load_tokenizer

    tok = load_tokenizer("minilm-l6")
    filler = " ".join(f"Sentence {i} mentions the number {i * 7} and nothing else." for i in range(40))
    context = f"{filler} The treaty was signed in Paris on 3 September 1783. {filler}"
    answer = "Paris on 3 September 1783"
    start = context.index(answer)
    windows = make_windows(tok, ["Where and when was the treaty signed?"], [context], 64, 24,
                           [(start, start + len(answer))])
    assert len(windows) > 10  # the passage is cut into many overlapping windows
    holding = [w for w in windows if w.start > 0]
    assert holding, "some window holds the answer"
    for w in windows:
        assert len(w.ids) <= 64
        if w.start:  # the labelled pieces span exactly the answer's characters
            assert context[w.offsets[w.start][0]:w.offsets[w.end][1]] == answer
        else:
            assert answer_pieces(w.offsets, start, start + len(answer)) == (0, 0)
    cands = []
    for w in windows:  # logits that point at the gold pieces where they are, small noise elsewhere
        s_log = [0.0] * len(w.ids)
        e_log = [0.0] * len(w.ids)
        if w.start:
            s_log[w.start], e_log[w.end] = 5.0, 5.0
        cands += window_candidates(s_log, e_log, w.offsets, 20, 30)
    text, prob, s, e = best_answer(context, cands)
    assert text == answer and (s, e) == (start, start + len(answer)) and 0 < prob <= 1


# --------------------------------------------------------------------------- training


def tiny_cfg(squad_dir: Path, tmp_path: Path, model: dict, **train):
    from dl4nlp.core.config import from_dict

    return from_dict({
        "data": {"dataset": "squad-articles", "path": str(squad_dir)},
        "model": model,
        "train": {"lr": 0.01, "batch_size": 4, "eval_batch_size": 8, "epochs": 2, "patience": 0, **train},
        "trainer": {"progress_bar": False, "accelerator": "cpu"},
        "run": {"dir": str(tmp_path / "runs"), "name": f"{model['name']}-tiny", "seed": 1},
    })


def test_drqa_overfits_a_tiny_set(squad_dir: Path) -> None:
    from dl4nlp.data.qa_batches import DrQADecoder, DrQAEncoder, collate_drqa
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.models.qa_reader import DocumentReader, DrQAOptions
    from dl4nlp.tasks.span_extraction import pointer_loss

    torch.manual_seed(0)
    examples = read_squad(squad_dir / "dev-v1.1.json")
    texts = [t for ex in examples for t in (ex.question, ex.context)]
    vocab = Vocab.build([[w.lower() for w, _, _ in word_spans(t)] for t in texts])
    enc = DrQAEncoder(vocab)
    ds = enc.dataset(examples, train=True)
    batch = collate_drqa(ds.items)
    assert batch["passage"].shape[0] == 7 and batch["features"].shape[-1] == 3
    model = DocumentReader(len(vocab), DrQAOptions(embeddings="random", embedding_dim=16, hidden=16, layers=1,
                                                   dropout=0.0))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    keys = DrQADecoder.input_keys
    first = None
    for _ in range(60):
        loss = pointer_loss(*model(*[batch[k] for k in keys]), batch["start"], batch["end"])
        first = first if first is not None else float(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 0.1 * first
    model.eval()
    start, end, att = model.attention(*[batch[k] for k in keys])
    assert att.shape == (7, batch["passage"].shape[1], batch["question"].shape[1])
    assert torch.allclose(att[batch["passage_mask"]].sum(-1), torch.ones(int(batch["passage_mask"].sum())))
    decoder = DrQADecoder(examples, ds, enc, 30)
    cands = dict(decoder.candidates(batch, start, end))
    assert decoder.scores(cands) == {"exact_match": 100.0, "f1": 100.0}


def test_transformer_reader_tiny_bert(squad_dir: Path, tmp_path: Path) -> None:
    from transformers import BertConfig, BertForQuestionAnswering

    from dl4nlp.models.transformer import load_tokenizer
    from dl4nlp.pipelines.qa import PIPELINE

    tok = load_tokenizer("minilm-l6")
    folder = tmp_path / "tiny-bert"
    torch.manual_seed(0)
    BertForQuestionAnswering(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2,
                                        num_attention_heads=2, intermediate_size=64)).save_pretrained(folder)
    tok.save_pretrained(folder)
    cfg = tiny_cfg(squad_dir, tmp_path, {"name": "transformer_qa", "checkpoint": str(folder), "max_length": 48,
                                         "doc_stride": 16, "freeze_layers": 1, "max_windows": 2}, lr=1e-3, epochs=1)
    run = PIPELINE.train(cfg)
    res = json.loads((run / "results.json").read_text())
    assert res["task"] == "qa" and "article" in res["protocol"] and 0 <= res["test_f1"] <= 1
    assert res["trainable_params"] < res["params"]  # embeddings + 1 layer frozen
    assert (run / "hf" / "config.json").is_file()
    context = PARAGRAPHS[1][1]
    pred = PIPELINE.load(run).predict([f"What river flows through Warsaw? ||| {context}"])[0]
    assert pred.label == context[pred.extra["start"]:pred.extra["end"]] and 0 <= pred.scores["score"] <= 1
    scores = PIPELINE.evaluate(run, data=squad_dir / "dev-v1.1.json")
    assert scores["questions"] == 7 and 0 <= scores["f1"] <= 1 and scores["data"].endswith("dev-v1.1.json")


def test_cli_train_then_answer(squad_dir: Path, tmp_path: Path) -> None:
    import yaml
    from typer.testing import CliRunner

    from dl4nlp.cli import app

    cfg = tiny_cfg(squad_dir, tmp_path, {"name": "drqa", "embeddings": "random", "embedding_dim": 16, "hidden": 16,
                                         "layers": 1, "dropout": 0.0})
    path = tmp_path / "drqa.yaml"
    path.write_text(yaml.safe_dump(cfg.to_dict()), encoding="utf-8")
    runner = CliRunner()
    out = runner.invoke(app, ["train", str(path)])
    assert out.exit_code == 0, out.output
    run = tmp_path / "runs" / "drqa-tiny"
    res = json.loads((run / "results.json").read_text())
    assert res["model"] == "drqa" and {"dev_f1", "test_f1", "test_em", "protocol"} <= res.keys()
    png = tmp_path / "att.png"
    out = runner.invoke(app, ["answer", str(run), "--context", PARAGRAPHS[2][1], "--question",
                              "Who was the leader of the Normans?", "--attention", str(png)])
    assert out.exit_code == 0, out.output
    answer, score = out.stdout.strip().split("\n")[-1].split("\t")
    assert answer and answer in PARAGRAPHS[2][1] and score.startswith("score=")
    assert png.is_file() and png.stat().st_size > 1000
    line = json.dumps({"question": "Where was the game played?", "context": PARAGRAPHS[0][1]})
    out = runner.invoke(app, ["predict", str(run), line, "--format", "jsonl", "--attention", str(tmp_path / "maps")])
    assert out.exit_code == 0, out.output
    pred = json.loads(out.stdout.strip().split("\n")[-1])
    assert pred["label"] == PARAGRAPHS[0][1][pred["start"]:pred["end"]] and 0 <= pred["scores"]["score"] <= 1
    assert len(pred["attention"]) == len(pred["question_words"]) and \
        len(pred["attention"][0]) == len(pred["passage_words"])
    assert (tmp_path / "maps" / "0001.png").is_file()
    out = runner.invoke(app, ["evaluate", str(run), "--data", str(squad_dir / "dev-v1.1.json")])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["questions"] == 7
    out = runner.invoke(app, ["answer", str(run), "--context", " ", "--question", "Who?"])
    assert out.exit_code != 0 and "empty --context" in str(out.exception)

    from dl4nlp.demo.limits import DemoSettings
    from dl4nlp.demo.render import guarded
    from dl4nlp.demo.tabs import qa as tab

    models = tab.load([run], DemoSettings())
    html, png = tab.analyse(models, PARAGRAPHS[2][1], "Who was the leader of the Normans?", 2000)
    answer_html = html.split('class="qa-label" data-run="drqa-tiny">')[1].split("</b>")[0]
    assert f'<mark class="qa-answer">{answer_html}</mark>' in html and Path(png).is_file()
    assert "question is empty" in guarded(lambda c, q: tab.analyse(models, c, q, 2000), 2, "qa")("text", " ")[0]


def test_drqa_resume_continues_a_run(squad_dir: Path, tmp_path: Path) -> None:
    from dl4nlp.pipelines.qa import PIPELINE

    model = {"name": "drqa", "embeddings": "random", "embedding_dim": 8, "hidden": 8, "layers": 1}
    run = PIPELINE.train(tiny_cfg(squad_dir, tmp_path, model, epochs=1))
    (run / "results.json").unlink()  # as if killed after its first epoch
    PIPELINE.train(tiny_cfg(squad_dir, tmp_path, model, epochs=2), resume=run)
    res = json.loads((run / "results.json").read_text())
    assert res["epochs_run"] == 2 and (run / "vocab.json").is_file()
