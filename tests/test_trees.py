"""Tree-structured networks: level-by-level batching == plain recursion at every node, overfitting, a tree alone ==
in a batch, bad trees refused with file:line, the trees pipeline and `dl4nlp tree` end to end on a tiny fixture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import Killed, kill_at, tiny_config, write_sst

from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.tree_batching import (
    NO_LABEL,
    balanced_tree,
    collate_trees,
    encode_tree,
    format_tree,
    read_binary_trees,
    sst2_label,
)
from dl4nlp.data.trees import parse_tree
from dl4nlp.models.tree import RNTN, RecursiveNN, RecursiveOptions, TreeLSTM, TreeLSTMOptions, node_loss

LINES = [
    "(3 (2 a) (3 (2 b) (4 c)))",
    "(1 (1 (0 d) (2 e)) (2 (2 a) (2 (2 f) (3 g))))",
    "(2 a)",  # a one-word sentence: the root is a leaf
    "(4 (4 (4 c) (2 b)) (2 (2 a) (1 (0 d) (2 (2 e) (2 zz)))))",  # zz: unknown word
    "(0 (1 (1 (1 (0 d) (2 a)) (2 e)) (2 f)) (3 g))",  # left-branching
]  # a word (and a phrase) has one label wherever it occurs, so a model can fit them all
WORDS = {w: i + 2 for i, w in enumerate("abcdefg")}


def word_id(w: str) -> int:
    return WORDS.get(w, 1)


def make(cls: type, d: int = 6, **kw: object) -> torch.nn.Module:
    torch.manual_seed(0)
    if cls is TreeLSTM:
        opts = TreeLSTMOptions(embeddings="random", embedding_dim=d, hidden=kw.pop("hidden", 5), **kw)
    else:
        opts = RecursiveOptions(embeddings="random", embedding_dim=d, **kw)
    return cls(len(WORDS) + 2, 5, opts)


MODELS = [RecursiveNN, RNTN, TreeLSTM]


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_level_by_level_equals_recursion_at_every_node(cls: type) -> None:
    trees = [parse_tree(line) for line in LINES]
    model = make(cls).eval()
    batch = collate_trees([encode_tree(t, word_id) for t in trees])
    batched = model(batch)  # [N, C]
    reference = torch.cat([model.reference(t, word_id) for t in trees])  # post-order, tree after tree
    assert batched.shape == reference.shape == (sum(len(t.leaves()) * 2 - 1 for t in trees), 5)
    torch.testing.assert_close(batched, reference, rtol=1e-5, atol=1e-6)
    # and the gradients of every weight agree
    g_batched = torch.autograd.grad(batched.square().sum(), list(model.parameters()))
    model.zero_grad()
    g_ref = torch.autograd.grad(torch.cat([model.reference(t, word_id) for t in trees]).square().sum(),
                                list(model.parameters()))
    for a, b in zip(g_batched, g_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_rntn_tensor_term_matches_torch_bilinear() -> None:
    model = make(RNTN)
    a, b = torch.randn(7, 6), torch.randn(7, 6)
    ab = torch.cat([a, b], dim=-1)
    expected = torch.tanh(torch.nn.functional.bilinear(ab, ab, model.V) + model.W(ab))  # x^T V^[k] x + W x + b
    torch.testing.assert_close(model.compose((a,), (b,))[0], expected)


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_a_tree_alone_equals_the_tree_in_a_batch(cls: type) -> None:
    trees = [parse_tree(line) for line in LINES]
    model = make(cls).eval()
    enc = [encode_tree(t, word_id) for t in trees]
    batch = collate_trees(enc)
    together = model(batch)
    start = 0
    for e in enc:
        alone = model(collate_trees([e]))
        torch.testing.assert_close(together[start : start + len(e)], alone, rtol=1e-5, atol=1e-6)
        start += len(e)
    torch.testing.assert_close(together[batch.roots], torch.stack([model(collate_trees([e]))[-1] for e in enc]))


def test_batch_levels_cover_every_inner_node_once_after_its_children() -> None:
    enc = [encode_tree(parse_tree(line), word_id) for line in LINES]
    batch = collate_trees(enc)
    done = set(batch.leaf_nodes.tolist())
    assert len(done) == sum(len(t.leaves()) for t in map(parse_tree, LINES))
    for nodes, left, right in batch.levels:
        assert set(left.tolist()) <= done and set(right.tolist()) <= done  # children computed at a lower level
        assert not set(nodes.tolist()) & done
        done |= set(nodes.tolist())
    assert done == set(range(batch.num_nodes))
    assert batch.roots.tolist() == (torch.tensor([len(e) for e in enc]).cumsum(0) - 1).tolist()
    assert batch.node_tree[batch.roots].tolist() == list(range(len(enc)))
    assert batch.leaf_words.tolist()[:3] == [WORDS["a"], WORDS["b"], WORDS["c"]]
    assert batch.root_labels.tolist() == [3, 1, 2, 4, 0]


def test_sst2_labels_mask_neutral_phrases() -> None:
    e = encode_tree(parse_tree(LINES[1]), word_id, sst2_label)
    assert e.label.tolist() == [0, NO_LABEL, 0, NO_LABEL, NO_LABEL, 1, NO_LABEL, NO_LABEL, 0]
    batch = collate_trees([e])
    assert batch.label_mask.tolist() == [x != NO_LABEL for x in e.label.tolist()]
    logits = torch.randn(len(e), 2, requires_grad=True)
    loss = node_loss(logits, batch)
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(logits[[0, 2, 5, 8]],
                                                                       torch.tensor([0, 0, 1, 0])))


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_tiny_model_overfits_a_few_trees(cls: type) -> None:
    trees = [parse_tree(line) for line in LINES]
    model = make(cls, d=8, dropout=0.0, **({"hidden": 12} if cls is TreeLSTM else {}))
    batch = collate_trees([encode_tree(t, word_id) for t in trees])
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        opt.zero_grad()
        loss = node_loss(model(batch), batch)
        loss.backward()
        opt.step()
    acc = (model.eval()(batch).argmax(-1) == batch.labels).float().mean()
    assert float(loss) < 0.05 and float(acc) == 1.0


def test_bad_trees_are_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "trees.txt"
    path.write_text("(3 (2 a) (3 b))\n\n(3 (2 a) (2 b) (3 c))\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"trees\.txt:3: not a binarised tree: .* has 3 children"):
        read_binary_trees(path)
    path.write_text("(3 (2 a) (3 b))\n(3 (2 a) (3 b)\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"trees\.txt:2: malformed tree"):
        read_binary_trees(path)
    path.write_text("(3 (2 a) (7 b))\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"trees\.txt:1: label 7 out of range"):
        read_binary_trees(path)


def test_balanced_tree_and_ptb_round_trip() -> None:
    t = balanced_tree(["a", "(", "b", "c", "d"])
    assert format_tree(t) == "(0 (0 (0 (0 a) (0 -LRB-)) (0 b)) (0 (0 c) (0 d)))"
    assert parse_tree(format_tree(t)).leaves() == ["a", "(", "b", "c", "d"]
    assert format_tree(parse_tree(LINES[1])) == LINES[1]


def test_glove_leaves_start_from_the_vectors_file(tmp_path: Path) -> None:
    from dl4nlp.data.vocab import Vocab

    glove = tmp_path / "vectors.txt"
    glove.write_text("good 0.1 0.2 0.3\nfilm -0.5 0.0 0.25\n", encoding="utf-8")
    vocab = Vocab.build([["good", "film", "zzz"]])
    model = TreeLSTM.build({"embeddings": str(glove), "hidden": 4}, vocab, 2)
    table = model.embed.table.weight
    assert table.requires_grad and table.shape == (5, 3)
    torch.testing.assert_close(table[vocab.stoi["film"]], torch.tensor([-0.5, 0.0, 0.25]))


def _train(sst: Path, runs: Path, resume: Path | None = None, callbacks: list | None = None, **extra: object) -> Path:
    from dl4nlp.core.config import apply_overrides, from_dict
    from dl4nlp.pipelines.trees import PIPELINE

    sets = tiny_config(sst, runs, "tree_lstm", **{"model.embeddings": "random", "model.embedding_dim": 8,
                                                   "model.hidden": 12, "train.epochs": 2, **extra})
    return PIPELINE.train(from_dict(apply_overrides({}, sets)), resume=resume, callbacks=callbacks)


def test_a_killed_run_resumes_exactly(sst_dir: Path, tmp_path: Path) -> None:
    from dl4nlp.core.runs import load_state_dict

    full = _train(sst_dir, tmp_path / "a", **{"train.epochs": 3})
    with pytest.raises(Killed):
        _train(sst_dir, tmp_path / "b", callbacks=[kill_at(epoch=1, batch=2)], **{"train.epochs": 3})
    (killed,) = [p for p in (tmp_path / "b").iterdir() if p.is_dir()]
    assert not (killed / "results.json").exists() and (killed / "last.ckpt").is_file()
    resumed = _train(sst_dir, tmp_path / "b", resume=killed, **{"train.epochs": 3})
    a, b = load_state_dict(full, "last"), load_state_dict(resumed, "last")
    for k in a:
        assert torch.equal(a[k], b[k]), k
    ra, rb = (json.loads((r / "results.json").read_text(encoding="utf-8")) for r in (full, resumed))
    assert (ra["test_acc"], ra["test_phrase_acc"]) == (rb["test_acc"], rb["test_phrase_acc"])


def test_pipeline_rejects_sentence_options_and_other_datasets(sst_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.phrases: not an option of the tree models"):
        _train(sst_dir, tmp_path / "runs", **{"data.phrases": "true"})
    with pytest.raises(ConfigError, match="data.dataset: tree models read SST trees"):
        _train(sst_dir, tmp_path / "runs", **{"data.dataset": "imdb"})
    assert not (tmp_path / "runs").exists()


def test_cli_train_tree_predict_evaluate_end_to_end(tmp_path: Path, cli) -> None:
    from typer.testing import CliRunner

    from dl4nlp.cli import app

    sst = write_sst(tmp_path / "sst")
    sets = tiny_config(sst, tmp_path / "runs", "tree_lstm", **{"model.embeddings": "random", "model.hidden": 12,
                                                               "model.embedding_dim": 8, "train.epochs": 2,
                                                               "data.dataset": "sst5"})
    config = Path(__file__).parents[1] / "configs/trees/tree_lstm.yaml"
    args = ["train", str(config)] + [x for s in sets for x in ("--set", s)]
    assert cli(*args)[0] == 0
    run = tmp_path / "runs" / "tree_lstm-sst5-s13"
    res = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert res["task"] == "sentiment" and res["phrases"] is True
    assert {"dev_acc", "dev_phrase_acc", "test_acc", "test_phrase_acc", "nodes_per_s"} <= res.keys()

    runner = CliRunner()
    out = tmp_path / "tree.png"
    r = runner.invoke(app, ["tree", str(run), "a wonderful , charming film", "--out", str(out)])
    assert r.exit_code == 0, r.output
    label, scores, text = r.stdout.splitlines()[0].split("\t")
    assert label in json.loads((run / "labels.json").read_text(encoding="utf-8"))
    assert text == "a wonderful , charming film" and scores.count("=") == 5
    tree = parse_tree(r.stdout.splitlines()[1])
    assert tree.leaves() == ["a", "wonderful", ",", "charming", "film"] and len(tree.children) == 2
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "balanced binary tree" in r.stderr
    r = runner.invoke(app, ["tree", str(run), "(3 (2 a) (3 (2 good) (3 film)))", "--out", str(out)])
    assert r.exit_code == 0 and "balanced" not in r.stderr

    r = runner.invoke(app, ["evaluate", str(run), "--split", "test"])
    scores = json.loads(r.stdout)
    assert scores["accuracy"] == pytest.approx(res["test_acc"], abs=1e-6)
    assert scores["phrase_accuracy"] == pytest.approx(res["test_phrase_acc"], abs=1e-6)

    r = runner.invoke(app, ["evaluate", str(run), "--data", str(sst / "test.txt")])
    on_file = json.loads(r.stdout)
    assert (on_file["accuracy"], on_file["phrase_accuracy"]) == (scores["accuracy"], scores["phrase_accuracy"])

    bad = tmp_path / "bad.txt"
    bad.write_text("(3 (2 a) (3 b))\n(3 (2 a)\n", encoding="utf-8")
    from dl4nlp.pipelines.trees import PIPELINE

    with pytest.raises(DataError, match=r"bad\.txt:2: malformed tree"):
        PIPELINE.evaluate(run, data=bad)
    code, err = cli("tree", run, "(3 (2 a) (2 b) (3 c))")
    assert code == 2 and "input 1: not a binarised tree" in err
    lines = (sst / "train.txt").read_text(encoding="utf-8").splitlines()
    lines[4] = "(3 (2 a) (2 b) (3 c))"
    (sst / "train.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, err = cli(*args, "--set", "run.name=broken")
    assert code == 2 and "train.txt:5: not a binarised tree" in err
    assert not (tmp_path / "runs" / "broken").exists()
