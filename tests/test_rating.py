"""Rating prediction: numeric readers and their errors, the CORAL / regression / class heads, the rating metrics
against scipy, a tiny overfit per head, and the CLI train -> predict -> evaluate on a tiny table."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_config, write_sst

from dl4nlp.core.config import load_config
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.models.rating_heads import ClassHead, CoralHead, RatingModel, RatingScale, RegressionHead, make_head
from dl4nlp.tasks.rating_metrics import ranks, rating_scores

STARS = RatingScale(1.0, 10.0, 10)
WORDS = {1: "awful", 2: "dreadful", 3: "poor", 4: "weak", 7: "decent", 8: "good", 9: "great", 10: "masterpiece"}


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models, one torch thread


def write_rated(folder: Path, n: int = 6) -> Path:
    """A tiny IMDB-like folder: train.jsonl / test.jsonl whose `rating` is told by one word of each review."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, reps in (("train", n), ("test", 2)):
        lines = [json.dumps({"id": f"{split}/{i}", "text": f"the film was {w} really", "label": int(r >= 7),
                             "rating": r}) for i, (r, w) in enumerate(list(WORDS.items()) * reps)]
        (folder / f"{split}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _cfg(data: Path, runs: Path, model: str = "rating_bow", **extra: object):
    sets = [f"data.path={data}", "data.dataset=imdb", f"run.dir={runs}", "trainer.progress_bar=false",
            "trainer.accelerator=cpu", "train.patience=0", "train.batch_size=8", f"model.name={model}"]
    return load_config(None, sets + [f"{k}={v}" for k, v in extra.items()])


# --------------------------------------------------------------------------- readers


def test_imdb_reader_takes_the_rating_and_defaults_to_1_10(tmp_path: Path):
    from dl4nlp.data.ratings import rating_levels, rating_scale, read_rating_splits

    cfg = _cfg(write_rated(tmp_path / "imdb"), tmp_path / "runs")
    splits = read_rating_splits(cfg.data, 13)
    assert rating_scale(cfg.data) == (1.0, 10.0) and rating_levels(cfg.data) == 10
    assert len(splits.train) + len(splits.dev) == 48 and len(splits.test) == 16
    rows = list(zip(splits.test["text"], splits.test["label"], strict=True))
    assert all(f" {WORDS[int(y)]} " in t for t, y in rows) and all(isinstance(y, float) for _, y in rows)


@pytest.mark.parametrize(("line", "message"), [
    ('{"text": "ok", "rating": "seven"}', r"train\.jsonl:2: rating \"seven\" in column 'rating' is not a number"),
    ('{"text": "ok", "rating": 11}', r"train\.jsonl:2: rating 11 in column 'rating' is outside the scale \[1, 10\]"),
    ('{"text": "ok", "rating": null}', r"train\.jsonl:2: rating empty in column 'rating' is not a number"),
    ('{"text": "ok", "rating": true}', r"train\.jsonl:2: rating true .* is not a number"),
    ('{"text": "ok"}', r"train\.jsonl:2: missing column 'rating'"),
])
def test_bad_ratings_name_file_and_line(tmp_path: Path, line: str, message: str):
    from dl4nlp.data.ratings import read_rating_splits

    folder = write_rated(tmp_path / "imdb")
    good = (folder / "train.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (folder / "train.jsonl").write_text(good + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_rating_splits(_cfg(folder, tmp_path / "runs").data, 13)


def test_table_reader_csv_column_scale_and_errors(tmp_path: Path):
    from dl4nlp.data.ratings import read_rating_splits

    (tmp_path / "t.csv").write_text("review,stars\n" + "".join(f"text {i},{1 + i % 5}\n" for i in range(20)) +
                                    "bad one,4.5x\n", encoding="utf-8")
    sets = ["data.dataset=table", f"data.path={tmp_path}", "data.train_file=t.csv", "data.text_column=review",
            "data.label_column=stars", "model.name=rating_bow"]
    with pytest.raises(ConfigError, match="data.rating_scale: required for dataset 'table'"):
        read_rating_splits(load_config(None, sets).data, 1)
    with pytest.raises(DataError, match=r"t\.csv:22: rating \"4\.5x\" in column 'stars' is not a number"):
        read_rating_splits(load_config(None, sets + ["data.rating_scale=[1, 5]"]).data, 1)
    with pytest.raises(ConfigError, match=r"data.rating_scale: must be \[lowest, highest\]"):
        load_config(None, sets + ["data.rating_scale=[5, 1]"])
    with pytest.raises(ConfigError, match="data.rating_levels: must be at least 2"):
        load_config(None, sets + ["data.rating_scale=[1, 5]", "data.rating_levels=1"])


def test_sst_phrase_values_from_the_dictionary_files(tmp_path: Path):
    from dl4nlp.data.ratings import read_rating_splits

    sst = tmp_path / "sst"
    sst.mkdir()
    for split in ("train", "dev", "test"):
        (sst / f"{split}.txt").write_text("(3 (2 a) (4 (2 -LRB-) (4 (4 good) (2 -RRB-))))\n", encoding="utf-8")
    phrases = ["a", "(", "good", ")", "good )", "( good )", "a ( good )"]  # brackets spelled plainly
    values = [0.5, 0.5, 0.9, 0.5, 0.85, 0.8, 0.77]
    (sst / "dictionary.txt").write_text("".join(f"{p}|{i}\n" for i, p in enumerate(phrases)), encoding="utf-8")
    (sst / "sentiment_labels.txt").write_text("phrase ids|sentiment values\n" + "".join(
        f"{i}|{v}\n" for i, v in enumerate(values)), encoding="utf-8")
    cfg = load_config(None, [f"data.path={sst}", "data.dataset=sst", "data.phrases=true", "model.name=rating_bow"])
    splits = read_rating_splits(cfg.data, 1)
    assert splits.test["text"] == ["a ( good )"] and splits.test["label"] == [pytest.approx(0.77)]
    assert sorted(splits.train["label"]) == pytest.approx(sorted(values))
    (sst / "sentiment_labels.txt").write_text("phrase ids|sentiment values\n0|1.5\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"sentiment_labels\.txt:2: rating 1\.5 .* outside the scale \[0, 1\]"):
        read_rating_splits(cfg.data, 1)
    (sst / "dictionary.txt").unlink()
    with pytest.raises(DataError, match="no dictionary.txt"):
        read_rating_splits(cfg.data, 1)


# --------------------------------------------------------------------------- heads


def test_coral_is_rank_consistent_and_its_expectation_matches_brute_force():
    torch.manual_seed(0)
    head = CoralHead(STARS)
    with torch.no_grad():
        head.gaps.normal_(0, 3)  # any free parameters: the biases still decrease
        head.first_bias.fill_(2.0)
    b = head.biases()
    assert b.shape == (9,) and bool((b[1:] < b[:-1]).all())
    out = torch.randn(64, 1) * 5  # [B, 1]
    cum = head.cumulative(out)  # [B, 9] P(y > v_k)
    assert bool((cum[:, 1:] <= cum[:, :-1]).all())
    # P(y = v_k) from the cumulative probabilities, then E[y] = sum_k v_k P(y = v_k)
    ones, zeros = torch.ones(64, 1), torch.zeros(64, 1)
    point = torch.cat([ones, cum], 1) - torch.cat([cum, zeros], 1)  # [B, 10]
    assert bool((point >= 0).all()) and torch.allclose(point.sum(1), torch.ones(64))
    assert torch.allclose(head.rating(out), point @ STARS.values(), atol=1e-5)
    assert bool((head.rating(out) >= 1).all() and (head.rating(out) <= 10).all())
    assert torch.equal(head.rank(out), (cum > 0.5).sum(1))


def test_coral_loss_is_the_sum_of_the_binary_cross_entropies():
    torch.manual_seed(1)
    head = CoralHead(STARS)
    out, y = torch.randn(5, 1), torch.tensor([1.0, 4.0, 7.0, 10.0, 8.0])
    p = head.cumulative(out)  # [5, 9]
    manual = 0.0
    for i in range(5):
        for k in range(9):
            above = y[i] > 1 + k
            manual -= math.log(p[i, k]) if above else math.log(1 - p[i, k])
    assert head.loss(out, y).item() == pytest.approx(manual / 5, rel=1e-5)


def test_regression_clamps_to_the_scale_but_keeps_a_gradient():
    head = RegressionHead(STARS)
    out = torch.tensor([[-0.5], [0.5], [1.7]], requires_grad=True)
    assert head.rating(out).tolist() == pytest.approx([1.0, 5.5, 10.0])
    head.loss(out, torch.tensor([1.0, 5.5, 10.0])).backward()
    assert out.grad[0, 0] < 0 and out.grad[1, 0] == 0 and out.grad[2, 0] > 0  # pulled back onto the scale
    huber = RegressionHead(STARS, "huber", 0.1)
    far = torch.tensor([[3.0]])
    assert huber.loss(far, torch.tensor([1.0])).item() == pytest.approx(0.1 * (3.0 - 0.5 * 0.1))


def test_class_head_rating_is_the_expected_star_value():
    head = ClassHead(STARS)
    out = torch.full((1, 10), -1e4)
    out[0, 6], out[0, 7] = 0.0, 0.0  # half 7 stars, half 8 stars
    assert head.rating(out).item() == pytest.approx(7.5)
    with pytest.raises(ValueError, match="only to head: regress"):
        make_head("ordinal", STARS, loss="huber")
    assert STARS.describe(7.56) == "7.6 stars" and RatingScale(0, 1, 5).describe(0.734) == "0.73 on [0, 1]"


class WordScore(torch.nn.Module):
    """A bag of embeddings summed into ``outputs`` numbers: enough to fit a rating told by one word."""

    def __init__(self, vocab: int, outputs: int):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, outputs)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (self.emb(tokens) * mask[..., None]).sum(1)  # [B, O]


@pytest.mark.parametrize("kind", ["regress", "ordinal", "classify"])
def test_each_head_overfits_a_tiny_rating_set(kind: str):
    torch.manual_seed(0)
    ratings = torch.tensor(list(WORDS), dtype=torch.float32)  # [8]
    tokens = torch.arange(1, 9)[:, None]  # [8, 1]: one word per rating
    head = make_head(kind, STARS)
    model = RatingModel(WordScore(9, head.num_outputs), head)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    mask = torch.ones_like(tokens, dtype=torch.bool)
    for _ in range(300):
        opt.zero_grad()
        model.loss(model(tokens, mask), ratings).backward()
        opt.step()
    mae = (model.rating(tokens, mask) - ratings).abs().mean().item()
    assert mae < 0.25, (kind, mae)


# --------------------------------------------------------------------------- metrics


def test_metrics_match_scipy_and_numpy():
    from scipy.stats import pearsonr, rankdata, spearmanr

    rng = np.random.default_rng(0)
    gold = rng.integers(1, 11, 200).astype(float)  # many ties
    pred = np.clip(gold + rng.normal(0, 1.5, 200), 1, 10)
    pred[:20] = np.round(pred[:20])  # ties among the predictions too
    s = rating_scores(pred, gold, 1, 10, 10)
    assert np.allclose(ranks(pred), rankdata(pred))
    assert s["spearman"] == pytest.approx(spearmanr(pred, gold).statistic, abs=1e-12)
    assert s["pearson"] == pytest.approx(pearsonr(pred, gold).statistic, abs=1e-12)
    assert s["mae"] == pytest.approx(np.mean(np.abs(pred - gold)))
    assert s["rmse"] == pytest.approx(np.sqrt(np.mean((pred - gold) ** 2)))
    rounded = [min(10, max(1, math.floor(p + 0.5))) for p in pred]  # halves: numpy rounds to even, so avoid them
    assert not any(abs(p % 1 - 0.5) < 1e-9 for p in pred)
    assert s["accuracy"] == pytest.approx(np.mean([r == g for r, g in zip(rounded, gold, strict=True)]))
    assert s["within_one"] == pytest.approx(np.mean([abs(r - g) <= 1 for r, g in zip(rounded, gold, strict=True)]))
    assert math.isnan(rating_scores([5.0, 5.0], [1.0, 9.0], 1, 10, 10)["spearman"])  # constant: undefined


# --------------------------------------------------------------------------- end to end


def test_cli_train_predict_evaluate_end_to_end(tmp_path: Path, cli):
    from typer.testing import CliRunner

    from dl4nlp.cli import app

    imdb = write_rated(tmp_path / "imdb")
    config = Path(__file__).parents[1] / "configs/rating/imdb_gru_ordinal.yaml"
    sets = [f"data.path={imdb}", f"run.dir={tmp_path / 'runs'}", "model.embeddings=random", "model.embedding_dim=8",
            "model.hidden=8", "train.epochs=2", "train.batch_size=8", "trainer.progress_bar=false",
            "trainer.accelerator=cpu", "data.min_count=1"]
    assert cli("train", str(config), *[x for s in sets for x in ("--set", s)])[0] == 0
    run = tmp_path / "runs" / "rating_gru-imdb-s13"
    res = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert res["task"] == "rating" and res["head"] == "ordinal" and res["scale"] == [1.0, 10.0]
    assert {"dev_mae", "test_mae", "test_rmse", "test_spearman", "test_within_one", "mean_baseline"} <= res.keys()
    assert (run / "rating_plot.png").read_bytes()[:4] == b"\x89PNG"

    runner = CliRunner()
    r = runner.invoke(app, ["predict", str(run), "the film was great really"])
    assert r.exit_code == 0, r.output
    label, scores, text = r.stdout.splitlines()[0].split("\t")
    rating = float(scores.removeprefix("rating="))
    assert label == f"{rating:.1f} stars" and 1 <= rating <= 10 and text == "the film was great really"

    r = runner.invoke(app, ["evaluate", str(run), "--split", "test"])
    scores = json.loads(r.stdout)
    assert scores["mae"] == pytest.approx(res["test_mae"], abs=1e-5)
    r = runner.invoke(app, ["evaluate", str(run), "--data", str(imdb / "test.jsonl")])
    assert json.loads(r.stdout)["mae"] == pytest.approx(scores["mae"], abs=1e-5)

    from dl4nlp.core.runs import leaderboard_markdown, leaderboard_rows

    board = leaderboard_markdown(leaderboard_rows(tmp_path / "runs"))
    assert "test MAE" in board and f"{res['test_mae']:.3f}" in board


def test_sst5_ratings_and_bad_head_stop_before_a_run_folder(tmp_path: Path):
    from dl4nlp.pipelines.rating import train_rating

    sst = write_sst(tmp_path / "sst")
    sets = tiny_config(sst, tmp_path / "runs", "rating_bow", **{"data.dataset": "sst5", "model.head": "median"})
    with pytest.raises(ConfigError, match="model.head: unknown head 'median'"):
        train_rating(load_config(None, sets))
    sets[-1:] = ["data.dataset=sst2"]
    with pytest.raises(ConfigError, match="data.dataset: 'sst2' has no ratings"):
        train_rating(load_config(None, sets))
    assert not (tmp_path / "runs").exists()


def test_ulmfit_rating_reuses_a_transfer_runs_encoder_and_its_schedule(tmp_path: Path):
    import random

    from dl4nlp.core.runs import load_state_dict
    from dl4nlp.pipelines.rating import RatingPredictor, train_rating
    from dl4nlp.pipelines.ulmfit import load_transfer_config, run_transfer

    rng, imdb = random.Random(0), write_rated(tmp_path / "imdb", n=4)
    (tmp_path / "lm").mkdir()
    words = [*WORDS.values(), "the", "film", "was", "really"]
    for split, n in (("train", 60), ("valid", 10), ("test", 10)):
        lines = [" ".join(rng.choice(words) for _ in range(6)) for _ in range(n)]
        (tmp_path / "lm" / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lm_sets = [f"data.path={tmp_path / 'lm'}", "data.dataset=text", "data.train_file=train.txt",
               "data.dev_file=valid.txt", "data.test_file=test.txt", "model.emb_dim=8", "model.hidden=8",
               "train.epochs=1", "train.batch_size=4", "train.eval_batch_size=2", "data.bptt=8",
               "trainer.progress_bar=false", "train.schedule=none"]
    transfer = load_transfer_config(Path(__file__).parents[1] / "configs/transfer/imdb_ulmfit.yaml", [
        f"general.set={json.dumps(lm_sets)}", "target.max_tokens=600", "target.min_count=1", "target.batch_size=4",
        "target.bptt=8", f"classifier.path={imdb}", "classifier.max_train_examples=null",
        "classifier.max_dev_examples=null", "classifier.max_test_examples=null", "classifier.epochs=1",
        f"run.dir={tmp_path / 'runs'}", "run.name=tl"])
    encoder = run_transfer(transfer)

    config = Path(__file__).parents[1] / "configs/rating/imdb_ulmfit_ordinal.yaml"
    cfg = load_config(config, [f"data.path={imdb}", f"model.encoder={encoder}", f"run.dir={tmp_path / 'runs'}",
                               "train.epochs=3", "train.batch_size=8", "trainer.progress_bar=false",
                               "trainer.accelerator=cpu", "data.max_train_examples=null"])
    run = train_rating(cfg)
    res = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert res["model"] == "rating_ulmfit" and 0 <= res["test_mae"] <= 9
    lm = load_state_dict(encoder / "2-target-lm")
    weights = load_state_dict(run)
    assert weights["backbone.embedding.weight"].shape == lm["embedding.weight"].shape  # the LM's vocabulary
    assert res["unfrozen_groups_per_epoch"] == [1, 2, 3]  # gradual unfreezing: head + CORAL biases first
    assert (run / "vocab.json").read_text() == (encoder / "2-target-lm" / "vocab.json").read_text()
    pred = RatingPredictor(run).predict(["the film was great really"])[0]
    assert pred.label.endswith(" stars") and 1 <= pred.scores["rating"] <= 10


def test_transformer_rating_fine_tunes_word_pieces(tmp_path: Path):
    from test_transformer import make_tiny_bert

    from dl4nlp.pipelines.rating import RatingPredictor, evaluate, train_rating

    imdb = write_rated(tmp_path / "imdb", n=3)
    config = Path(__file__).parents[1] / "configs/rating/imdb_transformer_regress.yaml"
    cfg = load_config(config, [f"data.path={imdb}", f"model.checkpoint={make_tiny_bert(tmp_path / 'bert')}",
                               f"run.dir={tmp_path / 'runs'}", "train.epochs=2", "train.batch_size=8",
                               "train.warmup_steps=1", "trainer.progress_bar=false", "trainer.accelerator=cpu",
                               "data.max_length=16"])
    run = train_rating(cfg)
    assert not (run / "vocab.json").exists()  # word pieces: the checkpoint's tokenizer
    res = json.loads((run / "results.json").read_text(encoding="utf-8"))
    pred = RatingPredictor(run).predict(["the film was great really"])[0]
    assert pred.label == f"{pred.scores['rating']:.1f} stars" and 1 <= pred.scores["rating"] <= 10
    assert evaluate(run, "test")["mae"] == pytest.approx(res["test_mae"], abs=1e-5)


def test_ridge_baseline_sees_exactly_rating_bows_features(tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from rating_baselines import features

    from dl4nlp.data.batching import encode_texts, pad_batch
    from dl4nlp.pipelines.classification import tokenizer_for
    from dl4nlp.pipelines.rating import build_rating_model, read_splits

    cfg = load_config(Path(__file__).parents[1] / "configs/rating/imdb_bow_ridge.yaml",
                      [f"data.path={write_rated(tmp_path / 'imdb')}", "data.min_count=1"])
    splits, tok = read_splits(cfg), tokenizer_for(cfg)
    from dl4nlp.data.vocab import Vocab

    vocab = Vocab.build([tok(t) for t in splits.train["text"]], 1)
    model = build_rating_model(cfg, vocab).eval()
    torch.nn.init.normal_(model.backbone.linear.weight)
    texts = list(splits.test["text"])
    X = features(texts, tok, vocab, None, "tfidf", True, model.backbone.linear.idf)
    b = pad_batch(encode_texts(texts, tok, vocab))
    with torch.no_grad():
        expected = model(b["tokens"], b["mask"])[:, 0].numpy()
    w = model.backbone.linear.weight[:, 0].detach().numpy()
    assert np.allclose(X @ w + model.backbone.linear.bias.item(), expected, atol=1e-5)


def test_report_gives_mean_and_std_over_seeds_and_the_checks(tmp_path: Path):
    import sys

    sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
    from rating_report import report

    for name, mae in (("bow-n250-s13", 2.0), ("bow-n250-s14", 2.2), ("ulmfit-n250-s13", 1.5), ("ulmfit-n250-s14", 1.6),
                      ("gru-nall-s13", 1.2)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(json.dumps({"task": "rating", "test_mae": mae}), "utf-8")
    (tmp_path / "baselines-nall-s13.json").write_text(json.dumps({
        "mean": {"test_mae": 3.0}, "ridge": {"test_mae": 1.3, "train_time_s": 1.0}}), "utf-8")
    text = report(tmp_path)
    assert "| 250 | bow | 2 | 2.100 ± 0.141 |" in text and "| all | ridge | 1 | 1.300 ± 0.000 |" in text
    assert "best gru MAE 1.200, 60.0 % below the mean baseline 3.000" in text
    assert "ULMFiT 1.550 vs bow 2.100 MAE: ahead by more than the seed std (+0.550, std 0.141)" in text


def test_demo_sentiment_tab_shows_the_rating(tmp_path: Path):
    from dl4nlp.demo.limits import DemoSettings
    from dl4nlp.demo.tabs import sentiment
    from dl4nlp.pipelines.rating import RatingPredictor, train_rating

    run = train_rating(_cfg(write_rated(tmp_path / "imdb", n=2), tmp_path / "runs", **{"train.epochs": 1}))
    assert sentiment.matches(run, json.loads((run / "results.json").read_text(encoding="utf-8")))
    models = sentiment.load([run], DemoSettings(device="cpu"))
    table, _ = sentiment.analyse(models, "the film was great really", 500)
    rating = RatingPredictor(run).predict(["the film was great really"])[0].scores["rating"]
    assert f"{rating:.1f} stars</b>" in table
