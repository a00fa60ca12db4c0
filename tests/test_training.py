"""The engine: a run folder with everything promised, early stopping, exact resume, reload."""

import csv
import json

import pytest
import torch
from conftest import Killed, kill_at, tiny_config

from dl4nlp.core.config import load_config
from dl4nlp.core.errors import DataError, RunError
from dl4nlp.core.runs import load_state_dict
from dl4nlp.pipelines.classification import load_classifier, read_splits, train_classifier


def _cfg(sst, runs, model="mlp", **extra):
    defaults = {"model.hidden": "[16,16]", "train.lr": 0.01} if model == "mlp" else {"train.lr": 0.5}
    defaults.update(extra)
    return load_config(None, tiny_config(sst, runs, model, **defaults))


def test_run_folder_contents_and_reload_gives_same_predictions(sst_dir, tmp_path):
    cfg = _cfg(sst_dir, tmp_path / "runs", "mlp", **{"train.epochs": 6})
    run = train_classifier(cfg)
    for name in ("config.yaml", "vocab.json", "labels.json", "best.ckpt", "last.ckpt", "metrics.csv",
                 "results.json", "learning_curves.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    assert (run / "tensorboard").is_dir()
    res = json.loads((run / "results.json").read_text())
    for key in ("dev_acc", "test_acc", "dev_f1", "test_f1", "params", "train_time_s", "machine", "date",
                "hyper_parameters"):
        assert key in res
    assert res["test_acc"] >= 0.75  # the fixture is easy: sentiment words decide the label
    # time to best dev: the epoch whose dev accuracy is the best logged one, reached within the run
    with open(run / "metrics.csv") as f:
        dev = [float(r["dev_acc"]) for r in csv.DictReader(f) if r["dev_acc"]]
    assert res["best_epoch"] == dev.index(max(dev)) + 1
    assert 0 < res["time_to_best_s"] <= res["train_time_s"]
    # the reloaded model predicts exactly what the task's best checkpoint predicts
    clf = load_classifier(run)
    texts = ["the film is great fun", "a boring , dull mess", "it is"]
    probs = clf.probabilities(texts)
    from dl4nlp.data.batching import encode_texts, pad_batch
    from dl4nlp.pipelines.classification import build_model

    model = build_model(clf.cfg, clf.vocab, 2)
    model.load_state_dict(load_state_dict(run))
    model.eval()
    b = pad_batch(encode_texts(texts, clf.tokenizer, clf.vocab))
    assert torch.allclose(torch.softmax(model(b["tokens"], b["mask"]), -1), probs)
    assert clf.predict(["great fun"])[0][0] == "positive"
    assert clf.predict(["awful , boring"])[0][0] == "negative"
    with pytest.raises(DataError, match="empty text"):
        clf.predict(["  "])


def test_early_stopping_stops_when_dev_does_not_improve(sst_dir, tmp_path):
    # learning rate 0: the dev score never improves, so patience 2 stops after 3 epochs
    cfg = _cfg(sst_dir, tmp_path / "runs", "logreg", **{"train.epochs": 20, "train.patience": 2, "train.lr": 0.0,
                                                          "train.optimizer": "sgd"})
    run = train_classifier(cfg)
    res = json.loads((run / "results.json").read_text())
    assert res["epochs_run"] == 3


def _metrics(run):
    with open(run / "metrics.csv", newline="") as f:
        return [{k: v for k, v in r.items() if not k.endswith("_s")} for r in csv.DictReader(f)]


@pytest.mark.parametrize("ema,schedule", [(None, "step"), (0.9, "step"), (None, "plateau")],
                         ids=["plain", "weight-average", "plateau"])
def test_killed_run_resumes_exactly(sst_dir, tmp_path, ema, schedule):
    extra = {"train.epochs": 4, "model.dropout": 0.5, "train.optimizer": "adam", "train.schedule": schedule,
             "train.step_size": 1}
    if ema:
        extra["train.ema_decay"] = ema
    if schedule == "plateau":  # dev loss rises from the start at this rate: the rate is cut during the run
        extra.update({"train.lr": 0.3, "train.monitor": "dev_loss", "train.mode": "min", "train.gamma": 0.1})
    full = train_classifier(_cfg(sst_dir, tmp_path / "a", "mlp", **extra))
    cfg = _cfg(sst_dir, tmp_path / "b", "mlp", **extra)
    with pytest.raises(Killed):
        train_classifier(cfg, callbacks=[kill_at(epoch=2, batch=2)])
    (killed,) = [p for p in (tmp_path / "b").iterdir() if p.is_dir()]
    assert not (killed / "results.json").exists()  # unfinished: resumable
    assert (killed / "last.ckpt").is_file()
    saved = torch.load(killed / "last.ckpt", weights_only=True)
    (time_before,) = [v["elapsed"] for k, v in saved["callbacks"].items() if "TimeToBest" in k]
    if schedule == "plateau":  # the step of the checkpoint's own epoch is in it (Lightning's would come after)
        (plateau,) = [v for k, v in saved["callbacks"].items() if "PlateauSchedule" in k]
        assert plateau["last_epoch"] == saved["epoch"] + 1
    (killed / ".last.ckpt.x1y2.tmp").write_bytes(b"half a checkpoint")  # a write the kill cut short
    resumed = train_classifier(cfg, resume=killed)
    assert not list(killed.glob(".*.tmp"))
    assert _metrics(resumed) == _metrics(full)  # the curves cover the epochs before the kill too
    a, b = load_state_dict(full, "last"), load_state_dict(resumed, "last")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    if ema:  # the running (not averaged) weights travel in the checkpoint too
        ca = torch.load(full / "last.ckpt", weights_only=True)["current_model_state"]
        cb = torch.load(resumed / "last.ckpt", weights_only=True)["current_model_state"]
        for k in ca:
            assert torch.equal(ca[k], cb[k]), k
    ra = json.loads((full / "results.json").read_text())
    rb = json.loads((resumed / "results.json").read_text())
    assert ra["test_acc"] == rb["test_acc"]
    assert ra["best_epoch"] == rb["best_epoch"]  # the timer's state travels in the checkpoint too
    assert rb["train_time_s"] >= round(time_before, 2)  # the time before the kill counts
    if schedule == "plateau":
        lrs = [g["lr"] for g in torch.load(resumed / "last.ckpt", weights_only=True)["optimizer_states"][0][
            "param_groups"]]
        assert lrs[0] < 0.3  # the schedule did cut the rate in this run
    with pytest.raises(RunError, match="this run has finished"):
        train_classifier(cfg, resume=resumed)


def test_weight_average_is_what_dev_scores_and_checkpoints_hold(sst_dir, tmp_path):
    from dl4nlp.pipelines.classification import evaluate_run

    run = train_classifier(_cfg(sst_dir, tmp_path / "runs", "mlp", **{"train.epochs": 3, "train.ema_decay": 0.9}))
    ckpt = torch.load(run / "best.ckpt", weights_only=True)
    averaged, current = ckpt["state_dict"], ckpt["current_model_state"]
    assert averaged.keys() == current.keys()
    assert any(not torch.equal(averaged[k], current[k]) for k in averaged)  # theta_ema is not theta
    res = json.loads((run / "results.json").read_text())
    assert evaluate_run(run, "dev")["accuracy"] == pytest.approx(res["dev_acc"])
    assert res["hyper_parameters"]["ema"] == 0.9  # the leaderboard shows it
    # the dev loss logged at the best epoch is the averaged weights' loss, not the running weights'
    with open(run / "metrics.csv") as f:
        logged = [float(r["dev_loss"]) for r in csv.DictReader(f) if r["dev_loss"]][res["best_epoch"] - 1]
    clf = load_classifier(run)
    dev = read_splits(clf.cfg).dev
    gold = torch.tensor(list(dev["label"]))

    def dev_loss(state):
        clf.model.load_state_dict({k.removeprefix("model."): v for k, v in state.items()})
        return torch.nn.functional.nll_loss(clf.probabilities(list(dev["text"])).log(), gold).item()

    assert dev_loss(averaged) == pytest.approx(logged, abs=1e-5)
    assert abs(dev_loss(current) - logged) > 1e-4


@pytest.mark.parametrize("decay", [0.0, 1.0, 1.5])
def test_weight_average_decay_outside_zero_one_is_refused(sst_dir, tmp_path, decay):
    from dl4nlp.core.errors import ConfigError

    with pytest.raises(ConfigError, match="train.ema_decay: must lie between 0 and 1"):
        train_classifier(_cfg(sst_dir, tmp_path / "runs", "mlp", **{"train.ema_decay": decay}))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_checkpoints_load_with_weights_only(sst_dir, tmp_path):
    run = train_classifier(_cfg(sst_dir, tmp_path / "runs", "logreg", **{"train.epochs": 1}))
    ckpt = torch.load(run / "best.ckpt", weights_only=True)
    assert "state_dict" in ckpt and "callbacks" in ckpt
    assert not list(run.glob(".*.tmp"))  # atomic writes leave no temporary files


def test_a_checkpoint_that_does_not_fit_its_config_is_refused_by_name(sst_dir, tmp_path):
    from dl4nlp.core.errors import RunError

    run = train_classifier(_cfg(sst_dir, tmp_path / "runs", "mlp", **{"train.epochs": 1}))
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("- 16\n  - 16", "- 8\n  - 8"))  # the hidden sizes, edited
    assert load_config(run / "config.yaml").model_params["hidden"] == [8, 8]
    with pytest.raises(RunError, match=f"{run}: checkpoint does not match the config's model"):
        load_classifier(run)


def test_predict_on_a_run_without_labels_file_names_the_file(sst_dir, tmp_path, cli):
    run = train_classifier(_cfg(sst_dir, tmp_path / "runs", "logreg", **{"train.epochs": 1}))
    (run / "labels.json").unlink()
    code, err = cli("predict", run, "great fun")
    assert (code, err) == (2, f"error: {run / 'labels.json'}: labels file not found\n")


def test_resume_without_last_checkpoint_is_refused_before_anything_is_written(tmp_path):
    from dl4nlp.core.errors import RunError
    from dl4nlp.engine.training import open_run_dir, resume_checkpoint

    run = tmp_path / "half-made-run"
    run.mkdir()
    with pytest.raises(RunError, match="half-made-run: nothing to resume \\(no last.ckpt\\)"):
        resume_checkpoint(run)
    assert resume_checkpoint(None) is None
    (run / "last.ckpt").write_bytes(b"")
    assert resume_checkpoint(run) == run / "last.ckpt"
    assert list(run.iterdir()) == [run / "last.ckpt"]
    # the run folder: the resumed one, an explicit one (created), or a fresh <run.dir>/<name>
    cfg = load_config(None, [f"run.dir={tmp_path / 'runs'}", "run.name=fresh"])
    assert open_run_dir(cfg, resume=run) == run
    assert open_run_dir(cfg, run_dir=tmp_path / "explicit").is_dir()
    assert open_run_dir(cfg) == tmp_path / "runs" / "fresh"
    assert open_run_dir(cfg) == tmp_path / "runs" / "fresh-2"  # a taken name is never overwritten


def _negation_table(folder):
    """Sentences a bag of words cannot separate but a bag of bigrams can: "not" flips the label."""
    folder.mkdir()
    rows = [("good", "pos"), ("bad", "neg"), ("not good", "neg"), ("not bad", "pos")] * 8
    for split in ("train", "dev", "test"):
        (folder / f"{split}.tsv").write_text(
            "text\tlabel\n" + "".join(f"{t}\t{y}\n" for t, y in rows), encoding="utf-8")
    return folder


@pytest.mark.parametrize("ngrams", [1, 2])
def test_bigram_features_separate_negations_that_words_cannot(tmp_path, ngrams):
    data = _negation_table(tmp_path / "neg")
    cfg = load_config(None, [
        "data.dataset=table", f"data.path={data}", "data.train_file=train.tsv", "data.dev_file=dev.tsv",
        "data.test_file=test.tsv", "model.name=logreg", f"model.ngrams={ngrams}", "train.optimizer=adam",
        "train.lr=0.1", "train.epochs=30", "train.batch_size=8", "train.patience=0", f"run.dir={tmp_path}/runs",
        "trainer.progress_bar=false", "trainer.accelerator=cpu"])
    run = train_classifier(cfg)
    res = json.loads((run / "results.json").read_text())
    clf = load_classifier(run)
    if ngrams == 2:
        assert res["test_acc"] == 1.0
        assert "not bad" in clf.vocab.stoi  # the bigram is a feature, saved with the run
        assert [p[0] for p in clf.predict(["not bad", "not good"])] == ["pos", "neg"]  # predict adds bigrams too
    else:  # no linear function of word counts gets all four right (at most three of them)
        assert res["test_acc"] <= 0.75
        assert "not bad" not in clf.vocab.stoi


def test_ngrams_written_as_text_reach_the_tokenizer():
    from dl4nlp.pipelines.classification import tokenizer_for

    cfg = load_config(None, ["model.name=logreg", 'model.ngrams="2"'])  # YAML text, as `ngrams: "2"` reads
    assert tokenizer_for(cfg).ngrams == 2


def test_ngrams_is_checked(sst_dir, tmp_path):
    from dl4nlp.core.errors import ConfigError

    with pytest.raises(ConfigError, match="ngrams must be between 1"):
        train_classifier(_cfg(sst_dir, tmp_path / "runs", "logreg", **{"model.ngrams": 0}))
    with pytest.raises(ConfigError, match="ngrams"):  # recurrent models read words, not n-gram features
        train_classifier(_cfg(sst_dir, tmp_path / "runs", "gru", **{"model.ngrams": 2}))
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


@pytest.mark.parametrize("damage", ["truncated", "empty", "foreign"])
def test_a_damaged_checkpoint_is_named_not_dumped(sst_dir, tmp_path, damage):
    from dl4nlp.core.io import torch_load

    run = train_classifier(_cfg(sst_dir, tmp_path / "runs", "logreg", **{"train.epochs": 1}))
    ckpt = run / "best.ckpt"
    data = ckpt.read_bytes()
    ckpt.write_bytes({"truncated": data[: len(data) // 2], "empty": b"", "foreign": bytes(range(256)) * 2}[damage])
    with pytest.raises(RunError, match=f"{ckpt}: (not a readable checkpoint|empty file)"):
        torch_load(ckpt)
    with pytest.raises(RunError, match="best.ckpt"):
        load_classifier(run)


def test_leaderboard_shows_scores_as_percentages_and_seconds_as_seconds():
    from dl4nlp.core.runs import leaderboard_markdown

    row = {"run": "r", "model": "logreg", "dataset": "sst2", "phrases": False, "dev_acc": 0.8, "test_acc": 0.75,
           "dev_f1": 0.79, "test_f1": 0.74, "params": 10, "train_time_s": 0.84, "hyper_parameters": ""}
    line = leaderboard_markdown([row]).splitlines()[2]
    assert "| 80.00 | 75.00 | 79.00 | 74.00 | 10 | 0.8 |" in line
