"""NLI with attention (Rocktäschel et al. 2016): the reader, the three models (attention weights, padding
invariance, conditioning, tiny overfit) and the pipeline + CLI end to end on a tiny fixture."""

from __future__ import annotations

import gzip
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from dl4nlp.core.config import load_config
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.nli import NLI_LABELS, read_nli, read_nli_file
from dl4nlp.models.nli import NLIModel, NLIOptions

REPO = Path(__file__).resolve().parents[1]
DL4NLP = shutil.which("dl4nlp") or str(Path(sys.executable).with_name("dl4nlp"))
KINDS = ["none", "single", "word_by_word"]
MODELS = ["conditional", "attention", "word_by_word"]

# --------------------------------------------------------------------------- fixtures

SUBJ = ["a man", "a woman", "the dog", "a child", "two people"]
VERB = [("runs", "sleeps"), ("sings", "is silent"), ("eats", "is hungry"), ("swims", "is dry")]


def make_pairs(n: int, seed: int) -> list[tuple[str, str, str]]:
    """Entailment: same sentence; contradiction: the opposite verb; neutral: a different subject."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s, (v, opp) = rng.choice(SUBJ), rng.choice(VERB)
        label = NLI_LABELS[i % 3]
        if label == "entailment":
            h = f"{s} {v}"
        elif label == "contradiction":
            h = f"{s} {opp}"
        else:
            h = f"{rng.choice([x for x in SUBJ if x != s])} {v}"
        out.append((f"{s} {v} in the park", h, label))
    return out


def write_snli(root: Path, n_train: int = 30) -> Path:
    """``root/snli`` (train_1pct, dev, test) and ``root/multinli`` (dev matched/mismatched) as TSVs."""
    snli, mnli = root / "snli", root / "multinli"
    snli.mkdir(parents=True, exist_ok=True)
    mnli.mkdir(parents=True, exist_ok=True)
    for folder, name, n, seed, extra in ((snli, "train_1pct", n_train, 1, ""), (snli, "dev", 12, 2, ""),
                                         (snli, "test", 12, 3, ""), (mnli, "dev_matched", 6, 4, "\tid"),
                                         (mnli, "dev_mismatched", 6, 5, "\tid")):
        lines = ["premise\thypothesis\tlabel" + ("\tpair_id" if extra else "")]
        lines += ["\t".join(p) + extra for p in make_pairs(n, seed)]
        (folder / f"{name}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return snli


def write_vectors(path: Path, dim: int = 8) -> Path:
    """A tiny GloVe-format text file over the fixture's words (a few left out: trainable OOV rows)."""
    gen = torch.Generator().manual_seed(0)
    words = sorted({w for p in make_pairs(60, 9) for s in p[:2] for w in s.split()} | {"park", "in", "the"})
    words = [w for w in words if w not in ("swims", "dry")]
    lines = [w + " " + " ".join(f"{x:.4f}" for x in torch.randn(dim, generator=gen).tolist()) for w in words]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def batch(pairs: list[tuple[list[int], list[int]]]) -> tuple[torch.Tensor, ...]:
    from dl4nlp.pipelines.nli import collate_pairs

    b = collate_pairs([(p, h, 0) for p, h in pairs])
    return b["premise"], b["premise_mask"], b["hypothesis"], b["hypothesis_mask"]


def model(kind: str, impl: str = "fused", cell: str = "lstm", seed: int = 0) -> NLIModel:
    torch.manual_seed(seed)
    m = NLIModel(40, 3, NLIOptions(cell=cell, hidden=12, impl=impl, attention=kind, embeddings="random",
                                   embedding_dim=6, dropout=0.0))
    return m.eval()


# --------------------------------------------------------------------------- reader


def test_reader_protocol_tsv_jsonl_txt_and_subset(tmp_path: Path):
    snli = write_snli(tmp_path)
    cfg = load_config(None, [f"data.path={snli}", "data.dataset=snli"])
    splits = read_nli(cfg.data)
    assert splits.sizes() == {"train": 42, "dev": 12, "test": 12}  # 30 SNLI + 6 + 6 MultiNLI
    assert splits.labels == ["entailment", "neutral", "contradiction"]
    row = splits.train[0]
    assert set(row) == {"text", "text_pair", "label"} and row["text"].endswith("in the park")
    sub = read_nli(load_config(None, [f"data.path={snli}", "data.dataset=snli", "data.max_train_examples=10"]).data)
    assert len(sub.train) == 10
    # official JSONL (gzip too): '-' pairs dropped
    recs = [{"sentence1": "a b", "sentence2": "a", "gold_label": "entailment"},
            {"sentence1": "a b", "sentence2": "c", "gold_label": "-"},
            {"sentence1": "a b", "sentence2": "not a", "gold_label": "contradiction", "pairID": "x"}]
    text = "\n".join(json.dumps(r) for r in recs) + "\n"
    (tmp_path / "snli_1.0_train.jsonl").write_text(text, encoding="utf-8")
    with gzip.open(tmp_path / "snli_1.0_dev.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(text)
    rows = read_nli_file(tmp_path / "snli_1.0_train.jsonl")
    assert [r["label"] for r in rows] == [0, 2]
    assert read_nli_file(tmp_path / "snli_1.0_dev.jsonl.gz") == rows
    # the official .txt (tab-separated, gold_label first, sentence1/sentence2 by header)
    (tmp_path / "snli_1.0_test.txt").write_text(
        "gold_label\tsentence1_binary_parse\tsentence1\tsentence2\n"
        "neutral\t( a b )\ta \"b\tc d\n-\t( x )\tx\ty\n", encoding="utf-8")
    assert read_nli_file(tmp_path / "snli_1.0_test.txt") == [{"text": 'a "b', "text_pair": "c d", "label": 1}]
    # a folder with the official files (no train_1pct): the full SNLI layout, MultiNLI not added
    full = read_nli(load_config(None, [f"data.path={tmp_path}", "data.dataset=snli"]).data)
    assert full.sizes() == {"train": 2, "dev": 2, "test": 1}
    # data.train_file: that file alone (how users with the full SNLI train run the same configs)
    given = read_nli(load_config(None, [f"data.path={snli}", "data.dataset=snli",
                                        f"data.train_file={tmp_path / 'snli_1.0_train.jsonl'}"]).data)
    assert len(given.train) == 2 and len(given.test) == 12


def test_swapped_contradictions_are_added_to_train_only(tmp_path: Path):
    snli = write_snli(tmp_path)
    opts = [f"data.path={snli}", "data.dataset=snli"]
    plain = read_nli(load_config(None, opts).data)
    aug = read_nli(load_config(None, opts + ["data.swap_contradictions=true"]).data)
    contradiction = NLI_LABELS.index("contradiction")
    originals = [r for r in plain.train if r["label"] == contradiction]
    assert len(originals) > 0
    assert list(aug.train)[:len(plain.train)] == list(plain.train)  # the originals first, unchanged
    extra = list(aug.train)[len(plain.train):]
    assert extra == [{"text": r["text_pair"], "text_pair": r["text"], "label": contradiction} for r in originals]
    assert list(aug.dev) == list(plain.dev) and list(aug.test) == list(plain.test)  # evaluation untouched
    # with a learning-curve subset: the subset is drawn first, then its contradictions are swapped
    sub = read_nli(load_config(None, opts + ["data.max_train_examples=9", "data.swap_contradictions=true"]).data)
    assert len(sub.train) == 9 + sum(r["label"] == contradiction for r in list(sub.train)[:9])


def test_snli_repeat_oversamples_the_snli_sample_only(tmp_path: Path):
    snli = write_snli(tmp_path)  # 30 SNLI + 12 MultiNLI training pairs
    opts = [f"data.path={snli}", "data.dataset=snli"]
    plain = list(read_nli(load_config(None, opts).data).train)
    three = read_nli(load_config(None, opts + ["data.snli_repeat=3"]).data)
    assert len(plain) == 42 and len(three.train) == 30 * 3 + 12
    assert list(three.train) == plain[:30] * 3 + plain[30:]
    assert len(three.dev) == 12 and len(three.test) == 12  # evaluation untouched
    # refused: below 1, one training file (nothing to weight), with a learning-curve subset, on sentences
    for extra, match in ((["data.snli_repeat=0"], "data.snli_repeat: must be at least 1, got 0"),
                         ([f"data.train_file={snli / 'train_1pct.tsv'}", "data.snli_repeat=2"],
                          "data.snli_repeat: only for the reduced protocol"),
                         (["data.snli_repeat=2", "data.max_train_examples=9"], "cannot be combined")):
        with pytest.raises(ConfigError, match=match):
            read_nli(load_config(None, opts + extra).data)


def test_leaderboard_settings_name_the_training_data_options():
    from dl4nlp.pipelines.nli import hyper_parameters

    base = ["data.dataset=snli", "model.name=nli_attention"]
    plain = hyper_parameters(load_config(None, base))
    assert "snli_repeat" not in plain and "swap_contradictions" not in plain and plain["lr"] == 1e-3
    both = hyper_parameters(load_config(None, base + ["data.snli_repeat=4", "data.swap_contradictions=true"]))
    assert both == {**plain, "snli_repeat": 4, "swap_contradictions": True}


def test_swapped_contradictions_on_a_sentence_dataset_is_refused(sst_dir: Path):
    from dl4nlp.pipelines.classification import read_splits

    for key in ("swap_contradictions=true", "snli_repeat=2"):
        cfg = load_config(None, [f"data.path={sst_dir}", "data.dataset=sst2", f"data.{key}"])
        with pytest.raises(ConfigError, match=rf"data.{key.split('=')[0]}: only for sentence pairs .* not 'sst2'"):
            read_splits(cfg)


@pytest.mark.parametrize("name,content,match", [
    ("a.tsv", "premise\thypothesis\tlabel\na\tb\tmaybe\n", r"a\.tsv:2: unknown label 'maybe'"),
    ("b.tsv", "premise\thypothesis\tlabel\na\tb\tneutral\nonly one field\n", r"b\.tsv:3: expected at least 3"),
    ("c.tsv", "p\th\tl\na\tb\tneutral\n", r"c\.tsv:1: expected the header"),
    ("d.tsv", "premise\thypothesis\tlabel\n \tb\tneutral\n", r"d\.tsv:2: empty premise"),
    ("e.jsonl", '{"sentence1": "a", "sentence2": "b", "gold_label": "neutral"}\n{oops\n', r"e\.jsonl:2: invalid JSON"),
    ("f.jsonl", '{"sentence1": "a", "gold_label": "neutral"}\n', r"f\.jsonl:1: missing field\(s\) sentence2"),
    ("g.jsonl", '{"sentence1": "a", "sentence2": "b", "gold_label": "-"}\n', r"g\.jsonl: no labelled pairs"),
])
def test_reader_bad_input_names_file_and_line(tmp_path: Path, name: str, content: str, match: str):
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_nli_file(tmp_path / name)


PAIR = b'{"sentence1": "%s", "sentence2": "b", "gold_label": "neutral"}\n'
NON_UTF8 = {  # line 3 holds a Latin-1 "é" (byte 0xe9)
    "a.tsv": b"premise\thypothesis\tlabel\na\tb\tneutral\ncaf\xe9\tb\tneutral\n",
    "snli_1.0_dev.txt": b"gold_label\tsentence1\tsentence2\nneutral\ta\tb\nneutral\tcaf\xe9\tb\n",
    "b.jsonl": PAIR % b"a" + PAIR % b"a" + PAIR % b"caf\xe9",
}


@pytest.mark.parametrize("name", [*NON_UTF8, "b.jsonl.gz"])
def test_reader_non_utf8_names_file_line_and_byte(tmp_path: Path, name: str):
    data = NON_UTF8[name.removesuffix(".gz")]
    f = tmp_path / name
    f.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    with pytest.raises(DataError) as err:
        read_nli_file(f)
    assert str(err.value) == f"{f}:3: not UTF-8 text (byte 0xe9)"


def test_reader_corrupt_gzip_names_the_file(tmp_path: Path):
    f = tmp_path / "snli_1.0_dev.jsonl.gz"
    f.write_bytes(b"\x1f\x8bnotreallygzip")
    with pytest.raises(DataError, match=rf"^{f}: not a valid gzip file"):
        read_nli_file(f)


def test_reader_folder_given_for_a_file(tmp_path: Path):
    (tmp_path / "dev.tsv").mkdir()
    with pytest.raises(DataError, match=r"dev\.tsv: is a directory, expected a file"):
        read_nli_file(tmp_path / "dev.tsv")


def test_reader_missing_files(tmp_path: Path):
    with pytest.raises(DataError, match="file not found"):
        read_nli_file(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="NLI folder not found"):
        read_nli(load_config(None, [f"data.path={tmp_path / 'x'}", "data.dataset=snli"]).data)
    with pytest.raises(DataError, match="no train file"):
        read_nli(load_config(None, [f"data.path={tmp_path}", "data.dataset=snli"]).data)


# --------------------------------------------------------------------------- models

P1, H1 = [5, 6, 7, 8], [9, 10, 11]
OTHERS = [([5, 12, 13, 14, 15, 16, 17, 18], [19, 20, 21, 22, 23, 24]), ([25, 26], [27])]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_attention_sums_to_one_over_real_premise_tokens(cell: str):
    for kind in ("single", "word_by_word"):
        m = model(kind, cell=cell)
        p, pm, h, hm = batch([(P1, H1), *OTHERS])
        with torch.no_grad():
            logits, alpha = m.attend(p, pm, h, hm)
        assert logits.shape == (3, 3)
        if kind == "single":
            assert alpha.shape == (3, p.size(1))
            sums = alpha.sum(-1)
            assert torch.allclose(sums, torch.ones(3), atol=1e-6)
            assert (alpha[~pm] == 0).all()  # padding gets nothing
        else:
            assert alpha.shape == (3, h.size(1), p.size(1))
            sums = alpha.sum(-1)  # [B, N]
            assert torch.allclose(sums[hm], torch.ones(int(hm.sum())), atol=1e-6)
            assert (sums[~hm] == 0).all()  # rows of hypothesis padding are empty
            assert (alpha.masked_select(~pm[:, None, :].expand_as(alpha)) == 0).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("impl", ["fused", "scratch"])
def test_padding_invariance(kind: str, impl: str):
    """The same pair gives the same logits (and attention) alone and in a padded batch."""
    m = model(kind, impl)
    with torch.no_grad():
        alone, a_alone = m.attend(*batch([(P1, H1)]))
        padded, a_pad = m.attend(*batch([*OTHERS[:1], (P1, H1), *OTHERS[1:]]))
    assert torch.allclose(alone[0], padded[1], atol=1e-5)
    if a_alone is not None:
        a = a_pad[1]
        a = a[: len(P1)] if kind == "single" else a[: len(H1), : len(P1)]
        assert torch.allclose(a_alone[0], a, atol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_fused_and_scratch_agree_and_hypothesis_is_conditioned_on_the_premise(kind: str):
    fused, scratch = model(kind, "fused"), model(kind, "scratch")
    scratch.load_state_dict(fused.state_dict())
    b = batch([(P1, H1), *OTHERS])
    with torch.no_grad():
        assert torch.allclose(fused(*b), scratch(*b), atol=1e-5)
        # conditional encoding: the premise only reaches the output through the hypothesis' start state
        a = fused(*batch([(P1, H1)]))
        c = fused(*batch([([30, 31, 32, 33], H1)]))
    assert not torch.allclose(a, c)


def test_parameter_counts_without_embeddings():
    """k=100, 50d inputs: projection 5,000 + two LSTMs 2 x 80,400 + attention + softmax layer."""
    counts = {}
    for kind in KINDS:
        m = NLIModel(1000, 3, NLIOptions(attention=kind, embeddings="random", embedding_dim=50))
        counts[kind] = m.parameters_without_embeddings()
    lstm = 4 * (100 * 100 + 100 * 100 + 2 * 100)
    base = 50 * 100 + 2 * lstm + 100 * 3 + 3
    assert counts == {"none": base, "single": base + 4 * 100 * 100 + 100,
                      "word_by_word": base + 6 * 100 * 100 + 100}
    gru = NLIModel(1000, 3, NLIOptions(cell="gru", embeddings="random", embedding_dim=50))
    assert gru.parameters_without_embeddings() == 50 * 100 + 2 * 3 * (2 * 100 * 100 + 2 * 100) + 303
    shared = NLIModel(1000, 3, NLIOptions(embeddings="random", embedding_dim=50, shared=True))
    assert shared.parameters_without_embeddings() == base - lstm  # one LSTM reads premise and hypothesis
    assert shared.hypothesis_rnn is shared.premise_rnn


def test_shared_encoder_still_conditions_the_hypothesis_and_survives_a_state_dict_round_trip():
    m = NLIModel(1000, 3, NLIOptions(attention="word_by_word", embeddings="random", embedding_dim=16, hidden=8,
                                     shared=True))
    m.eval()
    b = batch([(P1, H1), *OTHERS])
    again = NLIModel(1000, 3, m.opts)
    again.load_state_dict(m.state_dict())
    again.eval()
    with torch.no_grad():
        assert torch.equal(m(*b), again(*b))
        assert not torch.allclose(m(*batch([(P1, H1)])), m(*batch([([30, 31, 32, 33], H1)])))


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_overfit(kind: str):
    """Each model learns 12 pairs of the fixture by heart."""
    from dl4nlp.data.tokenize import Tokenizer
    from dl4nlp.data.vocab import Vocab

    pairs = make_pairs(12, 7)
    tok = Tokenizer()
    vocab = Vocab.build([tok(s) for p in pairs for s in p[:2]])
    torch.manual_seed(0)
    m = NLIModel(len(vocab), 3, NLIOptions(hidden=24, attention=kind, embeddings="random", embedding_dim=16,
                                            dropout=0.0))
    b = batch([(vocab.encode(tok(p)), vocab.encode(tok(h))) for p, h, _ in pairs])
    y = torch.tensor([NLI_LABELS.index(lab) for *_, lab in pairs])
    opt = torch.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(150):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(m(*b), y)
        loss.backward()
        opt.step()
    m.eval()
    with torch.no_grad():
        assert (m(*b).argmax(-1) == y).all(), f"{kind}: loss {loss.item():.3f}"


# --------------------------------------------------------------------------- pipeline and CLI


def cli(*args: object, timeout: int = 300) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    return subprocess.run([DL4NLP, *map(str, args)], capture_output=True, text=True, env=env, timeout=timeout)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every config of configs/nli trained through the real CLI on the tiny fixture and tiny vectors."""
    root = tmp_path_factory.mktemp("nli")
    snli = write_snli(root / "data")
    vectors = write_vectors(root / "vectors.txt")
    runs = {}
    for m in MODELS:
        r = cli("train", REPO / "configs/nli" / f"{m}.yaml", "--set", f"data.path={snli}", "--set",
                f"model.embeddings={vectors}", "--set", "model.hidden=16", "--set", "train.epochs=2", "--set",
                "train.batch_size=8", "--set", f"run.dir={root / 'runs'}", "--set", f"run.name={m}", "--set",
                "trainer.progress_bar=false", "--set", "trainer.accelerator=cpu")
        assert r.returncode == 0, r.stderr[-3000:]
        assert "test_acc=" in r.stdout
        runs[m] = root / "runs" / m
    return runs


def test_train_writes_results_and_loads_back(trained: dict[str, Path]):
    from dl4nlp.pipelines.nli import evaluate_nli_run, load_nli_run

    for m, run in trained.items():
        res = json.loads((run / "results.json").read_text())
        assert res["task"] == "nli" and res["model"] == f"nli_{m}" and res["train_examples"] == 42
        assert 0 < res["params"] < res["params_with_embeddings"]
        for f in ("best.ckpt", "last.ckpt", "vocab.json", "labels.json", "metrics.csv", "confusion_matrix.png"):
            assert (run / f).is_file(), f
        ev = evaluate_nli_run(run, "test")
        assert ev["examples"] == 12 and abs(ev["accuracy"] - res["test_acc"]) < 1e-6
        pred = load_nli_run(run).predict("a man runs in the park", "a man sleeps")
        assert sum(pred.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_cli_nli_heatmap_bar_index_predict_evaluate_and_resume(trained: dict[str, Path], tmp_path: Path):
    wbw, att, cond = trained["word_by_word"], trained["attention"], trained["conditional"]
    out = tmp_path / "wbw.png"
    r = cli("nli", wbw, "--premise", "A man runs in the park.", "--hypothesis", "A man sleeps.", "--out", out)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0]
    assert first.split("\t")[0] in NLI_LABELS and "entailment=" in first
    assert out.is_file() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    r = cli("nli", att, "--index", "2")
    assert r.returncode == 0, r.stderr
    assert "gold=" in r.stdout and "attention: " in r.stdout
    assert (att / "attention" / "test-2.png").is_file()
    r = cli("nli", cond, "--premise", "a dog eats", "--hypothesis", "a dog is hungry")
    assert r.returncode == 0 and "no attention" in r.stdout
    r = cli("nli", wbw, "--index", "99")
    assert r.returncode == 2 and "--index 99: the test split has 12 pairs" in r.stderr
    r = cli("nli", wbw, "--premise", "a dog")
    assert r.returncode == 2 and "--hypothesis" in r.stderr
    r = cli("predict", att, "a dog runs ||| a dog sleeps", "no separator")
    assert r.returncode == 2 and "premise ||| hypothesis" in r.stderr
    r = cli("predict", att, "a dog runs ||| a dog sleeps")
    assert r.returncode == 0 and r.stdout.split("\t")[0] in NLI_LABELS
    r = cli("evaluate", att, "--split", "dev")
    assert r.returncode == 0 and json.loads(r.stdout)["examples"] == 12
    r = cli("leaderboard", att.parent)
    assert r.returncode == 0 and "nli_word_by_word" in r.stdout
    # resume: an unfinished run continues from last.ckpt
    (wbw / "results.json").rename(wbw / "results.bak")
    r = cli("train", "--resume", wbw, "--set", "train.epochs=3")
    assert r.returncode == 0, r.stderr[-2000:]
    assert json.loads((wbw / "results.json").read_text())["epochs_run"] == 3


def test_demo_nli_tab_shows_recurrent_runs_and_the_word_by_word_heatmap(trained: dict[str, Path]):
    pytest.importorskip("gradio")
    from dl4nlp.demo.limits import DemoSettings
    from dl4nlp.demo.tabs import nli as tab
    from dl4nlp.pipelines.nli import load_nli_run

    runs = [trained["word_by_word"], trained["attention"], trained["conditional"]]
    models = tab.load(runs, DemoSettings())
    assert models is not None and len(models.scorers) == 3
    html, png = tab.analyse(models, "a man runs in the park", "a man sleeps <b>x</b>", 200)
    for run in runs:
        label = load_nli_run(run).predict("a man runs in the park", "a man sleeps <b>x</b>").label
        assert f'data-run="{run.name}">{label}</b>' in html
    assert "attention over the premise, mean over hypothesis words" in html  # word by word
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    preds = tab.predict_all(models, "a man runs in the park", "a man sleeps", 200)
    wbw, att, cond = preds
    assert wbw["rows"] == ["a", "man", "sleeps"] and len(wbw["heads"]) == 3
    assert all(len(r) == len(wbw["words"]) for r in wbw["heads"])
    assert att["attention"] is not None and att["heads"] is None and cond["attention"] is None
    assert sum(att["attention"]) == pytest.approx(1.0, abs=1e-5)
    assert png is not None and Path(png).stat().st_size > 1000


def test_nli_ladder_puts_the_three_models_side_by_side(trained: dict[str, Path]):
    """Runs already in the folder with the same settings are kept (no training); leaderboard.md and ladder.png
    are written. Runs with other settings are refused, not kept."""
    root = trained["attention"].parent
    snli = root.parent / "data" / "snli"
    r = cli("nli-ladder", "--out", root, "--set", f"data.path={snli}")  # the configs' own sizes: not these runs
    assert r.returncode == 2 and "this run folder holds a run with other settings" in r.stderr
    assert "model.hidden: 16 -> 100" in r.stderr
    same = [f"data.path={snli}", f"model.embeddings={root.parent / 'vectors.txt'}", "model.hidden=16",
            "train.epochs=2", "train.batch_size=8"]
    sets = [a for s in same for a in ("--set", s)]
    # the word-by-word run may have been continued to 3 epochs by the resume test: then it is not this config's
    wbw_epochs = yaml.safe_load((trained["word_by_word"] / "config.yaml").read_text())["train"]["epochs"]
    if wbw_epochs != 2:
        r = cli("nli-ladder", "--out", root, *sets)
        assert r.returncode == 2 and f"word_by_word: this run folder holds a run with other settings " \
                                      f"(train.epochs: {wbw_epochs} -> 2)" in r.stderr
    r = cli("nli-ladder", "--out", root, "--only", "conditional", "--only", "attention", *sets)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.count("already trained, kept") == 2
    md = (root / "leaderboard.md").read_text()
    assert all(f"nli_{m}" in md for m in ("conditional", "attention"))  # the rungs of this call, in ladder order
    assert md.index("nli_conditional") < md.index("nli_attention")
    assert (root / "ladder.png").is_file()
    r = cli("nli-ladder", "--only", "lstm")
    assert r.returncode == 2 and "unknown rung(s) lstm" in r.stderr


def test_vocabulary_takes_dev_test_words_that_have_a_vector_as_extend_vocab_says(tmp_path: Path):
    from dl4nlp.pipelines.nli import prepare

    snli = write_snli(tmp_path)
    test = snli / "test.tsv"
    test.write_text(test.read_text() + "a zebra runs\ta quokka sleeps\tneutral\n", encoding="utf-8")
    vectors = write_vectors(tmp_path / "v.txt")
    vectors.write_text(vectors.read_text() + "zebra " + " ".join(["0.1"] * 8) + "\n", encoding="utf-8")
    base = [f"data.path={snli}", "data.dataset=snli", "model.name=nli_attention", f"model.embeddings={vectors}"]
    prep = prepare(load_config(None, base))
    assert "zebra" in prep.vocab and "quokka" not in prep.vocab
    assert prep.test.premises[-1][1] == prep.vocab.stoi["zebra"] and prep.test.hypotheses[-1][1] == 1  # <unk>
    trainable = prepare(load_config(None, [*base, "model.freeze_embeddings=false"]))
    assert "zebra" not in trainable.vocab  # fine-tuned vectors: training words only (extend_vocab=frozen)
    always = prepare(load_config(None, [*base, "model.freeze_embeddings=false", "model.extend_vocab=always"]))
    assert "zebra" in always.vocab and "quokka" not in always.vocab
    assert always.test.premises[-1][1] == always.vocab.stoi["zebra"]
    never = prepare(load_config(None, [*base, "model.extend_vocab=never"]))
    assert "zebra" not in never.vocab and never.test.premises[-1][1] == 1
    with pytest.raises(ConfigError, match="model.extend_vocab: unknown value 'sometimes'"):
        prepare(load_config(None, [*base, "model.extend_vocab=sometimes"]))


def test_words_seen_only_in_dev_test_keep_their_pretrained_vector_when_fine_tuned(tmp_path: Path):
    """extend_vocab=always with trainable embeddings: a training step moves the rows of training words and
    leaves the row of a word met only in test at its pretrained vector."""
    from dl4nlp.pipelines.nli import build_model, collate_pairs, prepare

    snli = write_snli(tmp_path)
    test = snli / "test.tsv"
    test.write_text(test.read_text() + "a zebra runs\ta cat sleeps\tneutral\n", encoding="utf-8")
    vectors = write_vectors(tmp_path / "v.txt")
    vectors.write_text(vectors.read_text() + "zebra " + " ".join(["0.1"] * 8) + "\n", encoding="utf-8")
    cfg = load_config(None, [f"data.path={snli}", "data.dataset=snli", "model.name=nli_attention",
                             f"model.embeddings={vectors}", "model.freeze_embeddings=false",
                             "model.extend_vocab=always"])
    prep = prepare(cfg)
    model = build_model(cfg, prep.vocab, 3)
    table = model.embed.table.weight
    zebra = prep.vocab.stoi["zebra"]
    assert torch.allclose(table[zebra], torch.full((8,), 0.1))
    before = table.detach().clone()
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    batch = collate_pairs([prep.train[i] for i in range(len(prep.train))])
    logits = model(batch["premise"], batch["premise_mask"], batch["hypothesis"], batch["hypothesis_mask"])
    loss = torch.nn.functional.cross_entropy(logits, batch["label"])
    loss.backward()
    opt.step()
    seen = sorted({i for p in prep.train.premises for i in p})
    assert not torch.allclose(table[seen], before[seen])
    assert torch.equal(table[zebra], before[zebra])
