"""The generic ladder: manifests (order, families, references, per-dataset configs, quick tour), progress
lines on stderr, the leaderboard in ladder order, seeds' std in ladder.json, and clear manifest errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import write_sst

from dl4nlp.core.errors import ConfigError
from dl4nlp.ladder import plan_ladder, run_ladder
from dl4nlp.ladder_manifest import read_manifest

REPO = Path(__file__).resolve().parents[1]


def _ladder(folder: Path, body: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for rung in ("logreg", "mlp"):
        (folder / f"{rung}.yaml").write_text((REPO / "configs/ladder" / f"{rung}.yaml").read_text())
    (folder / "ladder.yaml").write_text(body, encoding="utf-8")
    return folder


MANIFEST = """title: tiny ladder
datasets: [sst2]
quick: [mlp]
rungs:
  - name: mlp
    family: bag-of-words
    reference: {sst2: [80.5, "NBoW"]}
  - name: logreg
    set: [train.lr=0.5]
    family: linear
    reference: {sst2: [81.8, "NB"]}
"""


def test_every_shipped_ladder_manifest_reads_and_names_existing_configs():
    for folder in ("ladder", "ladder-phrases/sst2", "ladder-phrases/sst5", "nli", "ner", "translation"):
        man = read_manifest(REPO / "configs" / folder)
        assert man.rungs and all(r.configs for r in man.rungs)
    sentiment = read_manifest(REPO / "configs/ladder")
    assert sentiment.names()[0] == "logreg" and sentiment.names()[-1] == "transformer"
    assert sentiment.rung("mlp").config("sst5").parent.name == "sst5"  # per-dataset phrase config


def test_ladder_runs_in_manifest_order_with_progress_and_references(tmp_path: Path, capsys: pytest.CaptureFixture):
    sst = write_sst(tmp_path / "sst")
    folder = _ladder(tmp_path / "cfg", MANIFEST)
    sets = [f"data.path={sst}", "trainer.progress_bar=false", "train.epochs=1", "train.patience=0"]
    md = run_ladder(folder, "sst2", tmp_path / "out", [], [], sets, seeds=[13, 14])
    err = capsys.readouterr().err
    assert "[ladder 1/4] mlp-sst2-s13: training" in err and "[ladder 4/4] logreg-sst2-s14" in err
    assert "about" in err  # an estimate of the time left once a rung has finished
    rows = [ln for ln in md.read_text().splitlines() if ln.startswith("| ") and "sst2-s" in ln]
    assert [r.split("|")[1].strip() for r in rows] == ["mlp-sst2-s13", "mlp-sst2-s14", "logreg-sst2-s13",
                                                       "logreg-sst2-s14"]
    summary = json.loads((md.parent / "ladder.json").read_text())
    assert [r["rung"] for r in summary["rungs"]] == ["mlp", "logreg"]
    assert summary["rungs"][1]["reference"] == [81.8, "NB"] and summary["rungs"][0]["seeds"] == 2
    res = json.loads((md.parent / "logreg-sst2-s13" / "results.json").read_text())
    assert res["hyper_parameters"]["lr"] == 0.5  # the rung's own --set
    scores = [json.loads((md.parent / f"mlp-sst2-s{s}" / "results.json").read_text())["test_acc"] for s in (13, 14)]
    mean = 100 * sum(scores) / 2
    assert summary["rungs"][0]["mean"] == pytest.approx(mean)
    assert (md.parent / "ladder.png").stat().st_size > 1000


def test_quick_tour_and_bad_manifests(tmp_path: Path):
    folder = _ladder(tmp_path / "cfg", MANIFEST)
    plan = plan_ladder(folder, None, None, [], [], [], quick=True)
    assert [r for r, _, _ in plan.runs] == ["mlp"] and plan.out.name == "ladder-sst2-quick"
    bad = {
        "rungs: []\n": "'rungs' must be a non-empty list",
        "rungs:\n  - {name: x, config: nope.yaml}\n": "nope.yaml not found",
        "rungs:\n  - {name: logreg, colour: red}\n": "unknown key(s) colour",
        "rungs:\n  - {name: logreg, reference: {sst2: high}}\n": "reference.sst2 must be [value in %, source]",
        "quick: [gru]\nrungs:\n  - {name: logreg}\n": "quick rung 'gru' is not a rung",
        "rungs:\n  - {name: logreg, set: [lr]}\n": "set must be a list of 'section.key=value' strings",
        "scale: 0\nrungs:\n  - {name: logreg}\n": "scale must be a positive number",
    }
    for body, message in bad.items():
        _ladder(tmp_path / "bad", body)
        with pytest.raises(ConfigError, match=re.escape(message)):
            read_manifest(tmp_path / "bad")


def test_quick_tour_end_to_end_on_the_fixture(tmp_path: Path):
    """README's short tour (`dl4nlp ladder --quick`): the manifest's quick rungs (LR, a GRU on a phrase sample, MiniLM
    features) train on the tiny treebank, the leaderboard lists them in ladder order, one stdout table."""
    from typer.testing import CliRunner

    from dl4nlp.cli import app

    sst = write_sst(tmp_path / "sst")
    out = tmp_path / "quick"
    sets = [f"data.path={sst}", "trainer.progress_bar=false", "train.epochs=1"]
    r = CliRunner().invoke(app, ["ladder", "--quick", "--out", str(out), *[a for s in sets for a in ("--set", s)]])
    assert r.exit_code == 0, r.output
    names = [ln.split("|")[1].strip() for ln in r.stdout.splitlines() if ln.startswith("| ") and "-sst2" in ln]
    assert names == ["logreg-sst2", "gru-sst2", "transformer-features-sst2"]
    assert "[ladder 3/3] transformer-features-sst2" in r.stderr and (out / "ladder.png").is_file()
