"""Image captioning: readers, feature cache, attention, beam search through the decoder, overfitting two
captions, CLI end to end. Tiny fake images and the tiny random CNN keep it fast (the real EfficientNet is
only loaded by one test, to check that its weights are found offline)."""

from __future__ import annotations

import itertools
import json
import math
import os
import zipfile
from pathlib import Path

import pytest
import torch

from dl4nlp.core.config import DataConfig, from_dict
from dl4nlp.core.errors import ConfigError, DataError
from dl4nlp.data.captions import (
    CaptionImage,
    build_caption_vocab,
    caption_tokens,
    open_image,
    read_caption_lines,
    read_caption_splits,
)
from dl4nlp.data.image_features import cached_features
from dl4nlp.data.tokenize import Tokenizer
from dl4nlp.engine.generation import beam_search, length_penalty
from dl4nlp.models.captioner import Captioner, CaptionerOptions, doubly_stochastic_penalty
from dl4nlp.models.image_encoder import TinyCNNEncoder, build_encoder
from dl4nlp.tasks.captioning import corpus_cider, corpus_meteor, meteor_available

CAPTIONS = {"red.png": "a red square on the left .", "blue.png": "two blue stripes across the middle ."}


def _image(kind: str, size: int = 32):
    from PIL import Image

    x = torch.zeros(size, size, 3, dtype=torch.uint8)
    if kind == "red":
        x[4:20, 2:14, 0] = 255
    else:
        x[10:14, :, 2] = 255
        x[20:24, :, 2] = 255
    return Image.fromarray(x.numpy())


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest: tiny models, one torch thread


@pytest.fixture
def caption_dir(tmp_path: Path) -> Path:
    root = tmp_path / "caps"
    root.mkdir()
    _image("red").save(root / "red.png")
    _image("blue").save(root / "blue.png")
    lines = [f"{name}\t{cap}" for name, cap in CAPTIONS.items()]
    # repeated sentences are read as given and trained on once per image
    (root / "train.tsv").write_text("image\tcaption\n" + "\n".join(lines * 3) + "\n", encoding="utf-8")
    (root / "dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "test.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _cfg(root: Path, tmp: Path, model: str = "show_attend_tell", epochs: int = 20, **model_opts: object):
    model_cfg = {"name": model, "encoder": "tiny-cnn", "embed_dim": 24, "hidden": 48, "attn_dim": 16,
                 "feature_proj": 16, "dropout": 0.0, "beam_size": 2, "max_len": 10}
    model_cfg.update(model_opts)
    return from_dict({
        "data": {"dataset": "captions", "path": str(root), "train_file": "train.tsv", "dev_file": "dev.tsv",
                 "test_file": "test.tsv", "cache_dir": str(tmp / "cache")},
        "model": model_cfg,
        "train": {"lr": 0.02, "batch_size": 1, "epochs": epochs, "patience": 0},  # 2 distinct pairs: 2 steps/epoch
        "trainer": {"progress_bar": False, "accelerator": "cpu", "log_every_n_steps": 1},
        "run": {"dir": str(tmp / "runs"), "seed": 0},
    })


# --------------------------------------------------------------------------- readers


def test_generic_reader_and_vocab(caption_dir: Path) -> None:
    data = DataConfig(dataset="captions", path=str(caption_dir), train_file="train.tsv", dev_file="dev.tsv",
                      test_file="test.tsv")
    splits = read_caption_splits(data)
    assert [im.name for im in splits.test] == ["red.png", "blue.png"]
    assert len(splits.train[0].captions) == 3  # the header row is skipped, repeats are kept
    toks = caption_tokens(CAPTIONS["red.png"], Tokenizer())
    assert toks == ["a", "red", "square", "on", "the", "left"]  # punctuation dropped
    vocab = build_caption_vocab([toks])
    assert vocab.itos[:4] == ["<pad>", "<unk>", "<start>", "<end>"]


def test_caption_file_errors_name_the_line(caption_dir: Path) -> None:
    data = DataConfig(dataset="captions", path=str(caption_dir), train_file="train.tsv", dev_file="dev.tsv",
                      test_file="test.tsv")
    with open(caption_dir / "dev.tsv", "a", encoding="utf-8") as fh:
        fh.write("green.png\ta green circle .\nred.png\tagain .\n")  # lines 3 and 4
    with pytest.raises(DataError, match=r"dev\.tsv:3: image 'green\.png' not found in .* \(1 missing\)$"):
        read_caption_splits(data)
    (caption_dir / "dev.tsv").write_bytes("red.png\ta red square .\r\nblue.png\tcaf\xe9 .\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"dev\.tsv:2: not UTF-8 text"):
        read_caption_splits(data)
    (caption_dir / "dataset_rsicd.json").write_bytes(b'{"images": [\n{"filename": "caf\xe9.jpg"}]}')
    with pytest.raises(DataError, match=r"dataset_rsicd\.json:2: not UTF-8 text"):
        read_caption_splits(DataConfig(dataset="rsicd", path=str(caption_dir)))


def test_caption_file_with_byte_order_mark_and_old_line_endings(tmp_path: Path) -> None:
    """A BOM (Windows editors write one) is not part of the first image name; \\r\\n and lone \\r end lines."""
    path = tmp_path / "caps.tsv"
    path.write_bytes("\ufeffred.png\ta red square .\r\nblue.png\ta blue one .\rred.png\tagain .\n".encode("utf-8"))
    assert read_caption_lines(path) == {"red.png": ["a red square .", "again ."], "blue.png": ["a blue one ."]}
    with pytest.raises(DataError, match=r"caps_dir: is a directory"):
        (tmp_path / "caps_dir").mkdir()
        read_caption_lines(tmp_path / "caps_dir")


def test_rsicd_layout_from_zips(tmp_path: Path) -> None:
    root = tmp_path / "rsicd"
    root.mkdir()
    rows = ["file\tsplit\tcaption_index\tcaption"]
    for split, names in (("train", ["a.jpg", "b.jpg"]), ("val", ["c.jpg"]), ("test", ["d.jpg"])):
        with zipfile.ZipFile(root / f"images_{split}.zip", "w") as zf:
            for n in names:
                path = tmp_path / n
                _image("red").save(path, format="JPEG")
                zf.write(path, n)
                rows += [f"{n}\t{split}\t{k}\tcaption {k} of {n} ." for k in (1, 0)]
    (root / "captions.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    splits = read_caption_splits(DataConfig(dataset="rsicd", path=str(root)))
    assert [len(splits.train), len(splits.dev), len(splits.test)] == [2, 1, 1]
    assert splits.test[0].captions == ["caption 0 of d.jpg .", "caption 1 of d.jpg ."]  # caption_index order
    assert open_image(splits.test[0].image).size == (32, 32)
    (root / "captions.tsv").write_text(rows[0] + "\na.jpg\ttrain\tx\tbroken .\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"captions.tsv:2: caption_index"):
        read_caption_splits(DataConfig(dataset="rsicd", path=str(root)))


def test_flickr8k_official_layout_skips_missing_images(tmp_path: Path) -> None:
    root = tmp_path / "flickr8k"
    (root / "Flicker8k_Dataset").mkdir(parents=True)  # Flickr8k_Dataset.zip and Flickr8k_text.zip unzipped
    text = root / "Flickr8k_text"
    text.mkdir()
    names = ["1_a.jpg", "2_b.jpg", "3_c.jpg", "4_d.jpg"]
    tokens = [f"{n}#{k}\tA dog runs number {k} ." for n in names for k in range(5)]
    (text / "Flickr8k.token.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
    (text / "Flickr_8k.trainImages.txt").write_bytes(b"1_a.jpg\r\n2_b.jpg")  # CRLF, no final newline
    (text / "Flickr_8k.devImages.txt").write_text("3_c.jpg\n", encoding="utf-8")
    (text / "Flickr_8k.testImages.txt").write_text("4_d.jpg\n", encoding="utf-8")
    for n in names[:3] + names[3:]:
        if n != "2_b.jpg":
            _image("blue").save(root / "Flicker8k_Dataset" / n, format="JPEG")
    splits = read_caption_splits(DataConfig(dataset="flickr8k", path=str(root)))
    assert [im.name for im in splits.train] == ["1_a.jpg"] and splits.missing_images == {"train": 1}
    assert len(splits.test[0].captions) == 5


def test_bad_image_rejected_with_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    with pytest.raises(DataError, match=r"broken\.jpg: not a readable image"):
        open_image(str(bad))
    enc = TinyCNNEncoder()
    with pytest.raises(DataError, match=r"broken\.jpg"):
        cached_features([str(bad)], enc, tmp_path / "cache", "bad", progress=False)


# --------------------------------------------------------------------------- encoder and feature cache


def test_feature_cache_reuse_and_invalidation(caption_dir: Path, tmp_path: Path) -> None:
    refs = [str(caption_dir / "red.png"), str(caption_dir / "blue.png")]
    enc = TinyCNNEncoder(image_size=32)
    calls = {"n": 0}
    original = enc.feature_map

    def counting(x: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        return original(x)

    enc.feature_map = counting  # type: ignore[method-assign]
    first = cached_features(refs, enc, tmp_path / "cache", "toy-test", progress=False)
    assert not first.reused and calls["n"] == 1
    assert first.features.shape == (2, 16, 16)  # 32 px / 8 = 4 x 4 grid, 16 channels
    second = cached_features(refs, enc, tmp_path / "cache", "toy-test", progress=False)
    assert second.reused and calls["n"] == 1 and torch.equal(first.features, second.features)
    # other preprocessing (image size) -> new key, recomputed, the stale file deleted
    enc2 = TinyCNNEncoder(image_size=48)
    third = cached_features(refs, enc2, tmp_path / "cache", "toy-test", progress=False)
    assert not third.reused and third.path != first.path and not first.path.exists()
    assert third.features.shape == (2, 36, 16)
    # other weights -> recomputed
    enc3 = TinyCNNEncoder(image_size=48, seed=1)
    assert not cached_features(refs, enc3, tmp_path / "cache", "toy-test", progress=False).reused
    # the same bytes with a new modification time (a re-copied data set) -> reused
    os.utime(caption_dir / "red.png", ns=(1_000_000_000, 1_000_000_000))
    assert cached_features(refs, enc3, tmp_path / "cache", "toy-test", progress=False).reused
    # a changed image file -> recomputed
    _image("blue").save(caption_dir / "red.png")
    fourth = cached_features(refs, enc3, tmp_path / "cache", "toy-test", progress=False)
    assert not fourth.reused


def test_image_transforms_are_the_eight_symmetries_of_the_square() -> None:
    from dl4nlp.data.image_features import AUGMENTATIONS, TRANSFORMS

    x = torch.arange(2 * 3 * 3).reshape(2, 3, 3)  # [C, S, S], every pixel different
    outs = {name: f(x) for name, f in TRANSFORMS.items()}
    assert len({tuple(o.flatten().tolist()) for o in outs.values()}) == 8  # all distinct
    assert all(sorted(o.flatten().tolist()) == sorted(x.flatten().tolist()) for o in outs.values())
    rot90 = TRANSFORMS["rot90"]
    assert torch.equal(outs["rot90"][0, 0], x[0, :, 0].flip(0))  # clockwise: the left column becomes the top row
    assert torch.equal(rot90(rot90(x)), outs["rot180"]) and torch.equal(rot90(outs["rot180"]), outs["rot270"])
    assert torch.equal(rot90(rot90(rot90(rot90(x)))), x)
    assert AUGMENTATIONS["none"] == ["identity"] and set(AUGMENTATIONS["dihedral"]) == set(TRANSFORMS)


def test_augmented_training_features_cached_per_transform(caption_dir: Path, tmp_path: Path) -> None:
    from dl4nlp.core.config import apply_overrides
    from dl4nlp.pipelines.captioning import prepare_captions, train_captioner

    cfg = from_dict(apply_overrides(_cfg(caption_dir, tmp_path, epochs=2).to_dict(), ["data.augment=flips"]))
    data = prepare_captions(cfg)
    assert data.train.features.shape == (4, 2, 16, 16)  # [transforms, images, grid, dim]
    plain = data.features["train"].features
    assert torch.equal(data.train.features[0], plain)
    assert all(not torch.equal(data.train.features[t], plain) for t in (1, 2, 3))  # the flips see other pixels
    assert data.dev.features.dim() == 3 and data.test.features.dim() == 3  # evaluation never augmented
    names = sorted(p.name.rsplit("-", 1)[0] for p in (tmp_path / "cache" / "features").glob("*.pt"))
    assert names == ["captions-dev", "captions-test", "captions-train", "captions-train-hflip",
                     "captions-train-rot180", "captions-train-vflip"]
    # a batch mixes transforms: over many draws every one of the four is used
    seen = set()
    for _ in range(40):
        batch = data.train.collate([data.train[0], data.train[1]])
        for j, row in enumerate((0, 1)):
            seen |= {t for t in range(4) if torch.equal(batch["features"][j], data.train.features[t, row].float())}
    assert seen == {0, 1, 2, 3}
    # training reuses every cached set and records the setting
    run = train_captioner(cfg)
    res = json.loads((run / "results.json").read_text())
    assert all(res["features_reused"].values()) and len(res["features_reused"]) == 6
    assert res["hyper_parameters"]["augment"] == "flips"


def test_killed_augmented_run_resumes_exactly(caption_dir: Path, tmp_path: Path) -> None:
    """The transform draws come from torch's generator, whose state travels in the checkpoint."""
    from conftest import Killed, kill_at

    from dl4nlp.core.config import apply_overrides
    from dl4nlp.core.runs import load_state_dict
    from dl4nlp.pipelines.captioning import train_captioner

    def cfg(folder: str):
        base = _cfg(caption_dir, tmp_path / folder, epochs=3).to_dict()
        return from_dict(apply_overrides(base, ["data.augment=flips", f"data.cache_dir={tmp_path / 'cache'}"]))

    full = train_captioner(cfg("a"))
    with pytest.raises(Killed):
        train_captioner(cfg("b"), callbacks=[kill_at(epoch=2, batch=1)])
    (killed,) = [p for p in (tmp_path / "b" / "runs").iterdir() if p.is_dir()]
    resumed = train_captioner(cfg("b"), resume=killed)
    a, b = load_state_dict(full, "last"), load_state_dict(resumed, "last")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_bad_augmentation_values_are_refused(caption_dir: Path, tmp_path: Path) -> None:
    from dl4nlp.core.config import apply_overrides, load_config
    from dl4nlp.experiments import train_any
    from dl4nlp.pipelines.captioning import prepare_captions

    cfg = from_dict(apply_overrides(_cfg(caption_dir, tmp_path).to_dict(), ["data.augment=rotate"]))
    with pytest.raises(ConfigError, match="data.augment: unknown value 'rotate' .*none, flips, dihedral"):
        prepare_captions(cfg)
    with pytest.raises(ConfigError, match="data.augment: only for image captioning models, not 'logreg'"):
        train_any(load_config(None, ["model.name=logreg", "data.augment=flips"]))
    assert not (tmp_path / "runs").exists() and not (tmp_path / "cache").exists()


def test_efficientnet_lite0_weights_found_offline() -> None:
    enc = build_encoder("efficientnet-lite0")
    assert enc.dim == 1280 and all(not p.requires_grad for p in enc.parameters())
    assert "site-packages" in str(enc.weights_path) or enc.weights_path.is_file()
    grid = enc(torch.zeros(1, 3, 224, 224))
    assert grid.shape == (1, 49, 1280)


# --------------------------------------------------------------------------- decoder


def _model(attention: bool = True, cell: str = "gru", vocab: int = 7, feat: int = 8, seed: int = 0) -> Captioner:
    torch.manual_seed(seed)
    opts = CaptionerOptions(attention=attention, cell=cell, embed_dim=8, hidden=12, attn_dim=6, feature_proj=0,
                            dropout=0.0)
    return Captioner(vocab, feat, opts).eval()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_attention_sums_to_one_and_shapes(cell: str) -> None:
    model = _model(cell=cell)
    feats = torch.randn(3, 5, 8)  # B=3, L=5 cells, D=8
    tokens = torch.randint(1, 7, (3, 4))
    logits, alphas = model(feats, tokens)
    assert logits.shape == (3, 4, 7) and alphas.shape == (3, 4, 5)
    assert torch.allclose(alphas.sum(-1), torch.ones(3, 4), atol=1e-6)
    assert (alphas >= 0).all()
    mask = torch.tensor([[1, 1, 0, 0]] * 3, dtype=torch.bool)
    expected = ((1 - alphas[:, :2].sum(1)) ** 2).sum(1).mean()
    assert torch.allclose(doubly_stochastic_penalty(alphas, mask), expected)
    nolatt_logits, none = _model(attention=False, cell=cell)(feats, tokens)
    assert none is None and nolatt_logits.shape == (3, 4, 7)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_show_and_tell_with_the_image_at_the_start_only(cell: str) -> None:
    """image_input=start: the image sets h_0 and nothing else, so two images with the same mean cell vector
    give the same captions, and the cell reads the word embedding alone."""
    torch.manual_seed(0)
    opts = CaptionerOptions(attention=False, image_input="start", cell=cell, embed_dim=8, hidden=12,
                            feature_proj=0, dropout=0.0)
    model = Captioner(7, 8, opts).eval()
    assert model.cell.input_size == 8 and model.out_z is None and model.gate is None
    feats = torch.randn(2, 5, 8)
    tokens = torch.randint(1, 7, (2, 4))
    logits, alphas = model(feats, tokens)
    assert logits.shape == (2, 4, 7) and alphas is None
    same_mean = feats.flip(1)  # the cells reordered: the mean, and so h_0, is the same
    assert torch.allclose(model(same_mean, tokens)[0], logits, atol=1e-6)
    other = feats + torch.randn(2, 1, 8)  # another mean: another h_0
    assert not torch.allclose(model(other, tokens)[0], logits, atol=1e-3)
    with pytest.raises(ValueError, match="image_input: start is for show_and_tell"):
        CaptionerOptions(attention=True, image_input="start")
    with pytest.raises(ValueError, match="image_input must be every_step or start"):
        CaptionerOptions(attention=False, image_input="first")


def test_attention_depends_on_image_grid() -> None:
    model = _model()
    feats = torch.randn(1, 5, 8)
    _, a1 = model(feats, torch.tensor([[2, 4]]))
    _, a2 = model(feats.flip(1), torch.tensor([[2, 4]]))
    assert torch.allclose(a1.flip(-1), a2, atol=1e-6)  # permuting the cells permutes the attention


def test_beam_search_finds_best_sequence_of_toy_decoder() -> None:
    """Exhaustive check: with a beam wide enough to keep every prefix, beam search returns the caption of
    highest log-probability under the decoder (scored independently by teacher forcing)."""
    start, end, V, max_len = 2, 3, 6, 3
    words = [1, 4, 5]  # <unk> and two words may be generated (<pad>, <start> too, as the model allows)
    for seed in range(3):
        model = _model(vocab=V, seed=seed)
        feats = torch.randn(1, 5, 8)
        best_score, best_seq = -math.inf, None
        for n in range(0, max_len):
            for seq in itertools.product([t for t in range(V) if t != end], repeat=n):
                s = model.sequence_log_prob(feats, list(seq), start, end)
                if s > best_score:
                    best_score, best_seq = s, list(seq)
        ids, score = beam_search(model.log_prob_step, start, model.init_state(feats), V**max_len, max_len,
                                 eos_id=end, alpha=0.0)
        assert ids == best_seq and score == pytest.approx(best_score, abs=1e-5)
        greedy, g_score = beam_search(model.log_prob_step, start, model.init_state(feats), 1, max_len, eos_id=end)
        assert score >= g_score - 1e-6
        assert set(words) <= set(range(V))
        # with length normalisation, the score is the log-prob divided by the GNMT penalty
        ids_n, score_n = beam_search(model.log_prob_step, start, model.init_state(feats), V**max_len, max_len,
                                     eos_id=end, alpha=1.0)
        raw = model.sequence_log_prob(feats, ids_n, start, end)
        assert score_n == pytest.approx(raw / length_penalty(len(ids_n), 1.0), abs=1e-5)


# --------------------------------------------------------------------------- end to end


def test_overfit_two_captions_then_caption_cli(caption_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl4nlp.cli import app
    from dl4nlp.pipelines.captioning import CaptionModel, train_captioner

    # selected by dev loss, i.e. the memorised end state; dev BLEU ties at 100 from the first epoch whose greedy
    # captions are right, and a tie keeps that earliest checkpoint, where beam search may still disagree
    cfg = from_dict({**_cfg(caption_dir, tmp_path).to_dict(),
                     "train": {**_cfg(caption_dir, tmp_path).to_dict()["train"], "monitor": "dev_loss", "mode": "min"}})
    run = train_captioner(cfg)
    res = json.loads((run / "results.json").read_text())
    assert res["task"] == "captioning" and res["attention"] is True
    assert res["train_captions"] == 2  # each image's repeated sentence is trained on once
    assert res["test_bleu4_beam1"] == pytest.approx(100.0) and res["test_bleu4_beam2"] == pytest.approx(100.0)
    # every n-gram of the two captions is in one image's reference only: cosine 1, CIDEr-D 10 per n, x 100
    assert res["test_cider_beam1"] == pytest.approx(1000.0) and "test_meteor_beam1" not in res
    assert (run / "best.ckpt").is_file() and (run / "attention_example.png").is_file()
    cm = CaptionModel(run)
    for name, cap in CAPTIONS.items():
        out = cm.caption(caption_dir / name, beam_size=2)
        assert out.words == caption_tokens(cap, Tokenizer())
        assert out.alphas.shape == (len(out.words) + 1, 16)
    # checkpoint round trip: a second load gives the same log-probabilities
    feats = torch.randn(1, 16, 16)
    a = cm.model.sequence_log_prob(feats, [5, 6], 2, 3)
    assert CaptionModel(run).model.sequence_log_prob(feats, [5, 6], 2, 3) == pytest.approx(a)

    runner = CliRunner()
    png = tmp_path / "att.png"
    result = runner.invoke(app, ["caption", str(run), str(caption_dir / "red.png"), "--out", str(png)])
    assert result.exit_code == 0, result.output
    assert "a red square on the left" in result.output and png.stat().st_size > 1000
    result = runner.invoke(app, ["caption-eval", str(run), "--beam", "1"])
    assert result.exit_code == 0, result.output
    ev = json.loads(result.output)
    assert ev["bleu4_beam1"] == pytest.approx(100.0) and ev["cider_beam1"] == pytest.approx(1000.0)
    if meteor_available() is None:
        assert ev["meteor_beam1"] == pytest.approx(100.0) and "meteor" not in ev
    else:
        assert ev["meteor"].startswith("not computed: no `java` on PATH") and "meteor_beam1" not in ev
    result = runner.invoke(app, ["caption-eval", str(run), "--beam", "1", "--no-meteor"])
    assert json.loads(result.output)["meteor"] == "not computed: not asked for (--no-meteor)"
    result = runner.invoke(app, ["evaluate", str(run), "--split", "dev"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["bleu4_beam3"] == pytest.approx(100.0)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    result = runner.invoke(app, ["caption", str(run), str(bad)])
    assert result.exit_code != 0 and "not a readable image" in str(result.exception)


def test_cider_and_meteor_reward_the_right_words(monkeypatch: pytest.MonkeyPatch) -> None:
    refs = [["a red square on the left", "a red box on the left side"],
            ["two blue stripes across the middle", "blue lines across the middle"]]
    exact = ["a red square on the left", "two blue stripes across the middle"]
    shuffled = ["left the on square red a", "middle the across stripes blue two"]
    swapped = ["a red square across the middle", "two blue stripes on the left"]
    assert corpus_cider(exact, refs) > corpus_cider(swapped, refs) > 0
    assert corpus_cider(exact, refs) > corpus_cider(shuffled, refs)
    assert corpus_cider(["", ""], refs) == 0.0
    # tf-idf: "the" is in the references of every image (idf log(2/2) = 0), "red" / "blue" in one image's only
    assert corpus_cider(["the the", "the the"], refs) == 0.0 < corpus_cider(["red red", "blue blue"], refs)
    if meteor_available() is None:  # METEOR matches stems, so "squares" still counts; an unknown word does not
        stem = corpus_meteor(["a red squares on the left", exact[1]], refs)
        assert corpus_meteor(exact, refs) > stem > corpus_meteor(["a red xyzzy on the left", exact[1]], refs)
    monkeypatch.setenv("PATH", "")
    assert "no `java` on PATH" in meteor_available()
    with pytest.raises(RuntimeError, match="METEOR: no `java` on PATH"):
        corpus_meteor(exact, refs)


def test_no_attention_baseline_trains_and_loss_decreases(caption_dir: Path, tmp_path: Path) -> None:
    from dl4nlp.analysis.plots import read_epoch_metrics
    from dl4nlp.pipelines.captioning import train_captioner

    run = train_captioner(_cfg(caption_dir, tmp_path, model="show_and_tell", epochs=3))
    res = json.loads((run / "results.json").read_text())
    assert res["attention"] is False and not (run / "attention_example.png").exists()
    loss = read_epoch_metrics(run / "metrics.csv")["train_loss"]
    assert loss[max(loss)] < 0.7 * loss[0]
    start = train_captioner(_cfg(caption_dir, tmp_path / "start", model="show_and_tell", epochs=3,
                                 image_input="start"))
    loss = read_epoch_metrics(start / "metrics.csv")["train_loss"]
    assert loss[max(loss)] < 0.7 * loss[0]


def test_resume_continues_from_last_checkpoint(caption_dir: Path, tmp_path: Path) -> None:
    from dl4nlp.core.config import apply_overrides
    from dl4nlp.pipelines.captioning import train_captioner

    cfg = _cfg(caption_dir, tmp_path, epochs=1)
    run = train_captioner(cfg)
    (run / "results.json").unlink()  # as if the run had been stopped after its first epoch
    more = from_dict(apply_overrides(cfg.to_dict(), ["train.epochs=2"]))
    assert train_captioner(more, resume=run) == run
    res = json.loads((run / "results.json").read_text())
    assert res["epochs_run"] == 2 and all(res["features_reused"].values())


def test_train_cli_and_bad_config(caption_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from dl4nlp.cli import app
    from dl4nlp.core.config import dump_yaml

    cfg = _cfg(caption_dir, tmp_path, epochs=2)
    path = tmp_path / "cap.yaml"
    path.write_text(dump_yaml(cfg))
    result = CliRunner().invoke(app, ["train", str(path), "--set", "model.cell=transformer"])
    assert result.exit_code != 0 and "cell must be gru or lstm" in str(result.exception)
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 0, result.output
    assert "run folder" in result.output
    assert isinstance(CaptionImage("x.jpg", ["a"]).name, str)


def test_predict_on_a_captioning_run_without_weights_is_one_clear_line(caption_dir: Path, tmp_path: Path,
                                                                       cli) -> None:
    """predict serves captioners through their pipeline (inputs are image files: the template test in
    test_pipelines.py captions one); a run folder without its checkpoint says so in one line."""
    from dl4nlp.core.config import dump_yaml

    run = tmp_path / "runs" / "captioner"  # what predict reads first: the config and vocabulary
    run.mkdir(parents=True)
    (run / "config.yaml").write_text(dump_yaml(_cfg(caption_dir, tmp_path)), encoding="utf-8")
    build_caption_vocab([["a", "red", "square"]]).save(run / "vocab.json")
    code, err = cli("predict", run, str(caption_dir / "red.png"))
    assert code == 2
    assert err == f"error: {run}/best.ckpt: checkpoint not found (is the run finished?)\n"


def test_rsicd_configs_differ_only_in_the_decoder() -> None:
    """The attention vs pooled-vector benchmark is fair only if both configs train the same way (Show and
    Tell as published differs from the pooled decoder only in where the image enters and its epoch budget)."""
    import yaml

    repo = Path(__file__).resolve().parents[1] / "configs" / "captioning"
    att, pooled = (yaml.safe_load((repo / f"rsicd-{n}.yaml").read_text()) for n in ("attention", "no-attention"))
    assert (att["model"].pop("name"), pooled["model"].pop("name")) == ("show_attend_tell", "show_and_tell")
    assert att == pooled
    cfg = from_dict(att | {"model": {"name": "show_attend_tell", **att["model"]}}, "rsicd-attention.yaml")
    assert cfg.model_name == "show_attend_tell"  # the shipped config passes validation
    # Show and Tell as published: the pooled decoder with the image at the start only, given more epochs
    published = yaml.safe_load((repo / "rsicd-show-and-tell.yaml").read_text())
    assert published["model"].pop("image_input") == "start"
    assert (published["train"].pop("epochs"), published["train"].pop("patience")) == (40, 8)
    assert published["model"].pop("name") == "show_and_tell"
    for section in (pooled, published):
        section["train"] = {k: v for k, v in section["train"].items() if k not in ("epochs", "patience")}
    assert published == pooled
    cfg = from_dict(yaml.safe_load((repo / "rsicd-show-and-tell.yaml").read_text()), "rsicd-show-and-tell.yaml")
    assert cfg.model_params["image_input"] == "start" and cfg.train.epochs == 40


def test_training_batches_depend_only_on_the_seed_and_the_epoch() -> None:
    """A resumed run starts a new loader: its epoch-e batches must be those the killed run's loader would
    have given at epoch e (a torch generator's position is not in the checkpoint)."""
    from dl4nlp.pipelines.captioning import make_loader

    class Items(list):
        collate = staticmethod(lambda batch: batch)

    items = Items(range(20))
    running = make_loader(items, 4, True, seed=7)
    orders = []
    for epoch in range(4):
        running.batch_sampler.set_epoch(epoch)
        orders.append([b for batch in running for b in batch])
    fresh = make_loader(items, 4, True, seed=7)
    fresh.batch_sampler.set_epoch(3)
    assert [b for batch in fresh for b in batch] == orders[3]
    assert len({tuple(o) for o in orders}) == 4 and sorted(orders[0]) == list(range(20))  # shuffled, all kept
    assert [b for batch in make_loader(items, 4, False, seed=7) for b in batch] == list(range(20))
