"""The command line end to end on the tiny SST fixture, and its errors for bad input."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import tiny_config

REPO = Path(__file__).resolve().parents[1]
DL4NLP = shutil.which("dl4nlp") or str(Path(sys.executable).with_name("dl4nlp"))


def run(*args, cwd=None, timeout=300):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([DL4NLP, *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=timeout)


def _sets(sst, runs, model="logreg", **kw):
    out = []
    for s in tiny_config(sst, runs, model, **kw):
        out += ["--set", s]
    return out


def test_train_predict_evaluate_leaderboard(sst_dir, tmp_path):
    runs = tmp_path / "runs"
    r = run("train", REPO / "configs/ladder/logreg.yaml", *_sets(sst_dir, runs, **{"train.lr": 0.5}))
    assert r.returncode == 0, r.stderr
    assert "run folder:" in r.stdout and "test_acc=" in r.stdout
    (run_dir,) = list(runs.iterdir())
    p = run("predict", run_dir, "great fun , wonderful and brilliant", "boring , dull and awful")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0].startswith("positive\t") and lines[1].startswith("negative\t")
    f = tmp_path / "in.txt"
    f.write_text("fun , charming\ndull mess\n", encoding="utf-8")
    p = run("predict", run_dir, "--file", f)
    assert [ln.split("\t")[0] for ln in p.stdout.strip().splitlines()] == ["positive", "negative"]
    e = run("evaluate", run_dir, "--split", "dev")
    assert e.returncode == 0, e.stderr
    ev = json.loads(e.stdout)
    res = json.loads((run_dir / "results.json").read_text())
    assert ev["examples"] == 16 and abs(ev["accuracy"] - res["dev_acc"]) < 1e-6
    lb = run("leaderboard", runs)
    assert lb.returncode == 0 and "| logreg |" in lb.stdout.replace(run_dir.name, "x")
    assert (runs / "leaderboard.md").is_file() and (runs / "leaderboard.csv").is_file()


@pytest.mark.parametrize("bad", ["trainer.precision=foo", "trainer.devices=abc", "train.monitor=dev_accc"])
def test_an_error_found_after_the_run_folder_exists_leaves_no_folder(sst_dir, tmp_path, bad):
    runs = tmp_path / "runs"
    r = run("train", REPO / "configs/ladder/logreg.yaml", *_sets(sst_dir, runs), "--set", bad)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert not runs.exists() or not any(runs.iterdir())


def test_ladder_trains_a_rung_killed_before_its_first_checkpoint_under_its_own_name(sst_dir, tmp_path):
    runs = tmp_path / "ladder"
    half_made = runs / "logreg-sst2"
    half_made.mkdir(parents=True)
    (half_made / "config.yaml").write_text("left by a killed run\n")
    r = run("ladder", "--dataset", "sst2", "--configs", REPO / "configs/ladder", "--out", runs, "--only", "logreg",
            "--set", f"data.path={sst_dir}", "--set", "trainer.progress_bar=false", "--set", "train.epochs=1")
    assert r.returncode == 0, r.stderr
    assert (half_made / "results.json").is_file()
    assert sorted(p.name for p in runs.iterdir() if p.is_dir()) == ["logreg-sst2"]  # no logreg-sst2-2 beside it


def test_ladder_and_sweep(sst_dir, tmp_path):
    runs = tmp_path / "ladder"
    sets = ["--set", f"data.path={sst_dir}", "--set", "trainer.progress_bar=false", "--set", "train.epochs=2",
            "--set", "train.patience=0"]
    r = run("ladder", "--dataset", "sst2", "--configs", REPO / "configs/ladder", "--out", runs,
            "--only", "logreg", "--only", "mlp", *sets)
    assert r.returncode == 0, r.stderr
    assert (runs / "ladder.png").is_file() and (runs / "leaderboard.csv").is_file()
    rows = (runs / "leaderboard.csv").read_text().splitlines()
    assert len(rows) == 3 and {"logreg", "mlp"} <= {ln.split(",")[2] for ln in rows[1:]}
    # a second call keeps finished rungs instead of training them again
    again = run("ladder", "--dataset", "sst2", "--configs", REPO / "configs/ladder", "--out", runs,
                "--only", "logreg", *sets)
    assert "already trained" in again.stderr and "[ladder 1/1] logreg-sst2" in again.stderr
    # ... but never passes off a run with other settings as this config's (e.g. the phrase-level configs
    # pointed at the sentence-level ladder's folder): refused, naming the folder and the settings
    before = (runs / "logreg-sst2" / "results.json").read_text()
    other = run("ladder", "--dataset", "sst2", "--configs", REPO / "configs/ladder-phrases/sst2", "--out", runs,
                "--only", "logreg", "--only", "mlp", *sets)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert "logreg-sst2: this run folder holds a run with other settings" in other.stderr
    assert "data.phrases: False -> True" in other.stderr and "--out" in other.stderr
    assert (runs / "logreg-sst2" / "results.json").read_text() == before  # nothing trained or touched
    s = run("sweep", REPO / "configs/ladder/logreg.yaml", "--grid", "train.lr=0.5,0.05", "--grid", "l2=0,0.001",
            *_sets(sst_dir, tmp_path / "sweep"))
    assert s.returncode == 0, s.stderr
    assert "(chosen)" in s.stdout and "test read once" in s.stdout
    (sweep_dir,) = list((tmp_path / "sweep").iterdir())
    summary = json.loads((sweep_dir / "sweep.json").read_text())
    assert len(summary["rows"]) == 4
    chosen = summary["chosen"]
    assert chosen["dev_acc"] == max(r["dev_acc"] for r in summary["rows"])
    unchosen = [r["run"] for r in summary["rows"] if r["run"] != chosen["run"]]
    for name in unchosen:  # only the chosen model was ever scored on test
        assert "test_acc" not in json.loads((sweep_dir / name / "results.json").read_text())


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "missing.yaml"], "missing.yaml: config file not found"),
        (["train", "CFG", "--set", "train.lrr=0.1"], "unknown key 'lrr'"),
        (["train", "CFG", "--set", "model.name=nonsense"], "unknown model 'nonsense'"),
        (["train", "CFG", "--set", "data.path=/nonexistent"], "/nonexistent: SST folder not found"),
        (["predict", "/nonexistent-run", "hi"], "run folder not found"),
        (["train", "CFG", "--set", "bogus"], "expected key=value"),
        (["train", "list.yaml", "--set", "train.lr=0.1"], "list.yaml: the top level must be a mapping"),
        (["train", "texts"], "texts: is a directory, expected a config file"),
        (["predict", "/nonexistent-run", "--file", "latin1.txt"], "latin1.txt:2: not UTF-8 text (byte 0xe9)"),
        (["predict", "/nonexistent-run", "--file", "texts"], "texts: is a directory, expected a file"),
        (["ladder", "--configs", str(REPO / "configs/ladder-phrases/sst2"), "--out", "runs", "--only", "gru"],
         "unknown rung(s) gru (rungs of"),
        (["ladder", "--configs", str(REPO / "configs/ladder"), "--dataset", "imdb", "--out", "runs"],
         "--dataset: this ladder runs on sst2 or sst5, not 'imdb'"),
    ],
)
def test_bad_input_gives_one_clear_line(sst_dir, tmp_path, args, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data:\n  path: {sst_dir}\nrun:\n  dir: {tmp_path / 'runs'}\n", encoding="utf-8")
    (tmp_path / "list.yaml").write_text("- a\n- b\n", encoding="utf-8")
    (tmp_path / "latin1.txt").write_bytes(b"a fine film\nthe caf\xe9 scene\n")
    (tmp_path / "texts").mkdir()
    r = run(*[str(cfg) if a == "CFG" else a for a in args], cwd=tmp_path)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "runs").exists()  # nothing half-written


@pytest.mark.parametrize("dataset", ["sst2", "sst5"])
def test_phrase_level_ladder_configs_train_on_phrases_with_their_settings(sst_dir, tmp_path, dataset):
    """configs/ladder-phrases/<dataset>: the LR and MLP rungs with settings chosen for phrase-level training."""
    import yaml

    folder = REPO / "configs" / "ladder-phrases" / dataset
    runs = tmp_path / "ladder"
    r = run("ladder", "--dataset", dataset, "--configs", folder, "--out", runs, "--only", "logreg", "--only", "mlp",
            "--set", f"data.path={sst_dir}", "--set", "trainer.progress_bar=false", "--set", "train.epochs=1")
    assert r.returncode == 0, r.stderr
    for rung in ("logreg", "mlp"):
        cfg = yaml.safe_load((folder / f"{rung}.yaml").read_text())
        assert cfg["data"]["dataset"] == dataset and cfg["data"]["phrases"] is True
        res = json.loads((runs / f"{rung}-{dataset}" / "results.json").read_text())
        assert res["phrases"] is True and res["dataset"] == dataset
        hp = res["hyper_parameters"]
        assert (hp["lr"], hp["bs"], hp["features"]) == (cfg["train"]["lr"], cfg["train"]["batch_size"],
                                                        cfg["model"]["features"])
        n_sentences = len((sst_dir / "train.txt").read_text().splitlines())
        assert res["train_examples"] > n_sentences  # the subtrees, not only the sentences


def test_malformed_tree_error_names_line(sst_dir, tmp_path):
    with (sst_dir / "dev.txt").open("a") as fh:
        fh.write("(3 (2 broken)\n")
    n = len((sst_dir / "dev.txt").read_text().splitlines())
    r = run("train", REPO / "configs/ladder/logreg.yaml", *_sets(sst_dir, tmp_path / "runs"))
    assert r.returncode == 2
    assert f"dev.txt:{n}: malformed tree" in r.stderr
    assert not (tmp_path / "runs").exists()


def test_yaml_syntax_error_names_line(tmp_path):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("train:\n  lr: 0.1\n  epochs: [1, 2\n", encoding="utf-8")
    r = run("train", cfg)
    assert r.returncode == 2 and "bad.yaml: line" in r.stderr


def test_resume_from_cli(sst_dir, tmp_path):
    runs = tmp_path / "runs"
    r = run("train", REPO / "configs/ladder/logreg.yaml", *_sets(sst_dir, runs, **{"train.epochs": 1}))
    assert r.returncode == 0, r.stderr
    (run_dir,) = list(runs.iterdir())
    (run_dir / "results.json").unlink()  # pretend it was killed after epoch 1
    p = run("predict", run_dir, "a fine film")  # an unfinished run answers, and says it is unfinished
    assert p.returncode == 0 and "is unfinished (no results.json)" in p.stderr
    config = (run_dir / "config.yaml").read_text()
    bad = run("train", "--resume", run_dir, "--set", "train.epochs=2", "--set", "trainer.precision=foo")
    assert bad.returncode == 2 and "--resume cannot change trainer.precision" in bad.stderr
    assert (run_dir / "config.yaml").read_text() == config  # the failed --set did not replace the run's config
    r = run("train", "--resume", run_dir, "--set", "train.epochs=2")
    assert r.returncode == 0, r.stderr
    res = json.loads((run_dir / "results.json").read_text())
    assert res["epochs_run"] == 2
    again = run("train", "--resume", run_dir)
    assert again.returncode == 2 and "this run has finished" in again.stderr


@pytest.mark.slow
def test_ddp_two_cpu_processes(sst_dir, tmp_path):
    """Two DDP processes over gloo on CPU: the same config that runs on several GPUs or nodes."""
    runs = tmp_path / "runs"
    r = run("train", REPO / "configs/ladder/mlp.yaml",
            *_sets(sst_dir, runs, "mlp", **{"trainer.devices": 2, "trainer.strategy": "ddp", "train.epochs": 2,
                                            "model.hidden": "[8,8]"}))
    assert r.returncode == 0, r.stderr[-3000:]
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    res = json.loads((run_dir / "results.json").read_text())
    assert res["epochs_run"] == 2 and 0.0 <= res["test_acc"] <= 1.0


def test_help_lists_commands():
    r = run("--help")
    assert r.returncode == 0
    for cmd in ("train", "evaluate", "predict", "leaderboard", "ladder", "sweep"):
        assert cmd in r.stdout
