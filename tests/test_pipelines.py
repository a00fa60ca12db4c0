"""The template every pipeline passes: train (killed mid-way) -> resume -> the same result as an unbroken run ->
load -> predict -> evaluate on a split and on a labelled file; plus the registry's coverage of configs/ and a
sweep that reads test once, on NLI and a language model.

A new family adds one :data:`CASES` row (a tiny fixture: config, inputs to predict, a labelled file); a
pipeline without one fails :func:`test_every_pipeline_has_a_template_case`."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import Killed, kill_at, tiny_config, write_sst

from dl4nlp.core.config import ExperimentConfig, apply_overrides, from_dict, read_yaml
from dl4nlp.pipelines import PIPELINES, all_pipelines, pipeline, pipeline_for, pipeline_for_model

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Case:
    cfg: ExperimentConfig
    inputs: list[str]  # what `predict` takes
    data: Path  # a labelled file for `evaluate --data`
    metric: str  # a key of evaluate()'s answer


def _load(path: Path, sets: list[str]) -> ExperimentConfig:
    return from_dict(apply_overrides(read_yaml(path), sets), str(path))


def case_classification(tmp: Path) -> Case:
    sst = write_sst(tmp / "sst")
    cfg = _load(REPO / "configs/ladder/logreg.yaml", tiny_config(sst, tmp / "runs", "logreg"))
    data = tmp / "extra.tsv"
    data.write_text("text\tlabel\na good fine film\tpositive\na dull bad film\tnegative\n", encoding="utf-8")
    return Case(cfg, ["a fine film", "zzz qqq"], data, "accuracy")


def case_nli(tmp: Path) -> Case:
    from test_nli import write_snli, write_vectors

    snli = write_snli(tmp / "data")
    vectors = write_vectors(tmp / "vectors.txt")
    sets = [f"data.path={snli}", f"model.embeddings={vectors}", "model.hidden=8", "train.epochs=3",
            "train.batch_size=8", f"run.dir={tmp / 'runs'}", "trainer.progress_bar=false",
            "trainer.accelerator=cpu", "train.patience=0"]
    cfg = _load(REPO / "configs/nli/attention.yaml", sets)
    return Case(cfg, ["a man runs in the park ||| a man runs"], snli / "test.tsv", "accuracy")


def case_language_model(tmp: Path) -> Case:
    from test_lm import write_corpus

    data = write_corpus(tmp / "data")
    sets = ["data.dataset=text", f"data.path={data}", "data.train_file=train.txt", "data.dev_file=valid.txt",
            "data.test_file=test.txt", "model.emb_dim=8", "model.hidden=8", "train.epochs=3",
            "train.optimizer=adam", "train.lr=0.01", "train.schedule=none", "train.batch_size=4",
            "train.eval_batch_size=2", "data.bptt=8", "trainer.progress_bar=false", f"run.dir={tmp / 'runs'}",
            "trainer.accelerator=cpu"]
    cfg = _load(REPO / "configs/lm/wt2_small_tied.yaml", sets)
    return Case(cfg, ["the", "a b c"], data / "test.txt", "perplexity")


def case_finetune(tmp: Path) -> Case:
    from test_transformer import _cfg, make_tiny_bert

    sst = write_sst(tmp / "sst")
    cfg = _cfg(sst, tmp / "runs", make_tiny_bert(tmp / "bert"))
    cfg.train.epochs, cfg.train.patience = 3, 0
    data = tmp / "extra.jsonl"
    data.write_text('{"text": "a good fine film", "label": "positive"}\n', encoding="utf-8")
    return Case(cfg, ["a fine film", "a dull film"], data, "accuracy")


def case_captioning(tmp: Path) -> Case:
    from test_captioning import _cfg, _image

    root = tmp / "caps"
    root.mkdir()
    lines = ["red.png\ta red square on the left .", "blue.png\ttwo blue stripes across the middle ."]
    for kind in ("red", "blue"):
        _image(kind).save(root / f"{kind}.png")
    for name, reps in (("train.tsv", 3), ("dev.tsv", 1), ("test.tsv", 1)):
        (root / name).write_text("\n".join(lines * reps) + "\n", encoding="utf-8")
    cfg = _cfg(root, tmp, epochs=3)
    cfg.model["beam_size"] = 1
    return Case(cfg, [str(root / "red.png")], root / "test.tsv", "bleu4_beam1")


def case_trees(tmp: Path) -> Case:
    sst = write_sst(tmp / "sst")
    sets = tiny_config(sst, tmp / "runs", "tree_lstm", **{"model.embeddings": "random", "model.embedding_dim": 8,
                                                          "model.hidden": 8})
    cfg = _load(REPO / "configs/trees/tree_lstm.yaml", sets)
    return Case(cfg, ["a fine film", "(3 (2 a) (3 (2 fine) (2 film)))"], sst / "test.txt", "phrase_accuracy")


def case_tagging(tmp: Path) -> Case:
    from test_ner import tiny_corpus

    data = tiny_corpus(tmp)
    sets = [f"data.path={data}", "model.embeddings=random", "model.hidden=8", "train.epochs=3", "train.patience=0",
            f"run.dir={tmp / 'runs'}", "trainer.progress_bar=false", "trainer.accelerator=cpu"]
    cfg = _load(REPO / "configs/ner/bilstm_crf_charcnn.yaml", sets)
    return Case(cfg, ["Angela Merkel visited Paris"], data / "test.txt", "f1")


def case_rating(tmp: Path) -> Case:
    sst = write_sst(tmp / "sst")
    sets = tiny_config(sst, tmp / "runs", "rating_gru", **{"data.dataset": "sst5", "model.embeddings": "random",
                                                           "model.embedding_dim": 8, "model.hidden": 8})
    cfg = _load(REPO / "configs/rating/sst5_gru_ordinal.yaml", sets)
    data = tmp / "extra.jsonl"
    data.write_text('{"text": "a good fine film", "label": 4}\n{"text": "a dull bad film", "label": 0.5}\n',
                    encoding="utf-8")
    return Case(cfg, ["a fine film", "zzz qqq"], data, "mae")


def case_qa(tmp: Path) -> Case:
    from test_qa import PARAGRAPHS, write_squad

    squad = write_squad(tmp / "squad")
    sets = [f"data.path={squad}", "model.embeddings=random", "model.embedding_dim=8", "model.hidden=8",
            "model.layers=1", "train.epochs=3", "train.batch_size=2", "train.patience=0", f"run.dir={tmp / 'runs'}",
            "trainer.progress_bar=false", "trainer.accelerator=cpu"]
    cfg = _load(REPO / "configs/qa/drqa.yaml", sets)
    return Case(cfg, [f"Who won the Super Bowl? ||| {PARAGRAPHS[0][1]}"], squad / "dev-v1.1.json", "f1")


def case_translation(tmp: Path) -> Case:
    from test_translation import write_parallel

    data = write_parallel(tmp / "m30k")
    sets = [f"data.path={data}", "model.emb_dim=8", "model.hidden=8", "model.attn_dim=8", "model.dropout=0.0",
            "model.beam_size=2", "model.max_len=8", "train.epochs=3", "train.batch_size=8", "train.patience=0",
            "train.eval_batch_size=8", f"run.dir={tmp / 'runs'}", "trainer.progress_bar=false",
            "trainer.accelerator=cpu"]
    cfg = _load(REPO / "configs/translation/bahdanau.yaml", sets)
    return Case(cfg, ["Ein Hund schläft."], data / "val", "bleu")


#: pipeline name -> tiny fixture
CASES: dict[str, Callable[[Path], Case]] = {
    "classification": case_classification,
    "nli": case_nli,
    "language_model": case_language_model,
    "finetune": case_finetune,
    "captioning": case_captioning,
    "trees": case_trees,
    "tagging": case_tagging,
    "rating": case_rating,
    "qa": case_qa,
    "translation": case_translation,
}


def test_every_pipeline_has_a_template_case():
    assert sorted(CASES) == sorted(PIPELINES)
    for p in all_pipelines():
        assert p.models and all(pipeline_for_model(m) is p for m in p.models)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models, one torch thread


@pytest.mark.parametrize("name", sorted(CASES))
def test_train_kill_resume_load_predict_evaluate(name: str, tmp_path: Path):
    import copy

    case = CASES[name](tmp_path)
    pipe = pipeline(name)
    assert pipeline_for_model(case.cfg.model_name) is pipe

    whole = copy.deepcopy(case.cfg)
    whole.run.name = "whole"
    straight = pipe.train(whole)
    killed_cfg = copy.deepcopy(case.cfg)
    killed_cfg.run.name = "killed"
    with pytest.raises(Killed):
        pipe.train(killed_cfg, callbacks=[kill_at(1, 0)])
    run = tmp_path / "runs" / "killed"
    assert (run / "last.ckpt").is_file() and not (run / "results.json").exists()
    assert pipe.train(killed_cfg, resume=run) == run
    a, b = (json.loads((r / "results.json").read_text()) for r in (straight, run))
    assert a[pipe.monitor] == b[pipe.monitor]  # exact resume: the same dev score as the unbroken run

    assert pipeline_for(run) is pipe
    predictor = pipe.load(run)
    preds = predictor.predict(case.inputs)
    for method in ("attention_png", "tree_png"):  # what predict --attention / --tree draw, where a family has it
        if hasattr(predictor, method):
            drawn = getattr(predictor, method)(case.inputs[0], tmp_path / f"{method}.png")
            assert drawn is None or Path(drawn).stat().st_size > 1000
    assert [p.input for p in preds] == case.inputs and all(isinstance(p.label, str) for p in preds)
    assert all(json.loads(p.json())["input"] == p.input for p in preds)
    on_split = pipe.evaluate(run, "test")
    on_file = pipe.evaluate(run, "test", case.data)
    assert case.metric in on_split and case.metric in on_file
    assert on_file.get("data", str(case.data)) == str(case.data)


def test_registry_knows_every_config():
    configs = [p for p in (REPO / "configs").rglob("*.yaml")
               if p.parts[-2] not in ("transfer", "embeddings") and p.name != "ladder.yaml"]
    assert len(configs) > 20
    for path in configs:
        name = (read_yaml(path).get("model") or {}).get("name")
        assert pipeline_for_model(name).owns(name), path


@pytest.mark.parametrize("name", ["nli", "language_model"])
def test_sweep_scores_test_once_for_the_chosen_point(name: str, tmp_path: Path):
    from dl4nlp.core.config import dump_yaml
    from dl4nlp.ladder import run_sweep

    case = CASES[name](tmp_path)
    config = tmp_path / "base.yaml"
    config.write_text(dump_yaml(case.cfg.to_dict()), encoding="utf-8")
    md = run_sweep(config, ["train.lr=0.01,0.002"], [])
    summary = json.loads((md.parent / "sweep.json").read_text())
    pipe = pipeline(name)
    assert summary["metric"] == pipe.monitor and len(summary["rows"]) == 2
    best = (max if pipe.mode == "max" else min)(r[pipe.monitor] for r in summary["rows"])
    assert summary["chosen"][pipe.monitor] == best
    for row in summary["rows"]:
        res = json.loads((md.parent / row["run"] / "results.json").read_text())
        scored = any(k.startswith("test_") for k in res)
        assert scored == (row["run"] == summary["chosen"]["run"]), row


def test_predict_prints_one_line_per_input_and_notes_inputs_without_known_words(tmp_path: Path):
    """stdout: exactly one result line per input (text or JSON lines); the note that an input has no known word
    (its answer is the class prior) goes to stderr and into the JSON line, never onto stdout's text lines."""
    from typer.testing import CliRunner

    from dl4nlp.cli import app

    case = case_classification(tmp_path)
    run = pipeline("classification").train(case.cfg)
    inputs = tmp_path / "in.txt"
    inputs.write_text("a fine film\nzzz qqq\n", encoding="utf-8")
    for fmt in ("text", "jsonl"):
        r = CliRunner().invoke(app, ["predict", str(run), "--file", str(inputs), "--format", fmt])
        assert r.exit_code == 0, r.output
        assert r.stderr.count("no known words; this is the prior") == 1 and "input 2" in r.stderr
        lines = r.stdout.strip().splitlines()
        assert len(lines) == 2 and lines[1].endswith("zzz qqq" if fmt == "text" else "}")
        if fmt == "jsonl":
            assert json.loads(lines[1])["note"] == "no known words; this is the prior"
            assert "note" not in json.loads(lines[0])


def test_old_module_paths_are_the_moved_modules():
    """The Python API's paths before the layout (dl4nlp.config, dl4nlp.training, the family modules ...) import
    the very module objects of their new homes, and a name that never existed is still an ImportError."""
    import importlib

    from dl4nlp._aliases import MOVED

    assert "dl4nlp.classify" in MOVED and "dl4nlp.config" in MOVED and "dl4nlp.training" in MOVED
    for old, new in MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new), old
    old_api = importlib.import_module("dl4nlp.classify")
    assert old_api.train_classifier is importlib.import_module("dl4nlp.pipelines.classification").train_classifier
    with pytest.raises(ImportError):
        importlib.import_module("dl4nlp.no_such_module")
