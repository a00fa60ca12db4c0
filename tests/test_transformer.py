"""The transformer family: checkpoint lookup, word pieces, padding/masks, pairs, XLM-R path, fine-tuning
through the engine, reloading in plain ``transformers``, frozen features, and the CLI.

Every model here is a tiny randomly initialised BERT / XLM-R built in the test with a tokenizer made
by the ``tokenizers`` library: nothing is downloaded, and the real MiniLM is only resolved, not loaded.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
import torch
from conftest import FILL, NEG, POS, tiny_config, write_sst
from typer.testing import CliRunner

from dl4nlp.core.config import load_config
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.models.transformer import (
    TransformerClassifier,
    TransformerOptions,
    encode,
    load_tokenizer,
    mean_pool,
    resolve_checkpoint,
    token_types,
    truncate_head_tail,
)

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def make_tiny_bert(folder: Path, layers: int = 2) -> Path:
    """A WordPiece tokenizer over the fixture words (+ letters) and a random BERT, saved like a hub model."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    words = sorted(set(POS + NEG + FILL + ["premise", "hypothesis", "dog", "cat", "runs", "sleeps"]))
    vocab = SPECIAL + words + list(string.ascii_lowercase) + ["##" + c for c in string.ascii_lowercase]
    ids = {w: i for i, w in enumerate(vocab)}
    tok = Tokenizer(models.WordPiece(ids, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", ids["[CLS]"]), ("[SEP]", ids["[SEP]"])],
    )
    tok.decoder = decoders.WordPiece()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=layers,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    folder.mkdir(parents=True, exist_ok=True)
    BertModel(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


def make_tiny_xlmr(folder: Path) -> Path:
    """A SentencePiece-style Unigram tokenizer trained here and a random 1-layer XLM-R (one segment type)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=80, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"], unk_token="<unk>"
    )
    corpus = [
        "the film is good",
        "a great film",
        "the plot is bad",
        "ein guter Film",
        "un film ennuyeux",
        "der Hund schläft",
        "le chat dort",
    ]
    tok.train_from_iterator(corpus * 5, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=64,
    )
    torch.manual_seed(0)
    cfg = XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=70,
        type_vocab_size=1,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    folder.mkdir(parents=True, exist_ok=True)
    XLMRobertaModel(cfg).save_pretrained(folder)
    fast.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="module")
def xlmr_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_xlmr(tmp_path_factory.mktemp("tiny-xlmr"))


def write_nli(folder: Path, n_train: int = 24, bad_line: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        ("a dog runs", "a dog runs", "entailment"),
        ("a cat sleeps", "a dog runs", "neutral"),
        ("the dog sleeps", "the dog runs", "contradiction"),
    ]
    for split, n in (("train_1pct", n_train), ("dev", 6), ("test", 6)):
        lines = ["premise\thypothesis\tlabel"] + ["\t".join(rows[i % 3]) for i in range(n)]
        if bad_line and split == "dev":
            lines.append("a dog\ta cat\tmaybe")
        (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# --------------------------------------------------------------------------- checkpoints


def test_packaged_minilm_resolves_offline_without_loading():
    where, local = resolve_checkpoint("minilm-l6")
    assert local is True
    cfg = json.loads((Path(where) / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["hidden_size"] == 384 and cfg["num_hidden_layers"] == 6
    assert (Path(where) / "tokenizer.json").is_file()


def test_checkpoint_lookup_local_hub_and_errors(
    tmp_path: Path, bert_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    assert resolve_checkpoint(str(bert_dir)) == (str(bert_dir), True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert resolve_checkpoint("bert-base-uncased") == ("bert-base-uncased", True)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_checkpoint("bert-base-uncased") == ("bert-base-uncased", False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no config.json"):
        resolve_checkpoint(str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match="not found"):
        resolve_checkpoint(str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="truncation"):
        TransformerOptions(truncation="middle")


# --------------------------------------------------------------------------- word pieces, padding, masks


def test_encode_single_head_tail_and_max_length(bert_dir: Path):
    tok = load_tokenizer(str(bert_dir))
    cls, sep = tok.cls_token_id, tok.sep_token_id
    [ids] = encode(tok, ["the film is good"])
    assert ids[0] == cls and ids[-1] == sep
    assert tok.convert_ids_to_tokens(ids[1:-1]) == ["the", "film", "is", "good"]
    [pieces] = encode(tok, ["goodness"])
    assert tok.convert_ids_to_tokens(pieces)[1:4] == [
        "good",
        "##n",
        "##e",
    ]  # WordPiece split of an unknown word
    long = " ".join(f"w{i}" for i in range(3))  # w -> 'w' + '##0' etc.
    text = "good " + " ".join(["the"] * 20) + " " + long + " bad"
    [head] = encode(tok, [text], max_length=8)
    assert len(head) == 8 and head[0] == cls and head[-1] == sep
    assert tok.convert_ids_to_tokens(head[1:3]) == ["good", "the"]
    [ht] = encode(tok, [text], max_length=8, truncation="head_tail", head_tokens=2)
    assert len(ht) == 8 and ht[0] == cls and ht[-1] == sep
    toks = tok.convert_ids_to_tokens(ht)
    assert toks[1:3] == ["good", "the"] and toks[-2] == "bad"  # head kept, and the end of the review
    assert truncate_head_tail(list(range(10)), 5, 2) == [0, 1, 7, 8, 9]
    assert truncate_head_tail([1, 2], 5, 2) == [1, 2]


def test_pair_encoding_and_token_types_match_tokenizer(bert_dir: Path):
    tok = load_tokenizer(str(bert_dir))
    premises, hyps = ["a dog runs", "the cat"], ["a cat sleeps with the film", "dog"]
    ids = encode(tok, premises, hyps)
    ref = tok(premises, hyps, return_token_type_ids=True, padding=True, return_tensors="pt")
    from dl4nlp.pipelines.finetune import collate_pieces

    batch = collate_pieces([(x, 0) for x in ids], tok.pad_token_id)
    assert torch.equal(batch["tokens"], ref["input_ids"])  # dynamic padding = the tokenizer's own padding
    assert torch.equal(batch["mask"], ref["attention_mask"].bool())
    assert torch.equal(token_types(batch["tokens"], batch["mask"], tok.sep_token_id), ref["token_type_ids"])
    toks = tok.convert_ids_to_tokens(ids[0])
    assert toks == [
        "[CLS]",
        "a",
        "dog",
        "runs",
        "[SEP]",
        "a",
        "cat",
        "sleeps",
        "with",
        "the",
        "film",
        "[SEP]",
    ]
    # pairs too long are cut longest-first, both [SEP]s kept
    [cut] = encode(tok, ["a dog runs in the film"], ["a cat"], max_length=8)
    assert len(cut) == 8 and tok.convert_ids_to_tokens(cut).count("[SEP]") == 2


def test_padding_does_not_change_logits(bert_dir: Path):
    tok = load_tokenizer(str(bert_dir))
    model = TransformerClassifier.from_pretrained(str(bert_dir), ["neg", "pos"], tokenizer=tok).eval()
    from dl4nlp.pipelines.finetune import collate_pieces

    short, long_ = encode(tok, ["good film", "the film is a story of a dull plot with it"])
    alone = collate_pieces([(short, 0)], tok.pad_token_id)
    both = collate_pieces([(short, 0), (long_, 1)], tok.pad_token_id)
    assert both["tokens"].shape == (2, len(long_)) and both["mask"][0].sum() == len(short)
    with torch.no_grad():
        a = model(alone["tokens"], alone["mask"])
        b = model(both["tokens"], both["mask"])
    assert a.shape == (1, 2) and b.shape == (2, 2)
    torch.testing.assert_close(a[0], b[0], atol=1e-5, rtol=1e-4)
    h = torch.randn(2, 4, 3)
    m = torch.tensor([[True, True, False, False], [True, True, True, True]])
    torch.testing.assert_close(mean_pool(h, m)[0], h[0, :2].mean(0))


def test_freeze_encoder_trains_only_the_head(bert_dir: Path):
    model = TransformerClassifier.from_pretrained(
        str(bert_dir), ["a", "b", "c"], TransformerOptions(checkpoint=str(bert_dir), freeze_encoder=True)
    )
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"hf.classifier.weight", "hf.classifier.bias"}


def test_tiny_bert_overfits_a_batch(bert_dir: Path):
    tok = load_tokenizer(str(bert_dir))
    texts = ["good fun film", "bad dull film", "a great story", "an awful mess", "brilliant", "tedious plot"]
    labels = torch.tensor([1, 0, 1, 0, 1, 0])
    from dl4nlp.pipelines.finetune import collate_pieces

    b = collate_pieces(list(zip(encode(tok, texts), labels.tolist(), strict=True)), tok.pad_token_id)
    torch.manual_seed(0)
    model = TransformerClassifier.from_pretrained(str(bert_dir), ["neg", "pos"], tokenizer=tok)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        loss = torch.nn.functional.cross_entropy(model(b["tokens"], b["mask"]), labels)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 < losses[0]
    model.eval()
    assert torch.equal(model(b["tokens"], b["mask"]).argmax(-1), labels)


# --------------------------------------------------------------------------- XLM-R path


def test_xlmr_sentencepiece_path_trains_saves_and_reloads(xlmr_dir: Path, tmp_path: Path):
    from transformers import AutoModelForSequenceClassification

    from dl4nlp.pipelines.finetune import collate_pieces, save_hf

    tok = load_tokenizer(str(xlmr_dir))
    model = TransformerClassifier.from_pretrained(str(xlmr_dir), ["e", "n", "c"], tokenizer=tok)
    assert model.sep_id is None  # one segment type: no token type ids
    ids = encode(tok, ["the film is good", "le chat dort"], ["ein guter Film", "der Hund"])
    toks = tok.convert_ids_to_tokens(ids[0])
    assert toks[0] == "<s>" and toks[-1] == "</s>" and toks.count("</s>") == 3  # <s> a </s></s> b </s>
    b = collate_pieces([(ids[0], 0), (ids[1], 2)], tok.pad_token_id)
    assert tok.pad_token_id == 1 and b["tokens"][~b["mask"]].eq(1).all()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss0 = None
    for _ in range(15):
        loss = torch.nn.functional.cross_entropy(model(b["tokens"], b["mask"]), b["label"])
        loss0 = loss0 if loss0 is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < loss0
    model.eval()
    save_hf(model, tok, tmp_path / "hf")
    plain = AutoModelForSequenceClassification.from_pretrained(
        str(tmp_path / "hf"), local_files_only=True
    ).eval()
    with torch.no_grad():
        ours = model(b["tokens"], b["mask"])
        theirs = plain(input_ids=b["tokens"], attention_mask=b["mask"].long()).logits
    torch.testing.assert_close(ours, theirs)


# --------------------------------------------------------------------------- pipelines, run folders, CLI


def _cfg(sst: Path, runs: Path, bert: Path, model: str = "transformer", **extra: object):
    sets = tiny_config(
        sst,
        runs,
        model,
        **{
            "model.checkpoint": str(bert),
            "train.optimizer": "adamw",
            "train.lr": 3e-3,
            "train.schedule": "linear",
            "train.warmup_steps": 2,
            "train.clip_norm": 1.0,
            "train.epochs": 2,
            "data.max_length": 32,
            **extra,
        },
    )
    return load_config(None, sets)


def test_finetune_run_reloads_in_plain_transformers_and_cli(tmp_path: Path, bert_dir: Path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from dl4nlp.cli import app
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines.finetune import load_transformer_run

    sst = write_sst(tmp_path / "sst")
    run = train_any(_cfg(sst, tmp_path / "runs", bert_dir))
    res = json.loads((run / "results.json").read_text())
    assert res["model"] == "transformer" and 0.0 <= res["test_acc"] <= 1.0 and res["epochs_run"] == 2
    assert (run / "hf" / "config.json").is_file() and (run / "best.ckpt").is_file()

    texts = ["a brilliant and charming film", "a dull , tedious mess"]
    clf = load_transformer_run(run)
    ours = clf.probabilities(texts)
    plain = AutoModelForSequenceClassification.from_pretrained(str(run / "hf"), local_files_only=True).eval()
    ptok = AutoTokenizer.from_pretrained(str(run / "hf"), local_files_only=True)
    enc = ptok(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        theirs = torch.softmax(plain(**enc).logits, -1)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-4)
    assert plain.config.id2label == {0: "negative", 1: "positive"}

    # the tiny model learnt the fixture: its dev accuracy is what results.json says
    runner = CliRunner()
    out = runner.invoke(app, ["evaluate", str(run), "--split", "dev"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["accuracy"] == pytest.approx(res["dev_acc"], abs=1e-6)

    # predict: one line per input, nothing written into the run; heatmaps only where asked (--attention DIR)
    out = runner.invoke(app, ["predict", str(run), *texts, "--attention", str(tmp_path / "maps")])
    assert out.exit_code == 0, out.output
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].endswith("\t" + texts[0]) and "positive=" in lines[0]
    assert not (run / "attention").exists()
    pngs = sorted((tmp_path / "maps").glob("*.png"))
    assert len(pngs) == 2 and pngs[0].stat().st_size > 1000
    exp = clf.explain(texts[0])
    assert exp.pieces[0] == "[CLS]" and len(exp.cls_attention) == 2  # 2 heads
    for row in exp.cls_attention:  # each head's attention from [CLS] is a distribution over the pieces
        assert len(row) == len(exp.pieces) and sum(row) == pytest.approx(1.0, abs=1e-4)


def test_resume_and_bad_options(tmp_path: Path, bert_dir: Path):
    from dl4nlp.experiments import train_any

    sst = write_sst(tmp_path / "sst")
    with pytest.raises(ConfigError, match="unknown key 'hidden'"):
        train_any(_cfg(sst, tmp_path / "runs", bert_dir, **{"model.hidden": 3}))
    with pytest.raises(ConfigError, match="not found"):
        train_any(_cfg(sst, tmp_path / "runs", tmp_path / "nowhere"))


def test_nli_pairs_pipeline_and_bad_label(tmp_path: Path, bert_dir: Path):
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines.finetune import load_transformer_run

    snli = write_nli(tmp_path / "snli")
    cfg = _cfg(snli, tmp_path / "runs", bert_dir, **{"data.dataset": "snli", "train.epochs": 1})
    run = train_any(cfg)
    res = json.loads((run / "results.json").read_text())
    assert res["task"] == "nli" and res["train_examples"] == 24
    clf = load_transformer_run(run)
    label, probs = clf.predict(["a dog runs ||| a dog runs"])[0]
    assert label in ("entailment", "neutral", "contradiction") and sum(probs.values()) == pytest.approx(1.0)
    exp = clf.explain("a dog runs ||| a cat sleeps")
    assert exp.pieces.count("[SEP]") == 2
    with pytest.raises(DataError, match="premise \\|\\|\\| hypothesis"):
        clf.predict(["no separator here"])

    bad = write_nli(tmp_path / "bad" / "snli", bad_line=True)
    with pytest.raises(DataError, match=r"dev.tsv:8: unknown label 'maybe'"):
        train_any(_cfg(bad, tmp_path / "runs", bert_dir, **{"data.dataset": "snli"}))


def test_frozen_features_rung(tmp_path: Path, bert_dir: Path):
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines.finetune import load_transformer_run

    sst = write_sst(tmp_path / "sst")
    cfg = load_config(
        None,
        tiny_config(
            sst,
            tmp_path / "runs",
            "transformer-features",
            **{"model.checkpoint": str(bert_dir), "model.c_grid": "[0.1, 10.0]"},
        ),
    )
    run = train_any(cfg)
    res = json.loads((run / "results.json").read_text())
    assert [r["C"] for r in res["c_tried"]] == [0.1, 10.0]
    assert res["hyper_parameters"]["C"] == max(res["c_tried"], key=lambda r: r["dev_acc"])["C"]
    assert res["trainable_params"] == 2 * 32 + 2
    clf = load_transformer_run(run)
    from datasets import Dataset  # noqa: F401  (the reader's rows)

    from dl4nlp.pipelines.finetune import read_splits

    dev = read_splits(cfg).dev
    preds = clf.probabilities(list(dev["text"])).argmax(-1)
    acc = float((preds == torch.tensor(list(dev["label"]))).float().mean())
    assert acc == pytest.approx(res["dev_acc"], abs=1e-6)  # the saved head reproduces the reported score


def test_ladder_top_rungs_registered_and_skippable(tmp_path: Path, bert_dir: Path):
    from dl4nlp.core.registry import LADDER
    from dl4nlp.ladder import run_ladder

    assert LADDER[-2:] == ["transformer-features", "transformer"]
    sst = write_sst(tmp_path / "sst")
    root = Path(__file__).resolve().parents[1]
    md = run_ladder(root / "configs" / "ladder", "sst2", tmp_path / "ladder", ["transformer-features", "transformer"],
                    ["transformer"], [f"data.path={sst}", f"model.checkpoint={bert_dir}", "model.c_grid=[1.0]"])
    text = md.read_text()
    assert "transformer-features-sst2" in text and "| transformer-sst2" not in text
    assert not (tmp_path / "ladder" / "transformer-sst2").exists()  # skipped rung: nothing trained
