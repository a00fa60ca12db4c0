"""Translation: parallel reader, recurrent encoder-decoders (masks, attention), shared greedy / beam decoding,
a tiny overfit, and the CLI from training to `translate`."""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import pytest
import torch

from dl4nlp.core.config import DataConfig
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.parallel import read_pairs, read_parallel, source_batch, tokenize
from dl4nlp.engine.generation import beam_search_batch, generate
from dl4nlp.models.seq2seq import (
    BahdanauAttention,
    BahdanauSeq2Seq,
    LuongAttention,
    LuongSeq2Seq,
    Seq2Seq,
    Seq2SeqOptions,
)
from dl4nlp.tasks.translation import decode_ids, translation_scores

WORDS = {"mann": "man", "hund": "dog", "frau": "woman", "kind": "child", "läuft": "runs", "schläft": "sleeps",
         "isst": "eats"}


def write_parallel(folder: Path, sizes: tuple[int, int, int] = (40, 8, 8), seed: int = 0) -> Path:
    """Multi30k-like files (train/val/test_2016_flickr .de/.en) of a tiny word-for-word language."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in zip(("train", "val", "test_2016_flickr"), sizes, strict=True):
        de, en = [], []
        for _ in range(n):
            a, v = rng.choice(["mann", "hund", "frau", "kind"]), rng.choice(["läuft", "schläft", "isst"])
            de.append(f"Ein {a.capitalize()} {v}.")
            en.append(f"A {WORDS[a]} {WORDS[v]}.")
        (folder / f"{split}.de").write_text("\n".join(de) + "\n", encoding="utf-8")
        (folder / f"{split}.en").write_text("\n".join(en) + "\n", encoding="utf-8")
    return folder


VARIANTS = [
    (Seq2Seq, {"cell": "gru"}),
    (Seq2Seq, {"cell": "lstm", "bidirectional": False, "layers": 2}),
    (BahdanauSeq2Seq, {"cell": "gru"}),
    (BahdanauSeq2Seq, {"cell": "lstm", "tie_embeddings": True}),
    (LuongSeq2Seq, {"score": "dot"}),
    (LuongSeq2Seq, {"score": "general", "cell": "lstm"}),
    (LuongSeq2Seq, {"score": "concat", "input_feeding": False}),
]


def tiny(cls: type, **kw: object) -> Seq2Seq:
    torch.manual_seed(0)
    opts = Seq2SeqOptions(emb_dim=8, hidden=6, attn_dim=5, dropout=0.0, max_len=7, **kw)
    return cls(11, 13, opts).eval()


SRC = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 0, 0, 0], [5, 0, 0, 0, 0]])  # [3, 5] right-padded


# --------------------------------------------------------------------------- data


def test_reader_multi30k_layout_both_directions(tmp_path: Path) -> None:
    d = write_parallel(tmp_path / "m")
    de_en = read_parallel(DataConfig(dataset="multi30k", path=str(d), direction="de-en"))
    en_de = read_parallel(DataConfig(dataset="multi30k", path=str(d), direction="en-de"))
    assert de_en.splits["train"].src_text == en_de.splits["train"].tgt_text
    assert de_en.splits["dev"].src_tokens[0][0] == "ein" and en_de.splits["dev"].src_tokens[0][0] == "a"
    assert de_en.src_vocab.itos[:4] == ["<pad>", "<unk>", "<sos>", "<eos>"]
    assert "hund" in de_en.src_vocab and "dog" in de_en.tgt_vocab and "dog" not in de_en.src_vocab
    assert tokenize("Ein Mann fährt Fahrrad, schnell.", "de") == ["ein", "mann", "fährt", "fahrrad", ",", "schnell",
                                                                  "."]


def test_reader_min_count(tmp_path: Path) -> None:
    d = tmp_path / "p"
    d.mkdir()
    (d / "tr.de").write_text("a b\na c\n", encoding="utf-8")
    (d / "tr.en").write_text("x y\nx z\n", encoding="utf-8")
    cfg = DataConfig(dataset="parallel", path=str(d), train_file="tr", dev_file="tr", test_file="tr", min_count=2)
    corpus = read_parallel(cfg)
    assert corpus.src_vocab.itos[4:] == ["a"] and corpus.tgt_vocab.itos[4:] == ["x"]


@pytest.mark.parametrize("src, tgt, message", [
    ("a\nb\nc\n", "x\ny\n", "tgt.txt:3: file ends here"),
    ("a\n\nc\n", "x\ny\nz\n", "src.txt:2: empty line"),
    ("a\nb\n", "x\n   \n", "tgt.txt:2: empty line"),
])
def test_reader_refuses_bad_pairs(tmp_path: Path, src: str, tgt: str, message: str) -> None:
    (tmp_path / "src.txt").write_text(src, encoding="utf-8")
    (tmp_path / "tgt.txt").write_text(tgt, encoding="utf-8")
    with pytest.raises(DataError, match=message):
        read_pairs(tmp_path / "src.txt", tmp_path / "tgt.txt")


def test_reader_bad_direction_and_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="data.direction"):
        read_parallel(DataConfig(dataset="multi30k", path=str(tmp_path), direction="de_en"))
    with pytest.raises(DataError, match="train.de: file not found"):
        read_parallel(DataConfig(dataset="multi30k", path=str(tmp_path)))
    with pytest.raises(ConfigError, match="needs train_file"):
        read_parallel(DataConfig(dataset="parallel", path=str(tmp_path)))


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("cls, kw", VARIANTS)
def test_sentence_alone_equals_padded_batch(cls: type, kw: dict) -> None:
    """Padding never changes a sentence's logits, attention, greedy or beam output."""
    model = tiny(cls, **kw)
    b = source_batch([[3, 4, 5, 6, 7], [8, 9], [5]])
    tgt = torch.tensor([[2, 4, 5, 6, 3]] * 3)
    logits, attn = model(b["src"], b["src_mask"], tgt)
    greedy = decode_ids(model, b["src"], b["src_mask"], 2, 3, 7)
    beam = decode_ids(model, b["src"], b["src_mask"], 2, 3, 7, beam=3)
    for i, sent in enumerate(([3, 4, 5, 6, 7], [8, 9], [5])):
        one = source_batch([sent])
        lo, at = model(one["src"], one["src_mask"], tgt[:1])
        torch.testing.assert_close(logits[i:i + 1], lo, atol=1e-5, rtol=1e-5)
        if attn is not None:
            torch.testing.assert_close(attn[i:i + 1, :, : len(sent)], at, atol=1e-5, rtol=1e-5)
            assert not attn[i, :, len(sent):].any()  # padding gets exactly no weight
            torch.testing.assert_close(attn[i].sum(-1), torch.ones(tgt.size(1)))
        assert decode_ids(model, one["src"], one["src_mask"], 2, 3, 7) == [greedy[i]]
        assert decode_ids(model, one["src"], one["src_mask"], 2, 3, 7, beam=3) == [beam[i]]


def test_attention_scores_follow_the_equations() -> None:
    torch.manual_seed(0)
    q, mem = torch.randn(2, 4), torch.randn(2, 3, 6)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    bah = BahdanauAttention(4, 6, 5)
    c, a = bah(q, bah.keys(mem), mem, mask)
    e = torch.stack([bah.v(torch.tanh(bah.W(q) + bah.U(mem[:, j]))).squeeze(-1) for j in range(3)], -1)
    ref = torch.softmax(e.masked_fill(~mask, -1e9), -1)
    torch.testing.assert_close(a, ref)
    torch.testing.assert_close(c, (ref[:, :, None] * mem).sum(1))
    gen = LuongAttention("general", 4, 6, 5)
    _, a = gen(q, gen.keys(mem), mem, mask)
    score = torch.einsum("nh,hm,nsm->ns", q, gen.Wk.weight, mem)  # h_t^T W_a h_s
    torch.testing.assert_close(a, torch.softmax(score.masked_fill(~mask, -1e9), -1))
    dot = LuongAttention("dot", 6, 6, 5)
    q6 = torch.randn(2, 6)
    _, a = dot(q6, dot.keys(mem), mem, mask)
    torch.testing.assert_close(a, torch.softmax(torch.einsum("nh,nsh->ns", q6, mem).masked_fill(~mask, -1e9), -1))


def test_tied_embeddings_and_teacher_forcing_ratio() -> None:
    model = tiny(BahdanauSeq2Seq, tie_embeddings=True, teacher_forcing=0.0)
    assert model.out.weight is model.embed.weight
    b = source_batch([[3, 4, 5], [6, 7]])
    greedy = decode_ids(model, b["src"], b["src_mask"], 2, 3, 6)
    model.train()  # dropout is 0: with ratio 0 the model feeds its own greedy guesses
    tgt_in = torch.full((2, 6), 4)
    tgt_in[:, 0] = 2  # <sos>, then gold words the model must ignore
    logits, _ = model(b["src"], b["src_mask"], tgt_in)
    own = logits.argmax(-1).tolist()
    for row, hyp in zip(own, greedy, strict=True):
        assert row[: len(hyp)] == hyp


def test_bad_options_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="cell"):
        BahdanauSeq2Seq.build({"cell": "rnn"}, 5, 5)
    with pytest.raises(ConfigError, match="unknown key 'heads'"):
        LuongSeq2Seq.build({"heads": 2}, 5, 5)
    with pytest.raises(ConfigError, match="Luong attention options"):
        BahdanauSeq2Seq.build({"score": "dot"}, 5, 5)


# --------------------------------------------------------------------------- decoding


def markov_step(tables: torch.Tensor):
    """A toy decoder: input n's next-token log-probs depend only on the last token (tables [B, V, V]); the state
    is each row's input index, so a wrong beam reordering mixes inputs up."""
    def step(last: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return tables[state, last], state
    return step


def brute_force_best(table: torch.Tensor, start: int, eos: int, max_len: int) -> tuple[list[int], float]:
    best: tuple[list[int], float] = ([], float("-inf"))
    words = [t for t in range(table.size(0)) if t != eos]
    for n in range(max_len):
        for seq in itertools.product(words, repeat=n):
            path = [start, *seq, eos]
            score = sum(float(table[a, b]) for a, b in itertools.pairwise(path))
            if score > best[1]:
                best = (list(seq), score)
    return best


def test_beam_returns_best_hypothesis_of_hand_built_decoder() -> None:
    # tokens: 0 <eos>, 1 a, 2 b, 3 <sos>. Greedy takes a (0.6) then can only end at 0.34: p = 0.204;
    # b (0.4) ends at 0.9: p = 0.36. Beam 2 must find "b".
    p = torch.tensor([[1.0, 0, 0, 0], [0.34, 0.33, 0.33, 0], [0.9, 0.05, 0.05, 0], [0.0, 0.6, 0.4, 0]])
    table = p.clamp_min(1e-12).log()[None]  # [1, V, V]
    start, state = torch.tensor([3]), torch.tensor([0])
    assert generate(markov_step(table), start, state, 5, eos_id=0) == [[1]]
    (ids, score), = beam_search_batch(markov_step(table), start, state, 2, 5, eos_id=0)
    assert ids == [2] and math.isclose(score, math.log(0.36), rel_tol=1e-5)


def test_wide_beam_equals_brute_force_and_batching() -> None:
    torch.manual_seed(3)
    V, B, L = 4, 3, 4
    tables = torch.log_softmax(torch.randn(B, V, V) * 2, -1)  # token 0 is <eos>
    out = beam_search_batch(markov_step(tables), torch.full((B,), 1), torch.arange(B), 64, L, eos_id=0)
    for b in range(B):
        ids, score = brute_force_best(tables[b], 1, 0, L)
        assert out[b][0] == ids and math.isclose(out[b][1], score, rel_tol=1e-5)
        alone = beam_search_batch(markov_step(tables[b:b + 1]), torch.tensor([1]), torch.tensor([0]), 64, L, eos_id=0)
        assert alone[0][0] == ids


@pytest.mark.parametrize("alpha", [0.0, 0.7])
def test_beam_width_one_is_greedy(alpha: float) -> None:
    torch.manual_seed(1)
    tables = torch.log_softmax(torch.randn(4, 6, 6), -1)
    start, state = torch.full((4,), 5), torch.arange(4)
    greedy = generate(markov_step(tables), start, state, 8, eos_id=0)
    beam = beam_search_batch(markov_step(tables), start, state, 1, 8, eos_id=0, alpha=alpha)
    assert [ids for ids, _ in beam] == greedy
    model = tiny(LuongSeq2Seq)
    assert decode_ids(model, SRC, SRC != 0, 2, 3, 7, beam=1) == decode_ids(model, SRC, SRC != 0, 2, 3, 7, beam=1,
                                                                           alpha=alpha)
    pairs = beam_search_batch(lambda t, s: model.step(t, s)[:2], torch.full((3,), 2), model.encode(SRC, SRC != 0),
                              1, 7, eos_id=3, alpha=alpha)
    assert [ids for ids, _ in pairs] == decode_ids(model, SRC, SRC != 0, 2, 3, 7)


# --------------------------------------------------------------------------- training and scores


def test_tiny_model_overfits() -> None:
    torch.manual_seed(0)
    model = BahdanauSeq2Seq(12, 12, Seq2SeqOptions(emb_dim=16, hidden=16, attn_dim=16, dropout=0.0, max_len=8))
    srcs = [[4, 5, 6], [7, 8], [9, 10, 11, 4], [5, 9]]
    tgts = [[2, *[t + 1 if t < 11 else 4 for t in s[::-1]], 3] for s in srcs]  # reversed and shifted
    b = source_batch(srcs)
    tgt = torch.nn.utils.rnn.pad_sequence([torch.tensor(t) for t in tgts], batch_first=True)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(40):
        logits, _ = model(b["src"], b["src_mask"], tgt[:, :-1])
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 12), tgt[:, 1:].reshape(-1), ignore_index=0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.01
    model.eval()
    assert decode_ids(model, b["src"], b["src_mask"], 2, 3, 8) == [t[1:-1] for t in tgts]
    assert decode_ids(model, b["src"], b["src_mask"], 2, 3, 8, beam=3) == [t[1:-1] for t in tgts]


def test_translation_scores_two_bleus() -> None:
    hyp_tok, ref_tok = [["a", "dog", "runs", "."]], [["a", "dog", "runs", "."]]
    s = translation_scores(hyp_tok, ref_tok, ["a dog runs."], ["A dog runs."])
    assert s["bleu_tok_lc"] == pytest.approx(100.0)  # lower-cased tokenised: identical
    assert s["bleu"] < 100.0  # sacreBLEU is case-sensitive on the detokenised text
    assert "tok:13a" in s["bleu_signature"] and 0 < s["chrf"] <= 100


# --------------------------------------------------------------------------- end to end


def test_cli_train_translate_evaluate(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl4nlp.cli import app

    data = write_parallel(tmp_path / "m30k")
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(f"""
data: {{dataset: multi30k, path: {data}, direction: de-en, min_count: 1}}
model: {{name: seq2seq_bahdanau, emb_dim: 12, hidden: 12, attn_dim: 12, dropout: 0.0, beam_size: 2, max_len: 8}}
train: {{epochs: 2, lr: 0.02, batch_size: 8, eval_batch_size: 8, patience: 0}}
trainer: {{progress_bar: false}}
run: {{dir: {tmp_path / 'runs'}, name: tiny}}
""", encoding="utf-8")
    runner = CliRunner()
    res = runner.invoke(app, ["train", str(cfg)])
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / "tiny"
    results = json.loads((run / "results.json").read_text(encoding="utf-8"))
    assert results["task"] == "translation" and "test_bleu_beam2" in results and results["dev_ppl"] > 1
    metrics = (run / "metrics.csv").read_text(encoding="utf-8").splitlines()
    assert "train_loss" in metrics[0] and "dev_bleu" in metrics[0]
    png = tmp_path / "att.png"
    res = runner.invoke(app, ["translate", str(run), "Ein Hund schläft.", "--beam", "2", "--heatmap", str(png)])
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() and png.stat().st_size > 0
    (tmp_path / "in.txt").write_text("Ein Kind isst.\nEin Mann läuft.\n", encoding="utf-8")
    res = runner.invoke(app, ["translate", str(run), "--file", str(tmp_path / "in.txt")])
    assert res.exit_code == 0 and len(res.stdout.strip().splitlines()) == 2
    res = runner.invoke(app, ["evaluate", str(run), "--data", f"{data}/train.de,{data}/val.en"])
    assert isinstance(res.exception, DataError) and "val.en:9: file ends here" in str(res.exception)
    res = runner.invoke(app, ["evaluate", str(run), "--data", f"{data}/val"])
    assert res.exit_code == 0, res.output
    scores = json.loads(res.stdout)
    assert {"bleu", "bleu_tok_lc", "chrf", "ppl", "bleu_beam2", "bleu_signature"} <= scores.keys()
