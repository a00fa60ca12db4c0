"""Recurrent rungs: cells and layers vs torch.nn, masks, training, save/load, CLI diagnostics."""

from __future__ import annotations

import json
import random

import pytest
import torch
from typer.testing import CliRunner

from dl4nlp.models import rnn
from dl4nlp.models.recurrent import RecurrentClassifier, RecurrentOptions, WordEmbedding

TORCH_CELLS = {"rnn": torch.nn.RNNCell, "gru": torch.nn.GRUCell, "lstm": torch.nn.LSTMCell}
TORCH_LAYERS = {"rnn": torch.nn.RNN, "gru": torch.nn.GRU, "lstm": torch.nn.LSTM}


def close(a: torch.Tensor, b: torch.Tensor) -> None:
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- parity with torch.nn


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_cell_matches_torch_outputs_and_gradients(cell):
    torch.manual_seed(0)
    ours = rnn.make_cell(cell, 6, 5)
    ref = TORCH_CELLS[cell](6, 5)
    ref.load_state_dict(ours.state_dict())  # same names and shapes as torch's cells
    x = torch.randn(4, 6, requires_grad=True)
    h = torch.randn(4, 5)
    state = (h, torch.randn(4, 5)) if cell == "lstm" else h
    out_ours, out_ref = ours(x, state), ref(x, state)
    if cell == "lstm":
        close(out_ours[0], out_ref[0])
        close(out_ours[1], out_ref[1])
        loss_o, loss_r = (
            (out_ours[0].sum() + out_ours[1].pow(2).sum()),
            (out_ref[0].sum() + out_ref[1].pow(2).sum()),
        )
    else:
        close(out_ours, out_ref)
        loss_o, loss_r = out_ours.pow(2).sum(), out_ref.pow(2).sum()
    gx_o = torch.autograd.grad(loss_o, [x, *ours.parameters()])
    gx_r = torch.autograd.grad(loss_r, [x, *ref.parameters()])
    for a, b in zip(gx_o, gx_r, strict=True):
        close(a, b)


@pytest.mark.parametrize("cell", rnn.CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_layer_matches_torch_on_padded_batch(cell, bidirectional):
    torch.manual_seed(1)
    ours = rnn.ScratchLayer(cell, 4, 3, bidirectional)
    ref = TORCH_LAYERS[cell](4, 3, batch_first=True, bidirectional=bidirectional)
    ref.load_state_dict({k.removeprefix("rnn."): v for k, v in ours.state_dict().items()})
    lengths = torch.tensor([5, 2, 4])
    mask = torch.arange(5)[None] < lengths[:, None]  # [3, 5]
    x = (torch.randn(3, 5, 4) * mask[..., None]).requires_grad_()
    out, final = ours(x, mask)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    ref_out, ref_h = ref(packed)
    ref_out, _ = torch.nn.utils.rnn.pad_packed_sequence(ref_out, batch_first=True, total_length=5)
    ref_h = ref_h[0] if cell == "lstm" else ref_h
    close(out, ref_out)
    close(final, torch.cat(list(ref_h), dim=-1))
    w = torch.randn_like(out)
    g_ours = torch.autograd.grad((out * w).sum() + final.sum(), [x, *ours.parameters()])
    g_ref = torch.autograd.grad((ref_out * w).sum() + ref_h.sum(), [x, *ref.parameters()])
    for a, b in zip(g_ours, g_ref, strict=True):
        close(a, b)


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_scratch_and_fused_encoders_share_weights_and_agree(cell):
    torch.manual_seed(2)
    scratch = rnn.RecurrentEncoder(
        cell, 4, 4, num_layers=2, bidirectional=True, residual=True, impl="scratch"
    )
    fused = rnn.RecurrentEncoder(cell, 4, 4, num_layers=2, bidirectional=True, residual=True, impl="fused")
    assert scratch.state_dict().keys() == fused.state_dict().keys()
    fused.load_state_dict(scratch.state_dict())
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    x = torch.randn(2, 4, 4, requires_grad=True)
    (o1, f1), (o2, f2) = scratch(x, mask), fused(x, mask)
    close(o1, o2)
    close(f1, f2)
    assert torch.all(o1[1, 2:] == 0)  # padding positions output zero
    g1 = torch.autograd.grad(o1.sum() + f1.sum(), x)[0]
    g2 = torch.autograd.grad(o2.sum() + f2.sum(), x)[0]
    close(g1, g2)


# --------------------------------------------------------------------------- masks


@pytest.mark.parametrize("impl", rnn.IMPLS)
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("pooling", rnn.POOLINGS)
def test_padding_never_changes_a_prediction(impl, bidirectional, pooling):
    torch.manual_seed(3)
    model = RecurrentClassifier(
        30,
        3,
        RecurrentOptions(
            cell="lstm",
            hidden=8,
            layers=2,
            residual=True,
            bidirectional=bidirectional,
            pooling=pooling,
            impl=impl,
            embedding_dim=6,
        ),
    ).eval()
    sent = torch.tensor([[5, 9, 2, 7]])
    alone = model(sent, torch.ones_like(sent, dtype=torch.bool))
    batch = torch.tensor([[11, 12, 13, 14, 15, 16, 17], [5, 9, 2, 7, 0, 0, 0]])
    mask = batch != 0
    padded = model(batch, mask)
    close(padded[1:], alone)
    batch2 = batch.clone()
    batch2[1, 4:] = 3  # garbage under the mask must not matter either
    close(model(batch2, mask)[1:], alone)


def test_attention_weights_sum_to_one_and_skip_padding():
    torch.manual_seed(4)
    model = RecurrentClassifier(
        20, 2, RecurrentOptions(cell="gru", hidden=6, pooling="attention", embedding_dim=4)
    )
    tokens = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    w = model.attention_weights(tokens, tokens != 0)
    assert w.shape == (2, 4)
    close(w.sum(-1), torch.ones(2))
    assert torch.all(w[1, 2:] == 0) and torch.all(w[1, :2] > 0)
    with pytest.raises(ValueError, match="attention"):
        RecurrentClassifier(20, 2, RecurrentOptions(pooling="max")).attention_weights(tokens, tokens != 0)


# --------------------------------------------------------------------------- training


@pytest.mark.parametrize("cell", rnn.CELLS)
def test_tiny_model_overfits_a_tiny_batch(cell):
    torch.manual_seed(5)
    model = RecurrentClassifier(
        40, 3, RecurrentOptions(cell=cell, hidden=16, embedding_dim=8, output_dropout=0.0)
    )
    tokens = torch.randint(2, 40, (12, 6))
    lengths = torch.tensor([6, 3, 5, 2, 6, 4, 1, 6, 5, 3, 2, 4])
    mask = torch.arange(6)[None] < lengths[:, None]
    tokens = tokens * mask
    labels = torch.randint(0, 3, (12,))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    first = None
    for _ in range(150):
        loss = torch.nn.functional.cross_entropy(model(tokens, mask), labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.1 * first
    assert (model(tokens, mask).argmax(-1) == labels).all()


def test_frozen_pretrained_rows_stay_and_oov_rows_learn():
    pretrained = torch.randn(6, 4)
    found = torch.tensor([False, False, True, True, False, True])  # <pad>, <unk>, 3 found, 1 OOV
    emb = WordEmbedding(6, 4, pretrained, found, freeze=True)
    opt = torch.optim.SGD([p for p in emb.parameters() if p.requires_grad], lr=1.0)
    tokens = torch.tensor([[1, 2, 3, 4, 5]])
    before = emb(tokens).detach().clone()
    emb(tokens).pow(2).sum().backward()
    opt.step()
    after = emb(tokens).detach()
    close(after[0, [1, 2, 4]], before[0, [1, 2, 4]])  # found rows (2, 3, 5) frozen
    close(after[0, 1], pretrained[2])
    assert not torch.allclose(after[0, [0, 3]], before[0, [0, 3]])  # <unk> and the OOV word moved


def test_bad_options_are_rejected_with_the_key_named():
    from dl4nlp.core.errors import ConfigError
    from dl4nlp.models.recurrent import LSTMClassifier

    class V(list):
        pass

    vocab = V(["<pad>", "<unk>", "a"])
    with pytest.raises(ValueError, match="unknown cell 'transformer'"):
        LSTMClassifier.build({"cell": "transformer"}, vocab, 2)
    with pytest.raises(ValueError, match="unknown impl 'cuda'"):
        LSTMClassifier.build({"impl": "cuda"}, vocab, 2)
    with pytest.raises(ValueError, match="unknown pooling 'min'"):
        LSTMClassifier.build({"pooling": "min"}, vocab, 2)
    with pytest.raises(ConfigError, match="unknown key 'hiden'"):
        LSTMClassifier.build({"hiden": 3}, vocab, 2)


# --------------------------------------------------------------------------- end to end on a tiny SST


POS = [
    "a gorgeous witty film",
    "warm and funny",
    "a great , moving story",
    "the best film of the year",
    "funny and smart",
    "a moving , gorgeous piece",
]
NEG = [
    "a dull , boring mess",
    "bad and tedious",
    "the worst film of the year",
    "boring and dull",
    "a tedious , bad story",
    "a mess",
]


def _tree(words: list[str], label: int) -> str:
    t = f"({label} {words[-1]})"
    for w in reversed(words[:-1]):
        t = f"({label} ({label} {w}) {t})"
    return t


@pytest.fixture
def sst_dir(tmp_path):
    rng = random.Random(0)
    folder = tmp_path / "sst"
    folder.mkdir()
    for split, n in (("train", 6), ("dev", 3), ("test", 3)):
        lines = []
        for _ in range(n):
            lines.append(_tree(rng.choice(POS).split(), 4))
            lines.append(_tree(rng.choice(NEG).split(), 0))
        (folder / f"{split}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def _cfg(sst_dir, tmp_path, model: str, *extra: str):
    from dl4nlp.core.config import load_config

    return load_config(
        "configs/ladder/gru.yaml",
        [
            f"data.path={sst_dir}",
            f"model.name={model}",
            "model.embeddings=random",
            "model.hidden=12",
            "model.embedding_dim=8",
            "train.epochs=3",
            "train.lr=0.01",
            "train.batch_size=4",
            "trainer.progress_bar=false",
            "trainer.accelerator=cpu",
            f"run.dir={tmp_path / 'runs'}",
            *extra,
        ],
    )


def test_train_save_load_gives_identical_predictions(sst_dir, tmp_path):
    from dl4nlp.core.runs import read_results
    from dl4nlp.pipelines.classification import Classifier, evaluate_run, train_classifier

    cfg = _cfg(sst_dir, tmp_path, "bilstm", "model.pooling=attention")
    assert cfg.train.clip_norm == 5.0  # clipping on by default in the recurrent configs
    run = train_classifier(cfg)
    res = read_results(run)
    assert res["model"] == "bilstm" and res["params"] > 0
    texts = ["a gorgeous , funny film", "a boring , tedious mess", "film"]
    p1 = Classifier(run).probabilities(texts)
    p2 = Classifier(run).probabilities(texts)
    assert torch.equal(p1, p2)
    # the same weights in our scratch cells give the same predictions as the fused run
    scratch = Classifier(run)
    from dl4nlp.pipelines.classification import build_model

    scratch.cfg.model["impl"] = "scratch"
    fused_state = scratch.model.state_dict()
    scratch.model = build_model(scratch.cfg, scratch.vocab, len(scratch.labels)).eval()
    scratch.model.load_state_dict(fused_state)
    close(scratch.probabilities(texts), p1)
    # accuracy measured at training time from best.ckpt == accuracy of the reloaded run
    assert evaluate_run(run, "dev")["accuracy"] == pytest.approx(res["dev_acc"], abs=1e-6)


def test_cli_train_gradients_and_attention_map(sst_dir, tmp_path):
    from dl4nlp.cli import app

    runner = CliRunner()
    r = runner.invoke(
        app,
        [
            "gradients",
            "--data",
            str(sst_dir),
            "--length",
            "3",
            "--examples",
            "4",
            "--hidden",
            "8",
            "--out",
            str(tmp_path / "g.png"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g.png").stat().st_size > 1000
    curves = json.loads((tmp_path / "g.json").read_text())["grad_norm_per_step"]
    assert set(curves) == {"rnn", "gru", "lstm"}
    assert all(len(v) == 3 and all(x > 0 for x in v) for v in curves.values())

    args = [
        "train",
        "configs/ladder/gru.yaml",
        "--set",
        f"data.path={sst_dir}",
        "--set",
        "model.embeddings=random",
        "--set",
        "model.hidden=8",
        "--set",
        "model.pooling=attention",
        "--set",
        "train.epochs=1",
        "--set",
        "trainer.progress_bar=false",
        "--set",
        f"run.dir={tmp_path / 'cli'}",
        "--set",
        "run.name=g",
    ]
    r = runner.invoke(app, args)
    assert r.exit_code == 0, r.output
    run = tmp_path / "cli" / "g"
    r = runner.invoke(app, ["attention-map", str(run), "a gorgeous film", "--out", str(tmp_path / "a.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "a.png").is_file() and "gorgeous:" in r.output
    r = runner.invoke(
        app, ["gradients", str(run), "--length", "2", "--examples", "2", "--out", str(tmp_path / "g2.png")]
    )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "g2.png").is_file()


def test_attention_map_of_a_run_without_attention_names_the_run_folder(sst_dir, tmp_path, cli):
    from conftest import tiny_config

    from dl4nlp.core.config import load_config
    from dl4nlp.pipelines.classification import train_classifier

    run = train_classifier(load_config(None, tiny_config(sst_dir, tmp_path / "runs", "logreg",
                                                         **{"train.epochs": 1})), evaluate_test=False)
    code, err = cli("attention-map", run, "a gorgeous film", "--out", tmp_path / "a.png")
    assert (code, err) == (2, f"error: {run}: not a recurrent classifier with 'pooling: attention'\n")
    assert not (tmp_path / "a.png").exists()


def test_gradient_norms_vanish_faster_for_the_elman_rnn():
    from dl4nlp.analysis.rnn_diagnostics import hidden_state_gradients

    torch.manual_seed(6)
    tokens = torch.randint(2, 50, (16, 40))
    labels = torch.randint(0, 2, (16,))
    ratio = {}
    for cell in rnn.CELLS:
        torch.manual_seed(7)
        model = RecurrentClassifier(50, 2, RecurrentOptions(cell=cell, hidden=32, impl="fused"))
        g = hidden_state_gradients(model, tokens, labels)
        assert len(g) == 40
        ratio[cell] = g[0] / g[-1]  # share of the final gradient that reaches the first step
    assert ratio["rnn"] < ratio["gru"] and ratio["rnn"] < ratio["lstm"]


def test_ladder_trains_a_recurrent_rung(sst_dir, tmp_path):
    from dl4nlp.cli import app
    from dl4nlp.core import registry

    assert registry.LADDER.index("rnn") > registry.LADDER.index("mlp")
    out = tmp_path / "ladder"
    sets = [f"data.path={sst_dir}", "model.embeddings=random", "model.hidden=8", "train.epochs=1",
            "trainer.progress_bar=false"]
    r = CliRunner().invoke(app, ["ladder", "--dataset", "sst2", "--only", "rnn", "--out", str(out),
                                 *[a for s in sets for a in ("--set", s)]])
    assert r.exit_code == 0, r.output
    rows = (out / "leaderboard.csv").read_text().splitlines()
    assert len(rows) == 2 and rows[1].split(",")[2] == "rnn"


def test_pretrained_vectors_from_a_glove_text_file(tmp_path, capsys):
    from dl4nlp.data.vocab import Vocab
    from dl4nlp.models.recurrent import GRUClassifier

    path = tmp_path / "vecs.txt"
    path.write_text("good 1.0 2.0 3.0\nbad -1.0 -2.0 -3.0\nfilm 0.5 0.5 0.5\n", encoding="utf-8")
    vocab = Vocab.build([["good", "film", "boring"], ["bad", "film"]])
    model = GRUClassifier.build({"embeddings": str(path), "freeze_embeddings": True, "hidden": 4}, vocab, 2)
    assert "3 of 4 vocabulary words found (75.0%)" in capsys.readouterr().err  # a note: stderr, not the results
    table = model.embed(torch.tensor([[vocab.stoi["good"], vocab.stoi["bad"], vocab.stoi["boring"]]]))[0]
    close(table[0], torch.tensor([1.0, 2.0, 3.0]))
    close(table[1], torch.tensor([-1.0, -2.0, -3.0]))
    assert model.embed.frozen and not bool(model.embed.found[vocab.stoi["boring"]])
    assert model(torch.tensor([[2, 3]]), torch.tensor([[True, True]])).shape == (1, 2)
