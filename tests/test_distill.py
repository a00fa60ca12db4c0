"""Distillation into the NLI models (:mod:`dl4nlp.pipelines.distill`): augmentation, the loss, the teacher file
reader, and teacher -> teacher file -> student end to end through the CLI on a tiny fixture."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_nli import write_snli, write_vectors
from test_transformer import make_tiny_bert

from dl4nlp.core.config import load_config
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.nli import NLI_LABELS, NO_GOLD, read_nli, read_teacher_file
from dl4nlp.embeddings import WordVectors
from dl4nlp.pipelines.distill import MASK_WORD, AugmentOptions, augment, nearest_words
from dl4nlp.tasks.classification import distillation_loss

# --------------------------------------------------------------------------- augmentation

WORDS = "a man plays a guitar on the stage tonight".split()


def test_augment_is_seeded_never_empty_and_keeps_words_by_default():
    opts = AugmentOptions()
    a = [augment(WORDS, random.Random(3), opts) for _ in range(1)]
    b = [augment(WORDS, random.Random(3), opts) for _ in range(1)]
    assert a == b
    keep = AugmentOptions(p_mask=0.0, p_swap=0.0, p_ngram=0.0)
    assert augment(WORDS, random.Random(0), keep) == WORDS
    assert augment(WORDS, random.Random(0), AugmentOptions(p_mask=1.0, p_swap=0.0, p_ngram=0.0)) == \
        [MASK_WORD] * len(WORDS)
    assert augment([], random.Random(0), opts) == [MASK_WORD]


def test_ngram_sampling_cuts_to_a_contiguous_ngram():
    opts = AugmentOptions(p_mask=0.0, p_swap=0.0, p_ngram=1.0, max_n=3)
    rng = random.Random(1)
    text = " ".join(WORDS)
    lengths = set()
    for _ in range(50):
        out = augment(WORDS, rng, opts)
        lengths.add(len(out))
        assert 1 <= len(out) <= 3 and f" {' '.join(out)} " in f" {text} "
    assert lengths == {1, 2, 3}


def test_swap_takes_a_listed_neighbour_and_leaves_other_words():
    table = {"guitar": ["violin"], "stage": ["podium"]}
    out = augment(WORDS, random.Random(0), AugmentOptions(p_mask=0.0, p_swap=1.0, p_ngram=0.0), table)
    assert out == [{"guitar": "violin", "stage": "podium"}.get(w, w) for w in WORDS]


def test_nearest_words_by_cosine_among_the_given_words():
    vecs = WordVectors(["cat", "dog", "car", "truck", "sky"],
                       np.array([[1, 0.1, 0], [1, 0.2, 0], [0, 1, 0.1], [0, 1, 0.2], [0, 0, 1]], dtype=np.float32))
    table = nearest_words(["cat", "dog", "car", "truck", "unknownword"], vecs, k=1)
    assert table == {"cat": ["dog"], "dog": ["cat"], "car": ["truck"], "truck": ["car"]}
    assert nearest_words(["cat", "dog"], vecs, k=5)["cat"] == ["dog"]  # k capped at the other words


@pytest.mark.parametrize("key,value", [("p_mask", 1.5), ("p_ngram", -0.1), ("max_n", 0)])
def test_augment_options_are_checked(key: str, value: float):
    with pytest.raises(ConfigError, match=key.replace("_", "-")):
        AugmentOptions(**{key: value})


# --------------------------------------------------------------------------- loss


def test_distillation_loss_parts():
    torch.manual_seed(0)
    z, t = torch.randn(6, 3), torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    assert distillation_loss(z, y, t, 0.0, 1.0) == pytest.approx(F.cross_entropy(z, y).item(), rel=1e-6)
    kl = F.kl_div(F.log_softmax(z / 2, -1), F.softmax(t / 2, -1), reduction="batchmean") * 4
    assert distillation_loss(z, y, t, 1.0, 2.0) == pytest.approx(kl.item(), rel=1e-5)
    # the student equal to the teacher, soft targets only: zero loss
    assert distillation_loss(t, y, t, 1.0, 3.0).item() == pytest.approx(0.0, abs=1e-6)
    # a pair without a gold label contributes the soft term alone, whatever alpha
    no_gold = torch.full((6,), NO_GOLD)
    assert distillation_loss(z, no_gold, t, 0.0, 1.0) == pytest.approx(
        distillation_loss(z, y, t, 1.0, 1.0).item(), rel=1e-6)


def test_distillation_loss_pulls_the_student_to_the_teacher():
    torch.manual_seed(0)
    t = torch.randn(8, 3) * 2
    z = torch.zeros(8, 3, requires_grad=True)
    opt = torch.optim.SGD([z], lr=4.0)
    y = torch.full((8,), NO_GOLD)
    for _ in range(1000):
        opt.zero_grad()
        distillation_loss(z, y, t, 0.5, 2.0).backward()
        opt.step()
    assert torch.allclose(F.softmax(z, -1), F.softmax(t, -1), atol=1e-3)


# --------------------------------------------------------------------------- teacher file reader


def _teacher_line(label: object = "entailment", logits: object = (1.0, 0.0, -1.0), **drop: bool) -> str:
    rec = {"premise": "a man sings", "hypothesis": "a person sings", "label": label, "teacher_logits": logits}
    return json.dumps({k: v for k, v in rec.items() if not drop.get(k)})


def test_teacher_file_reads_gold_and_teacher_only_pairs(tmp_path: Path):
    f = tmp_path / "t.jsonl"
    f.write_text(_teacher_line() + "\n\n" + _teacher_line(None, [0, 2, 1]) + "\n", encoding="utf-8")
    rows = read_teacher_file(f)
    assert [r["label"] for r in rows] == [0, NO_GOLD]
    assert rows[1]["teacher_logits"] == [0.0, 2.0, 1.0] and rows[0]["text_pair"] == "a person sings"


@pytest.mark.parametrize("line,match", [
    (_teacher_line(logits=[1, 2]), r"t.jsonl:2: teacher_logits must be a list of 3 numbers"),
    (_teacher_line(logits=[1, "x", 2]), r"t.jsonl:2: teacher_logits"),
    (_teacher_line(label="maybe"), r"t.jsonl:2: unknown label 'maybe'"),
    (_teacher_line(teacher_logits=True), r"t.jsonl:2: missing field\(s\) teacher_logits"),
    ("{not json", r"t.jsonl:2: invalid JSON"),
])
def test_teacher_file_bad_lines_name_file_and_line(tmp_path: Path, line: str, match: str):
    f = tmp_path / "t.jsonl"
    f.write_text(_teacher_line() + "\n" + line + "\n", encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_teacher_file(f)


def test_teacher_file_replaces_train_only_and_refuses_clashing_options(tmp_path: Path):
    snli = write_snli(tmp_path / "data")
    f = tmp_path / "t.jsonl"
    f.write_text(_teacher_line() + "\n" + _teacher_line(None) + "\n", encoding="utf-8")
    base = [f"data.path={snli}", "data.dataset=snli", f"data.teacher_file={f}"]
    splits = read_nli(load_config(None, base).data)
    assert len(splits.train) == 2 and splits.train["teacher_logits"][0] == [1.0, 0.0, -1.0]
    assert len(splits.dev) == 12 and "teacher_logits" not in splits.dev.column_names
    for extra in ("data.snli_repeat=2", "data.swap_contradictions=true", "data.train_file=dev.tsv"):
        with pytest.raises(ConfigError, match="cannot be combined with data.teacher_file"):
            read_nli(load_config(None, [*base, extra]).data)
    with pytest.raises(ConfigError, match="distill_alpha"):
        load_config(None, [*base, "train.distill_alpha=1.5"])
    no_teacher = [f"data.path={snli}", "data.dataset=snli"]
    for key in ("train.distill_alpha=0.9", "train.distill_temperature=2"):  # would change nothing: refused
        with pytest.raises(ConfigError, match="applies only with data.teacher_file"):
            load_config(None, [*no_teacher, key])
    assert load_config(None, [*no_teacher, "train.distill_alpha=0.5"]).train.distill_alpha == 0.5  # the default


# --------------------------------------------------------------------------- end to end


def test_teacher_file_and_student_end_to_end(tmp_path: Path, cli):
    """A tiny BERT fine-tuned on the fixture labels the training pairs and two augmented copies; an attention
    student trained on the soft targets alone (alpha = 1) agrees with the teacher on most training pairs."""
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines.finetune import load_transformer_run
    from dl4nlp.pipelines.nli import load_nli_run

    snli = write_snli(tmp_path / "data", n_train=30)
    bert = make_tiny_bert(tmp_path / "bert")
    runs = tmp_path / "runs"
    common = [f"data.path={snli}", "data.dataset=snli", f"run.dir={runs}", "trainer.progress_bar=false",
              "trainer.accelerator=cpu", "train.patience=0"]
    teacher = train_any(load_config("configs/transformer/snli.yaml", [
        *common, f"model.checkpoint={bert}", "train.epochs=3", "train.lr=3e-3", "train.warmup_steps=2",
        "train.batch_size=8", "data.max_length=32", "run.name=teacher"]))
    vectors = write_vectors(tmp_path / "vectors.txt")
    student_sets = [*common, f"model.embeddings={vectors}", "model.hidden=16", "train.batch_size=8"]
    out = tmp_path / "teacher.jsonl"
    args = ["--config", "configs/nli/attention.yaml", "--out", out, "--copies", 2, "--p-swap", 0.3]
    for s in student_sets:
        args += ["--set", s]
    code, err = cli("nli-teacher", teacher, *args)
    assert code == 0, err

    lines = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    gold = read_nli(load_config("configs/nli/attention.yaml", student_sets).data).train
    assert len(lines) == 3 * len(gold) == 3 * (30 + 12)  # SNLI sample + the two MultiNLI files
    originals, extra = lines[:len(gold)], lines[len(gold):]
    assert [r["label"] for r in originals] == [NLI_LABELS[y] for y in gold["label"]]
    assert all(r["label"] is None for r in extra)
    assert any(MASK_WORD in r["premise"] or MASK_WORD in r["hypothesis"] for r in extra)
    t = load_transformer_run(teacher)
    expect = t.logits([f"{r['premise']}\t{r['hypothesis']}" for r in originals[:5]])
    cols = [t.labels.index(lab) for lab in NLI_LABELS]
    assert np.allclose([r["teacher_logits"] for r in originals[:5]], expect[:, cols].numpy(), atol=1e-3)

    student = train_any(load_config("configs/nli/attention.yaml", [
        *student_sets, f"data.teacher_file={out}", "train.distill_alpha=1.0", "train.distill_temperature=2.0",
        "train.epochs=25", "train.lr=1e-2", "run.name=student"]))
    res = json.loads((student / "results.json").read_text())
    assert res["train_examples"] == len(lines)
    assert res["hyper_parameters"]["distill_alpha"] == 1.0 and res["hyper_parameters"]["teacher_file"] == str(out)
    nli = load_nli_run(student)
    probs = nli.probabilities([r["premise"] for r in originals], [r["hypothesis"] for r in originals])
    teacher_says = torch.tensor([r["teacher_logits"] for r in originals]).argmax(-1)
    assert (probs.argmax(-1) == teacher_says).float().mean() >= 0.8

    # a transformer cannot be the student; a teacher file cannot be the teacher's input
    with pytest.raises(ConfigError, match="only the recurrent NLI models"):
        train_any(load_config("configs/transformer/snli.yaml", [*common, f"model.checkpoint={bert}",
                                                                 f"data.teacher_file={out}"]))
    code, err = cli("nli-teacher", teacher, "--config", "configs/nli/attention.yaml", "--out", tmp_path / "x.jsonl",
                    "--set", f"data.teacher_file={out}", *sum((["--set", s] for s in student_sets), []))
    assert code == 2 and "student config must name the gold training data" in err
